"""Which Si candidate set lets a network fit Stillinger-Weber liquid-Si forces? Full models, same data and training.

Every set's full network (2 x 25 hidden units, as ``hdnnp demo --system si``)
is trained on energies and forces (force weight 1, AdamW lr 0.005, batch 8,
the derivatives of ``--force-atoms`` atoms per structure) on the first
``--structures`` boxes of ``--data`` (``hdnnp generate si-sw`` liquid, the
demo's data), with the same split and seed, for each of ``--epochs``. Writes
``benchmarks/results/si_candidate_sets.csv`` (set, functions, epochs,
train/validation/test force RMSE in eV/Angstrom, seconds) and prints the rows.

Sets: ``si-boron-short`` (the recipe at 5.0 A: 12 radial, 48 wide angular),
its angular grid narrow (type 3) or at 3.8 / 4.2 A, 24 radial functions
instead of 12, and ``si-dense`` (24 radial at 5.0, 48 angular at 5.0 + 48 at
3.8 A).

    .venv/bin/python benchmarks/si_candidate_sets.py --data DEMO_SI/data/input.data --work W --epochs 100,600
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def candidate_sets() -> dict:
    from toolkit.symfuncs.grids import RECIPE_ZETAS, element_resolved_grid, named_candidates, recipe_angular_etas

    base = named_candidates("si-boron-short")
    radial12 = [f for f in base if f.is_radial]
    angular5 = [f for f in base if f.is_angular]
    radial24 = [f for f in named_candidates("si-dense") if f.is_radial]

    def angular(rc: float, kind: int = 9):
        return [f for f in element_resolved_grid(["Si"], rc, angular_etas=recipe_angular_etas(rc), zetas=RECIPE_ZETAS,
                                                 angular_type=kind) if f.is_angular]

    return {"si-boron-short": base, "12 radial + 48 narrow (type 3) at 5.0": radial12 + angular(5.0, 3),
            "12 radial + 48 angular at 3.8": radial12 + angular(3.8),
            "12 radial + 48 angular at 4.2": radial12 + angular(4.2),
            "24 radial + 48 angular at 5.0": radial24 + angular5,
            "24 radial + 48 angular at 3.8": radial24 + angular(3.8),
            "si-boron-short + 48 angular at 3.8": base + angular(3.8),
            "si-dense": named_candidates("si-dense")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="input.data of `hdnnp generate si-sw` (the Si demo's data/)")
    p.add_argument("--work", required=True, help="scratch folder (feature files, runs)")
    p.add_argument("--structures", type=int, default=120)
    p.add_argument("--force-atoms", type=int, default=32)
    p.add_argument("--epochs", default="100,600", help="comma-separated epoch counts")
    p.add_argument("--sets", default=None, help="comma-separated indices into the list of sets (default all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "si_candidate_sets.csv"))
    a = p.parse_args(argv)

    import yaml

    from toolkit.config import load_config
    from toolkit.structures import read_structures, write_n2p2
    from toolkit.symfuncs.grids import symfunction_lines
    from toolkit.training.pipeline import run_train

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "structures.data"
    write_n2p2(data, read_structures(a.data)[:a.structures])
    sets = candidate_sets()
    names = list(sets) if a.sets is None else [list(sets)[int(i)] for i in a.sets.split(",")]
    header = ("number_of_elements 1\nelements Si\ncutoff_type 1\nscale_symmetry_functions\ncenter_symmetry_functions\n"
              "global_hidden_layers_short 2\nglobal_nodes_short 25 25\nglobal_activation_short t t l\n")
    rows = []
    for epochs in [int(e) for e in a.epochs.split(",")]:
        for i, name in enumerate(names):
            d = work / f"set{list(sets).index(name)}_ep{epochs}"
            d.mkdir(exist_ok=True)
            (d / "input.nn").write_text(header + "\n".join(symfunction_lines(sets[name])) + "\n")
            cfg = {"data": {"structures": str(data), "features": str(d / "features.h5"), "derivatives": True,
                            "force_atoms": a.force_atoms},
                   "symfuncs": {"candidates": "input.nn", "input_nn": str(d / "input.nn")},
                   "model": {"hidden": [25, 25]},
                   "training": {"epochs": epochs, "batch_size": 8, "lr": 0.005, "force_weight": 1.0, "seed": a.seed,
                                "split_seed": a.seed, "progress": False, "threads": 1, "patience": epochs,
                                "restart_period": epochs}}
            (d / "config.yaml").write_text(yaml.safe_dump(cfg))
            t = time.process_time()
            run_train(load_config(d / "config.yaml"), d / "run", echo=lambda m: None)
            m = json.loads((d / "run" / "metrics.json").read_text())
            row = {"set": name, "functions": len(sets[name]), "epochs": epochs,
                   "train_force_rmse": m["train"]["rmse_forces"], "val_force_rmse": m["val"]["rmse_forces"],
                   "test_force_rmse": m["test"]["rmse_forces"], "cpu_s": time.process_time() - t}
            rows.append(row)
            print(f"{name:40s} {row['functions']:4d} functions, {epochs:4d} epochs: validation force RMSE "
                  f"{row['val_force_rmse']:.4f}, test {row['test_force_rmse']:.4f} eV/A ({row['cpu_s']:.0f} CPU s)",
                  flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does training on a sample of force atoms cost accuracy? Force RMSE, sampled vs every atom, on LJ or Al data.

LJ reference data from ``hdnnp generate lj`` (256-atom boxes, the demo's
system), the standard 22 candidates (12 radial + 10 angular, rc 2.8 sigma),
networks 22-10-10-1 trained on energies and forces (``force_weight`` 1, AdamW,
the same epochs) twice per seed: on the forces of every atom, and on a sampled
fraction of the atoms (``training.force_atoms``, drawn anew every epoch). Both
are evaluated on the test structures' forces of *every* atom. Writes
``benchmarks/results/force_sampling_accuracy.csv`` (one row per seed and mode)
and prints the ratio of the mean test force RMSEs (the claim: within 5 %).

    .venv/bin/python benchmarks/bench_force_sampling_accuracy.py --work /tmp/acc [--structures 120 --epochs 40]

``--system al``: liquid/solid Al from ``hdnnp generate al-eam`` (``--data`` its
``input.data``, 256-atom structures; a seeded subset of ``--structures``), the
reference study's 329 candidates, networks 329-10-10-1, force weight 1, AdamW,
the Al case study's batch size 8 and lr 0.01. (a) trains on the forces of every
atom (a feature file with every atom's derivatives, ``--memory`` budget: they
stream from the file); (b) on 16 force atoms per structure drawn once, as the Al
case study (``data.force_atoms: 16``: a feature file with only their
derivatives); ``--modes ...,resampled``: (c) on 16 atoms drawn anew every
epoch from the first file (``training.force_atoms: 16``, ``force_resample``);
``pool``: (d) a file with the derivatives of ``--pool`` (64) atoms per structure
(``data.force_atoms: 64``), 16 of them drawn anew every epoch (what the Al demo
does: a quarter of the derivatives, no fixed draw to overfit).
All are evaluated on the forces of every atom of the same test
structures (the first file, scaled with each run's own training statistics).
Writes ``benchmarks/results/force_sampling_accuracy_al.csv`` and ``.json``.

    .venv/bin/python benchmarks/bench_force_sampling_accuracy.py --system al --data AL/input.data \
        --work WORK --structures 500 --epochs 10 --seeds 2 --memory 4GB
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--system", choices=("lj", "al"), default="lj")
    p.add_argument("--data", help="al: input.data of `hdnnp generate al-eam` (256-atom structures)")
    p.add_argument("--force-atoms", type=int, default=16, help="al: force atoms per structure (data.force_atoms)")
    p.add_argument("--pool", type=int, default=64, help="al, mode pool: force atoms per structure whose derivatives "
                   "are stored (data.force_atoms); training draws --force-atoms of them anew every epoch")
    p.add_argument("--memory", default="4GB", help="al: training.memory budget")
    p.add_argument("--modes", default="all,fixed", help="al: comma-separated runs per seed: all (every atom's "
                   "forces), fixed (data.force_atoms: a file with the force atoms' derivatives), resampled "
                   "(training.force_atoms drawn anew every epoch from the every-atom file), pool (a file with the "
                   "derivatives of --pool atoms per structure, --force-atoms of them drawn anew every epoch)")
    p.add_argument("--workers", type=int, default=1, help="al: feature-file worker processes")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--structures", type=int, default=None, help="lj: 120; al: 500")
    p.add_argument("--fraction", type=float, default=0.1, help="force atoms per structure (fraction)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--first-seed", type=int, default=0, help="al: seeds first-seed ... first-seed + seeds - 1")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lr", type=float, default=None, help="lj: 3e-3; al: 0.01")
    p.add_argument("--out", default=None, help="default: benchmarks/results/force_sampling_accuracy[_al].csv")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.system == "al":
        return run_al(args)
    args.structures = args.structures or 120
    args.lr = args.lr or 3e-3
    args.out = args.out or str(ROOT / "benchmarks" / "results" / "force_sampling_accuracy.csv")
    from toolkit.features import write_feature_file
    from toolkit.fileio import atomic_write
    from toolkit.structures import read_structures
    from toolkit.symfuncs import SymmetryFunctionSet, standard_candidates
    from toolkit.training.experiment import ModelSpec, prepare
    from toolkit.training.trainer import TrainSettings, evaluate, train

    work = Path(args.work)
    data = work / "data"
    if not (data / "input.data").is_file():
        subprocess.run([sys.executable, "-m", "toolkit", "generate", "lj", str(data), "--configs",
                        str(args.structures), "--seed", "0", "--quiet"], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    features = work / "features.h5"
    if not features.is_file():
        structs = read_structures(data / "input.data")
        write_feature_file(features, structs, SymmetryFunctionSet(standard_candidates("Ar", rc=2.8), ["Ar"]),
                           derivatives=True, store_dtype="float32", workers=1)
    rows = []
    for seed in range(args.seeds):
        for mode, k in (("all atoms", None), (f"{args.fraction:g} of the atoms, resampled", args.fraction)):
            exp = prepare(features, ModelSpec(hidden=[10, 10]), split=(0.8, 0.1, 0.1), split_seed=0,
                          dtype=torch.float32, forces=True)
            exp.data.set_force_sampling(k, resample=True, seed=seed)
            nets = exp.new_networks(seed=seed)
            st = TrainSettings(epochs=args.epochs, batch_size=8, lr=args.lr, force_weight=1.0, patience=1000,
                               restart_period=args.epochs, seed=seed, progress=True)
            t0 = time.perf_counter()
            train(nets, exp.data, exp.train, exp.val, st)
            ev = evaluate(nets, exp.data, exp.test, forces=True)
            rows.append({"seed": seed, "mode": mode, "test_rmse_forces": ev["rmse_forces"],
                         "test_rmse_energy": ev["rmse_energy"], "train_seconds": round(time.perf_counter() - t0, 1)})
            print(rows[-1], flush=True)
    out = Path(args.out)
    with atomic_write(out, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    mean = {m: float(np.mean([r["test_rmse_forces"] for r in rows if r["mode"] == m])) for m in dict.fromkeys(
        r["mode"] for r in rows)}
    ratio = list(mean.values())[1] / list(mean.values())[0]
    summary = {"structures": args.structures, "epochs": args.epochs, "seeds": args.seeds, "lr": args.lr,
               "mean_test_rmse_forces": mean,
               "ratio_sampled_to_all": ratio, "load_average": os.getloadavg()[0]}
    with atomic_write(out.with_suffix(".json")) as fh:
        json.dump(summary, fh, indent=1)
    print(json.dumps(summary, indent=1))
    return 0


def _al_subset(path: Path, n: int, seed: int) -> tuple[list, np.ndarray]:
    """A seeded subset of ``n`` structures of ``path`` (in file order) and their indices in the file."""
    from toolkit.structures import read_structures

    structs = read_structures(path)
    if n > len(structs):
        sys.exit(f"error: --structures {n}: {path} holds only {len(structs)}")
    idx = np.sort(np.random.default_rng(seed).choice(len(structs), n, replace=False))
    return [structs[i] for i in idx], idx


def _scaled_like(path: Path, exp, memory: float):
    """The feature file ``path`` with ``exp``'s training statistics and energy normalisation (same structures)."""
    from toolkit.training.data import FeatureData, held_memory

    vm, dm = held_memory(path, torch.float32, memory)
    data = FeatureData.from_file(path, dtype=torch.float32, derivatives=True, derivative_memory=dm, value_memory=vm)
    data.apply_scaling(exp.raw_stats, exp.spec.scaling, exp.spec.scale_min, exp.spec.scale_max)
    data.set_normalisation(exp.mean_energy, exp.conv_energy, exp.spec.atom_energy)
    return data


def _write_al(out: Path, rows: list[dict], settings: dict) -> dict:
    """The CSV and its JSON sidecar of the runs so far (rewritten after every run: a stopped benchmark keeps them)."""
    from toolkit.fileio import atomic_write

    with atomic_write(out, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    mean = {m: float(np.mean([r["test_rmse_forces"] for r in rows if r["mode"] == m])) for m in modes}
    summary = {**settings, "runs_done": len(rows), "mean_test_rmse_forces_eV_per_A": mean,
               "ratio_to_all_atoms": ({m: v / mean["all atoms"] for m, v in mean.items() if m != "all atoms"}
                                      if "all atoms" in mean else None),
               "load_average": os.getloadavg()}
    with atomic_write(out.with_suffix(".json")) as fh:
        json.dump(summary, fh, indent=1)
    return summary


def run_al(args) -> int:
    """(a) every atom's forces vs (b) ``--force-atoms`` fixed force atoms per structure, on Al (329 candidates)."""
    from toolkit import __version__
    from toolkit.features import write_feature_file
    from toolkit.symfuncs import SymmetryFunctionSet, al_candidates_329
    from toolkit.training.experiment import ModelSpec, prepare
    from toolkit.training.memory import parse_memory
    from toolkit.training.trainer import TrainSettings, evaluate, train

    if not args.data or not Path(args.data).is_file():
        sys.exit("error: --system al needs --data, the input.data of `hdnnp generate al-eam`")
    n = args.structures or 500
    lr = args.lr or 0.01
    memory = parse_memory(args.memory)
    out = Path(args.out or ROOT / "benchmarks" / "results" / "force_sampling_accuracy_al.csv")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    structs, _ = _al_subset(Path(args.data), n, seed=0)
    sfset = SymmetryFunctionSet(al_candidates_329("Al"), ["Al"])
    files = {"all": work / f"al{n}_all.h5", "sampled": work / f"al{n}_fa{args.force_atoms}.h5",
             "pool": work / f"al{n}_fa{args.pool}.h5"}
    known = {"all": ("all atoms", "all"), "fixed": (f"{args.force_atoms} atoms per structure, fixed", "sampled"),
             "resampled": (f"{args.force_atoms} atoms per structure, drawn anew every epoch", "all"),
             "pool": (f"{args.force_atoms} of {args.pool} stored atoms per structure, drawn anew every epoch", "pool")}
    modes = args.modes.split(",")
    if not modes or any(m not in known for m in modes):
        sys.exit(f"error: --modes {args.modes!r}: use all, fixed, resampled and/or pool")
    feature_seconds = {}
    for key, k in (("sampled", args.force_atoms), ("pool", args.pool), ("all", None)):
        # the every-atom file is also the test set of the sampled modes
        if (key in {known[m][1] for m in modes} or key == "all") and not files[key].is_file():
            t0 = time.perf_counter()
            write_feature_file(files[key], structs, sfset, derivatives=True, store_dtype="float32",
                               workers=args.workers, force_atoms=k, force_seed=0)
            feature_seconds[key] = round(time.perf_counter() - t0, 1)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for mode, key in (known[m] for m in modes):
            exp = prepare(files[key], ModelSpec(hidden=[10, 10]), split=(0.8, 0.1, 0.1), split_seed=0,
                          dtype=torch.float32, forces=True, memory=memory)
            if mode.endswith("every epoch"):
                exp.data.set_force_sampling(args.force_atoms, resample=True, seed=seed)
            nets = exp.new_networks(seed=seed)
            st = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=lr, force_weight=1.0,
                               patience=1000, restart_period=args.epochs, seed=seed, memory=args.memory,
                               progress=True)
            t0, c0 = time.perf_counter(), time.process_time()
            train(nets, exp.data, exp.train, exp.val, st, log=lambda rec: print(mode, rec, flush=True))
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            test_data = exp.data if key == "all" else _scaled_like(files["all"], exp, memory)
            ev = evaluate(nets, test_data, exp.test, forces=True, memory=memory)
            rows.append({"seed": seed, "mode": mode, "test_rmse_forces": ev["rmse_forces"],
                         "test_rmse_energy": ev["rmse_energy"], "train_seconds": round(seconds, 1),
                         "train_cpu_seconds": round(cpu, 1)})
            print(rows[-1], flush=True)
            summary = _write_al(out, rows, {
                "system": "al-eam", "data": Path(args.data).name, "structures": n, "subset_seed": 0,
                "split": [0.8, 0.1, 0.1], "split_seed": 0, "candidates": "al329",
                "functions": len(sfset.by_element["Al"]), "hidden": [10, 10], "epochs": args.epochs,
                "seeds": args.seeds, "lr": lr, "batch_size": args.batch_size, "force_weight": 1.0,
                "optimizer": "AdamW", "force_atoms": args.force_atoms, "pool": args.pool, "modes": modes, "memory": args.memory,
                "threads": args.threads, "feature_seconds": feature_seconds, "toolkit": __version__,
                "torch": torch.__version__, "numpy": np.__version__, "python": sys.version.split()[0]})
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Peak RSS of force training against ``training.memory``: what is held is bounded by the budget, not the data.

A feature file of liquid Al (the 40 256-atom structures of the n2p2 reference
set ``al_eam_22``, cycled to ``--structures``), the study's 329 candidates
(``n2p2_templates/al_329.input.nn``), values and the derivatives of
``--force-atoms`` sampled atoms per structure, float32. For each budget a fresh
process loads it (``prepare``), trains ``--epochs`` epochs on energies and
forces (batch ``--batch-size``) and reports its own peak RSS (``VmHWM``) after
imports, after loading and after training.

Writes ``benchmarks/results/memory_budget.csv`` (one row per budget) and a
``.json`` sidecar (settings, versions, load average).

    .venv/bin/python benchmarks/bench_memory_budget.py [--structures 400] [--budgets 64MB,512MB,4GB] \\
        [--work DIR]
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

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "n2p2" / "al_eam_22"

CHILD = r"""
import json, sys, time
import torch
from toolkit.training.data import DiskValues
from toolkit.training.experiment import ModelSpec, prepare
from toolkit.training.memory import parse_memory
from toolkit.training.trainer import TrainSettings, train

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024

torch.set_num_threads(1)
torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], foreach=True)   # its lazy imports (torch._dynamo)
path, budget, epochs, batch = sys.argv[1], parse_memory(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
imports = peak()
exp = prepare(path, ModelSpec(hidden=[25, 25]), split=(0.8, 0.1, 0.1), forces=True, memory=budget)
loaded = peak()
st = TrainSettings(epochs=epochs, batch_size=batch, lr=1e-3, force_weight=1.0, progress=False, memory=budget)
t0 = time.perf_counter()
r = train(exp.new_networks(seed=0), exp.data, exp.train, exp.val, st)
d = exp.data
print(json.dumps({"imports": imports, "loaded": loaded, "peak": peak(),
                  "seconds_per_epoch": (time.perf_counter() - t0) / epochs,
                  "values_in_memory": not any(isinstance(v, DiskValues) for v in d.values.values()),
                  "derivatives_in_memory": d.derivatives.in_memory,
                  "value_bytes": float(sum(v.shape[0] * v.shape[1] for v in d.values.values()) * 4),
                  "derivative_bytes": d.derivatives.size_bytes,
                  "val_rmse_forces": r.history[-1]["val_rmse_forces"]}))
"""


def feature_file(work: Path, n: int, force_atoms: int) -> Path:
    from toolkit.features import write_feature_file
    from toolkit.n2p2.settings import read_input_nn
    from toolkit.structures import read_n2p2
    from toolkit.symfuncs import SymmetryFunctionSet

    path = work / f"al329_{n}_fa{force_atoms}.h5"
    if path.is_file():
        return path
    structs = read_n2p2(REFERENCE / "input.data")
    nn = read_input_nn(ROOT / "n2p2_templates" / "al_329.input.nn")
    t0 = time.perf_counter()
    write_feature_file(path, [structs[k % len(structs)] for k in range(n)], SymmetryFunctionSet(nn.symfuncs, nn.elements),
                       derivatives=True, store_dtype="float32", force_atoms=force_atoms, show_progress=True)
    print(f"{path.name}: {time.perf_counter() - t0:.0f} s, {path.stat().st_size / 1e6:.0f} MB", flush=True)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--structures", type=int, default=400)
    p.add_argument("--force-atoms", type=int, default=16)
    p.add_argument("--budgets", default="64MB,512MB,4GB")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--work", default=None, help="folder for the feature file (default: a temporary one)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory_budget.csv"))
    args = p.parse_args(argv)
    import tempfile

    import torch

    from toolkit.fileio import atomic_write

    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = Path(args.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    path = feature_file(work, args.structures, args.force_atoms)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    rows = []
    for budget in args.budgets.split(","):
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), budget, str(args.epochs), str(args.batch_size)],
                             capture_output=True, text=True, env=env, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        row = {"budget": budget, "structures": args.structures,
               "value_mb": round(r["value_bytes"] / 1e6, 1), "derivative_mb": round(r["derivative_bytes"] / 1e6, 1),
               "values_in_memory": r["values_in_memory"], "derivatives_in_memory": r["derivatives_in_memory"],
               "rss_imports_mb": round(r["imports"] / 1e6, 1), "rss_loaded_mb": round(r["loaded"] / 1e6, 1),
               "peak_rss_mb": round(r["peak"] / 1e6, 1),
               "peak_above_imports_mb": round((r["peak"] - r["imports"]) / 1e6, 1),
               "seconds_per_epoch": round(r["seconds_per_epoch"], 1), "val_rmse_forces": r["val_rmse_forces"]}
        print(row, flush=True)
        rows.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    meta = {"settings": vars(args), "torch": torch.__version__, "python": sys.version.split()[0],
            "load_average": os.getloadavg(), "model": "hidden [25, 25], float32, force_weight 1, lr 1e-3"}
    with atomic_write(out.with_suffix(".json")) as fh:
        json.dump(meta, fh, indent=1)
    if tmp is not None:
        tmp.cleanup()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does training on a sample of force atoms cost accuracy? Force RMSE, sampled vs every atom, on LJ demo data.

LJ reference data from ``hdnnp generate lj`` (256-atom boxes, the demo's
system), the standard 22 candidates (12 radial + 10 angular, rc 2.8 sigma),
networks 22-10-10-1 trained on energies and forces (``force_weight`` 1, AdamW,
the same epochs) twice per seed: on the forces of every atom, and on a sampled
fraction of the atoms (``training.force_atoms``, drawn anew every epoch). Both
are evaluated on the test structures' forces of *every* atom. Writes
``benchmarks/results/force_sampling_accuracy.csv`` (one row per seed and mode)
and prints the ratio of the mean test force RMSEs (the claim: within 5 %).

    .venv/bin/python benchmarks/bench_force_sampling_accuracy.py --work /tmp/acc [--structures 120 --epochs 40]
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
    p.add_argument("--structures", type=int, default=120)
    p.add_argument("--fraction", type=float, default=0.1, help="force atoms per structure (fraction)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "force_sampling_accuracy.csv"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
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


if __name__ == "__main__":
    sys.exit(main())

"""Training throughput: configurations per second for one epoch on energies.

Network 22-10-10-1 (tanh, tanh, linear), batches of 256 configurations of 256
atoms, synthetic random features (timing only), 2 CPU threads by default.
Measures the toolkit's training loop (:func:`toolkit.training.train`'s inner
step: gather batch, forward, backward, AdamW, proximal group step) in float32
and float64, eager and ``torch.compile``'d. Reference numbers of the original
study's code on this kind of machine: PyTorch Lightning ~7,000 configurations/s,
plain PyTorch ~9,500, compiled ~16,000.

    .venv/bin/python benchmarks/bench_training.py [--configs 10240] [--threads 2] [--epochs 3]

Prints a table and writes ``benchmarks/results/training.csv`` (with the 1-minute load
average: on a shared machine other processes' load lowers the numbers, and with
2 threads on 2 busy cores OpenMP synchronisation makes them collapse; compare with
``--threads 1``).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
import torch

from toolkit.fileio import atomic_write
from toolkit.model import ElementNetwork
from toolkit.selection.agl import GroupPenalty
from toolkit.training.data import FeatureData
from toolkit.training.trainer import _compiled_forward, batch_loss, make_optimizer

ROOT = Path(__file__).resolve().parents[1]


def synthetic(n_configs: int, n_atoms: int, n_features: int, dtype) -> FeatureData:
    rng = np.random.default_rng(0)
    vals = rng.random((n_configs * n_atoms, n_features), dtype=np.float32)
    struct = np.repeat(np.arange(n_configs), n_atoms)
    data = FeatureData.from_arrays({"Ar": vals}, {"Ar": struct}, rng.normal(size=n_configs) * n_atoms,
                                   np.full(n_configs, n_atoms), dtype=dtype)
    data.set_normalisation(0.0, 1.0)
    return data


def epoch_rate(data: FeatureData, dtype, batch: int, epochs: int, compiled: bool, penalty: bool) -> float:
    torch.manual_seed(0)
    nets = torch.nn.ModuleDict({"Ar": ElementNetwork([data.n_features["Ar"], 10, 10, 1], ["t", "t", "l"], dtype=dtype)})
    opt = make_optimizer(nets, 1e-3, 1e-4)
    pen = GroupPenalty(1.0, data.n_structures) if penalty else None
    fwd = None
    if compiled:
        try:
            fwd = _compiled_forward(nets)
        except Exception as exc:  # pragma: no cover
            print(f"torch.compile unavailable: {exc}")
            return float("nan")
    S = data.n_structures
    n_batches = S // batch
    idx_all = torch.arange(S)

    def run_epoch(ep):
        perm = idx_all[torch.randperm(S, generator=torch.Generator().manual_seed(ep))]
        for k in range(n_batches):
            b = data.batch(perm[k * batch:(k + 1) * batch])
            opt.zero_grad(set_to_none=True)
            loss, _, _ = batch_loss(nets, b, 0.0, fwd)
            loss.backward()
            opt.step()
            if pen is not None:
                pen.prox_(nets, opt)

    run_epoch(-1)  # warm-up (and compilation)
    t0 = time.perf_counter()
    for ep in range(epochs):
        run_epoch(ep)
    return epochs * n_batches * batch / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=10240)
    ap.add_argument("--atoms", type=int, default=256)
    ap.add_argument("--features", type=int, default=22)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "training.csv"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    cases = [("float32", False, False), ("float32", False, True), ("float64", False, False)]
    if not args.no_compile:
        cases.insert(1, ("float32", True, False))
    for dt, compiled, penalty in cases:
        dtype = getattr(torch, dt)
        data = synthetic(args.configs, args.atoms, args.features, dtype)
        r = epoch_rate(data, dtype, args.batch, args.epochs, compiled, penalty)
        rows.append({"dtype": dt, "compiled": compiled, "group_lasso_prox": penalty, "threads": args.threads,
                     "batch": args.batch, "atoms": args.atoms, "features": args.features,
                     "network": f"{args.features}-10-10-1", "configs_per_s": round(r, 1),
                     "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()})
        print(f"{dt:8s} compiled={str(compiled):5s} prox={str(penalty):5s} {r:10.0f} configurations/s")
    with atomic_write(args.out, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

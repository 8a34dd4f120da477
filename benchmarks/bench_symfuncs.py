"""Symmetry-function throughput: 256-atom liquid Al with the 329 candidates of the reference study.

Prints atoms per second for values only and for values with derivatives, and
writes ``benchmarks/results/symfuncs.csv``. Structures: liquid Al at 1000 K
(Mendelev EAM, LAMMPS) from ../shared/reference/n2p2/al_eam_22/input.data.
n2p2's own C++ code does about 1,400 atoms/s (values) on this 2-core machine.

    .venv/bin/python benchmarks/bench_symfuncs.py [--structures 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from toolkit.features import _worker_compute
from toolkit.fileio import atomic_write
from toolkit.structures import read_n2p2
from toolkit.symfuncs import SymmetryFunctionSet, al_candidates_329

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "reference" / "n2p2" / "al_eam_22" / "input.data"


def rate(sfset, structures, derivatives: bool, workers: int) -> float:
    """Steady-state atoms per second, one structure per task, ``workers`` single-threaded processes.

    Worker start-up (importing torch) is excluded: each worker first computes one
    structure untimed, as it would early in a long feature-file run.
    """
    n = sum(len(s) for s in structures)
    if workers == 1:
        sfset.compute(structures[:1], derivatives=derivatives)  # warm-up
        t0 = time.perf_counter()
        for s in structures:
            sfset.compute(s, derivatives=derivatives)
        return n / (time.perf_counter() - t0)
    import concurrent.futures as cf
    import multiprocessing as mp

    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        list(pool.map(_worker_compute, [(sfset, structures[:1], derivatives, None, 0)] * workers))
        t0 = time.perf_counter()
        list(pool.map(_worker_compute, [(sfset, [s], derivatives, None, i) for i, s in enumerate(structures)]))
        return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--structures", type=int, default=40, help="structures per measurement (cycling the file)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="worker-process counts to measure (each process single-threaded)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    pool_structs = read_n2p2(args.data)
    structures = [pool_structs[i % len(pool_structs)] for i in range(args.structures)]
    sfset = SymmetryFunctionSet(al_candidates_329())
    rows = []
    for workers in args.workers:
        for deriv in (False, True):
            r = rate(sfset, structures, deriv, workers)
            rows.append({"case": "values+derivatives" if deriv else "values", "functions": 329,
                         "atoms_per_structure": len(structures[0]), "structures": len(structures),
                         "processes": workers, "atoms_per_s": round(r, 1)})
            print(f"{rows[-1]['case']:>20s}: {r:9.0f} atoms/s  (329 functions, {len(structures)} x "
                  f"{len(structures[0])} atoms, {workers} single-threaded process(es))")
    out = ROOT / "benchmarks" / "results" / "symfuncs.csv"
    with atomic_write(out) as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"written {out}")


if __name__ == "__main__":  # worker processes are spawned: keep this guard
    main()

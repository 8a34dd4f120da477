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

from toolkit.features import iter_feature_chunks
from toolkit.fileio import atomic_write
from toolkit.structures import read_n2p2
from toolkit.symfuncs import SymmetryFunctionSet, al_candidates_329

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "reference" / "n2p2" / "al_eam_22" / "input.data"


def rate(sfset, structures, derivatives: bool, workers: int) -> float:
    """Atoms per second through iter_feature_chunks (one structure per chunk)."""
    n_atoms = len(structures[0])
    if workers == 1:
        sfset.compute(structures[:1], derivatives=derivatives)  # warm-up
    t0 = time.perf_counter()
    n = 0
    for _, chunk, _ in iter_feature_chunks(structures, sfset, chunk_atoms=n_atoms, derivatives=derivatives,
                                           workers=workers):
        n += sum(len(s) for s in chunk)
    return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--structures", type=int, default=20)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="worker-process counts to measure (each process single-threaded)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    structures = read_n2p2(args.data)[: args.structures]
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


if __name__ == "__main__":
    main()

"""Cost of the derivatives force training needs, relative to the symmetry-function values alone.

The reference study's 329 Al candidates (``n2p2_templates/al_329.input.nn``) on
rattled 256-atom fcc Al boxes (a = 4.25 A, 0.25 A rattle: liquid-like
neighbour counts), one thread, float64. CPU times (median of ``--repeats``), per box set:

* ``values``: values only;
* ``dense``: values and the dense ``(pairs, functions, 3)`` derivatives of every atom;
* ``compact_all``: values and the stored layout (radial scalars, angular vectors
  inside the angular cutoff) for every atom;
* ``compact_N``: the same for N sampled force atoms per structure (what the
  feature file stores with ``data.force_atoms: N``).

Writes ``benchmarks/results/derivative_cost.csv`` (seconds, ratio to values,
derivative MB per structure in float32, 1-minute load average).

    .venv/bin/python benchmarks/bench_derivative_cost.py [--boxes 4] [--force-atoms 16,26]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def boxes(n: int) -> list:
    from ase.build import bulk

    from toolkit.structures import Structure

    out = []
    for k in range(n):
        a = bulk("Al", "fcc", a=4.25, cubic=True).repeat((4, 4, 4))
        a.rattle(stdev=0.25, seed=k)
        out.append(Structure(positions=a.positions.copy(), elements=a.get_chemical_symbols(), cell=np.array(a.cell)))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--boxes", type=int, default=4)
    p.add_argument("--force-atoms", default="16,26")
    p.add_argument("--no-dense", action="store_true", help="skip the (slow) dense derivatives")
    p.add_argument("--repeats", type=int, default=3, help="median of this many timings (CPU time) per mode")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "derivative_cost.csv"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from toolkit.fileio import atomic_write
    from toolkit.n2p2.settings import read_input_nn
    from toolkit.symfuncs import SymmetryFunctionSet

    st = read_input_nn(ROOT / "n2p2_templates" / "al_329.input.nn")
    sfset = SymmetryFunctionSet(st.symfuncs, st.elements)
    structs = boxes(args.boxes)
    n_atoms = sum(len(s) for s in structs)
    sfset.compute(structs[:1])                       # warm-up
    rows = []

    def timed(label, **kw):
        sfset.compute(structs[:1], **{k: (v[:256] if k == "force_mask" else v) for k, v in kw.items()})  # warm-up
        secs = []
        for _ in range(args.repeats):
            t0 = time.process_time()
            f = sfset.compute(structs, **kw).per_element["Al"]
            secs.append(time.process_time() - t0)
        sec = statistics.median(secs)
        mb = None
        if f.compact is not None:
            c = f.compact
            mb = 4 * (c.radial.numel() + c.angular.numel() + c.self_block.numel()) / len(structs) / 1e6
        elif f.dG is not None:
            mb = 4 * f.dG.numel() / len(structs) / 1e6
        rows.append({"mode": label, "seconds": round(sec, 3), "atoms_per_second": round(n_atoms / sec),
                     "derivative_mb_per_structure": None if mb is None else round(mb, 2),
                     "load_average": round(os.getloadavg()[0], 2)})
        print(rows[-1], flush=True)

    timed("values")
    if not args.no_dense:
        timed("dense", derivatives=True)
    timed("compact_all", derivatives="compact")
    for k in (int(x) for x in args.force_atoms.split(",") if x):
        mask = torch.zeros(n_atoms, dtype=torch.bool)
        for b in range(len(structs)):
            mask[b * 256 + torch.as_tensor(np.random.default_rng(b).choice(256, k, replace=False))] = True
        timed(f"compact_{k}", derivatives="compact", force_mask=mask)
    base = rows[0]["seconds"]
    for r in rows:
        r["ratio_to_values"] = round(r["seconds"] / base, 2)
    with atomic_write(Path(args.out), newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

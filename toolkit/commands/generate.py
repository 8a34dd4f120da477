"""``hdnnp generate SYSTEM OUT/``: reference data from LAMMPS MD with a built-in potential."""

from __future__ import annotations

from ._args import cells, floats


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="reference data (n2p2 input.data) from LAMMPS NVT MD: lj, al-eam, si-sw, cuzr-eam",
        description="Sample configurations with energies and forces from Nose-Hoover NVT MD "
        "with a built-in LAMMPS potential. Writes OUT/input.data, OUT/states.csv, OUT/generate.json. "
        "Finished state points are reused when the command is rerun.",
    )
    p.add_argument("system", help="lj, al-eam (al), si-sw (si) or cuzr-eam (cuzr)")
    p.add_argument("out_dir", help="output folder")
    p.add_argument("--configs", type=int, default=None, help="total configurations (default: 1500 lj, 400 al, 300 si, 400 cuzr)")
    p.add_argument("--composition", default=None, help="alloys: composition, e.g. Cu50Zr50 (default Cu64Zr36)")
    p.add_argument("--seed", type=int, default=0, help="velocity seed (default 0)")
    p.add_argument("--lmp", default=None, help="LAMMPS command, e.g. 'mpirun -np 4 lmp_mpi' (default: $HDNNP_LMP or the venv's lmp)")
    p.add_argument("--temperatures", type=floats, default=None, help="comma list or start:stop:count")
    p.add_argument("--densities", type=floats, default=None, help="LJ densities (sigma^-3), comma list or start:stop:count")
    p.add_argument("--starts", default=None, help="comma list of starting phases, e.g. fcc,liquid")
    p.add_argument("--states", default=None, help="YAML/JSON/CSV file of state points (start, temperature, density|pressure, weight)")
    p.add_argument("--interval", type=float, default=None, help="time between samples (tau or ps)")
    p.add_argument("--equilibration", type=float, default=None, help="NVT equilibration before sampling (tau or ps)")
    p.add_argument("--melt-time", type=float, default=None, help="melting time of liquid starts (tau or ps)")
    p.add_argument("--npt-time", type=float, default=None, help="NPT run at a target pressure (ps)")
    p.add_argument("--cells", type=cells, default=None, help="unit cells N or NX,NY,NZ (default: 256 atoms; Si 216)")
    p.add_argument("--rattled", type=int, default=0,
                   help="rattled copies of samples appended, energies and forces from the same potential (default 0)")
    p.add_argument("--rattle-sigma", type=float, default=0.1,
                   help="their Gaussian displacement per component (Angstrom or sigma; default 0.1)")
    p.add_argument("--jobs", type=int, default=1, help="state points run at the same time (default 1)")
    p.add_argument("--keep-dumps", action="store_true", help="keep each state point's LAMMPS dump")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..fileio import check_output_dir, removed_if_failed
    from ..lammps.generate import generate, read_state_points

    check_output_dir(args.out_dir, resume=True)  # finished state points are reused
    with removed_if_failed(args.out_dir):
        path = generate(
            args.system, args.out_dir, n_configs=args.configs, seed=args.seed, lmp=args.lmp,
            state_points=read_state_points(args.states) if args.states else None,
            temperatures=args.temperatures, densities=args.densities,
            starts=args.starts.split(",") if args.starts else None,
            interval=args.interval, equilibration=args.equilibration, melt_time=args.melt_time, npt_time=args.npt_time,
            cells=args.cells,
            jobs=args.jobs, keep_dumps=args.keep_dumps, show_progress=not args.quiet, composition=args.composition,
            rattled=args.rattled, rattle_sigma=args.rattle_sigma,
        )
    print(path)
    return 0

"""``hdnnp analyze MD/ [--reference MD_REF/] -o REPORT/``: diffusion, Arrhenius fits and RDFs of quench runs."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="diffusion coefficients (Einstein), Arrhenius fits and RDFs of 'hdnnp quench' runs",
        description="Reads a quench directory (and optionally the reference potential's) and writes "
        "diffusion.csv, diffusion_runs.csv, arrhenius.csv, rdf.csv, rdf_peaks.csv, comparison.csv, "
        "arrhenius.png, rdf.png, msd.png and analysis.json.",
    )
    p.add_argument("md_dir", help="quench output folder")
    p.add_argument("--reference", default=None, help="quench folder of the reference potential")
    p.add_argument("-o", "--out", default=None, help="report folder (default MD/analysis)")
    p.add_argument("--fit-start", type=float, default=0.2, help="Einstein-fit window start, fraction of the measurement (0.2)")
    p.add_argument("--fit-end", type=float, default=1.0, help="Einstein-fit window end, fraction (1.0)")
    p.add_argument("--rdf-cutoff", type=float, default=None, help="largest r of g(r) (default: al 8 A, si 7 A, lj 3.2 sigma)")
    p.add_argument("--rdf-bins", type=int, default=200, help="g(r) bins (200)")
    p.add_argument("--msd-source", choices=("lammps", "trajectory"), default="lammps",
                   help="MSD from compute msd (msd.dat, default) or from all time origins of the trajectory")
    p.add_argument("--per-element", action="store_true",
                   help="also partial RDFs, per-element D and Arrhenius fits, bond-angle distributions "
                        "(REPORT/species/, with --reference also species/comparison_*.csv)")
    p.add_argument("--allow-failed", action="store_true",
                   help="analyse the runs that passed and leave out runs the quench's guard marked FAILED "
                   "(default: refuse, exit status 1)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..fileio import check_output_dir

    if args.out is not None:
        check_output_dir(args.out, resume=True)  # a rerun replaces the report files
    from ..lammps.analysis import analyze

    res = analyze(args.md_dir, reference_dir=args.reference, out_dir=args.out, fit_start=args.fit_start,
                  fit_end=args.fit_end, rdf_cutoff=args.rdf_cutoff, rdf_bins=args.rdf_bins,
                  msd_source=args.msd_source, allow_failed=args.allow_failed)
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(res["diffusion"].to_string(index=False))
        if len(res["arrhenius"]):
            print(res["arrhenius"][["source", "D0", "Ea", "Ea_stderr"]].to_string(index=False))
        if res["comparison"] is not None:
            print(res["comparison"].to_string(index=False))
    if args.per_element:
        _per_element(args, res["out_dir"])
    for run, why in {k: v for ex in res["excluded_runs"].values() for k, v in ex.items()}.items():
        print(f"left out: {run} FAILED at {why}")
    print(res["out_dir"])
    return 0


def _per_element(args, out_dir) -> None:
    from pathlib import Path

    from ..fileio import atomic_write
    from ..lammps.species_analysis import compare_species, write_species_tables

    out = Path(out_dir) / "species"
    opts = dict(fit_start=args.fit_start, fit_end=args.fit_end, rdf_cutoff=args.rdf_cutoff, rdf_bins=args.rdf_bins)
    mine = write_species_tables(args.md_dir, out, **opts)
    print(mine["diffusion_elements_summary"].to_string(index=False))
    if args.reference:
        ref = write_species_tables(args.reference, out / "reference", label="reference", **opts)
        for name, df in zip(("comparison_diffusion", "comparison_peaks"), compare_species(mine, ref)):
            with atomic_write(out / f"{name}.csv") as fh:
                df.to_csv(fh, index=False)
        print(compare_species(mine, ref)[0].to_string(index=False))

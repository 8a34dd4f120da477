"""``hdnnp import-n2p2 DIR model.pt`` and ``hdnnp export-n2p2 model.pt OUT/``."""


def register(sub):
    p = sub.add_parser("import-n2p2", help="n2p2 directory -> model.pt",
                       description="Read input.nn, scaling.data and weights.NNN.data from DIR into a toolkit model.pt.")
    p.add_argument("directory")
    p.add_argument("model")
    p.add_argument("--force", action="store_true", help="replace an existing model file")
    p.set_defaults(func=run_import)
    q = sub.add_parser("export-n2p2", help="model.pt -> n2p2 files (input.nn, scaling.data, weights.NNN.data)",
                       description="Write the potential in MODEL (model.pt or n2p2 directory) as n2p2 files into OUT, "
                                   "loadable by n2p2 and LAMMPS pair_style hdnnp.")
    q.add_argument("model")
    q.add_argument("out")
    q.add_argument("--force", action="store_true", help="replace n2p2 files already in OUT")
    q.set_defaults(func=run_export)


def run_import(args):
    from ..fileio import check_output_file, check_potential_path
    from ..potential import load_n2p2, save_model
    from ..provenance import provenance

    check_potential_path(args.directory)
    check_output_file(args.model, force=args.force, what="model file")

    model = load_n2p2(args.directory)
    path = save_model(model, args.model, provenance({"imported_from": str(args.directory)}))
    print(f"wrote {path}")


def run_export(args):
    from pathlib import Path

    from ..export import export_n2p2
    from ..fileio import check_output_dir, check_potential_path
    from ..potential import load_potential

    check_potential_path(args.model)
    out = Path(args.out)
    existing = sorted(p.name for p in out.glob("weights.*.data")) if out.is_dir() else []
    check_output_dir(out, ["input.nn", "scaling.data", *existing], force=args.force)

    out = export_n2p2(load_potential(args.model), args.out)
    print(f"wrote {out}/input.nn, scaling.data and weights files")

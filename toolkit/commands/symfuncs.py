"""``hdnnp symfuncs INPUT_NN DATA -o FEATURES.h5``."""


def register(sub):
    p = sub.add_parser("symfuncs", help="symmetry functions of every atom (HDF5)",
                       description="Compute the symmetry functions defined in INPUT_NN (n2p2 input.nn) for "
                                   "every atom of DATA and store them per element in an HDF5 file, with the "
                                   "function definitions beside them.")
    p.add_argument("input_nn")
    p.add_argument("data")
    p.add_argument("-o", "--out", required=True, help="output .h5 file")
    p.add_argument("--derivatives", action="store_true", help="also store dG/d(pair vector)")
    p.add_argument("--force-atoms", type=_force_atoms, default=None, metavar="N|FRACTION",
                   help="with --derivatives: store only what the forces of N atoms (integer) or this fraction "
                        "(0-1) of the atoms of each structure need (default: every atom)")
    p.add_argument("--force-seed", type=int, default=0, help="seed of the force-atom draw")
    p.add_argument("--float32", action="store_true", help="store values in single precision")
    p.add_argument("--min-distance", type=float, default=0.5,
                   help="error if two atoms are closer than this (length units; default 0.5, 0: no check)")
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="computing processes, this one included (default: chosen from the amount of work, "
                        "at most the usable cores; a small job stays in one process)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=run)


def _force_atoms(text: str):
    import argparse

    from ..features import check_force_atoms

    try:
        value = int(text) if text.isdigit() else float(text)
        check_force_atoms(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _positive_int(text: str) -> int:
    import argparse

    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def run(args):
    from ..fileio import check_input_file, check_output_file
    from ..n2p2.settings import read_input_nn
    from ..structures import check_elements, check_min_distance, read_structures

    check_output_file(args.out, force=args.force, what="feature file")
    check_input_file(args.data, "data file")
    settings = read_input_nn(args.input_nn)
    structures = read_structures(args.data)
    check_elements(structures, settings.elements, source=args.data, potential=args.input_nn)
    check_min_distance(structures, args.min_distance, source=args.data)
    from ..features import write_feature_file
    from ..symfuncs import SymmetryFunctionSet

    sfset = SymmetryFunctionSet(settings.symfuncs, settings.elements)
    path = write_feature_file(args.out, structures, sfset, derivatives=args.derivatives,
                              store_dtype="float32" if args.float32 else "float64",
                              force_atoms=args.force_atoms, force_seed=args.force_seed, workers=args.workers,
                              settings={"input_nn": str(args.input_nn), "data": str(args.data),
                                        "derivatives": args.derivatives, "force_atoms": args.force_atoms,
                                        "force_seed": args.force_seed})
    print(f"wrote {path}")

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
    p.add_argument("--float32", action="store_true", help="store values in single precision")
    p.add_argument("--min-distance", type=float, default=None,
                   help="error if two atoms are closer than this (length units)")
    p.set_defaults(func=run)


def run(args):
    from ..features import write_feature_file
    from ..n2p2.settings import read_input_nn
    from ..structures import read_structures
    from ..symfuncs import SymmetryFunctionSet

    settings = read_input_nn(args.input_nn)
    structures = read_structures(args.data)
    sfset = SymmetryFunctionSet(settings.symfuncs, settings.elements)
    path = write_feature_file(args.out, structures, sfset, derivatives=args.derivatives,
                              store_dtype="float32" if args.float32 else "float64",
                              min_distance=args.min_distance,
                              settings={"input_nn": str(args.input_nn), "data": str(args.data),
                                        "derivatives": args.derivatives})
    print(f"wrote {path}")

"""``hdnnp predict POTENTIAL DATA -o OUT/``."""


def register(sub):
    p = sub.add_parser("predict", help="energies and forces of structures with a potential (CSV)",
                       description="Predict energies and forces. POTENTIAL: an n2p2 directory or a model.pt; "
                                   "DATA: n2p2 input.data or any file ASE reads. Writes OUT/energies.csv "
                                   "(structure,n_atoms,energy) and OUT/forces.csv (structure,atom,fx,fy,fz).")
    p.add_argument("potential")
    p.add_argument("data")
    p.add_argument("-o", "--out", required=True, help="output directory")
    p.add_argument("--no-forces", action="store_true", help="energies only")
    p.set_defaults(func=run)


def run(args):
    from ..predict import predict_files

    paths = predict_files(args.potential, args.data, args.out, forces=not args.no_forces)
    for p in paths.values():
        print(f"wrote {p}")

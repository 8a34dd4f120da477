"""``hdnnp predict POTENTIAL DATA -o OUT/``."""


def register(sub):
    p = sub.add_parser("predict", help="energies and forces of structures with a potential (CSV)",
                       description="Predict energies and forces. POTENTIAL: an n2p2 directory or a model.pt; "
                                   "DATA: n2p2 input.data or any file ASE reads. Writes OUT/energies.csv "
                                   "(structure,n_atoms,energy) and OUT/forces.csv (structure,atom,fx,fy,fz); where the data "
                                   "have reference values OUT/errors.csv, and with the states.csv of hdnnp "
                                   "generate beside the data, the errors per state point "
                                   "(OUT/errors_by_state.csv/.png).")
    p.add_argument("potential")
    p.add_argument("data")
    p.add_argument("-o", "--out", required=True, help="output directory")
    p.add_argument("--no-forces", action="store_true", help="energies only")
    p.add_argument("--force", action="store_true", help="replace the results of an earlier run in OUT")
    p.add_argument("--min-distance", type=float, default=0.5,
                   help="error if two atoms are closer than this (length units; default 0.5, 0: no check)")
    p.set_defaults(func=run)


def run(args):
    from ..fileio import check_input_file, check_output_dir, check_potential_path
    from ..predict import OUTPUTS, predict_files

    check_output_dir(args.out, OUTPUTS, force=args.force)
    check_potential_path(args.potential)
    check_input_file(args.data, "data file")
    paths = predict_files(args.potential, args.data, args.out, forces=not args.no_forces,
                          min_distance=args.min_distance)
    for p in paths.values():
        print(f"wrote {p}")
    if "errors" in paths:
        import json

        e = json.loads((paths["energies"].parent / "predict.json").read_text())["settings"]["errors"]
        forces = f", forces {e['force_rmse']:.4g} (energy/length)" if e.get("force_rmse") is not None else ""
        print(f"RMSE against the data's {e['structures']} reference structures: energy {e['energy_rmse']:.4g} "
              f"per atom{forces}")

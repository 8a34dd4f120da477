"""``hdnnp train CONFIG.yaml -o RUN/``: train an HDNNP on all candidate functions of a data set."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train an HDNNP (energies, optionally forces) from a YAML config: RUN/model.pt and learning curves",
        description="Computes the candidate symmetry functions once (HDF5 feature file), splits the structures, "
        "scales as n2p2 on the training split and trains one network per element. Writes RUN/model.pt, "
        "RUN/learning_curve.csv/.png and RUN/metrics.json. Rerun the same command to resume. "
        "Config keys: docs/reference.md.",
    )
    p.add_argument("config", help="YAML config (sections data, symfuncs, model, training)")
    p.add_argument("-o", "--out", required=True, help="output folder RUN/")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--memory", default=None, metavar="SIZE",
                   help="memory budget of a step, e.g. 8GB (overrides training.memory)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..fileio import check_input_file, check_output_dir, removed_if_failed

    check_output_dir(args.out, resume=True)  # an existing RUN/ is resumed
    check_input_file(args.config, "config file", text=True)
    from ..config import check_inputs, load_config
    from ..datagen import generate_data
    from ..training.pipeline import run_train

    cfg = load_config(args.config)
    if args.quiet:
        cfg.training.progress = False
    if args.memory is not None:
        cfg.training = cfg.training.replace(memory=args.memory)   # validated: a bad size is one error line
    check_inputs(cfg)
    with removed_if_failed(args.out):
        generate_data(cfg, args.out)
        run_train(cfg, args.out)
    return 0

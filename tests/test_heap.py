"""Loading the CPU backend sets glibc's malloc to serve arrays under 32 MB from the heap
(zygopy/backend/numba_cpu/heap.py), unless the user said otherwise. Observed in a fresh process
through mallinfo2's count of blocks taken by mmap: an 8 MB array adds one with malloc's defaults,
none once the backend is loaded."""
import ctypes
import os
import subprocess
import sys

import pytest

SCRIPT = """
import ctypes, numpy as np
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
import zygopy.backend.numba_cpu
before = libc.mallinfo2().hblks
x = np.empty(10**6)
print(libc.mallinfo2().hblks - before)
"""


def glibc_with_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


def mmapped_blocks_added(**env) -> int:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "ZYGOPY_M"))}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env={**environment, **env},
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not glibc_with_mallinfo2(), reason="glibc's malloc (2.33 or later) only")
def test_large_arrays_come_from_the_heap():
    assert mmapped_blocks_added() == 0


@pytest.mark.skipif(not glibc_with_mallinfo2(), reason="glibc's malloc (2.33 or later) only")
def test_the_user_can_keep_mallocs_defaults():
    assert mmapped_blocks_added(ZYGOPY_MALLOC="default") == 1
    assert mmapped_blocks_added(MALLOC_MMAP_THRESHOLD_="1048576") == 1

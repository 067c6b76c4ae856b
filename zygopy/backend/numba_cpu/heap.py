"""Arrays of up to 32 MB from the heap, so that memory freed by one gradient call serves the next.

glibc's malloc takes a block of 128 KB or more straight from the kernel (mmap) and returns it when
freed, so each new array is faulted in page by page and zeroed by the kernel again. Freeing such a
block raises malloc's threshold to its size, but an array of that same size still exceeds it. For
10^6 float64 gradients, three fresh arrays cost 11-13 ms of page faults; from the heap, 0.7 ms.
Here malloc is set to the state its own heuristic reaches after freeing a 32 MB block (its
ceiling): blocks under 32 MB from the heap, which keeps up to 64 MB free at its top before giving
memory back.

This applies to the whole process. ZYGOPY_MALLOC=default leaves malloc as it is, and so do
MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or a glibc.malloc tunable set by the user.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc pairs with a threshold it raised


def keep_arrays_on_the_heap() -> bool:
    """Set glibc's malloc thresholds as above, unless the user chose otherwise or the C library is
    not glibc; -> whether they were set."""
    user_set = (os.environ.get("ZYGOPY_MALLOC") == "default"
                or "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ
                or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""))
    if user_set or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # another C library (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and
                mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))

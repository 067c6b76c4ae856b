"""Device memory for the GPU launches: arrays of zeros made on the device (not copied from the
host), and the copies of an array that many threads add into, summed back after a launch.
Imported only where arrays live on a GPU (it imports numba.cuda)."""
from __future__ import annotations

from numba import cuda

from ...errors import ZygopyError

COPIES_BUDGET = 64 * 2**20  # bytes of copies made of one shared array
MAX_COPIES = 1024  # threads adding into one address: a million over 1024 copies is 1000 each
THREADS_PER_BLOCK = 256


def zeros(shape, dtype):
    a = cuda.device_array(shape, dtype)
    if a.size:
        launch(_fill_zeros, a.size, a.reshape(a.size))
    return a


def copies(array, threads: int):
    """Zeros to stand in for `array` as (copies, *array.shape): as many copies as the budget
    allows, and no more than there are threads."""
    count = max(1, min(MAX_COPIES, threads, COPIES_BUDGET // max(array.nbytes, 1)))
    return zeros((count, *array.shape), array.dtype)


def add_copies(made, into):
    """into += the sum of the copies."""
    if into.size:
        launch(_add_rows, into.size, made.reshape(made.shape[0], into.size),
                into.reshape(into.size))


def stacks(dtypes, capacity, n, fn):
    """Each thread's stacks as the columns of arrays (capacity, n) in device memory, refused
    with a clear error where they would not fit in what the device has free."""
    size = sum(c * n * dtype.itemsize for dtype, c in zip(dtypes, capacity, strict=True))
    free = cuda.current_context().get_memory_info()[0] if size else 0
    if size > free:
        raise ZygopyError(f"the backward of the kernel {fn.name!r} needs {size / 2**30:.1f} GiB "
                          f"of stacks ({n} threads), more than the device's free "
                          f"{free / 2**30:.1f} GiB", fn.filename, fn.line,
                          hint="launch fewer threads at once, or record less per thread "
                          "(a loop's values that can be computed again)")
    return [cuda.device_array((c, n), dtype) for dtype, c in zip(dtypes, capacity, strict=True)]


def launch(kernel, n, *args):
    """kernel(*args) on (at least) n threads, one block if n is 0."""
    kernel[max(1, (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK), THREADS_PER_BLOCK](*args)


@cuda.jit
def _fill_zeros(a):
    i = cuda.grid(1)
    if i < a.shape[0]:
        a[i] = 0


@cuda.jit
def _add_rows(made, into):
    e = cuda.grid(1)
    if e < into.shape[0]:
        total = into[e]
        for k in range(made.shape[0]):
            total += made[k, e]
        into[e] = total

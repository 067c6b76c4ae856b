"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 731 ...`, program 188),
then shrunk by tools/fuzz/shrink.py.

Bug: np.cumsum (and cumprod, argsort) of the flattened array reshaped its operand to the runtime
helper's (1, n, 1) in place, and Numba reshapes contiguous arrays only: `a0[::1]`, a slice with a
step, is typed as possibly strided, so the compiled code was Numba's internal error. Fixed at the
root: the flattened operand is made contiguous first (a no-op for one that is), as the helper's
other callers (along an axis) already did.
"""
import numpy as np
import pytest

from .reference import PATHS, check_gradients


def f(x0):
    a0 = np.array([1.0, 1.0, 1.0]) * x0
    return np.prod(np.cumsum(a0[::1]))


def g(x0):  # as shrunk, in a loop that writes the array
    a0 = np.array([1.0, 1.0, 1.0])
    for j4, v3 in enumerate(a0):
        for j5 in range(0, len(a0)):
            a0[0] = 1.0
            v2 = v3
            v3 = v2 + np.prod(np.cumsum(a0[::1]))
    return a0[0]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("fn", [f, g])
def test_scan_of_a_strided_view(fn, path):
    check_gradients(fn, (0.5,), path, (0,))

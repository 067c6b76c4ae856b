"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 71 --start 1010 --count 1
--numba-every 1`), then shrunk by tools/fuzz/shrink.py: an index-array write whose values are the
array itself, `a[(np.arange(n) + 1) % n] = a` (a rotation).

NumPy reads every value before it writes one. The compiled paths wrote element by element from
the array being written, so a later element read an already-rotated value: the value came out 1.0
where NumPy gives 0.0 (the gradient was computed for the wrong value too). Values that share memory
with the target are now copied first; a view of the target (`a[::-1]`) is one of them.
"""
import numpy as np
import pytest

from .reference import PATHS, check_gradients


def rotated(x0):
    a0 = np.array([1.0, 0.0, 1.0, 1.0, 1.0])
    a0[(np.arange(len(a0)) + 1) % len(a0)] = a0
    return (a0[2] * 1.0).sum()


def reversed_view(x):
    a = np.array([1.0, 2.0, 3.0, 4.0]) * x
    a[np.array([0, 1, 2, 3])] = a[::-1]
    return a[0] * 1.5 + a[1] * a[3]


def rows_of_itself(x):
    b = np.arange(6.0).reshape(3, 2) * x
    b[np.array([2, 0, 1])] = b
    return np.sum(b * np.arange(1.0, 7.0).reshape(3, 2))


CASES = [(rotated, (0.5,)), (reversed_view, (0.7,)), (rows_of_itself, (1.3,))]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("f, args", CASES, ids=[f.__name__ for f, _ in CASES])
def test_scatter_from_itself(f, args, path):
    check_gradients(f, args, path, (0,))

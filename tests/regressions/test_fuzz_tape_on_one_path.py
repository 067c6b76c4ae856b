"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 1 ...`, program 15), then
shrunk by tools/fuzz/shrink.py to `f`.

Bug: an array the reverse pass needs (the tape), defined on one path only, had no value on the other
path, and Numba refused the forward ("Variable 'v5' is not defined"); the same for a shape tuple.
Fixed at the root: the forward starts every tape value that the entry block does not define with a
zero of its type (a transposed zero for a transpose, so that its layout stays F and not 'A').
"""
import numpy as np
import pytest

from .reference import PATHS, check_gradients


def f(a1, n):
    if 1.0 < n:
        return a1 @ (a1 >= 1.0)
    return 1.0


def g(a, w, n):
    if n > 1:
        b = np.tanh(w.T @ a)
        return np.sum(b * b)
    return 1.0


@pytest.mark.parametrize("n", [0, 2])
@pytest.mark.parametrize("path", PATHS)
def test_bool_array_on_one_path(path, n):
    check_gradients(f, (np.array([1.5, 0.6, -0.4]), n), path, (0,))


@pytest.mark.parametrize("n", [0, 2])
@pytest.mark.parametrize("path", PATHS)
def test_transpose_on_one_path(path, n):
    check_gradients(g, (np.array([1.5, 0.6, -0.4]), np.arange(9.0).reshape(3, 3) / 10, n), path, (0, 1))

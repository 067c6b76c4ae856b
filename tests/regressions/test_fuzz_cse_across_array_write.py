"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 1 ...`, program 76), then
shrunk by tools/fuzz/shrink.py.

Bug: common-subexpression elimination merged the two `np.sin(a0)` across the write `a0[1] = 1.0`
between them, so the result used the sine of the old array (value 4.6058 instead of 4.4837, and the
gradient of the old elements). Fixed at the root: in a function that writes arrays, CSE leaves
alone every expression that reads array contents or makes an array (two `np.zeros(n)` are two
buffers); only shapes are shared.
"""
import numpy as np
import pytest

from .reference import PATHS, check_gradients


def f(a0):
    x0 = np.sin(a0)
    a0[1] = 1.0
    return np.sum(np.sin(a0))


def g(a):
    b = np.zeros(len(a))
    c = np.zeros(len(a))  # a second buffer, not the first one again
    b[0] = a[0]
    c[0] = 2.0 * a[1]
    return np.sum(b * b) + np.sum(np.cos(c))


ARGS = (np.array([1.0, 1.3, 1.4, 1.8, 1.0]),)


@pytest.mark.parametrize("path", PATHS)
def test_cse_across_array_write(path):
    check_gradients(f, ARGS, path, (0,))


@pytest.mark.parametrize("path", PATHS)
def test_two_zero_buffers_stay_two(path):
    check_gradients(g, (np.array([0.7, -0.4]),), path, (0,))

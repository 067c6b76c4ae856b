"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 2 ...`, program 304), then
shrunk by tools/fuzz/shrink.py to `f`.

Bug: `a0 *= 0.5` on an array was compiled as `a0 = a0 * 0.5`, a new array, while NumPy updates the
array in place: the loop `for v2 in a0` (and any other alias) kept reading the old values (value
0.2 instead of 0.1). Fixed at the root: an augmented assignment to an array is the in-place write
`a0[:] = a0 * 0.5` (passes/augment.py), whose overwritten values the reverse pass restores.
"""
import numpy as np
import pytest

from .reference import PATHS, check_gradients


def f(a0):
    for v2 in a0:
        a0[1] = v2
        a0 *= 0.5
    return a0[1]


def through_an_alias(a, x):
    b = a
    b += x * a  # a changes too
    b[0] -= x
    return np.sum(a * a) + np.sum(np.sin(b))


def numbers_are_rebound(x, n):
    y = x
    y *= 3.0  # y is a new number; x is unchanged
    s = 0.0
    for k in range(n):
        s += x * y
    return s


@pytest.mark.parametrize("path", PATHS)
def test_loop_sees_the_inplace_update(path):
    check_gradients(f, (np.array([0.4, 0.9]),), path, (0,))


@pytest.mark.parametrize("path", PATHS)
def test_alias_sees_the_inplace_update(path):
    check_gradients(through_an_alias, (np.array([0.4, -0.9, 1.3]), 0.7), path, (0, 1))


@pytest.mark.parametrize("path", PATHS)
def test_numbers_are_rebound(path):
    check_gradients(numbers_are_rebound, (0.6, 3), path, (0,))

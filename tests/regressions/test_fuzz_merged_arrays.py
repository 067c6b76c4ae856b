"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 3 ...`, programs 204 and 645),
then shrunk by tools/fuzz/shrink.py: an array variable that holds an argument on one path (`b1 = a0`)
and another array on another (a later loop iteration, an else branch).

- program 645 (`rebound_in_a_loop`): the evaluator's gradient slot for such a loop variable started
  at the int 0 instead of zeros of its shape and crashed (`'int' object has no attribute 'ndim'`).
- program 204 (`written_while_aliased`): the write `b1[0] = 1.0` also overwrote `a0` on the first
  iteration, but the adjoint keeps one gradient per value and cannot know that b1 *is* a0 there: the
  gradient of `a0[0]` came out 2.0 instead of 0.0. Such a write, into an array that may be the same
  as a value still in use, is now refused with a clear error; double buffers swapped by a loop
  (`u, v = v, u`) stay supported.
"""
import numpy as np
import pytest

import zygopy

from .reference import PATHS, check_gradients


def rebound_in_a_loop(a0):
    b1 = a0
    for j3 in range(0, len(a0)):
        b1 = 1.0 + a0
    return np.sum(b1)


def written_while_aliased(a0):
    b1 = a0
    for j3 in range(0, len(a0)):
        b1[0] = 1.0
        b1 = np.arctan(a0)
    return np.dot(a0, a0)


def written_after_a_branch(a, x):
    if x > 0:
        b = a
    else:
        b = np.zeros(len(a))
    b[0] = x
    return np.sum(a * a) + np.sum(b)


def copied_after_a_branch(a, x):
    if x > 0:
        b = a.copy()
    else:
        b = np.zeros(len(a))
    b[0] = x
    return np.sum(a * a) + np.sum(b)


def double_buffer(a, n):
    u = a.copy()
    v = np.zeros_like(a)
    for t in range(n):
        for i in range(1, len(u) - 1):
            v[i] = u[i] + 0.3 * np.sin(u[i - 1] - u[i + 1])
        u, v = v, u
    return np.sum(u * u)


@pytest.mark.parametrize("path", PATHS)
def test_rebound_in_a_loop(path):
    check_gradients(rebound_in_a_loop, (np.array([-0.4, -0.5, -0.1, -0.7]),), path, (0,))


@pytest.mark.parametrize("fn", [written_while_aliased, written_after_a_branch])
def test_write_into_a_possible_alias_is_refused(fn):
    args = (np.array([-0.4, 0.7, -1.6]),) + ((0.3,) if fn is written_after_a_branch else ())
    with pytest.raises(zygopy.UnsupportedSyntax, match="may be the same array as") as info:
        zygopy.gradient(fn, *args)
    assert info.value.filename == __file__
    assert ("b1[0] = 1.0" if fn is written_while_aliased else "b[0] = x") in str(info.value)


@pytest.mark.parametrize("path", PATHS)
def test_copy_where_paths_meet(path):
    check_gradients(copied_after_a_branch, (np.array([-0.4, 0.7]), 0.3), path, (0, 1))


@pytest.mark.parametrize("path", PATHS)
def test_double_buffer(path):
    check_gradients(double_buffer, (np.array([0.1, 0.5, -0.3, 0.8, 0.2]), 3), path, (0,))

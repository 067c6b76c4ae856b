"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 1 ...`, program 76), then
shrunk by tools/fuzz/shrink.py.

Bug: common-subexpression elimination merged the two `np.sin(a0)` across the write `a0[1] = 1.0`
between them, so the result used the sine of the old array (value 4.6058 instead of 4.4837, and the
gradient of the old elements). Fixed at the root: in a function that writes arrays, CSE never
merges expressions that make an array (two `np.zeros(n)` are two buffers, and either may be written),
and merges numbers read from arrays only within one block with no write in between; shapes are
always shared.
"""
import numpy as np
import pytest

import zygopy

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


def stencil_step(u, v):
    for i in range(1, len(u) - 1):
        v[i] = u[i - 1] * u[i - 1] + u[i + 1]
        v[i - 1] += u[i - 1]  # the same read again, after a write into another array: read again
    return np.sum(v)


def count_reads(fn, *args):
    ir = zygopy.code_ir(fn, *args)
    return sum(s.op == "getindex" for b in ir.blocks for s in b.stmts)


def test_repeated_reads_between_writes_are_shared():
    # u[i - 1] twice before the write is one read; after `v[i] = ...` it is read again (v may be u)
    u, v = np.array([0.5, 1.0, -0.3, 0.8]), np.zeros(4)
    assert count_reads(stencil_step, u, v) == 4  # u[i-1], u[i+1], then u[i-1] and v[i-1] after the write
    check_gradients(stencil_step, (u, v), "fused", (0, 1))

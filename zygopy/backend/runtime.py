"""Compiled helpers the generated code calls: NumPy operations Numba lacks, and the array side of
gradients (summing a broadcast gradient back to an operand's shape, lazily allocated slots).

Every name starts with `zy_`; generated modules import them all.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.extending import overload

__all__ = ["zy_sum_to", "zy_max_middle", "zy_min_middle", "zy_erf", "zy_erfc", "zy_accum",
           "zy_take"]

JIT = dict(cache=True, nogil=True)


def zy_sum_to(g, shape):
    """g summed over the axes along which an operand of this shape was broadcast."""
    raise NotImplementedError  # compiled through the overload below


@njit(**JIT)
def _summed_to(g, shape):
    out = np.zeros(shape, g.dtype)
    flat = out.reshape(-1)
    offset = g.ndim - len(shape)
    for idx in np.ndindex(g.shape):
        k = 0
        for d in range(len(shape)):
            n = shape[d]
            k = k * n + (0 if n == 1 else idx[d + offset])
        flat[k] += g[idx]
    return out


@overload(zy_sum_to, jit_options=JIT)
def _sum_to(g, shape):
    if g.ndim != len(shape):
        return lambda g, shape: _summed_to(g, shape)

    def impl(g, shape):
        if g.shape == shape:
            return np.ascontiguousarray(g)
        return _summed_to(g, shape)
    return impl


@njit(**JIT)
def zy_max_middle(a3):
    """Max over the middle axis of a (pre, n, post) array; numba lacks np.max(axis=...)."""
    out = np.empty((a3.shape[0], a3.shape[2]), a3.dtype)
    for i in range(a3.shape[0]):
        for k in range(a3.shape[2]):
            m = a3[i, 0, k]
            for j in range(1, a3.shape[1]):
                if a3[i, j, k] > m:
                    m = a3[i, j, k]
            out[i, k] = m
    return out


@njit(**JIT)
def zy_min_middle(a3):
    return -zy_max_middle(-a3)


@njit(**JIT)
def zy_erf(a):
    out = np.empty_like(a)
    flat, src = out.reshape(-1), np.ascontiguousarray(a).reshape(-1)
    for i in range(src.size):
        flat[i] = math.erf(src[i])
    return out


@njit(**JIT)
def zy_erfc(a):
    return 1.0 - zy_erf(a)


def zy_accum(d, c):
    """A lazily allocated gradient slot plus a contribution: an empty slot means zero."""
    raise NotImplementedError


@overload(zy_accum, jit_options=JIT)
def _accum(d, c):
    def impl(d, c):
        if c.size == 0:
            return d
        if d.size == 0:
            return np.ascontiguousarray(c).astype(d.dtype)  # a copy, in the slot's dtype
        d += c
        return d
    return impl


def zy_take(d, like):
    """A lazily allocated slot's gradient: zeros shaped like the value if nothing was added."""
    raise NotImplementedError


@overload(zy_take, jit_options=JIT)
def _take(d, like):
    def impl(d, like):
        if d.size == 0 and like.size != 0:
            return np.zeros(like.shape, d.dtype)
        return d
    return impl


# the helpers of run-time lists, imported with these by the generated modules
from .list_runtime import *  # noqa: E402,F403
from .list_runtime import __all__ as _list_helpers  # noqa: E402

__all__ += _list_helpers

"""Compiled helpers for run-time lists (ir/list_primitives.py) and their gradients.

A list is a Numba typed list; arrays in it are C-contiguous (`np.ascontiguousarray` on append
copies only what is not). In a list of gradients an empty array (size 0) stands for a zero entry.
Every name starts with `zy_`; generated modules import them all.
"""
from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from .mathlib import CACHED

__all__ = ["zy_list_index", "zy_list_stack", "zy_scalar_list_stack", "zy_list_unstack",
           "zy_list_item", "zy_scalar_list_item", "zy_list_accum", "zy_list_accum_at",
           "zy_plus"]

# inlined into the generated code at Numba IR level: a call that passes a typed list costs more
# than what these helpers do (measured: 185 ns against 30 ns per reverse trip of an append)
JIT = dict(cache=CACHED, nogil=True, inline="always")


@njit(**JIT)
def zy_list_index(lst, i):
    """A read's index made non-negative while the list has the length the read saw."""
    return i + len(lst) if i < 0 else i


@njit(**JIT)
def zy_list_stack(lst):
    """np.stack of a list of arrays along a new first axis."""
    n = len(lst)
    if n == 0:
        raise ValueError("need at least one array to stack")
    first = lst[0]
    out = np.empty((n,) + first.shape, first.dtype)
    for k in range(n):
        if lst[k].shape != first.shape:
            raise ValueError("all input arrays must have the same shape")
        out[k] = lst[k]
    return out


@njit(**JIT)
def zy_scalar_list_stack(lst, like):
    """np.array of a list of numbers; `like` is an empty array of the result's dtype."""
    out = np.empty(len(lst), like.dtype)
    for k in range(len(lst)):
        out[k] = lst[k]
    return out


def zy_list_unstack(g, out):
    """The entries g[0], g[1], ... appended to the empty list `out` (the gradient of a stack)."""
    raise NotImplementedError  # compiled through the overload below


@overload(zy_list_unstack, jit_options=JIT)
def _unstack(g, out):
    if g.ndim == 1:
        def scalars(g, out):
            for k in range(g.shape[0]):
                out.append(g[k])
            return out
        return scalars

    def arrays(g, out):
        for k in range(g.shape[0]):
            out.append(np.ascontiguousarray(g[k]).copy())
        return out
    return arrays


@njit(**JIT)
def zy_list_item(grads, k, like):
    """Entry k of a list of gradients, zeros shaped like the element where it is missing."""
    if k < len(grads) and grads[k].size == like.size:
        return grads[k]
    return np.zeros(like.shape, like.dtype)


@njit(**JIT)
def zy_scalar_list_item(grads, k, zero):
    if k < len(grads):
        return grads[k]
    return zero


def zy_plus(a, b):
    """a + b for entries of a list of gradients, where an empty array is zero."""
    raise NotImplementedError  # compiled through the overload below


@overload(zy_plus, jit_options=JIT)
def _plus(a, b):
    if isinstance(a, types.Array):
        def arrays(a, b):
            if b.size == 0:
                return a
            if a.size == 0:
                return np.ascontiguousarray(b).copy()
            return np.ascontiguousarray(a + b)
        return arrays
    return lambda a, b: a + b


@njit(**JIT)
def zy_list_accum(grads, more):
    """Two lists of gradients added entry by entry (a missing entry is zero); reuses the first."""
    if len(grads) == 0:
        return more
    for k in range(len(more)):
        if k < len(grads):
            grads[k] = zy_plus(grads[k], more[k])
        else:
            grads.append(more[k])
    return grads


@njit(**JIT)
def zy_list_accum_at(grads, k, g, empty):
    """grads[k] += g, the list grown with zero entries (`empty`) up to k first (an empty list is
    shared: a new one is grown instead)."""
    if len(grads) == 0:
        grads = grads.copy()
    while len(grads) <= k:
        grads.append(empty)
    grads[k] = zy_plus(grads[k], g)
    return grads

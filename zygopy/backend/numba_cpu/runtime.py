"""Compiled helpers the generated code calls: NumPy operations Numba lacks, and the array side of
gradients (summing a broadcast gradient back to an operand's shape, lazily allocated slots).

Every name starts with `zy_`; generated modules import them all.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload
from numba.np.numpy_support import as_dtype
from numpy.lib.stride_tricks import sliding_window_view

from ...errors import Despecialised as zy_despecialised
from ...errors import RaisedInCompiledCode as zy_raised
from ...errors import WrongRuleResult as zy_wrong_rule_result
from ...ir.array_primitives import cholesky_gradient
from .mathlib import CACHED, logistic_of, zy_exp, zy_radd, zy_rmax

__all__ = ["zy_sum_to", "zy_sum_middle", "zy_mean_middle", "zy_prod_middle", "zy_max_middle",
           "zy_min_middle", "zy_var_middle", "zy_argmax_middle", "zy_argmin_middle",
           "zy_cumsum_middle", "zy_cumprod_middle", "zy_argsort_middle", "zy_int_floordiv",
           "zy_int_mod", "zy_int_power", "zy_int64",
           "zy_cumsum_reverse_middle", "zy_softmax_middle", "zy_softmax_scaled_middle",
           "zy_logsumexp_middle",
           "zy_prod_others_middle", "zy_prod_others_grad_middle", "zy_erf", "zy_erfc", "zy_tanh32",
           "zy_sigmoid", "zy_accum", "zy_accum_owned", "zy_grown", "zy_take", "zy_index",
           "zy_mask_index", "zy_gather",
           "zy_scatter_add", "zy_take_last", "zy_scatter_set", "zy_raised", "zy_matmul",
           "zy_cholesky_grad", "zy_pad", "zy_undiag", "zy_window_sum", "zy_sliding_window_view",
           "zy_broadcast_shapes", "zy_item", "zy_dot", "zy_where", "zy_set_into", "zy_add_into",
           "zy_scaled", "zy_general", "zy_despecialised", "zy_empty", "zy_zeros",
           "zy_wrong_rule_result"]

JIT = dict(cache=CACHED, nogil=True)

# Whether generated code carries the general form of its fused loops, for sizes of 1 broadcast
# and gradients summed back at run time. A module compiled for the common case sets it False:
# Numba drops the branches it guards while compiling (a third of a model's compile time), and the
# code raises zy_despecialised where it would have taken them (fusion.py, compiled.py).
zy_general = True


def zy_sum_to(g, shape):
    """g summed over the axes along which an operand of this shape was broadcast."""
    raise NotImplementedError  # compiled through the overload below


@njit(**JIT)
def _summed_to(g, shape):
    # g's rows (its last axis) in order, each added whole into the output where that axis is
    # kept, or summed first where it is not: inner loops LLVM vectorises. An odometer over the
    # other axes tracks where each row goes (offsets 0 along the axes summed over).
    out = np.zeros(shape, g.dtype)
    if g.size == 0:
        return out
    flat, rows = out.reshape(-1), np.ascontiguousarray(g).reshape(-1)
    nd, offset = g.ndim, g.ndim - len(shape)
    step = np.zeros(nd, np.int64)  # the output's stride along each axis of g; 0 where summed
    stride = 1
    for d in range(nd - 1, offset - 1, -1):
        if shape[d - offset] != 1:
            step[d] = stride
        stride *= shape[d - offset]
    n = g.shape[nd - 1]
    keep_rows = step[nd - 1] != 0
    index = np.zeros(nd, np.int64)
    at = 0
    for r in range(g.size // n):
        row = rows[r * n:(r + 1) * n]  # (indexing views by range() indices lets LLVM vectorise)
        if keep_rows:
            into = flat[at:at + n]
            for j in range(n):
                into[j] += row[j]
        else:
            total = row[0]
            for j in range(1, n):
                total += row[j]
            flat[at] += total
        d = nd - 2
        while d >= 0:  # the next row's index along the other axes
            index[d] += 1
            at += step[d]
            if index[d] < g.shape[d]:
                break
            at -= step[d] * g.shape[d]
            index[d] = 0
            d -= 1
    return out


@overload(zy_sum_to, jit_options=JIT)
def _sum_to(g, shape):
    if len(shape) == 0:
        def whole(g, shape):
            out = np.zeros(shape, g.dtype)
            out.reshape(-1)[0] = np.sum(g)
            return out
        return whole
    if g.ndim != len(shape):
        return lambda g, shape: _summed_to(g, shape)

    def impl(g, shape):
        if g.shape == shape:
            return np.ascontiguousarray(g)
        return _summed_to(g, shape)
    return impl


# Reductions along the middle axis of a (before, n, after) array, the view of an array that the
# generated code reduces along any set of axes (Numba's NumPy takes at most one axis, and none
# for mean, max, min, prod, var, argmin or the cumulative functions; its sum along one axis
# costs 2 s of compiling in every new process, and runs 1-4x slower than these). A reduction
# gives a (before, after) array; a scan the (before, n, after) array.

@njit(**JIT)
def zy_sum_middle(a3):
    out = np.zeros((a3.shape[0], a3.shape[2]), a3.dtype)
    if a3.shape[2] == 1:  # along the last axis: each row's total kept in a register
        for i in range(a3.shape[0]):
            total = out[i, 0]
            for j in range(a3.shape[1]):
                total += a3[i, j, 0]
            out[i, 0] = total
        return out
    for i in range(a3.shape[0]):
        for j in range(a3.shape[1]):
            for k in range(a3.shape[2]):
                out[i, k] += a3[i, j, k]
    return out


@njit(**JIT)
def zy_mean_middle(a3):
    out = zy_sum_middle(a3)
    out /= a3.shape[1]
    return out


@njit(**JIT)
def zy_prod_middle(a3):
    out = np.ones((a3.shape[0], a3.shape[2]), a3.dtype)
    for i in range(a3.shape[0]):
        for j in range(a3.shape[1]):
            for k in range(a3.shape[2]):
                out[i, k] *= a3[i, j, k]
    return out


@njit(**JIT)
def zy_var_middle(a3, ddof):
    """Variance with `ddof` delta degrees of freedom, from the deviations from the mean."""
    mean = zy_mean_middle(a3)
    out = np.zeros_like(mean)
    for i in range(a3.shape[0]):
        for j in range(a3.shape[1]):
            for k in range(a3.shape[2]):
                d = a3[i, j, k] - mean[i, k]
                out[i, k] += d * d
    out /= a3.shape[1] - ddof
    return out


@njit(**JIT)
def _some_to_reduce(a3):
    """The extremes along an empty axis have no value: NumPy raises, and so does this (its
    first element would be read out of bounds)."""
    if a3.shape[1] == 0 and a3.shape[0] * a3.shape[2] > 0:
        raise ValueError("zero-size array to reduction operation which has no identity")


@njit(**JIT)
def _first_extreme(a3, smallest):
    """Index of the first maximum, or minimum if `smallest` (of the first NaN, as NumPy's argmax
    and argmin)."""
    _some_to_reduce(a3)
    out = np.zeros((a3.shape[0], a3.shape[2]), np.int64)
    for i in range(a3.shape[0]):
        for k in range(a3.shape[2]):
            best = a3[i, 0, k]
            for j in range(1, a3.shape[1]):
                if best != best:
                    break
                x = a3[i, j, k]
                if (x < best if smallest else x > best) or x != x:
                    best = x
                    out[i, k] = j
    return out


@njit(**JIT)
def zy_argmax_middle(a3):
    return _first_extreme(a3, False)


@njit(**JIT)
def zy_argmin_middle(a3):
    return _first_extreme(a3, True)


@njit(**JIT)
def zy_cumsum_middle(a3):
    out = a3.copy()
    for i in range(a3.shape[0]):
        for j in range(1, a3.shape[1]):
            for k in range(a3.shape[2]):
                out[i, j, k] += out[i, j - 1, k]
    return out


# Python's integer // and % by zero raise ZeroDivisionError, where the NumPy error model the
# generated code is compiled under gives 0 (and a helper compiled for a caller takes its model)
@njit(cache=CACHED, nogil=True, forceinline=True)
def zy_int_floordiv(a, b):
    if b == 0:
        raise ZeroDivisionError("integer division or modulo by zero")
    if b == -1:  # -2^63 // -1 is 2^63, which wraps around to -2^63 (Numba's // gives 0)
        return -a
    return a // b


@njit(cache=CACHED, nogil=True, forceinline=True)
def zy_int_mod(a, b):
    if b == 0:
        raise ZeroDivisionError("integer division or modulo by zero")
    return a % b


# An int ** as NumPy's: it raises for a negative exponent (a number or an array of them; one
# known while compiling is refused then, primitives._pow_type), where Numba's ** gives 0 or 1
def zy_int_power(a, n):
    raise NotImplementedError  # compiled through the overload below


@overload(zy_int_power, jit_options=dict(nogil=True), inline="always")
def _int_power(a, n):
    # tested as the exponent's type says: np.asarray of a number would allocate a 0-d array for
    # every element of a fused loop
    if isinstance(n, types.Array):
        def power(a, n):
            if np.any(n < 0):
                raise ValueError("Integers to negative integer powers are not allowed.")
            return a ** n
    else:
        def power(a, n):
            if n < 0:
                raise ValueError("Integers to negative integer powers are not allowed.")
            return a ** n
    return power


def zy_int64(a):
    """An int array as int64, which the IR types every int array as (types.typeof): a narrower one
    (an int32 array, a uint8 image) is widened on entry, so its elements compute as the IR says
    and as the evaluator does, not in whatever width Numba gives each operation."""
    raise NotImplementedError  # compiled through the overload below


@overload(zy_int64, jit_options=JIT)
def _int64_overload(a):
    if isinstance(a, types.Array) and a.dtype != types.int64:
        return lambda a: a.astype(np.int64)
    return lambda a: a


@njit(**JIT)
def zy_argsort_middle(a3):
    """The indices that sort each row along the middle axis of a (pre, n, post) array: a stable
    sort (ties keep their order, NaNs last), as np.argsort(kind="stable")."""
    out = np.empty(a3.shape, np.int64)
    row = np.empty(a3.shape[1], a3.dtype)
    for i in range(a3.shape[0]):
        for k in range(a3.shape[2]):
            for j in range(a3.shape[1]):
                row[j] = a3[i, j, k]
            order = np.argsort(row, kind="mergesort")
            for j in range(a3.shape[1]):
                out[i, j, k] = order[j]
    return out


SHORT_ROW = 32  # a row shorter than this, as many elements as LLVM's vector loop takes at once


@njit(**JIT)
def zy_softmax_middle(a3):
    """The softmax along the middle axis of a (pre, n, post) array: each exp taken of an element
    less the greatest along the axis, so none overflows, and scaled by the reciprocal of their
    sum; computed in float64."""
    return _softmax_middle(a3, None)


@njit(**JIT)
def zy_softmax_scaled_middle(a3, divisor):
    """The softmax of a3 / divisor along the middle axis, each element divided as it is read:
    the quotients an array of them would hold, without making it."""
    return _softmax_middle(a3, divisor)


# no default arguments in these cached helpers (a call from Python that left one out crashed
# Numba once the helper was in its disk cache); a divisor of None is compiled without division
@njit(**JIT)
def _softmax_middle(a3, divisor):
    pre, n, post = a3.shape
    if post == 1 and n < SHORT_ROW:  # along columns of a transposed copy, which vectorise
        across = _softmax_middle(_as_columns(a3), divisor)
        return np.ascontiguousarray(across.reshape((n, pre)).T).reshape((pre, n, 1))
    out = np.empty_like(a3)
    if post == 1:  # rows: loops over contiguous elements, which LLVM vectorises
        rows, into = a3.reshape((pre, n)), out.reshape((pre, n))
        source = rows if divisor is None else into
        for i in range(pre):
            if divisor is not None:  # the quotients first, where the exps will go
                for j in range(n):
                    into[i, j] = rows[i, j] / divisor
            greatest, total = _row_greatest(source, i), 0.0
            for j in range(n):
                e = zy_exp(source[i, j] - greatest)
                into[i, j] = e
                total = zy_radd(total, e)
            scale = 1.0 / total
            for j in range(n):
                into[i, j] = into[i, j] * scale
        return out
    greatest, total = np.empty(post), np.zeros(post)
    for i in range(pre):
        _exps(a3, i, out, greatest, total, divisor)
        for k in range(post):
            total[k] = 1.0 / total[k]  # now each column's scale
        for j in range(n):
            for k in range(post):
                out[i, j, k] = out[i, j, k] * total[k]
    return out


@njit(**JIT)
def zy_logsumexp_middle(a3):
    """log(sum(exp(...))) along the middle axis of a (pre, n, post) array, as the greatest
    element there plus the log of the sum of exps of the elements less it; in float64."""
    pre, n, post = a3.shape
    if post == 1 and n < SHORT_ROW:  # along columns of a transposed copy, which vectorise
        return zy_logsumexp_middle(_as_columns(a3)).reshape((pre, 1))
    out = np.empty((pre, post), a3.dtype)
    if post == 1:
        rows = a3.reshape((pre, n))
        for i in range(pre):
            greatest, total = _row_greatest(rows, i), 0.0
            for j in range(n):
                total = zy_radd(total, zy_exp(rows[i, j] - greatest))
            out[i, 0] = greatest + math.log(total)
        return out
    greatest, total = np.empty(post), np.zeros(post)
    for i in range(pre):
        _exps(a3, i, a3[:0], greatest, total, None)
        for k in range(post):
            out[i, k] = greatest[k] + math.log(total[k])
    return out


@njit(**JIT)
def _as_columns(a3):
    """A (pre, n, 1) array's rows as the columns of a contiguous (1, n, pre) copy."""
    pre, n = a3.shape[0], a3.shape[1]
    return np.ascontiguousarray(a3.reshape((pre, n)).T).reshape((1, n, pre))


@njit(**JIT)
def _row_greatest(x, i):
    greatest = np.float64(x[i, 0])
    for j in range(1, x.shape[1]):
        greatest = zy_rmax(greatest, np.float64(x[i, j]))
    return greatest


@njit(**JIT)
def _divided(x, divisor):
    """x / divisor as float64, or x where the divisor is None (no division compiled)."""
    if divisor is None:
        return np.float64(x)
    return x / divisor


@njit(**JIT)
def _exps(a3, i, out, greatest, total, divisor):
    """Into total[k], the sum along the middle axis of a3[i] / divisor of exp(the element less
    the greatest there, which goes into greatest[k]); each exp into out[i, j, k] if out has
    rows."""
    n, post = a3.shape[1], a3.shape[2]
    for k in range(post):
        greatest[k] = _divided(a3[i, 0, k], divisor)
    for j in range(1, n):
        for k in range(post):
            greatest[k] = max(greatest[k], _divided(a3[i, j, k], divisor))
    total[:] = 0.0
    for j in range(n):
        for k in range(post):
            e = zy_exp(_divided(a3[i, j, k], divisor) - greatest[k])
            if out.shape[0]:
                out[i, j, k] = e
            total[k] += e


@njit(**JIT)
def zy_cumprod_middle(a3):
    out = a3.copy()
    for i in range(a3.shape[0]):
        for j in range(1, a3.shape[1]):
            for k in range(a3.shape[2]):
                out[i, j, k] *= out[i, j - 1, k]
    return out


@njit(**JIT)
def zy_cumsum_reverse_middle(a3):
    """Sums of each element and those after it along the middle axis."""
    out = a3.copy()
    for i in range(a3.shape[0]):
        for j in range(a3.shape[1] - 2, -1, -1):
            for k in range(a3.shape[2]):
                out[i, j, k] += out[i, j + 1, k]
    return out


@njit(**JIT)
def zy_prod_others_grad_middle(a3, g3):
    """array_primitives._prod_others_grad along the middle axis: sum_{i != j} g_i times the
    product of the elements other than i and j, the sums over i < j and i > j carried along."""
    before = np.empty_like(a3)  # the product of the elements before each
    out = np.empty_like(a3)
    n = a3.shape[1]
    for i in range(a3.shape[0]):
        for k in range(a3.shape[2]):
            prefix = 1.0
            for j in range(n):
                before[i, j, k] = prefix
                prefix *= a3[i, j, k]
            below, suffix = 0.0, 1.0
            for j in range(n):
                out[i, j, k] = below
                below = below * a3[i, j, k] + g3[i, j, k] * before[i, j, k]
            above = 0.0
            for j in range(n - 1, -1, -1):
                out[i, j, k] = out[i, j, k] * suffix + before[i, j, k] * above
                above = above * a3[i, j, k] + g3[i, j, k] * suffix
                suffix *= a3[i, j, k]
    return out


@njit(**JIT)
def zy_prod_others_middle(a3):
    """Each element's product of the others along the middle axis, without dividing (exact where
    an element is zero): the product of those before it times that of those after it."""
    out = np.ones_like(a3)
    for i in range(a3.shape[0]):
        for j in range(1, a3.shape[1]):
            for k in range(a3.shape[2]):
                out[i, j, k] = out[i, j - 1, k] * a3[i, j - 1, k]
        after = np.ones(a3.shape[2], a3.dtype)
        for j in range(a3.shape[1] - 1, -1, -1):
            for k in range(a3.shape[2]):
                out[i, j, k] *= after[k]
                after[k] *= a3[i, j, k]
    return out


LANES = 8  # running extremes along a row, kept at once


@njit(**JIT)
def _extreme_middle(a3, greatest):
    """The greatest (or least) element along the middle axis of a (pre, n, post) array; a NaN
    wins, as in NumPy. Numba lacks np.max(axis=...). No branch per element, and loops over
    contiguous elements: across the columns, or along a row in LANES running extremes at once
    (one alone waits for each comparison before the next; 8x slower than NumPy)."""
    _some_to_reduce(a3)
    pre, n, post = a3.shape
    out, lanes = np.empty((pre, post), a3.dtype), np.empty(LANES, a3.dtype)
    for i in range(pre):
        if post == 1:
            lanes[:] = a3[i, 0, 0]
            for j in range(0, n - n % LANES, LANES):
                for k in range(LANES):
                    lanes[k] = _more_extreme(a3[i, j + k, 0], lanes[k], greatest)
            m = lanes[0]
            for k in range(1, LANES):
                m = _more_extreme(lanes[k], m, greatest)
            for j in range(n - n % LANES, n):
                m = _more_extreme(a3[i, j, 0], m, greatest)
            out[i, 0] = m
        else:
            out[i] = a3[i, 0]
            for j in range(1, n):
                for k in range(post):
                    out[i, k] = _more_extreme(a3[i, j, k], out[i, k], greatest)
    return out



@njit(**JIT)
def _more_extreme(v, m, greatest):
    """v where it beats m or is NaN, else m: a NaN, once in m, stays."""
    return v if (v > m if greatest else v < m) or v != v else m


@njit(**JIT)
def zy_max_middle(a3):
    return _extreme_middle(a3, True)


@njit(**JIT)
def zy_min_middle(a3):
    return _extreme_middle(a3, False)


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


def _elementwise(scalar):
    """A helper applying `scalar` to a number, or to each element of an array of any layout, the
    result float32 for a float32 and float64 otherwise. An overload, not a NumPy ufunc: a ufunc
    is built again in every process that imports this module (0.5 s), an overload is compiled
    into the generated code that calls it, and cached with it."""
    def helper(x):
        raise NotImplementedError

    @overload(helper, jit_options=JIT)
    def _impl(x):
        if not isinstance(x, types.Array):
            return (lambda x: np.float32(scalar(x))) if x == types.float32 else \
                (lambda x: np.float64(scalar(x)))

        dtype = np.float32 if x.dtype == types.float32 else np.float64

        def impl(x):
            elements = x.ravel()  # a view where x is contiguous
            out = np.empty(x.shape, dtype)
            flat = out.ravel()
            for i in range(flat.size):
                flat[i] = scalar(elements[i])
            return out
        return impl
    return helper


@njit(**JIT)
def _tanh32(x):
    """tanh of a float32, computed through a float64 exponential: correctly rounded (glibc's tanhf,
    which Numba calls, is off by up to 2 ulp) and 2-3x faster (tanhf goes through expm1f). A loop
    LLVM vectorises calls mathlib.zy_tanh instead; this is faster one element at a time."""
    d = np.float64(x)
    if abs(d) > 10.0:  # tanh(10) rounds to 1 in float32
        return np.float32(math.copysign(1.0, d))
    if abs(d) < 1e-6:  # tanh(x) = x (1 - x^2/3 + ...), x^2/3 below float32's resolution
        return np.float32(x)
    e = math.exp(2.0 * d)  # (e - 1) loses nothing a float32 result keeps, down to |x| = 1e-6
    return np.float32((e - 1.0) / (e + 1.0))


@njit(**JIT)
def _sigmoid(x):
    """The sigmoid of a number, in float64 (a float32 is rounded once, after); a loop LLVM
    vectorises calls mathlib.zy_logistic instead."""
    d = np.float64(x)
    return logistic_of(d, math.exp(-abs(d)))


zy_tanh32 = _elementwise(_tanh32)
zy_sigmoid = _elementwise(_sigmoid)


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


def zy_accum_owned(d, c):
    """zy_accum of a contribution that nothing else refers to (a gradient taken from its slot),
    which an empty slot takes over rather than copies where it has the slot's type."""
    raise NotImplementedError


@overload(zy_accum_owned, jit_options=JIT)
def _accum_owned(d, c):
    if c != d:
        return _accum(d, c)

    def impl(d, c):
        return c if d.size == 0 else zy_accum(d, c)
    return impl


@njit(**JIT)
def zy_grown(stack, used, needed):
    """A stack with room for `needed` entries (at least twice the old), its first `used` kept:
    a loop reserves its records before it starts, so growing costs no test inside it."""
    grown = np.empty(max(needed, 2 * stack.shape[0]), stack.dtype)
    grown[:used] = stack[:used]
    return grown


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


# ---- NumPy operations compiled here once, not in every generated module --------------------------
# Numba compiles its own implementation of a NumPy function into each new process that calls it
# (np.broadcast_shapes: 2 s, np.dot and np.where: 1.5 s each, a slice assignment's error path:
# 3-5 s, np.empty and np.zeros 0.1 s per shape and dtype); called through these, it is compiled
# once per argument types and then read from Numba's cache.

@njit(**JIT)
def zy_empty(shape, dtype):
    return np.empty(shape, dtype)


@njit(**JIT)
def zy_zeros(shape, dtype):
    return np.zeros(shape, dtype)


def zy_item(x):
    """The element of a 0-d array; a number as it is (NumPy's arithmetic on 0-d arrays gives
    numbers, so a value the IR types as a 0-d array may be either here)."""
    raise NotImplementedError  # compiled through the overload below


@overload(zy_item, jit_options=dict(nogil=True), inline="always")
def _item(x):
    if isinstance(x, types.Array):
        return lambda x: x[()]
    return lambda x: x


def zy_broadcast_shapes(*shapes):
    """np.broadcast_shapes, as straight-line code for the shapes' lengths: Numba's own builds
    lists at run time (~50 ns a call, once per fused loop nest a generated function runs)."""
    raise NotImplementedError  # compiled through the overload below


@njit(cache=CACHED, nogil=True, forceinline=True)
def zy_broadcast_dim(size, d):
    """The size along one axis of the shapes broadcast so far (`size`) and one more (`d`)."""
    if d == size or d == 1:
        return size
    if size == 1:
        return d
    raise ValueError("shape mismatch: objects cannot be broadcast to a single shape")


@overload(zy_broadcast_shapes, jit_options=dict(nogil=True))
def _broadcast_shapes(*shapes):
    if len(shapes) == 1 and isinstance(shapes[0], types.UniTuple) \
            and shapes[0].dtype == types.intp:
        return lambda *shapes: shapes[0]
    ndim = max(len(s) for s in shapes)
    lines = ["def broadcast(*shapes):"]
    for k in range(ndim):  # shapes align at their last axes
        lines.append(f"    d{k} = 1")
        lines += [f"    d{k} = zy_broadcast_dim(d{k}, shapes[{i}][{k - ndim + len(s)}])"
                  for i, s in enumerate(shapes) if k - ndim + len(s) >= 0]
    lines.append(f"    return ({''.join(f'd{k}, ' for k in range(ndim))})")
    scope = {"zy_broadcast_dim": zy_broadcast_dim}
    exec("\n".join(lines), scope)
    return scope["broadcast"]


def zy_dot(a, b):
    """np.dot(a, b) of arrays of at most 2 dimensions. A contiguous matrix times a vector (either
    side) runs in loops of its own, which LLVM vectorises: OpenBLAS's product of a transposed
    matrix with a vector, the reverse of `X @ w`, ran at a third of the memory's speed on one
    thread (10^5 x 100 float64: 7.1 ms, the loop 2.9 ms)."""
    raise NotImplementedError  # compiled through the overload below


@overload(zy_dot, jit_options=JIT)
def _dot(a, b):
    if (isinstance(a, types.Array) and isinstance(b, types.Array) and a.dtype == b.dtype
            and isinstance(a.dtype, types.Float) and sorted((a.ndim, b.ndim)) == [1, 2]):
        matrix = a if a.ndim == 2 else b
        if matrix.layout in "CF":
            # the product as A @ x, A the matrix or its transpose (which flips its layout)
            by_rows = (matrix.layout == "C") == (a.ndim == 2)
            product = _row_dots if by_rows else _column_sums
            zero = as_dtype(a.dtype).type(0)
            if a.ndim == 2:
                return lambda a, b: product(a, b, zero)
            return lambda a, b: product(b.T, a, zero)
    if (isinstance(a, types.Array) and isinstance(b, types.Array) and a.ndim == b.ndim == 2
            and a.layout == "F" and b.layout == "C"):
        return _transposed_times
    return lambda a, b: _blas_dot(a, b)


# OpenBLAS computes A.T @ B (a weight's gradient, X.T @ dZ) with few columns over a long inner
# dimension at two-thirds the speed of (B.T @ A).T, the same product, on one thread: X of
# 10^4 x 100, dZ of 10^4 x 10: 921 against 677 us (float32: 647 against 559); 10^4 x 784 by 10:
# 23.2 against 13.7 ms. Below a few thousand rows the two run alike (10^3: 42 against 46 us), and
# so they do with many columns (10^4 x 64 by 128), where copying the result in order costs more.
LONG_INNER = 2048
FEW_COLUMNS = 16


def _transposed_times(a, b):
    if a.shape[1] < LONG_INNER or b.shape[1] > FEW_COLUMNS:
        return _blas_dot(a, b)
    return np.ascontiguousarray(_blas_dot(b.T, a.T).T)


@njit(**JIT)
def _blas_dot(a, b):  # compiled once per machine and types, as the loops below (Numba's cache)
    return np.dot(a, b)


@njit(**JIT)
def _row_dots(A, x, zero):
    """A @ x, A's rows contiguous: a sum per row, reassociable so that it vectorises."""
    m, n = A.shape
    if x.shape[0] != n:
        raise ValueError("incompatible array sizes for np.dot(a, b)")
    out = np.empty(m, A.dtype)
    for i in range(m):
        total = zero
        for j in range(n):
            total = zy_radd(total, A[i, j] * x[j])
        out[i] = total
    return out


@njit(**JIT)
def _column_sums(A, x, zero):
    """A @ x, A's columns contiguous: each column scaled and added in."""
    m, n = A.shape
    if x.shape[0] != n:
        raise ValueError("incompatible array sizes for np.dot(a, b)")
    out = np.full(m, zero)
    for j in range(n):
        xj = x[j]
        for i in range(m):
            out[i] += A[i, j] * xj
    return out


@njit(**JIT)
def zy_where(condition, x, y):
    return np.where(condition, x, y)


@njit(**JIT)
def _fits(view, v):
    """Whether v broadcasts to view's shape."""
    if v.ndim > view.ndim:
        return False
    offset = view.ndim - v.ndim
    for d in range(v.ndim):
        if v.shape[d] != 1 and v.shape[d] != view.shape[d + offset]:
            return False
    return True


@njit(**JIT)
def zy_set_into(view, v):
    """view[...] = v, into a view of an array."""
    if not _fits(view, v):
        raise ValueError("could not broadcast the value into the indexed part of the array")
    view[...] = v


@njit(**JIT)
def zy_add_into(view, v):
    """view += v, into a view of an array (Numba's in-place operators do not check shapes)."""
    if not _fits(view, v):
        raise ValueError("could not broadcast the value into the indexed part of the array")
    view += v


@njit(**JIT)
def zy_scaled(s, a, owned):
    """s * a; into a itself if the caller owns it (nothing else holds or reads it), which for
    s = 1, the seed of a scalar loss, leaves a pass over the array and its allocation out."""
    if not owned:
        return s * a
    if s != 1.0:
        a *= s
    return a


# ---- indexing with arrays -----------------------------------------------------------------------
# An index with arrays in it is lowered to a flat position along the indexed axes (the index
# arrays broadcast together, or the selected elements of a mask) and an array viewed as
# (before, indexed, after): what NumPy does, in explicit loops Numba compiles whatever the ranks.

def zy_index(i, n):
    """Index values into an axis of n elements, as int64: negative ones count from the end, and
    one out of range raises IndexError, as in NumPy."""
    raise NotImplementedError  # compiled through the overload below


@njit(**JIT)
def _wrapped(j, n):
    j = np.int64(j)
    if j < 0:
        j += n
    if j < 0 or j >= n:
        raise IndexError("index out of bounds")
    return j


@overload(zy_index, jit_options=JIT)
def _index(i, n):
    if not isinstance(i, types.Array):
        return lambda i, n: _wrapped(i, n)

    def impl(i, n):
        out = np.empty(i.shape, np.int64)
        flat, src = out.reshape(-1), np.ascontiguousarray(i).reshape(-1)
        for k in range(src.size):
            flat[k] = _wrapped(src[k], n)
        return out
    return impl


@njit(**JIT)
def zy_mask_index(mask, shape):
    """The flat positions of a boolean mask's true elements, over the axes of this shape."""
    if mask.shape != shape:
        raise IndexError("boolean index did not match the indexed array")
    src = np.ascontiguousarray(mask).reshape(-1)
    out = np.empty(np.count_nonzero(src), np.int64)
    n = 0
    for k in range(src.size):
        if src[k]:
            out[n] = k
            n += 1
    return out


@njit(**JIT)
def _viewed(a, dims):
    """a, written into, viewed as (before, indexed, after). Arrays popped from a stack are typed
    as of any layout, though each is C-contiguous: ascontiguousarray then gives a's own memory."""
    if not a.flags.c_contiguous:
        raise ValueError("zygopy writes through an index array only into C-contiguous arrays")
    return np.ascontiguousarray(a).reshape(dims)


@njit(**JIT)
def zy_gather(a, at, dims):
    """a viewed as dims = (before, indexed, after), read at the flat positions `at`."""
    a3 = np.ascontiguousarray(a).reshape(dims)
    flat = np.ascontiguousarray(at).reshape(-1)
    out = np.empty((dims[0], flat.size, dims[2]), a.dtype)
    for i in range(dims[0]):
        for k in range(flat.size):
            for j in range(dims[2]):
                out[i, k, j] = a3[i, flat[k], j]
    return out


@njit(**JIT)
def zy_scatter_add(d, at, g, dims):
    """The reverse of zy_gather: g added into d at `at`; a position named twice gets both."""
    d3 = _viewed(d, dims)
    flat = np.ascontiguousarray(at).reshape(-1)
    g3 = np.ascontiguousarray(g).reshape((dims[0], flat.size, dims[2]))
    for i in range(dims[0]):
        for k in range(flat.size):
            for j in range(dims[2]):
                d3[i, flat[k], j] += g3[i, k, j]


@njit(**JIT)
def zy_take_last(d, at, dims):
    """The gradient of the values of a[index] = v: d read at `at` and reset to zero there. Where
    `at` names a position twice only the last write stayed, and only it gets the gradient."""
    d3 = _viewed(d, dims)
    flat = np.ascontiguousarray(at).reshape(-1)
    out = np.empty((dims[0], flat.size, dims[2]), d.dtype)
    for k in range(flat.size - 1, -1, -1):  # backwards: an earlier write of a position reads 0
        for i in range(dims[0]):
            for j in range(dims[2]):
                out[i, k, j] = d3[i, flat[k], j]
                d3[i, flat[k], j] = 0
    return out


def zy_scatter_set(a, at, v, dims, region):
    """a[index] = v: v (a number, or an array broadcast to the region's shape) written at `at`
    in order, so that the last write of a position stays, as in NumPy."""
    raise NotImplementedError  # compiled through the overload below


@njit(**JIT)
def _broadcast3(v, n, dims, region):
    return np.ascontiguousarray(np.broadcast_to(v, region)).reshape((dims[0], n, dims[2]))


@njit(**JIT)
def _filled3(v, n, dims, region):
    return np.full((dims[0], n, dims[2]), v)


@njit(**JIT)
def _extent(x):
    """The first and one past the last byte address x's elements occupy."""
    lo = hi = x.ctypes.data
    for d in range(x.ndim):
        reach = (x.shape[d] - 1) * x.strides[d]
        lo, hi = lo + min(reach, 0), hi + max(reach, 0)
    return lo, hi + x.itemsize


@njit(**JIT)
def _may_overlap(a, v):
    if a.size == 0 or v.size == 0:
        return False
    (a_lo, a_hi), (v_lo, v_hi) = _extent(a), _extent(v)
    return a_lo < v_hi and v_lo < a_hi


@njit(**JIT)
def _written(a3, flat, v3):
    for k in range(flat.size):
        for i in range(v3.shape[0]):
            for j in range(v3.shape[2]):
                a3[i, flat[k], j] = v3[i, k, j]


@overload(zy_scatter_set, jit_options=JIT)
def _scatter_set(a, at, v, dims, region):
    if not isinstance(v, types.Array):
        def number(a, at, v, dims, region):
            flat = np.ascontiguousarray(at).reshape(-1)
            _written(_viewed(a, dims), flat, _filled3(v, flat.size, dims, region))
        return number

    def array(a, at, v, dims, region):
        flat = np.ascontiguousarray(at).reshape(-1)
        if _may_overlap(a, v):  # a[idx] = a: NumPy reads every value before it writes one
            v3 = _broadcast3(v.copy(), flat.size, dims, region)
        else:
            v3 = _broadcast3(v, flat.size, dims, region)
        _written(_viewed(a, dims), flat, v3)
    return array


def zy_matmul(a, b):
    """a @ b for stacks of matrices (at least one operand over 2-d), whose leading dimensions
    broadcast as in NumPy: Numba's np.dot takes at most 2-d operands."""
    raise NotImplementedError


@overload(zy_matmul, jit_options=JIT)
def _matmul(a, b):
    if b.ndim == 2:  # one matrix for the whole stack: one product of the stack's rows
        def rows(a, b):
            k = a.shape[-1]
            out = np.dot(np.ascontiguousarray(a).reshape((-1, k)), b)
            return out.reshape(a.shape[:-1] + (b.shape[1],))
        return rows
    if a.ndim == 2:
        def each_of_b(a, b):
            stack = np.ascontiguousarray(b).reshape((-1, b.shape[-2], b.shape[-1]))
            out = np.empty((stack.shape[0], a.shape[0], b.shape[-1]), a.dtype)
            for t in range(stack.shape[0]):
                out[t] = np.dot(a, stack[t])
            return out.reshape(b.shape[:-2] + out.shape[1:])
        return each_of_b

    def pairs(a, b):
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        left = np.ascontiguousarray(a).reshape((-1, a.shape[-2], a.shape[-1]))
        right = np.ascontiguousarray(b).reshape((-1, b.shape[-2], b.shape[-1]))
        count = 1
        for n in batch:
            count *= n
        out = np.empty((count, a.shape[-2], b.shape[-1]), a.dtype)
        for t in range(count):
            i = _stack_index(t, batch, a.shape[:-2])
            j = _stack_index(t, batch, b.shape[:-2])
            out[t] = np.dot(left[i], right[j])
        return out.reshape(batch + out.shape[1:])
    return pairs


@njit(**JIT)
def _stack_index(t, batch, own):
    """Which matrix of an operand whose leading dimensions are `own` the t-th matrix of the
    broadcast stack `batch` reads: `own` is aligned to the right, a dimension of 1 repeats."""
    k, stride, rest = 0, 1, t
    skip = len(batch) - len(own)
    for d in range(len(batch) - 1, -1, -1):
        i = rest % batch[d]
        rest //= batch[d]
        if d >= skip:
            n = own[d - skip]
            if n != 1:
                k += i * stride
            stride *= n
    return k


zy_cholesky_grad = njit(**JIT)(cholesky_gradient)


zy_sliding_window_view = sliding_window_view  # Numba has it; the generated code calls it so


@njit(**JIT)
def zy_pad(a, before, shape, value):
    """np.pad(a, ..., constant_values=value): `before` and the padded `shape` per axis."""
    out = np.empty(shape, a.dtype)
    flat = out.reshape(-1)
    flat[:] = value
    for idx in np.ndindex(a.shape):
        k = 0
        for d in range(len(shape)):
            k = k * shape[d] + idx[d] + before[d]
        flat[k] = a[idx]
    return out


@njit(**JIT)
def zy_undiag(g, shape, k):
    """Zeros of `shape` with g on its k-th diagonal: the gradient of np.diag of a matrix."""
    out = np.zeros(shape, g.dtype)
    row, col = max(-k, 0), max(k, 0)
    for i in range(g.shape[0]):
        out[row + i, col + i] = g[i]
    return out


@njit(**JIT)
def zy_window_sum(g, shape, axes):
    """The gradient of sliding_window_view(x, ..., axes) for an x of `shape`: each element of
    each window adds its gradient back onto the element of x it shows."""
    out = np.zeros(shape, g.dtype)
    flat = out.reshape(-1)
    n = len(shape)
    position = np.empty(n, np.int64)
    for idx in np.ndindex(g.shape):
        for d in range(n):
            position[d] = idx[d]
        for j in range(len(axes)):
            position[axes[j]] += idx[n + j]
        k = 0
        for d in range(n):
            k = k * shape[d] + position[d]
        flat[k] += g[idx]
    return out


# the helpers of run-time lists, unchecked element access and the math kernels, imported with
# these by the generated modules
from .list_runtime import *  # noqa: E402,F403
from .list_runtime import __all__ as _list_helpers  # noqa: E402
from .mathlib import *  # noqa: E402,F403
from .mathlib import __all__ as _kernels  # noqa: E402
from .unchecked import *  # noqa: E402,F403
from .unchecked import __all__ as _unchecked  # noqa: E402

__all__ += _list_helpers + _unchecked + _kernels

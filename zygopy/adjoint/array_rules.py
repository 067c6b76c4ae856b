"""Derivative rules of the array primitives, in the same table as the scalar ones.

Elementwise rules are shared with scalars (`rules.py`); the adjoint pass sums their contributions
back to each operand's shape (broadcasting in reverse). The rules here are for reductions, linear
algebra and shape changes; an entry `Rule(reverse, tangent)` holds the forward-mode rule too
(`Linear()`: the primitive applied to the tangents, for the many that are linear). `Scatter`
asks the pass to add a gradient into part of an operand's gradient (the reverse of reading
`a[idx]`; where idx holds arrays, repeated elements add up).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.array_primitives import pad_widths, permutation, reduced_axes, window_axes
from ..ir.primitives import PRIMITIVES
from .rules import RULES, Linear, Rule, Sym, _prim, _zero, select

(spread, transpose, reshape, matmul, outer, getattr_, getindex, eq, sum_, mean, prod_others, sum_to,
 ravel, solve, inv, cholesky_grad, astype) = map(
    _prim, ["spread", "transpose", "reshape", "matmul", "outer", "getattr", "getindex", "eq",
            "sum", "mean", "prod_others", "sum_to", "ravel", "solve", "inv", "cholesky_grad",
            "astype"])
cumsum_reverse, amax, abs_, prod_others_grad = map(
    _prim, ["cumsum_reverse", "amax", "abs", "prod_others_grad"])


@dataclass
class Scatter:
    index: object
    value: Sym


def _ndim(x):
    return getattr(x.v.type, "ndim", 0)


def _shape(a):
    return getattr_(a, "shape")


def _axes(a, axis):
    return reduced_axes(axis.v, _ndim(a))


def _spread(g, a, axis, keepdims):
    """A reduction's gradient g spread over its operand a's shape."""
    return spread(g, _shape(a), () if keepdims.v else _axes(a, axis))


def _count(a, axis):
    """How many elements a reduction over `axis` takes each result from."""
    axes = _axes(a, axis)
    if not axes:  # a 0-d array's one element
        return getattr_(a, "size")
    count = getindex(_shape(a), axes[0])  # from the shape, which the tape holds without `a`
    for d in axes[1:]:
        count = count * getindex(_shape(a), d)
    return count


def _sum(g, y, a, axis, keepdims):
    return _spread(g, a, axis, keepdims), None, None


def _mean(g, y, a, axis, keepdims):
    return _spread(g, a, axis, keepdims) / _count(a, axis), None, None


def _extremum(g, y, a, axis, keepdims):
    # the gradient is shared equally by the elements equal to the extremum: where they are copies of
    # one value (a tie that moves together) their shares add up to the one derivative
    hit = eq(a, _spread(y, a, axis, keepdims))
    # counted in floats, which the sum's loop can compute with the comparison (fusion.py); an int
    # count would also widen float32
    ties = astype(sum_(select(hit, 1.0, 0.0), axis, keepdims), a.v.type.dtype)
    return _spread(g / ties, a, axis, keepdims) * hit, None, None


def _prod(g, y, a, axis, keepdims):
    # the product of the other elements, not y / a: right where an element is zero too
    return _spread(g, a, axis, keepdims) * prod_others(a, _axes(a, axis)), None, None


def _var(g, y, a, axis, ddof, keepdims):
    centred = a - mean(a, axis, True)
    scale = 2.0 / (_count(a, axis) - ddof)
    return _spread(g, a, axis, keepdims) * centred * scale, None, None, None


def _std_or_inf(y, a, axis, keepdims):
    """y, the std of a, or inf where a's elements are equal up to rounding (std 0, a kink): the
    gradient there is 0, a subgradient. Equal elements need not give a std of exactly 0: their mean
    rounds, and a std of a few ulps of their size is noise whose gradient centred / std would be
    O(1) and wrong. The tolerance grows with the count, as the mean's rounding error may."""
    size = amax(abs_(a), axis, keepdims)
    noise = eq(size + y / (4.0 * _count(a, axis)), size)
    return select(noise, np.inf, y)


def _std(g, y, a, axis, ddof, keepdims):
    centred = a - mean(a, axis, True)
    return (_spread(g / _std_or_inf(y, a, axis, keepdims), a, axis, keepdims) * centred
            / (_count(a, axis) - ddof), None, None, None)


def _scan_back(g, a, axis):
    """The reverse cumulative sum of g along a cumsum's axis, in a's shape."""
    if axis.v is None:  # the scan ran over a flattened
        return reshape(cumsum_reverse(g, 0), _shape(a))
    return cumsum_reverse(g, axis.v % _ndim(a))


def _cumsum(g, y, a, axis):
    return _scan_back(g, a, axis), None


def _cumprod(g, y, a, axis):
    # d y_i / d a_k = y_i / a_k for i >= k: right away from zeros of a
    return _scan_back(g * y, a, axis) / a, None


def _t(x):
    """A matrix transposed."""
    return transpose(x, None)


def _matmul(g, y, a, b):
    na, nb = _ndim(a), _ndim(b)
    if na > 2 or nb > 2:
        return _batched_matmul(g, a, b)
    if na == 2 and nb == 2:
        return matmul(g, _t(b)), matmul(_t(a), g)
    if na == 2 and nb == 1:
        return outer(g, b), matmul(_t(a), g)
    if na == 1 and nb == 2:
        return matmul(b, g), outer(a, g)
    return g * b, g * a


def _swap_last(x):
    """A stack of matrices, each transposed."""
    n = _ndim(x)
    return transpose(x, (*range(n - 2), n - 1, n - 2))


def _batched_matmul(g, a, b):
    """Stacks of matrices (both operands at least 2-d): the 2-d rule per matrix, summed over
    the dimensions along which an operand was broadcast."""
    if _ndim(b) == 2:  # one matrix for the whole stack: one product of the stack's rows
        k, n = getindex(_shape(a), -1), getindex(_shape(b), -1)
        rows = matmul(_t(reshape(a, a.emit("tuple", -1, k))), reshape(g, g.emit("tuple", -1, n)))
        return matmul(g, _t(b)), rows
    return (sum_to(matmul(g, _swap_last(b)), _shape(a)),
            sum_to(matmul(_swap_last(a), g), _shape(b)))


def _outer(g, y, a, b):
    """np.outer flattens its operands."""
    ga, gb = matmul(g, ravel(b)), matmul(_t(g), ravel(a))
    return (ga if _ndim(a) == 1 else reshape(ga, _shape(a)),
            gb if _ndim(b) == 1 else reshape(gb, _shape(b)))


def _solve(g, y, a, b):
    gb = solve(_t(a), g)
    return -(outer(gb, y) if _ndim(y) == 1 else matmul(gb, _t(y))), gb


def _inv(g, y, a):
    yt = _t(y)
    return (-matmul(matmul(yt, g), yt),)


def _reshape(g, y, a, shape):
    return reshape(g, getattr_(a, "shape")), None


def _along(g, axis, part):
    """g[:, ..., :, part] with `axis` full slices before `part`."""
    everything = g.emit("slice", None, None, None)
    return g.emit("getindex", g, g.emit("tuple", *([everything] * axis + [part])))


def _concatenate(g, y, *arrays_and_axis):
    *arrays, axis = arrays_and_axis
    axis = axis.v % _ndim(y)
    out, start = [], 0
    for a in arrays:
        stop = start + getindex(getattr_(a, "shape"), axis)
        out.append(_along(g, axis, g.emit("slice", start, stop, None)))
        start = stop
    return (*out, None)


def _stack(g, y, *arrays_and_axis):
    *arrays, axis = arrays_and_axis
    axis = axis.v % _ndim(y)
    return (*[_along(g, axis, k) for k in range(len(arrays))], None)


def _permuted(op):
    """transpose(axes), swapaxes, moveaxis: the gradient goes back through the inverse order."""
    def rule(g, y, a, *params):
        order = permutation(op, _ndim(a), [p.v for p in params])
        inverse = tuple(int(k) for k in np.argsort(order))
        reverse = inverse == tuple(reversed(range(len(order))))
        return (transpose(g, None if reverse else inverse), *[None] * len(params))
    return rule


def _linspace(g, y, start, stop, num, endpoint, retstep, dtype):
    # y = start + t (stop - start), with t = linspace(0, 1, num, endpoint)
    t = g.emit("linspace", 0.0, 1.0, num, endpoint, False, y.v.type.dtype)
    to_stop = sum_(g * t, None, False)
    return sum_(g, None, False) - to_stop, to_stop, None, None, None, None


def _filled(g, y, *args):
    """full(shape, v) and full_like(a, v): v is every element."""
    return None, sum_(g, None, False) if y.v.type.is_float else None, None


def _astype(g, y, x, dtype):
    if not (y.v.type.is_float and getattr(getattr(x.v, "type", None), "is_float", False)):
        return None, None
    return astype(g, x.v.type.dtype), None


def _pad(g, y, a, width, mode, value):
    inside = [g.emit("slice", b, -e if e else None, None) for b, e in pad_widths(width.v, _ndim(a))]
    return getindex(g, g.emit("tuple", *inside)), None, None, None


def _diag(g, y, a, k):
    if _ndim(a) == 1:
        return g.emit("diag", g, k), None
    return g.emit("undiag", g, _shape(a), k), None


def _trace(g, y, a, offset):
    rows, cols = (getindex(_shape(a), d) for d in (0, 1))
    return g * g.emit("eye", rows, cols, offset, y.v.type.dtype), None


def _window(g, y, a, window, axis):
    window_rank = _ndim(y) - _ndim(a)
    axes = window_axes(_ndim(a), window_rank, axis.v)
    return g.emit("window_sum", g, _shape(a), axes), None, None


_no_gradient = _zero

# ---- tangent rules: (operand tangents, y, *operands) -> y's tangent ---------------------------


def _extremum_tangent(ds, y, a, axis, keepdims):
    # the tangent of the elements equal to the extremum, averaged, as the reverse rule shares g
    hit = eq(a, _spread(y, a, axis, keepdims))
    return sum_(ds[0] * hit, axis, keepdims) / astype(sum_(hit, axis, keepdims), a.v.type.dtype)


def _prod_tangent(ds, y, a, axis, keepdims):
    return sum_(ds[0] * prod_others(a, _axes(a, axis)), axis, keepdims)


def _var_tangent(ds, y, a, axis, ddof, keepdims):
    centred = a - mean(a, axis, True)
    return sum_(centred * ds[0], axis, keepdims) * (2.0 / (_count(a, axis) - ddof))


def _std_tangent(ds, y, a, axis, ddof, keepdims):
    centred = a - mean(a, axis, True)
    return (sum_(centred * ds[0], axis, keepdims)
            / ((_count(a, axis) - ddof) * _std_or_inf(y, a, axis, keepdims)))


def _cumprod_tangent(ds, y, a, axis):
    return y * a.emit("cumsum", ds[0] / a, axis)


def _solve_tangent(ds, y, a, b):
    # a y = b: a dy = db - da y
    da, db = ds
    rhs = db if da is None else (-matmul(da, y) if db is None else db - matmul(da, y))
    return solve(a, rhs)


def _inv_tangent(ds, y, a):
    return -matmul(matmul(y, ds[0]), y)


def _logabsdet_tangent(ds, y, a):
    return sum_(_t(inv(a)) * ds[0], None, False)


def _cholesky_tangent(ds, y, a):
    # a = L Lᵀ: dL = L Φ(L⁻¹ da L⁻ᵀ), Φ taking the lower triangle with its diagonal halved;
    # NumPy reads only a's lower triangle, which da stands for mirrored
    li = inv(y)
    da = y.emit("tril", ds[0], 0) + _t(y.emit("tril", ds[0], -1))
    x = matmul(matmul(li, da), _t(li))
    n = getindex(_shape(a), 0)
    return matmul(y, y.emit("tril", x, 0) - 0.5 * x * y.emit("eye", n, n, 0, y.v.type.dtype))


def _spread_reverse(g, y, x, shape, axes):
    """The reverse of spreading x over `shape` (a tangent's broadcast, a reduction's gradient):
    summed over the new axes, then back to x's shape."""
    if _ndim(x) == 0:
        return sum_(g, None, False), None, None
    if axes.v:
        g = sum_(g, tuple(axes.v), False)
    return sum_to(g, _shape(x)), None, None


def _det_tangent(ds, y, a):
    return y * _logabsdet_tangent(ds, y, a)


RULES.update({
    "sum": Rule(_sum, Linear()),
    "mean": Rule(_mean, Linear()),
    "amax": Rule(_extremum, _extremum_tangent),
    "amin": Rule(_extremum, _extremum_tangent),
    "prod": Rule(_prod, _prod_tangent),
    "var": Rule(_var, _var_tangent),
    "std": Rule(_std, _std_tangent),
    # the second derivative of a product: a symmetric operator, so its reverse and its tangent
    # are the same (the tangent of prod_others_grad is not needed below third order)
    "prod_others": Rule(lambda g, y, a, axes: (prod_others_grad(a, g, axes), None),
                        lambda ds, y, a, axes: prod_others_grad(a, ds[0], axes)),
    "cumsum": Rule(_cumsum, Linear()),
    "cumprod": Rule(_cumprod, _cumprod_tangent),
    "argmax": _no_gradient, "argmin": _no_gradient, "argsort": _no_gradient,
    "matmul": Rule(_matmul, Linear((0, 1), product=True)),
    "transpose": Rule(_permuted("transpose"), Linear()),
    "swapaxes": Rule(_permuted("swapaxes"), Linear()),
    "moveaxis": Rule(_permuted("moveaxis"), Linear()),
    "expand_dims": Rule(lambda g, y, a, axis: (reshape(g, _shape(a)), None), Linear()),
    "squeeze": Rule(lambda g, y, a, axis: (reshape(g, _shape(a)), None), Linear()),
    "flip": Rule(lambda g, y, a, axis: (g.emit("flip", g, axis), None), Linear()),
    "tile": Rule(lambda g, y, a, reps: (g.emit("untile", g, _shape(a), reps), None), Linear()),
    "repeat": Rule(lambda g, y, a, n, axis: (g.emit("unrepeat", g, _shape(a), n, axis), None, None),
                   Linear()),
    "pad": Rule(_pad, Linear((0, 3))),
    "triu": Rule(lambda g, y, a, k: (g.emit("triu", g, k), None), Linear()),
    "tril": Rule(lambda g, y, a, k: (g.emit("tril", g, k), None), Linear()),
    "diag": Rule(_diag, Linear()),
    "trace": Rule(_trace, Linear()),
    "sliding_window_view": Rule(_window, Linear()),
    "astype": Rule(_astype, Linear()),
    "linspace": Rule(_linspace, Linear((0, 1))),
    "full": Rule(_filled, Linear((1,))),
    "full_like": Rule(_filled, Linear((1,))),
    "eye": _no_gradient, "identity": _no_gradient,
    "reshape": Rule(_reshape, Linear()),
    "spread": Rule(_spread_reverse, Linear()),
    "ravel": Rule(lambda g, y, a: (reshape(g, getattr_(a, "shape")),), Linear()),
    "copy": Rule(lambda g, y, a: (g,), Linear()),
    "concatenate": Rule(_concatenate, Linear("arrays")),
    "stack": Rule(_stack, Linear("arrays")),
    "getindex": Rule(lambda g, y, a, index: (Scatter(index, g), None), Linear()),
    # an index array may repeat an element: its gradients add up (a scatter-add, not a write)
    "gather": Rule(lambda g, y, a, index: (Scatter(index, g), None), Linear()),
    "arange": _no_gradient,
    "outer": Rule(_outer, Linear((0, 1), product=True)),
    "solve": Rule(_solve, _solve_tangent),
    "inv": Rule(_inv, _inv_tangent),
    "det": Rule(lambda g, y, a: (g * y * _t(inv(a)),), _det_tangent),
    "logabsdet": Rule(lambda g, y, a: (g * _t(inv(a)),), _logabsdet_tangent),
    "slogdet_sign": _no_gradient,
    "cholesky": Rule(lambda g, y, a: (cholesky_grad(g, y),), _cholesky_tangent),
    # constructors: the result does not depend on the values of their operands
    "zeros_like": _no_gradient, "ones_like": _no_gradient, "empty_like": _no_gradient,
    "zeros": _no_gradient, "ones": _no_gradient, "empty": _no_gradient,
})

# elementwise primitives with a gradient: contributions are summed back to each operand's shape
ELEMENTWISE = {n for n, p in PRIMITIVES.items()
               if p.elementwise and RULES.get(n, _zero) is not _zero}

# the rules of lists and of the neural-network primitives, registered in the same table
from . import list_rules, nn_rules  # noqa: E402,F401

"""Array primitives: reductions, linear algebra, shape changes and constructors.

Registered in the same table as the scalar primitives (elementwise arithmetic and the math
functions already work on arrays by broadcasting). Reduction axes are compile-time constants.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .einsum import parse
from .primitives import FLOAT, INT, broadcast, declare, promote, result_type
from .types import BOOL, NONE, SLICE, ArrayT, Scalar, TupleT


def _array(t, what):
    if not isinstance(t, ArrayT):
        raise TypeError(f"{what} needs an array, got {t}")
    return t


def reduced_axes(axis, ndim):
    """The axes a reduction's constant `axis` (None, an int or a tuple of ints) names, counted
    from 0 and sorted; all of them for None."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    if not axes:
        raise TypeError("axis=() reduces over no axis, which zygopy does not support; leave the "
                        "reduction out")
    if not all(isinstance(d, int) and not isinstance(d, bool) and -ndim <= d < ndim
               for d in axes):
        raise TypeError(f"axis must be a constant integer (or tuple of them) from {-ndim} to "
                        f"{ndim - 1}, got {axis!r}")
    out = sorted(d % ndim for d in axes)
    if len(set(out)) != len(out):
        raise TypeError(f"axis {axis!r} names an axis twice")
    return tuple(out)


def _constant_flag(value, what):
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be the constant True or False, got {value!r}")
    return value


def _reduce(result=None, tuple_axis=True):
    """The type rule of a reduction (array, axis, ..., keepdims): `result` is 'float' (mean,
    var: float64 for integers), 'int' (argmax) or None (the dtype of the array, int64 for bools)."""
    def rule(ts, args):
        if isinstance(ts[0], Scalar) and args[1] is None and args[-1] is False:
            # of a number: the number itself (passes/lower.py rewrites it so), as in NumPy
            return {"float": FLOAT if not ts[0].is_float else ts[0], "int": INT}.get(
                result, INT if ts[0] == BOOL else ts[0])
        a, axis = _array(ts[0], "a reduction"), args[1]
        if isinstance(axis, tuple) and not tuple_axis:
            raise TypeError(f"axis must be a constant integer or None, got {axis!r}")
        axes = reduced_axes(axis, a.ndim)
        keepdims = _constant_flag(args[-1], "keepdims")
        dtype = {"float": a.dtype if a.is_float else "float64", "int": "int64"}.get(
            result, "int64" if a.dtype == "bool" else a.dtype)
        ndim = a.ndim if keepdims else a.ndim - len(axes)
        return ArrayT(dtype, ndim) if ndim else Scalar(dtype, strong=True)
    return rule


def _scan_type(ts, args):
    """cumsum and cumprod: the array's shape along an axis, flattened for axis=None."""
    a, axis = _array(ts[0], "a cumulative reduction"), args[1]
    if isinstance(axis, tuple):
        raise TypeError(f"axis must be a constant integer or None, got {axis!r}")
    reduced_axes(axis, a.ndim)
    return ArrayT("int64" if a.dtype == "bool" else a.dtype, 1 if axis is None else a.ndim)


def _matmul_type(ts, args):
    """NumPy's matmul: vectors and matrices, or stacks of matrices whose leading dimensions
    broadcast (a vector with a stack is rewritten before differentiating, passes/lower.py)."""
    a, b = _array(ts[0], "@"), _array(ts[1], "@")
    dtype = promote([a, b])
    if not dtype.startswith("float"):  # BLAS multiplies floats; Numba's np.dot nothing else
        raise TypeError(f"a matrix product of {a} and {b} is not supported: cast one to floats "
                        f"(x.astype(np.float64))")
    if a.ndim == 0 or b.ndim == 0:
        raise TypeError("@ of a 0-d array is not supported; multiply with *")
    if a.ndim <= 2 and b.ndim <= 2:
        ndim = (a.ndim - 1) + (b.ndim - 1)
    elif a.ndim == 1 or b.ndim == 1:
        ndim = max(a.ndim, b.ndim) - 1
    else:
        ndim = max(a.ndim, b.ndim)
    return _scalar_or_array(dtype, ndim)


def _scalar_or_array(dtype, ndim):
    return Scalar(dtype, strong=True) if ndim == 0 else ArrayT(dtype, ndim)


def _dot_type(ts, args):
    """np.dot: matmul's for vectors and matrices; otherwise a sum over the last axis of `a` and
    the second-to-last of `b`."""
    a, b = _array(ts[0], "np.dot"), _array(ts[1], "np.dot")
    if a.ndim <= 2 and b.ndim <= 2:
        return _matmul_type(ts, args)
    if a.ndim == 0 or b.ndim == 0:
        raise TypeError("np.dot of a 0-d array is not supported; multiply with *")
    return _scalar_or_array(promote([a, b]), a.ndim - 1 + max(b.ndim - 1, 0))


def _inner_type(ts, args):
    a, b = _array(ts[0], "np.inner"), _array(ts[1], "np.inner")
    if a.ndim == 0 or b.ndim == 0:
        raise TypeError("np.inner of a 0-d array is not supported; multiply with *")
    return _scalar_or_array(promote([a, b]), a.ndim + b.ndim - 2)


def _einsum_type(ts, args):
    subscripts, arrays = args[0], [_array(t, "np.einsum") for t in ts[1:]]
    if not isinstance(subscripts, str):
        raise TypeError("np.einsum needs its subscripts as a constant string")
    _, output = parse(subscripts, [a.ndim for a in arrays])
    return _scalar_or_array(promote(arrays), len(output))


def _float_dtype(t):
    """The dtype of NumPy's linear algebra on arrays of type t: ints are computed in float64."""
    return t.dtype if t.is_float else "float64"


def _square(ts, what):
    a = _array(ts[0], what)
    if a.ndim != 2:
        raise TypeError(f"{what} needs a 2-d (square) array, got a {a.ndim}-d one; stacks of "
                        "matrices are not supported")
    return a


def _linalg_matrix(what):
    return lambda ts, args: ArrayT(_float_dtype(_square(ts, what)), 2)


def _linalg_scalar(what):
    return lambda ts, args: Scalar(_float_dtype(_square(ts, what)), strong=True)


def _solve_type(ts, args):
    a, b = _square(ts, "np.linalg.solve"), _array(ts[1], "np.linalg.solve")
    if b.ndim not in (1, 2):
        raise TypeError(f"np.linalg.solve needs a 1-d or 2-d right-hand side, got {b.ndim}-d")
    return ArrayT(promote([ArrayT(_float_dtype(a), 2), ArrayT(_float_dtype(b), 1)]), b.ndim)


NORM_ORDERS = (None, "fro", 1, -1, 2, -2, np.inf, -np.inf)


def _norm_type(ts, args):
    """np.linalg.norm(x, ord, axis, keepdims): of every element (ord None) or of vectors along
    `axis`; matrix norms of a 2-d array with axis None."""
    x, ord_, axis, keepdims = _array(ts[0], "np.linalg.norm"), *args[1:]
    if not (ord_ in NORM_ORDERS or isinstance(ord_, (int, float)) and not isinstance(ord_, bool)):
        raise TypeError(f"np.linalg.norm: ord={ord_!r} is not supported")
    if axis is not None and not (isinstance(axis, int) and -x.ndim <= axis < x.ndim):
        raise TypeError(f"np.linalg.norm: axis must be None or a constant integer below "
                        f"{x.ndim}, got {axis!r}")
    matrix = axis is None and x.ndim == 2 and ord_ is not None
    if ord_ is not None and axis is None and x.ndim > 2:
        raise TypeError(f"np.linalg.norm with ord={ord_!r} needs a 1-d or 2-d array or an axis")
    if matrix and ord_ in (2, -2):
        raise TypeError(f"the matrix norm ord={ord_!r} (singular values) is not supported")
    if (matrix and ord_ not in NORM_ORDERS) or (not matrix and ord_ == "fro"):
        raise TypeError(f"np.linalg.norm: ord={ord_!r} is not a norm of a {x.ndim}-d array")
    if ord_ == 0:
        raise TypeError("np.linalg.norm: ord=0 counts non-zero elements, which has no gradient")
    dtype = _float_dtype(x)
    if keepdims:
        return ArrayT(dtype, x.ndim)
    return _scalar_or_array(dtype, 0 if axis is None else x.ndim - 1)


def _shape_rank(t):
    if t == INT:
        return 1
    if isinstance(t, TupleT) and all(e == INT for e in t.elts):
        return len(t.elts)
    raise TypeError(f"a shape must be an int or a tuple of ints, got {t}")


def _reshape_type(ts, args):
    return ArrayT(_array(ts[0], "reshape").dtype, _shape_rank(ts[1]))


def _join_arrays(ts, what):
    arrays = [_array(t, what) for t in ts]
    if len({a.ndim for a in arrays}) != 1:
        raise TypeError(f"{what} needs arrays of one rank, got {', '.join(map(str, arrays))}")
    return ArrayT(broadcast(arrays).dtype, arrays[0].ndim)


def _concatenate_type(ts, args):
    arrays = ts[:-1]
    if args[-1] is None:  # NumPy's: the arrays flattened, of any ranks (passes/lower.py)
        arrays = [ArrayT(_array(t, "concatenate").dtype, 1) for t in arrays]
    return _join_arrays(arrays, "concatenate")


def _constructor_type(ts, args):
    dtype = args[1] if len(args) > 1 and args[1] is not None else "float64"
    return ArrayT(dtype, _shape_rank(ts[0]))


def _like_type(ts, args):
    a = _array(ts[0], "a *_like constructor")
    return ArrayT(args[-1] or a.dtype, a.ndim)  # dtype= is the last operand


def _astype_type(ts, args):
    if args[1] is None:
        raise TypeError(".astype() needs a dtype, such as np.float32")
    return ArrayT(args[1], ts[0].ndim) if isinstance(ts[0], ArrayT) else Scalar(args[1])


def normal_axes(axis, ndim, what, repeats=False):
    """A constant axis or tuple of axes as a tuple of axes in 0..ndim-1 (TypeError otherwise)."""
    axes = axis if isinstance(axis, tuple) else (axis,)
    if not all(isinstance(a, int) and not isinstance(a, bool) and -ndim <= a < ndim
               for a in axes):
        raise TypeError(f"{what}: the axis must be a constant integer (or a tuple of them) from "
                        f"{-ndim} to {ndim - 1}, got {axis!r}")
    axes = tuple(a % ndim for a in axes)
    if not repeats and len(set(axes)) != len(axes):
        raise TypeError(f"{what}: the axis {axis!r} repeats an axis")
    return axes


def permutation(op, ndim, params):
    """The order of the axes, as np.transpose takes it, that transpose(axes), swapaxes and moveaxis
    with these constant parameters give an array of rank `ndim`."""
    if op == "transpose":
        if params[0] is None:
            return tuple(reversed(range(ndim)))
        if len(params[0]) != ndim:
            raise TypeError(f"transpose of a {ndim}-d array needs one axis per dimension, got "
                            f"{params[0]!r}")
        return normal_axes(params[0], ndim, "transpose")
    if op == "swapaxes":
        (i,), (j,) = (normal_axes(p, ndim, "swapaxes") for p in params)
        order = list(range(ndim))
        order[i], order[j] = j, i
        return tuple(order)
    source, destination = (normal_axes(p, ndim, "moveaxis") for p in params)
    if len(source) != len(destination):
        raise TypeError("moveaxis needs as many destination axes as source axes")
    order = [d for d in range(ndim) if d not in source]
    for d, s in sorted(zip(destination, source, strict=True)):
        order.insert(d, s)
    return tuple(order)


def _permuted(op):
    def rule(ts, args):
        a = _array(ts[0], op)
        permutation(op, a.ndim, args[1:])
        return a
    return rule


def _reduce_impl(fn):
    return lambda a, axis, keepdims: fn(a, axis=axis, keepdims=keepdims)


def _moments(fn):
    return lambda a, axis, ddof, keepdims: fn(a, axis=axis, ddof=ddof, keepdims=keepdims)


def _ddof_type(ts, args):
    if not isinstance(args[2], (int, float)) or isinstance(args[2], bool):
        raise TypeError(f"ddof must be a constant number, got {args[2]!r}")
    return _reduce("float")(ts, args)


# keyword parameters with their defaults; a reduction takes only its axis by position (NumPy's
# next positional parameters are dtype and out)
AXIS, DTYPE = {"axis": None}, {"dtype": None}
REDUCE, MOMENTS = {"axis": None, "keepdims": False}, {"axis": None, "ddof": 0, "keepdims": False}
for _name, _fn, _result in [("sum", np.sum, None), ("prod", np.prod, None),
                            ("mean", np.mean, "float"), ("amax", np.max, None),
                            ("amin", np.min, None)]:
    declare(_name, _reduce_impl(_fn), _reduce(_result), params=REDUCE, positional=1)
for _fn in (np.var, np.std):
    declare(_fn.__name__, _moments(_fn), _ddof_type, params=MOMENTS, positional=1)
for _fn in (np.argmax, np.argmin):  # an index: no gradient
    declare(_fn.__name__, _reduce_impl(_fn), _reduce("int", tuple_axis=False), params=REDUCE,
            positional=1)
for _fn in (np.cumsum, np.cumprod):
    declare(_fn.__name__, lambda a, axis, fn=_fn: fn(a, axis=axis), _scan_type, params=AXIS,
            positional=1)
def _ndim_type(ts, args):
    if not isinstance(ts[0], (ArrayT, Scalar)):  # NumPy would make an array of a tuple or list
        raise TypeError(f"np.ndim of a {ts[0]} is not supported: take it of an array or a number")
    return INT


declare("ndim", np.ndim, _ndim_type, lowered=True)  # an attribute, 0 for a number


# ---- NumPy functions written with the primitives above (passes/lower.py) ------------------------

def _diff_type(ts, args):
    a, n = _array(ts[0], "np.diff"), args[1]
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise TypeError(f"np.diff: n must be a constant integer of at least 0, got {n!r}")
    normal_axes(args[2], a.ndim, "np.diff")
    return a


def _roll_type(ts, args):
    a = _array(ts[0], "np.roll")
    if ts[1] != INT:
        raise TypeError(f"np.roll takes one integer shift, got {ts[1]}")
    if args[2] is not None:
        normal_axes(args[2], a.ndim, "np.roll")
        if isinstance(args[2], tuple):
            raise TypeError("np.roll: the axis must be one integer or None")
    return a


def _ptp_type(ts, args):
    if _array(ts[0], "np.ptp").dtype == "bool":
        raise TypeError("np.ptp of booleans is not defined (NumPy cannot subtract them)")
    return _reduce()(ts, args)


def _average_type(ts, args):
    a, w, axis = _array(ts[0], "np.average"), ts[2], args[1]
    if _constant_flag(args[3], "returned"):
        raise TypeError("np.average(..., returned=True) is not supported: write the sum of the "
                        "weights apart")
    if w != NONE and not isinstance(w, ArrayT):
        raise TypeError(f"np.average: the weights must be an array, got {w}")
    if w != NONE and w.ndim != a.ndim and not (w.ndim == 1 and isinstance(axis, int)):
        raise TypeError(f"np.average: weights of {w.ndim} dimensions for an array of {a.ndim}: "
                        f"they must have the array's rank, or one dimension along an integer axis")
    return _reduce("float")([ts[0], ts[1], ts[4]], [args[0], axis, args[4]])


def _stacked_type(what, rank):
    def rule(ts, args):
        arrays = [_array(t, what) for t in ts]
        if any(t.ndim == 0 for t in arrays):
            raise TypeError(f"{what} of 0-d arrays is not supported")
        return _join_arrays([ArrayT(t.dtype, rank(t.ndim)) for t in arrays], what)
    return rule


def _sorted_type(what, dtype=None):
    """argsort and sort along a constant axis, or of the flattened array for axis=None."""
    def rule(ts, args):
        a = _array(ts[0], what)
        if args[1] is not None:
            normal_axes(args[1], a.ndim, what)
        return ArrayT(dtype or a.dtype, a.ndim if args[1] is not None else 1)
    return rule


def _order_type(what):
    """np.median's type rule (array, axis, keepdims), named `what` in its errors."""
    def rule(ts, args):
        if _array(ts[0], what).dtype == "bool":
            raise TypeError(f"{what} of booleans is not supported")
        if isinstance(args[1], tuple):
            raise TypeError(f"{what}: the axis must be one integer or None")
        return _reduce("float")(ts, args)
    return rule


def _quantile_type(what, scale):
    """np.quantile and np.percentile (array, q, axis, keepdims) of a constant q in [0, scale] (a
    q known only at run time, or an array of them, is refused: NumPy's range check would need a
    branch); otherwise as np.median."""
    def rule(ts, args):
        q = args[1]
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= scale:
            raise TypeError(f"{what} takes q as a constant number from 0 to {scale}, got "
                            f"{q if not hasattr(q, 'type') else 'a value known at run time'}")
        return _order_type(what)([ts[0], *ts[2:]], [args[0], *args[2:]])
    return rule


# any sort gives the same sorted values; the indices come from a stable sort (ties in order)
# whatever `kind` asks for
declare("argsort", lambda a, axis, kind: np.argsort(a, axis, kind="stable"),
        _sorted_type("np.argsort", "int64"), params={"axis": -1, "kind": None}, positional=1)
declare("sort", lambda a, axis, kind: np.sort(a, axis, kind="stable"), _sorted_type("np.sort"),
        params={"axis": -1, "kind": None}, positional=1, lowered=True)
declare("median", lambda a, axis, keepdims: np.median(a, axis, keepdims=keepdims),
        _order_type("np.median"), params=REDUCE, positional=1, lowered=True)
for _fn, _scale in [(np.quantile, 1), (np.percentile, 100)]:
    declare(_fn.__name__, lambda a, q, axis, keepdims, fn=_fn: fn(a, q, axis, keepdims=keepdims),
            _quantile_type(f"np.{_fn.__name__}", _scale), arity=2, params=REDUCE, positional=1,
            lowered=True)
declare("diff", lambda a, n, axis: np.diff(a, n, axis), _diff_type, params={"n": 1, "axis": -1},
        lowered=True)
declare("roll", lambda a, shift, axis: np.roll(a, shift, axis), _roll_type, arity=2,
        params={"axis": None}, lowered=True)
declare("ptp", _reduce_impl(np.ptp), _ptp_type, params=REDUCE, positional=1, lowered=True)
declare("average", lambda a, axis, weights, returned, keepdims: np.average(
    a, axis, weights, returned, keepdims=keepdims), _average_type,
    params={"axis": None, "weights": None, "returned": False, "keepdims": False},
    operand_params=("weights",), positional=2, lowered=True)
declare("vdot", np.vdot, lambda ts, args: _matmul_type(
    [ArrayT(_array(t, "np.vdot").dtype, 1) for t in ts], args), arity=2, lowered=True)
declare("vstack", lambda *a: np.vstack(a), _stacked_type("np.vstack", lambda n: max(n, 2)),
        lowered=True)
declare("hstack", lambda *a: np.hstack(a), _stacked_type("np.hstack", lambda n: n),
        lowered=True)
declare("matmul", lambda a, b: a @ b, _matmul_type, arity=2)
declare("transpose", lambda a, axes=None: np.transpose(a, axes), _permuted("transpose"),
        params={"axes": None}, view=True)
declare("reshape", np.reshape, _reshape_type, arity=2, view=True)
declare("ravel", np.ravel, lambda ts, args: ArrayT(_array(ts[0], "ravel").dtype, 1), view=True)
# constructors and copy allocate: two calls must never be merged into one array
declare("copy", np.copy, lambda ts, args: _array(ts[0], "copy"), pure=False)
# the last argument of concatenate and stack is the axis
declare("concatenate", lambda *a: np.concatenate(a[:-1], axis=a[-1]), _concatenate_type,
        params={"axis": 0})
declare("stack", lambda *a: np.stack(a[:-1], axis=a[-1]),
        lambda ts, args: ArrayT(_join_arrays(ts[:-1], "stack").dtype, ts[0].ndim + 1),
        params={"axis": 0})
# their NumPy functions take a tuple or list of arrays
SEQUENCE_ARGUMENT = {"concatenate", "stack", "vstack", "hstack"}
for _fn, _like in [(np.zeros, np.zeros_like), (np.ones, np.ones_like), (np.empty, np.empty_like)]:
    declare(_fn.__name__, lambda shape, dtype=None, fn=_fn: fn(shape, dtype or "float64"),
            _constructor_type, pure=False, params=DTYPE)
    declare(_like.__name__, lambda a, dtype=None, fn=_like: fn(a, dtype), _like_type, pure=False,
            params=DTYPE)


# ---- creation and shape (NumPy's own meaning; the backend lowers what Numba lacks) ------------
def _scalar_operand(t, what):
    if not isinstance(t, Scalar):
        raise TypeError(f"{what} needs a number, got {t}")
    return t


def _linspace_type(ts, args):
    start, stop = (_scalar_operand(t, "np.linspace") for t in ts[:2])
    if ts[2] != INT:
        raise TypeError(f"np.linspace needs an integer num, got {ts[2]}")
    if args[4]:
        raise TypeError("np.linspace(..., retstep=True) is not supported")
    return ArrayT(args[5] or promote([start, stop, FLOAT]), 1)


def _full_type(ts, args):
    fill = _scalar_operand(ts[1], "np.full")
    return ArrayT(args[2] or fill.dtype, _shape_rank(ts[0]))


def _full_like_type(ts, args):
    _scalar_operand(ts[1], "np.full_like")
    return _like_type(ts, args)


def _eye_type(ts, args):
    if not all(t == INT for t in ts[:3] if t != NONE):
        raise TypeError("np.eye needs integer sizes N, M and diagonal k")
    return ArrayT(args[-1] or "float64", 2)


def _expand_dims_type(ts, args):
    a = _array(ts[0], "np.expand_dims")
    n = a.ndim + len(args[1] if isinstance(args[1], tuple) else (args[1],))
    normal_axes(args[1], n, "np.expand_dims")
    return ArrayT(a.dtype, n)


def _squeeze_type(ts, args):
    a = _array(ts[0], "np.squeeze")
    if args[1] is None:
        raise TypeError("np.squeeze without axis= is not supported: which axes it drops depends on "
                        "the sizes, which compiled code does not fix; give the axes to drop, as "
                        "in np.squeeze(x, axis=1)")
    n = a.ndim - len(normal_axes(args[1], a.ndim, "np.squeeze"))
    if n == 0:
        raise TypeError("np.squeeze to a 0-d array is not supported; index the element instead, "
                        "as in x[0, 0]")
    return ArrayT(a.dtype, n)


def _flip_type(ts, args):
    a = _array(ts[0], "np.flip")
    if args[1] is not None:
        normal_axes(args[1], a.ndim, "np.flip")
    return a


def _tile_type(ts, args):
    a = _array(ts[0], "np.tile")
    return ArrayT(a.dtype, max(a.ndim, _shape_rank(ts[1])))


def _repeat_type(ts, args):
    a = _array(ts[0], "np.repeat")
    if ts[1] != INT:
        raise TypeError(f"np.repeat needs an integer number of repeats, got {ts[1]} (repeats "
                        "that differ per element are not supported)")
    if args[2] is None:
        return ArrayT(a.dtype, 1)
    normal_axes(args[2], a.ndim, "np.repeat")
    return a


def pad_widths(pad_width, ndim):
    """np.pad's constant pad widths, in any form NumPy accepts, as ((before, after), ...) per
    axis."""
    flat = np.ravel(np.asarray(pad_width, dtype=object))
    if not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in flat):
        raise TypeError(f"np.pad needs constant non-negative integer pad widths, got {pad_width!r}")
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim, 2))
    except ValueError:
        raise TypeError(f"np.pad: the pad widths {pad_width!r} do not fit a {ndim}-d "
                        "array") from None
    return tuple((int(b), int(e)) for b, e in widths)


def _pad_type(ts, args):
    a = _array(ts[0], "np.pad")
    pad_widths(args[1], a.ndim)
    if args[2] != "constant":
        raise TypeError(f"np.pad supports mode='constant' only, not {args[2]!r}")
    if not isinstance(args[3], (int, float)):
        raise TypeError("np.pad needs one constant number as constant_values, got "
                        f"{args[3]!r}")
    return a


def _matrix(t, what):
    a = _array(t, what)
    if a.ndim != 2:
        raise TypeError(f"{what} of a {a.ndim}-d array is not supported, only of a matrix")
    return a


def _triangle_type(what):
    def rule(ts, args):
        a = _array(ts[0], what)
        if a.ndim < 2 or not isinstance(args[1], int):
            raise TypeError(f"{what} needs an array of 2 or more dimensions and a constant k")
        return a
    return rule


def _diag_type(ts, args):
    a = _array(ts[0], "np.diag")
    if a.ndim not in (1, 2) or not isinstance(args[1], int):
        raise TypeError(f"np.diag needs a 1-d or 2-d array and a constant k, got {a}")
    return ArrayT(a.dtype, 3 - a.ndim)


def _trace_type(ts, args):
    a = _matrix(ts[0], "np.trace")
    if not isinstance(args[1], int):
        raise TypeError("np.trace needs a constant offset")
    return Scalar(a.dtype, strong=True)


def window_axes(ndim, window_rank, axis):
    """The axes sliding_window_view slides its windows along, one per window dimension."""
    if axis is None:
        if window_rank != ndim:
            raise TypeError(f"sliding_window_view of a {ndim}-d array without axis= needs "
                            f"{ndim} window sizes, got {window_rank}")
        return tuple(range(ndim))
    axes = normal_axes(axis, ndim, "sliding_window_view", repeats=True)
    if len(axes) != window_rank:
        raise TypeError(f"sliding_window_view needs one window size per axis in {axis!r}")
    return axes


def _window_type(ts, args):
    a = _array(ts[0], "sliding_window_view")
    window_rank = _shape_rank(ts[1])
    window_axes(a.ndim, window_rank, args[2])
    return ArrayT(a.dtype, a.ndim + window_rank)


# creating arrays allocates: two calls must never be merged into one array
declare("linspace", lambda start, stop, num=50, endpoint=True, retstep=False, dtype=None:
        np.linspace(start, stop, num, endpoint, dtype=dtype), _linspace_type, arity=2,
        pure=False, params={"num": 50, "endpoint": True, "retstep": False, "dtype": None},
        operand_params=("num",))
declare("full", lambda shape, fill, dtype=None: np.full(shape, fill, dtype), _full_type, arity=2,
        pure=False, params=DTYPE)
declare("full_like", lambda a, fill, dtype=None: np.full_like(a, fill, dtype), _full_like_type,
        arity=2, pure=False, params=DTYPE)
declare("eye", lambda n, m=None, k=0, dtype=None: np.eye(n, m, k, dtype or "float64"), _eye_type,
        pure=False, params={"M": None, "k": 0, "dtype": None}, operand_params=("M", "k"))
declare("identity", lambda n, dtype=None: np.identity(n, dtype or "float64"),
        lambda ts, args: _eye_type(ts[:1], args), pure=False, params=DTYPE)
declare("expand_dims", np.expand_dims, _expand_dims_type, params={"axis": None}, view=True)
declare("squeeze", lambda a, axis=None: np.squeeze(a, axis), _squeeze_type, params={"axis": None},
        view=True)
declare("swapaxes", np.swapaxes, _permuted("swapaxes"), params={"axis1": None, "axis2": None},
        view=True)
declare("moveaxis", np.moveaxis, _permuted("moveaxis"),
        params={"source": None, "destination": None}, view=True)
declare("flip", lambda a, axis=None: np.flip(a, axis), _flip_type, params={"axis": None},
        view=True)
declare("tile", np.tile, _tile_type, arity=2)
declare("repeat", lambda a, repeats, axis=None: np.repeat(a, repeats, axis), _repeat_type,
        arity=2, params={"axis": None})
declare("pad", lambda a, width, mode="constant", value=0:
        np.pad(a, width, mode=mode, constant_values=value), _pad_type,
        params={"pad_width": None, "mode": "constant", "constant_values": 0})
declare("triu", lambda a, k=0: np.triu(a, k), _triangle_type("np.triu"), params={"k": 0})
declare("tril", lambda a, k=0: np.tril(a, k), _triangle_type("np.tril"), params={"k": 0})
declare("diag", lambda a, k=0: np.diag(a, k), _diag_type, params={"k": 0}, view=True)
declare("trace", lambda a, offset=0: np.trace(a, offset), _trace_type, params={"offset": 0})
declare("sliding_window_view", lambda a, window, axis=None: sliding_window_view(a, window, axis),
        _window_type, arity=2, params={"axis": None}, view=True)


def _spread(g, shape, axes):
    """g broadcast to `shape`, with a new axis of it at each of `axes` (where a reduction without
    keepdims dropped one)."""
    if np.ndim(g) == 0:
        return np.full(shape, g)
    return np.broadcast_to(np.expand_dims(g, axes), shape)


def _grouped(a, axes):
    """a with the elements reduced together over `axes` along one last axis, and the function
    that puts an array of that layout back in a's."""
    last = tuple(range(a.ndim - len(axes), a.ndim))
    moved = np.moveaxis(a, axes, last)
    flat = moved.reshape(moved.shape[:a.ndim - len(axes)] + (-1,))
    return flat, lambda r: np.moveaxis(r.reshape(moved.shape), last, axes)


def _before_after(flat):
    """Exclusive prefix and suffix products along the last axis."""
    ones = np.ones(flat.shape[:-1] + (1,), flat.dtype)
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return before, after


def _prod_others(a, axes):
    """Each element's product of the other elements it is reduced with over `axes`: the
    derivative of the product, also where an element is zero (exclusive prefix and suffix
    products)."""
    flat, back = _grouped(a, axes)
    before, after = _before_after(flat)
    return back(before * after)


def _prod_others_grad(a, g, axes):
    """Per element k of a, the sum over the others i of its group of g_i times the product of the
    elements other than i and k: the reverse (and, being symmetric in i and k, the tangent) of
    prod_others along g. Without dividing: the sums over i < k and i > k are carried along the
    group, each step multiplying by one element."""
    flat, back = _grouped(a, axes)
    gs = _grouped(np.broadcast_to(g, a.shape), axes)[0]
    before, after = _before_after(flat)
    below, above = np.zeros_like(flat), np.zeros_like(flat)
    n = flat.shape[-1]
    for k in range(1, n):
        below[..., k] = below[..., k - 1] * flat[..., k - 1] + gs[..., k - 1] * before[..., k - 1]
    for k in range(n - 2, -1, -1):
        above[..., k] = above[..., k + 1] * flat[..., k + 1] + gs[..., k + 1] * after[..., k + 1]
    return back(below * after + before * above)


def _cumsum_reverse(g, axis):
    """Sums of each element and those after it along `axis`: the gradient of cumsum."""
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)

def _arange_type(ts, args):
    if args[3] is not None:
        return ArrayT(args[3], 1)
    bounds = [t for t in ts[:3] if t != NONE]
    for t in bounds:
        if not isinstance(t, Scalar):
            raise TypeError(f"np.arange takes numbers, not {t}")
    dtype = promote(bounds)
    return ArrayT("int64" if dtype == "bool" else dtype, 1)


def _arange(start, stop=None, step=None, dtype=None):
    return np.arange(start, stop, step, dtype=dtype)


# np.arange(stop), np.arange(start, stop[, step]): stop and step are run-time values
declare("arange", _arange, _arange_type, pure=False,
        params={"stop": None, "step": None, **DTYPE}, operand_params=("stop", "step"))


def _index_array(t, what):
    if not (isinstance(t, ArrayT) and t.dtype == "int64" or t == INT):
        raise TypeError(f"the indices of {what} must be integers, not {t}")
    return t


def _take_type(ts, args):
    a, idx, axis = _array(ts[0], "np.take"), _index_array(ts[1], "np.take"), args[2]
    if axis is None:
        return result_type("getindex", [ArrayT(a.dtype, 1), idx], [None, None])
    if not isinstance(axis, int) or not -a.ndim <= axis < a.ndim:
        raise TypeError(f"axis must be a constant integer below {a.ndim}, got {axis!r}")
    return result_type("getindex", [a, TupleT((SLICE,) * (axis % a.ndim) + (idx,))], [None, None])


def _take_along_axis_type(ts, args):
    a, idx = _array(ts[0], "np.take_along_axis"), _index_array(ts[1], "np.take_along_axis")
    axis = args[2]
    if not isinstance(idx, ArrayT) or idx.ndim != a.ndim:
        raise TypeError(f"np.take_along_axis needs indices of the array's rank ({a.ndim}), "
                        f"got {idx}")
    if not isinstance(axis, int) or not -a.ndim <= axis < a.ndim:
        raise TypeError(f"axis must be a constant integer below {a.ndim}, got {axis!r}")
    return a


# rewritten into `gather` once types are known (passes/indexing.py): no rule or lowering of their
# own
declare("take_axis", lambda a, idx, axis=None: np.take(a, idx, axis=axis), _take_type, arity=2,
        params=AXIS)
declare("take_along_axis", np.take_along_axis, _take_along_axis_type, arity=2,
        params={"axis": -1})
INDEXING_SUGAR = {"take_axis", "take_along_axis"}



def _sum_to(c, shape):
    c = np.sum(c, axis=tuple(range(c.ndim - len(shape)))) if c.ndim > len(shape) else c
    axes = tuple(d for d, n in enumerate(shape) if n == 1 and c.shape[d] != 1)
    return np.sum(c, axis=axes, keepdims=True) if axes else c


def _shaped_like(ts, args):
    g, shape = ts[0], ts[1]
    dtype = g.dtype if isinstance(g, (Scalar, ArrayT)) and g.is_float else "float64"
    return ArrayT(dtype, _shape_rank(shape))


# operations the gradients of array primitives are written with
declare("spread", _spread, _shaped_like)  # the gradient of a sum, spread over a shape
declare("prod_others", _prod_others, lambda ts, args: _array(ts[0], "prod_others"))
declare("prod_others_grad", _prod_others_grad, lambda ts, args: _array(ts[0], "prod_others"),
        arity=2)
declare("cumsum_reverse", _cumsum_reverse, lambda ts, args: _array(ts[0], "cumsum_reverse"))
declare("sum_to", _sum_to, _shaped_like)  # a broadcast gradient summed back to an operand's shape
declare("outer", np.outer, lambda ts, args: ArrayT(promote([_array(t, "np.outer") for t in ts]),
                                                     2), arity=2)
declare("astype", lambda x, dtype: np.asarray(x).astype(dtype), _astype_type, params=DTYPE)
def _untile(g, shape, reps):
    n, reps = g.ndim, tuple(np.atleast_1d(reps))
    shape_n, reps_n = (1,) * (n - len(shape)) + tuple(shape), (1,) * (n - len(reps)) + reps
    blocks = g.reshape([x for pair in zip(reps_n, shape_n, strict=True) for x in pair])
    return blocks.sum(axis=tuple(range(0, 2 * n, 2))).reshape(shape)


def _unrepeat(g, shape, repeats, axis):
    if axis is None:
        return g.reshape(-1, repeats).sum(axis=1).reshape(shape)
    axis %= len(shape)
    return g.reshape(shape[:axis + 1] + (repeats,) + shape[axis + 1:]).sum(axis=axis + 1)


def _undiag(g, shape, k):
    out = np.zeros(shape, g.dtype)
    i = np.arange(len(g))
    out[i + max(-k, 0), i + max(k, 0)] = g
    return out


def _window_sum(g, shape, axes):
    out = np.zeros(shape, g.dtype)
    n = len(shape)
    for offsets in np.ndindex(g.shape[n:]):
        start = [0] * n
        for axis, j in zip(axes, offsets, strict=True):
            start[axis] += j
        out[tuple(slice(b, b + m) for b, m in zip(start, g.shape[:n], strict=True))] += \
            g[(Ellipsis, *offsets)]
    return out


# the gradients of tile, repeat, diag of a matrix and sliding_window_view: each sums the gradient
# of every copy of an element back onto it (or, for diag, puts it back on the diagonal)
declare("untile", _untile, _shaped_like)  # (g, shape, reps)
declare("unrepeat", _unrepeat, _shaped_like)  # (g, shape, repeats, axis)
declare("undiag", _undiag, _shaped_like)  # (g, shape, k)
declare("window_sum", _window_sum, _shaped_like)  # (g, shape, axes of the windows)
declare("broadcast_shape", lambda *shapes: np.broadcast_shapes(*shapes),
        lambda ts, args: TupleT((INT,) * max(len(t.elts) for t in ts)))


# linear algebra; NumPy computes it in float64 for int arrays
declare("dot", np.dot, _dot_type, arity=2, lowered=True)
declare("inner", np.inner, _inner_type, arity=2, lowered=True)
declare("einsum", np.einsum, _einsum_type, lowered=True)  # einsum(subscripts, *operands)
declare("norm", np.linalg.norm, _norm_type, params={"ord": None, "axis": None, "keepdims": False},
        lowered=True)
declare("solve", np.linalg.solve, _solve_type, arity=2)
declare("inv", np.linalg.inv, _linalg_matrix("np.linalg.inv"))
declare("cholesky", np.linalg.cholesky, _linalg_matrix("np.linalg.cholesky"))
declare("det", np.linalg.det, _linalg_scalar("np.linalg.det"))
# slogdet's (sign, log|det|) is two primitives: only the second has a gradient
declare("slogdet", lambda a: tuple(np.linalg.slogdet(a)),
        lambda ts, args: TupleT((_linalg_scalar("np.linalg.slogdet")(ts, args),) * 2),
        lowered=True)
declare("slogdet_sign", lambda a: np.linalg.slogdet(a)[0], _linalg_scalar("np.linalg.slogdet"))
declare("logabsdet", lambda a: np.linalg.slogdet(a)[1], _linalg_scalar("np.linalg.slogdet"))


def cholesky_gradient(g, chol):
    """The gradient of A for L = cholesky(A), given the gradient g of L. With
    P = tril(L^T g) with its diagonal halved, S = L^-T P L^-1 is the gradient for a symmetric
    change of A (Murray 2016, "Differentiation of the Cholesky decomposition"); NumPy reads only
    A's lower triangle, so that triangle gets S + S^T, the diagonal S's own, the rest nothing.
    Plain NumPy that Numba compiles too (backend/numba_cpu/runtime.py)."""
    p = np.tril(chol.T @ g)
    p -= 0.5 * np.diag(np.diag(p))
    inverse = np.linalg.inv(chol)
    s = inverse.T @ p @ inverse
    return np.tril(s + s.T) - np.diag(np.diag(s))


declare("cholesky_grad", cholesky_gradient, lambda ts, args: ts[1])  # (g, L), for its rule

# NumPy functions and methods of arrays -> the primitive they call (the `params` it declares)
NUMPY_FUNCTIONS = {np.sum: "sum", np.mean: "mean", np.max: "amax", np.amax: "amax",
                   np.min: "amin", np.amin: "amin", np.dot: "dot", np.matmul: "matmul",
                   np.where: "select", np.array: "list_stack", np.asarray: "asarray",
                   np.fabs: "fabs", np.take: "take_axis",  # np.abs is abs
                   np.outer: "outer", np.inner: "inner", np.linalg.norm: "norm", np.ndim: "ndim",
                   np.linalg.slogdet: "slogdet", sliding_window_view: "sliding_window_view",
                   **{getattr(np.linalg, n): n for n in ("solve", "inv", "cholesky", "det")},
                   **{getattr(np, n): n for n in (
                       "prod", "var", "std", "argmax", "argmin", "cumsum", "cumprod",
                       "transpose", "reshape", "ravel", "copy", "concatenate", "stack", "zeros",
                       "ones", "empty", "zeros_like", "ones_like", "empty_like", "arange",
                       "take_along_axis", "linspace", "full", "full_like", "eye", "identity",
                       "expand_dims", "squeeze", "swapaxes", "moveaxis", "flip", "tile", "repeat",
                       "pad", "triu", "tril", "diag", "trace", "diff", "roll", "ptp",
                       "average", "vdot", "vstack", "hstack", "argsort", "sort", "median",
                       "quantile", "percentile")},
                   np.radians: "deg2rad", np.degrees: "rad2deg"}
ARRAY_METHODS = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin", "reshape": "reshape",
                 "ravel": "ravel", "flatten": "ravel", "transpose": "transpose", "dot": "dot",
                 "copy": "copy", "astype": "astype", "squeeze": "squeeze", "swapaxes": "swapaxes",
                 "repeat": "repeat", "trace": "trace",
                 **{n: n for n in ("prod", "var", "std", "argmax", "argmin", "cumsum", "cumprod")},
                 "take": "take_axis", "argsort": "argsort"}

DTYPES = {np.float64: "float64", np.float32: "float32", float: "float64", np.int64: "int64",
          int: "int64"}

__all__ = ["NUMPY_FUNCTIONS", "ARRAY_METHODS", "SEQUENCE_ARGUMENT", "DTYPES", "FLOAT",
           "INDEXING_SUGAR"]

# the list primitives and conv2d/maxpool2d, registered in the same table
from . import list_primitives, nn_primitives  # noqa: E402,F401

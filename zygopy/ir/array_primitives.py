"""Array primitives: reductions, linear algebra, shape changes and constructors.

Registered in the same table as the scalar primitives (elementwise arithmetic and the math
functions already work on arrays by broadcasting). Reduction axes are compile-time constants.
"""
from __future__ import annotations

import numpy as np

from .primitives import FLOAT, INT, broadcast, declare, promote, result_type
from .types import NONE, SLICE, ArrayT, Scalar, TupleT


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
    a, b = _array(ts[0], "@"), _array(ts[1], "@")
    dtype = promote([a, b])
    ndim = {(2, 2): 2, (2, 1): 1, (1, 2): 1, (1, 1): 0}.get((a.ndim, b.ndim))
    if ndim is None:
        raise TypeError(f"@ of a {a.ndim}-d and a {b.ndim}-d array is not supported")
    return Scalar(dtype, strong=True) if ndim == 0 else ArrayT(dtype, ndim)


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


def _constructor_type(ts, args):
    dtype = args[1] if len(args) > 1 and args[1] is not None else "float64"
    return ArrayT(dtype, _shape_rank(ts[0]))


def _like_type(ts, args):
    return _array(ts[0], "a *_like constructor")


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
declare("matmul", lambda a, b: a @ b, _matmul_type, arity=2)
declare("transpose", np.transpose, lambda ts, args: _array(ts[0], "transpose"))
declare("reshape", np.reshape, _reshape_type, arity=2)
declare("ravel", np.ravel, lambda ts, args: ArrayT(_array(ts[0], "ravel").dtype, 1))
# constructors and copy allocate: two calls must never be merged into one array
declare("copy", np.copy, lambda ts, args: _array(ts[0], "copy"), pure=False)
# the last argument of concatenate and stack is the axis
declare("concatenate", lambda *a: np.concatenate(a[:-1], axis=a[-1]),
        lambda ts, args: _join_arrays(ts[:-1], "concatenate"), params={"axis": 0})
declare("stack", lambda *a: np.stack(a[:-1], axis=a[-1]),
        lambda ts, args: ArrayT(_join_arrays(ts[:-1], "stack").dtype, ts[0].ndim + 1),
        params={"axis": 0})
SEQUENCE_ARGUMENT = {"concatenate", "stack"}  # their NumPy functions take a tuple or list of arrays
for _fn, _like in [(np.zeros, np.zeros_like), (np.ones, np.ones_like), (np.empty, np.empty_like)]:
    declare(_fn.__name__, lambda shape, dtype=None, fn=_fn: fn(shape, dtype or "float64"),
            _constructor_type, pure=False, params=DTYPE)
    declare(_like.__name__, _like, _like_type, pure=False)


def _spread(g, shape, axes):
    """g broadcast to `shape`, with a new axis of it at each of `axes` (where a reduction without
    keepdims dropped one)."""
    if np.ndim(g) == 0:
        return np.full(shape, g)
    return np.broadcast_to(np.expand_dims(g, axes), shape)


def _prod_others(a, axes):
    """Each element's product of the other elements it is reduced with over `axes`: the
    derivative of the product, also where an element is zero (exclusive prefix and suffix
    products)."""
    last = tuple(range(a.ndim - len(axes), a.ndim))
    moved = np.moveaxis(a, axes, last)
    flat = moved.reshape(moved.shape[:a.ndim - len(axes)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), a.dtype)
    before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis((before * after).reshape(moved.shape), last, axes)


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
declare("cumsum_reverse", _cumsum_reverse, lambda ts, args: _array(ts[0], "cumsum_reverse"))
declare("sum_to", _sum_to, _shaped_like)  # a broadcast gradient summed back to an operand's shape
declare("outer", np.outer, lambda ts, args: ArrayT(broadcast(ts).dtype, 2))
declare("astype", lambda x, dtype: np.asarray(x).astype(dtype),
        lambda ts, args: (ArrayT(args[1], ts[0].ndim) if isinstance(ts[0], ArrayT)
                          else Scalar(args[1])))
declare("broadcast_shape", lambda *shapes: np.broadcast_shapes(*shapes),
        lambda ts, args: TupleT((INT,) * max(len(t.elts) for t in ts)))

# NumPy functions and methods of arrays -> the primitive they call (the `params` it declares)
NUMPY_FUNCTIONS = {np.sum: "sum", np.mean: "mean", np.max: "amax", np.amax: "amax",
                   np.min: "amin", np.amin: "amin", np.dot: "matmul", np.matmul: "matmul",
                   np.where: "select", np.array: "list_stack", np.asarray: "list_stack",
                   np.fabs: "fabs", np.take: "take_axis",  # np.abs is abs
                   **{getattr(np, n): n for n in ("prod", "var", "std", "argmax", "argmin",
                                                  "cumsum", "cumprod",
                                                  "transpose", "reshape", "ravel", "copy",
                                                  "concatenate", "stack", "zeros", "ones",
                                                  "empty", "zeros_like", "ones_like",
                                                  "empty_like", "arange", "take_along_axis")}}
ARRAY_METHODS = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin", "reshape": "reshape",
                 "ravel": "ravel", "flatten": "ravel", "transpose": "transpose", "dot": "matmul",
                 "copy": "copy", **{n: n for n in ("prod", "var", "std", "argmax", "argmin",
                                                   "cumsum", "cumprod")},
                 "take": "take_axis"}

DTYPES = {np.float64: "float64", np.float32: "float32", float: "float64", np.int64: "int64",
          int: "int64"}

__all__ = ["NUMPY_FUNCTIONS", "ARRAY_METHODS", "SEQUENCE_ARGUMENT", "DTYPES", "FLOAT",
           "INDEXING_SUGAR"]

from . import list_primitives  # noqa: E402,F401  (registers the list primitives in the same table)

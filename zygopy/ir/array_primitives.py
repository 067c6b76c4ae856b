"""Array primitives: reductions, linear algebra, shape changes and constructors.

Registered in the same table as the scalar primitives (elementwise arithmetic and the math
functions already work on arrays by broadcasting). Reduction axes are compile-time constants.
"""
from __future__ import annotations

import numpy as np

from .primitives import FLOAT, INT, broadcast, declare, promote
from .types import ArrayT, Scalar, TupleT


def _array(t, what):
    if not isinstance(t, ArrayT):
        raise TypeError(f"{what} needs an array, got {t}")
    return t


def _reduce(float_result=False):
    def rule(ts, args):
        a, axis = _array(ts[0], "a reduction"), args[1]
        dtype = "float64" if float_result and not a.is_float else a.dtype
        if axis is None:
            return Scalar(dtype, strong=True)
        if not isinstance(axis, int) or not -a.ndim <= axis < a.ndim:
            raise TypeError(f"axis must be a constant integer below {a.ndim}, got {axis!r}")
        return Scalar(dtype, strong=True) if a.ndim == 1 else ArrayT(dtype, a.ndim - 1)
    return rule


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
    return lambda a, axis: fn(a, axis=axis)


AXIS, DTYPE = {"axis": None}, {"dtype": None}  # keyword parameters with their defaults
declare("sum", _reduce_impl(np.sum), _reduce(), params=AXIS)
declare("mean", _reduce_impl(np.mean), _reduce(float_result=True), params=AXIS)
declare("amax", _reduce_impl(np.max), _reduce(), params=AXIS)
declare("amin", _reduce_impl(np.min), _reduce(), params=AXIS)
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


def _spread(g, shape, axis):
    return np.full(shape, g) if axis is None else np.broadcast_to(np.expand_dims(g, axis), shape)


def _sum_to(c, shape):
    c = np.sum(c, axis=tuple(range(c.ndim - len(shape)))) if c.ndim > len(shape) else c
    axes = tuple(d for d, n in enumerate(shape) if n == 1 and c.shape[d] != 1)
    return np.sum(c, axis=axes, keepdims=True) if axes else c


def _shaped_like(ts, args):
    g, shape = ts[0], ts[1]
    dtype = g.dtype if isinstance(g, (Scalar, ArrayT)) and g.is_float else "float64"
    return ArrayT(dtype, _shape_rank(shape))


# operations the gradients of array primitives are written with
declare("spread", _spread, _shaped_like)  # the gradient of a sum over `axis`, spread over a shape
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
                   **{getattr(np, n): n for n in ("transpose", "reshape", "ravel", "copy",
                                                  "concatenate", "stack", "zeros", "ones",
                                                  "empty", "zeros_like", "ones_like",
                                                  "empty_like")}}
ARRAY_METHODS = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin", "reshape": "reshape",
                 "ravel": "ravel", "flatten": "ravel", "transpose": "transpose", "dot": "matmul",
                 "copy": "copy"}

DTYPES = {np.float64: "float64", np.float32: "float32", float: "float64", np.int64: "int64",
          int: "int64"}

__all__ = ["NUMPY_FUNCTIONS", "ARRAY_METHODS", "SEQUENCE_ARGUMENT", "DTYPES", "FLOAT"]

from . import list_primitives  # noqa: E402,F401  (registers the list primitives in the same table)

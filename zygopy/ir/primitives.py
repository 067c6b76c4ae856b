"""The primitive operations of the IR: how each is typed, printed and evaluated in plain Python.

One table, keyed by op name. The evaluator and constant folding both use `impl`, so the IR has a
single meaning independent of any compiler. How a primitive lowers to Numba lives in the backend,
how it differentiates lives in `zygopy.adjoint.rules`.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .types import _RANK, BOOL, FLOAT, INT, NONE, SLICE, ArrayT, NoneT, Scalar, SliceT, TupleT, join


@dataclass(frozen=True)
class Primitive:
    name: str
    impl: Callable
    type_rule: Callable  # (arg types, args) -> result type
    symbol: str | None = None  # infix/prefix operator when printed that way
    pure: bool = True


def _numeric(t):
    return INT if t == BOOL else t


def _number(t):
    """An operand of arithmetic or of a math function: a scalar or an array, not a tuple or none."""
    if not isinstance(t, (Scalar, ArrayT)):
        raise TypeError(f"arithmetic on a value of type {t} is not supported")
    return t


def broadcast(ts):
    """The type of an elementwise operation: the dtype `promote` gives, the widest rank."""
    ts = [_number(t) for t in ts]
    arrays = [t for t in ts if isinstance(t, ArrayT)]
    dtype = promote(ts)
    if arrays:
        return ArrayT(dtype, max(a.ndim for a in arrays))
    return Scalar(dtype, any(isinstance(t, Scalar) and t.strong for t in ts))


def is_weak(t):
    """A Python number: NumPy 2 (NEP 50) gives it the dtype of the NumPy values it meets, so
    `0.5 * x` stays float32. Literals, arguments and what is computed from them alone are Python
    numbers (an np.float64 argument too: a compiled function serves both)."""
    return isinstance(t, Scalar) and t.dtype != "float32" and not t.strong


_KIND = {"bool": 0, "int64": 1, "float32": 2, "float64": 2}


def promote(ts):
    """The dtype NumPy 2 gives an elementwise result of operands of types `ts` (NEP 50)."""
    strong = [t.dtype for t in ts if not is_weak(t)]
    weak = max((t.dtype for t in ts if is_weak(t)), key=_RANK.get, default="bool")
    if not strong:  # Python numbers only: bool < int < float
        return weak
    if "float32" in strong and "int64" in strong:  # float32 cannot hold every int64
        return "float64"
    dtype = max(strong, key=_RANK.get)
    # a weak operand of a higher kind than every strong one (a float with an int array) makes
    # the result that kind's default dtype, which is the weak operand's own
    return weak if _KIND[weak] > _KIND[dtype] else dtype


def _arith(ts, args):
    t = broadcast(ts)
    return ArrayT("int64", t.ndim) if isinstance(t, ArrayT) and t.dtype == "bool" else _numeric(t)


def _float_of(ts, args):
    t = broadcast(ts)
    if t.is_float:
        return t
    return ArrayT("float64", t.ndim) if isinstance(t, ArrayT) else Scalar("float64", t.strong)


def _pow_type(ts, args):
    t = _arith(ts, args)
    if t == INT and not (isinstance(args[1], int) and args[1] >= 0):
        return FLOAT  # int ** int is a float in Python whenever the exponent may be negative
    return t


def _pow_impl(a, b):
    return a ** b


def _same(ts, args):
    return _numeric(_number(ts[0]))


def _bool(ts, args):
    t = broadcast(ts) if any(isinstance(t, ArrayT) for t in ts) else None
    return ArrayT("bool", t.ndim) if t is not None else BOOL


def _int(ts, args):
    return INT


def _tuple_type(ts, args):
    return TupleT(tuple(ts))


def _getindex_type(ts, args):
    base, idx = ts[0], args[1]
    if isinstance(base, TupleT):
        if not isinstance(idx, int):
            raise TypeError("a tuple can only be indexed by a constant integer")
        if not -len(base.elts) <= idx < len(base.elts):
            raise TypeError(f"index {idx} is out of range for a tuple of {len(base.elts)}")
        return base.elts[idx]
    if isinstance(base, ArrayT):
        idx_types = ts[1].elts if isinstance(ts[1], TupleT) else (ts[1],)
        for t in idx_types:
            if isinstance(t, Scalar) and t.is_float or not isinstance(t, (Scalar, SliceT, NoneT)):
                raise TypeError(f"an array index must be an integer, a slice or None, not {t}")
        # an integer index drops an axis
        dropped = sum(1 for t in idx_types if isinstance(t, Scalar))
        added = sum(1 for t in idx_types if t == NONE)  # None (np.newaxis) adds one
        ndim = base.ndim - dropped + added
        return Scalar(base.dtype, strong=True) if ndim == 0 else ArrayT(base.dtype, ndim)
    raise TypeError(f"cannot index a value of type {base}")


def _getattr_type(ts, args):
    base, attr = ts[0], args[1]
    if isinstance(base, ArrayT):
        if attr == "shape":
            return TupleT((INT,) * base.ndim)
        if attr in ("size", "ndim"):
            return INT
        if attr == "T":
            return base
    if isinstance(base, Scalar) and attr in ("real",):
        return base
    raise TypeError(f"attribute .{attr} of a value of type {base} is not supported")


def _len_type(ts, args):
    if not isinstance(ts[0], (TupleT, ArrayT)):
        raise TypeError(f"len() of a value of type {ts[0]} is not supported")
    return INT


def _setindex_type(ts, args):
    if not isinstance(ts[0], ArrayT):
        raise TypeError(f"cannot assign to an element of a value of type {ts[0]}")
    return NONE


def _setindex(a, idx, v, saved=None):  # the adjoint pass adds the overwritten value as `saved`
    a[idx] = v


def _range_len(start, stop, step):
    return len(range(start, stop, step))


def _sign(x):
    return type(x)(int(x > 0) - int(x < 0))  # int() too: NumPy refuses to subtract its bools


def _select(c, a, b):
    return a if c else b


PRIMITIVES: dict[str, Primitive] = {}


def _add(name, impl, type_rule, symbol=None, pure=True):
    PRIMITIVES[name] = Primitive(name, impl, type_rule, symbol, pure)


for _name, _impl, _sym in [("add", operator.add, "+"), ("sub", operator.sub, "-"),
                           ("mul", operator.mul, "*"), ("floordiv", operator.floordiv, "//"),
                           ("mod", operator.mod, "%")]:
    _add(_name, _impl, _arith, _sym)
_add("truediv", operator.truediv, _float_of, "/")
_add("pow", _pow_impl, _pow_type, "**")
for _name, _impl, _sym in [("lt", operator.lt, "<"), ("le", operator.le, "<="),
                           ("gt", operator.gt, ">"), ("ge", operator.ge, ">="),
                           ("eq", operator.eq, "=="), ("ne", operator.ne, "!=")]:
    _add(_name, _impl, _bool, _sym)
_add("neg", operator.neg, _same, "-")
_add("pos", operator.pos, _same, "+")
_add("not", operator.not_, _bool, "not ")
_add("truth", bool, _bool)
_add("abs", abs, _same)
_add("sign", _sign, _same)
_add("min", min, _arith)
_add("max", max, _arith)
_add("select", _select, lambda ts, args: (broadcast(ts) if any(isinstance(t, ArrayT) for t in ts)
                                          else join(ts[1], ts[2])))
_add("float", float, lambda ts, args: FLOAT)
_add("int", int, _int)
_add("floor", math.floor, _int)
_add("ceil", math.ceil, _int)
_add("len", len, _len_type)
_add("range_len", _range_len, _int)
_add("tuple", lambda *xs: tuple(xs), _tuple_type)
_add("getindex", lambda a, i: a[i], _getindex_type)
_add("setindex", _setindex, _setindex_type, pure=False)
_add("getattr", getattr, _getattr_type)


def _augment(old, new):
    if isinstance(old, np.ndarray):
        old[...] = new
        return old
    return new


# `x op= v`: a new value for a number, but NumPy's in-place update for an array, which every alias
# sees; which one is known only once types are (passes/augment.py then rewrites it)
_add("augment", _augment, lambda ts, args: ts[0] if isinstance(ts[0], ArrayT) else ts[1],
     pure=False)
_add("slice", slice, lambda ts, args: SLICE)  # only ever an index operand

# user-defined rules (zygopy.custom): the rule object is the first operand
def _custom_type(ts, args):
    from ..custom import specialize
    return specialize(args[0], ts[1:]).result_type


def _custom_grad_type(ts, args):
    from ..custom import specialize
    return TupleT(tuple(specialize(args[0], ts[3:]).gradient_types))


_add("custom", lambda rule, *xs: rule.forward(*xs), _custom_type)
_add("custom_grad", lambda rule, g, y, *xs: rule.backward(g, y, *xs), _custom_grad_type)
_add("stop_gradient", lambda x: x, lambda ts, args: ts[0])

# the adjoint IR's own operations: gradient slots and typed stacks
# read a gradient slot and reset it to zero
_add("take", None, lambda ts, args: args[0].type, pure=False)
_add("load", None, lambda ts, args: args[0].type, pure=False)  # read a gradient slot
_add("accum", None, lambda ts, args: NONE, pure=False)  # slot += value
_add("push", None, lambda ts, args: NONE, pure=False)  # push(stack type, value)
_add("pop", None, lambda ts, args: args[0], pure=False)  # pop(stack type)
_add("accum_at", None, lambda ts, args: NONE, pure=False)  # slot[index] += value
_add("take_at", None, lambda ts, args: _getindex_type([args[0].type, ts[1]], [None, args[1]]),
     pure=False)
# top of a stack
_add("peek", None, lambda ts, args: ArrayT(args[0].dtype, args[0].ndim), pure=False)
_add("drop", None, lambda ts, args: NONE, pure=False)  # pop and forget
_add("store", None, lambda ts, args: NONE, pure=False)  # slot = value
_add("init", None, lambda ts, args: NONE, pure=False)  # an array slot = zeros shaped like a value

# float -> float functions of the math module (and their NumPy twins)
UNARY_MATH = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
              "atanh", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "erf", "erfc",
              "fabs"]
BINARY_MATH = ["atan2", "hypot", "copysign", "fmod"]
NUMPY_OF_MATH = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh",
                 "acosh": "arccosh", "atanh": "arctanh", "atan2": "arctan2", "fabs": "abs"}


def _elementwise(scalar_fn, array_fn, float32=True):
    """Python's scalar function, or NumPy's on arrays (math.sin cannot take an array). Given a
    float32 scalar the result is float32, as `promote` types it (math.sin would give a float)."""
    def impl(*xs):
        if any(isinstance(x, np.ndarray) for x in xs):
            return array_fn(*xs)
        y = scalar_fn(*xs)
        return np.float32(y) if float32 and any(isinstance(x, np.float32) for x in xs) else y
    return impl


def _erf_array(x, sign=1.0):
    return np.vectorize(math.erf)(x) if sign > 0 else 1.0 - np.vectorize(math.erf)(x)


_ARRAY_MATH = {"erf": _erf_array, "erfc": lambda x: _erf_array(x, -1.0)}
for _name in UNARY_MATH + BINARY_MATH:
    _array_fn = _ARRAY_MATH.get(_name) or getattr(np, NUMPY_OF_MATH.get(_name, _name))
    _add(_name, _elementwise(getattr(math, _name), _array_fn), _float_of)
for _name, _array_fn in [("min", np.minimum), ("max", np.maximum), ("select", np.where),
                         ("sign", np.sign)]:
    _prim = PRIMITIVES[_name]
    # `a if c else b` is one of its operands, unpromoted
    PRIMITIVES[_name] = Primitive(_name, _elementwise(_prim.impl, _array_fn, _name != "select"),
                                  _prim.type_rule)

# NumPy names that mean the same primitive on scalars
NUMPY_ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
                 "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "absolute": "abs",
                 "power": "pow", "maximum": "max", "minimum": "min", "add": "add",
                 "subtract": "sub", "multiply": "mul", "divide": "truediv", "negative": "neg",
                 "float64": "float", "int64": "int", "sign": "sign"}


# callables that convert their operands to float, then apply their primitive: math.pow(a, b) is
# float(a) ** float(b), a float even for ints (math.pow(10, 20) is 1e+20, 10 ** 20 an int)
FLOAT_OPERANDS = {math.pow}


def resolve_callable(obj):
    """The primitive a Python callable stands for, or None."""
    table = _callables()
    try:
        return table.get(obj)
    except TypeError:  # unhashable
        return None


_CALLABLES = None


def _callables():
    global _CALLABLES
    if _CALLABLES is None:
        t = {abs: "abs", min: "min", max: "max", float: "float", int: "int", bool: "truth",
             len: "len"}
        for name in UNARY_MATH + BINARY_MATH + ["floor", "ceil", "pow"]:  # pow: FLOAT_OPERANDS
            fn = getattr(math, name, None)
            if fn is not None:
                t[fn] = name
        for name in UNARY_MATH + BINARY_MATH:
            fn = getattr(np, name, None)
            if fn is not None and name not in ("erf", "erfc", "fabs"):
                t[fn] = name
        for np_name, prim in NUMPY_ALIASES.items():
            t[getattr(np, np_name)] = prim
        t[np.abs] = "abs"
        from ..custom import stop_gradient
        t[stop_gradient] = "stop_gradient"
        _CALLABLES = t
    return _CALLABLES


def result_type(op, arg_types, args):
    return PRIMITIVES[op].type_rule(arg_types, args)

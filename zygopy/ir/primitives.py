"""The primitive operations of the IR: how each is typed, printed and evaluated in plain Python.

One table, keyed by op name, declares each primitive once with its properties; every set of
primitives elsewhere (elementwise, fusible, promoting, the callables that resolve to one) is
computed from it. The evaluator and constant folding both use `impl`, so the IR has a single
meaning independent of any compiler. How a primitive differentiates lives in
`zygopy.adjoint.rules`, keyed by its name.
"""
from __future__ import annotations

import builtins
import linecache
import math
import operator
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..custom import run_forward, run_pullback
from .types import (
    _RANK,
    BOOL,
    FLOAT,
    INT,
    NONE,
    SLICE,
    ArrayT,
    DtypeT,
    ListT,
    NoneT,
    Scalar,
    SliceT,
    TupleT,
    join,
)


@dataclass(frozen=True)
class Primitive:
    name: str
    impl: Callable
    type_rule: Callable  # (arg types, args) -> result type
    symbol: str | None = None  # infix/prefix operator when printed that way
    pure: bool = True
    elementwise: bool = False  # applies to each element of its array operands, broadcasting them
    view: bool = False  # its array result may share memory with its first operand (NumPy's views)
    writes: bool = False  # it changes a value it is given (an array element, a list)
    call: str | None = None  # the function computing it on numbers, as source: "math.sin", "abs"
    numpy: str | None = None  # NumPy's function for it, on arrays too ("arcsin" for asin)
    arity: int = 1  # operands given positionally, before the keyword parameters `params`
    params: dict = field(default_factory=dict)  # its NumPy function's keywords, with defaults
    positional: int | None = None  # how many of `params` may be given by position (None: all)
    # those of `params` that are run-time operands (np.arange's stop), not compile-time options
    operand_params: tuple = ()
    # rewritten into other primitives once operand types are known (passes/lower.py): it never
    # reaches the adjoint pass or a backend, so it has no rule and no lowering of its own
    lowered: bool = False


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


def of_masks(ts) -> bool:
    """Whether operand types are bool arrays (masks) and bools: NumPy's + and * of them are
    logical (or, and), its - refused; Python's bools alone (numbers) add as ints."""
    return (all(getattr(t, "dtype", None) == "bool" for t in ts)
            and any(isinstance(t, ArrayT) for t in ts))


def _of_masks(op, rule):
    """op's type rule, with masks' arithmetic as NumPy's (of_masks)."""
    def masks(ts, args):
        if of_masks(ts):
            if op in ("sub", "neg"):
                raise TypeError("NumPy does not subtract or negate bool arrays: use ~ for not, "
                                "^ for a difference of masks, or convert with .astype(int)")
            if op in ("add", "mul"):
                return _bool(ts, args)
        return rule(ts, args)
    return masks


def _bitwise(ts, args):
    """& | ^: logical on bools (masks), bitwise on ints, as in NumPy."""
    if any(_number(t).is_float for t in ts):
        raise TypeError("& | ^ take bools or ints, not floats")
    return _bool(ts, args) if all(t.dtype == "bool" for t in ts) else _arith(ts, args)


def _invert_type(ts, args):
    t = _number(ts[0])
    if t == BOOL:  # Python's ~True is -2
        raise TypeError("~ of a bool is an int in Python (~True is -2): write `not b`")
    if t.is_float:
        raise TypeError("~ takes a bool array or ints, not floats")
    return t


def _float_of(ts, args):
    t = broadcast(ts)
    if t.is_float:
        return t
    return ArrayT("float64", t.ndim) if isinstance(t, ArrayT) else Scalar("float64", t.strong)


def _pow_type(ts, args):
    t = _arith(ts, args)
    if t == INT and not (isinstance(args[1], int) and args[1] >= 0):
        return FLOAT  # int ** int is a float in Python whenever the exponent may be negative
    if isinstance(t, ArrayT) and t.dtype == "int64" and type(args[1]) is int and args[1] < 0:
        # refused now as NumPy raises; one known at run time raises there (runtime.zy_int_power)
        raise TypeError("NumPy raises for integers to a negative integer power: make the base "
                        "float (k.astype(float) ** -2, or k ** -2.0)")
    return t


def _pow_impl(a, b):
    return a ** b


def _same(ts, args):
    return _numeric(_number(ts[0]))


def _bool(ts, args):
    t = broadcast(ts) if any(isinstance(t, ArrayT) for t in ts) else None
    return ArrayT("bool", t.ndim) if t is not None else BOOL


def _reciprocal_type(ts, args):
    t = _number(ts[0])
    if not t.is_float:
        raise TypeError(f"np.reciprocal of {t} divides in integers (1 / 2 is 0 there): write "
                        f"1.0 / x for a float")
    return t


def _converted(result):
    """float(x), int(x) and the like: of a number or a 0-d array, as Python allows."""
    def rule(ts, args):
        if isinstance(ts[0], ArrayT) and ts[0].ndim > 0:
            raise TypeError(f"only a number or a 0-d array converts to a number, not a {ts[0]}")
        return result
    return rule


_int = _converted(INT)


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
    if isinstance(base, ListT):
        if not (isinstance(ts[1], Scalar) and ts[1].dtype in ("int64", "bool")):
            raise TypeError(f"a list built at run time can only be indexed by an integer, not "
                            f"{ts[1]}")
        if base.elt is None:
            raise TypeError("indexing a list that is always empty")
        return base.elt
    if isinstance(base, ArrayT):
        idx_types = index_parts(ts[1])
        for t in idx_types:
            if isinstance(t, ArrayT) and t.dtype not in ("int64", "bool"):
                raise TypeError(f"an index array must hold integers (or booleans, a mask), not "
                                f"{t.dtype}: pass the indices as an array of ints")
            if (isinstance(t, Scalar) and t.is_float
                    or not isinstance(t, (Scalar, SliceT, NoneT, ArrayT))):
                raise TypeError(f"an array index must be an integer, a slice, None or an array of "
                                f"integers or booleans, not {t}")
        if any(isinstance(t, ArrayT) for t in idx_types):
            return _advanced_index_type(base, idx_types)
        consumed = sum(1 for t in idx_types if t != NONE)  # an integer or a slice per axis
        if consumed > base.ndim:
            raise TypeError(f"too many indices for a {base.ndim}-d array ({consumed} given)")
        # an integer index drops an axis
        dropped = sum(1 for t in idx_types if isinstance(t, Scalar))
        added = sum(1 for t in idx_types if t == NONE)  # None (np.newaxis) adds one
        ndim = base.ndim - dropped + added
        return Scalar(base.dtype, strong=True) if ndim == 0 else ArrayT(base.dtype, ndim)
    raise TypeError(f"cannot index a value of type {base}")


def index_parts(t):
    """The types of the parts of an index: a[i, j] has two, a[i] one."""
    return t.elts if isinstance(t, TupleT) else (t,)


def has_index_array(t):
    """An index with arrays in it (integer arrays or a boolean mask): NumPy's advanced indexing."""
    return any(isinstance(p, ArrayT) for p in index_parts(t))


def _advanced_index_type(base, parts):
    """NumPy's rule for an index with arrays in it: the index arrays (and integers among them)
    broadcast together, their shape taking the place of the axes they index; a boolean mask of m
    dimensions indexes m axes and stands for one axis of its selected elements."""
    masks = [t for t in parts if isinstance(t, ArrayT) and t.dtype == "bool"]
    consumed = sum(0 if t == NONE else t.ndim if t in masks else 1 for t in parts)
    if consumed > base.ndim:
        raise TypeError(f"too many indices for a {base.ndim}-d array")
    broadcast_rank = max([1] * bool(masks) + [t.ndim for t in parts
                                             if isinstance(t, ArrayT) and t.dtype != "bool"])
    ndim = (sum(1 for t in parts if isinstance(t, (SliceT, NoneT))) + broadcast_rank
            + base.ndim - consumed)
    return Scalar(base.dtype, strong=True) if ndim == 0 else ArrayT(base.dtype, ndim)


def _getattr_type(ts, args):
    base, attr = ts[0], args[1]
    if isinstance(base, ArrayT):
        if attr == "shape":
            return TupleT((INT,) * base.ndim)
        if attr == "dtype":
            return DtypeT(base.dtype)
        if attr in ("size", "ndim"):
            return INT
        if attr == "T":
            return base
    if isinstance(base, Scalar) and attr in ("real",):
        return base
    if isinstance(base, Scalar) and attr == "ndim":  # as a NumPy scalar's: 0 (passes/lower.py)
        return INT
    raise TypeError(f"attribute .{attr} of a value of type {base} is not supported")


def _len_type(ts, args):
    if not isinstance(ts[0], (TupleT, ArrayT, ListT)):
        raise TypeError(f"len() of a value of type {ts[0]} is not supported")
    return INT


def _setindex_type(ts, args):
    if isinstance(ts[0], ListT):
        raise TypeError("assigning to an element of a list is not supported; build a new list "
                        "with append, or write into an array")
    if not isinstance(ts[0], ArrayT):
        raise TypeError(f"cannot assign to an element of a value of type {ts[0]}")
    _getindex_type(ts[:2], args[:2])  # an index it could not read from is refused alike
    return NONE


def _setindex(a, idx, v, saved=None):  # the adjoint pass adds the overwritten value as `saved`
    a[idx] = v


def _add_into(a, idx, v):
    a[idx] += v


def _range_len(start, stop, step):
    return len(range(start, stop, step))


def _sign(x):
    return type(x)(int(x > 0) - int(x < 0))  # int() too: NumPy refuses to subtract its bools


def _select(c, a, b):
    return a if c else b


PRIMITIVES: dict[str, Primitive] = {}


def declare(name, impl, type_rule, symbol=None, **properties):
    """Add a primitive to the table."""
    PRIMITIVES[name] = Primitive(name, impl, type_rule, symbol, **properties)


for _name, _impl, _sym, _np in [("add", operator.add, "+", "add"),
                                ("sub", operator.sub, "-", "subtract"),
                                ("mul", operator.mul, "*", "multiply"),
                                ("floordiv", operator.floordiv, "//", None),
                                ("mod", operator.mod, "%", None)]:
    declare(_name, _impl, _of_masks(_name, _arith), _sym, elementwise=True, numpy=_np, arity=2)
declare("truediv", operator.truediv, _float_of, "/", elementwise=True, numpy="divide", arity=2)
declare("pow", _pow_impl, _pow_type, "**", elementwise=True, numpy="power", arity=2)
for _name, _impl, _sym in [("lt", operator.lt, "<"), ("le", operator.le, "<="),
                           ("gt", operator.gt, ">"), ("ge", operator.ge, ">="),
                           ("eq", operator.eq, "=="), ("ne", operator.ne, "!=")]:
    declare(_name, _impl, _bool, _sym, elementwise=True, arity=2)
declare("neg", operator.neg, _of_masks("neg", _same), "-", elementwise=True, numpy="negative")
for _name, _impl, _sym in [("bitand", operator.and_, "&"), ("bitor", operator.or_, "|"),
                           ("bitxor", operator.xor, "^")]:
    declare(_name, _impl, _bitwise, _sym, elementwise=True, numpy=f"bitwise_{_name[3:]}",
            arity=2)
declare("invert", operator.invert, _invert_type, "~", elementwise=True, numpy="invert")
for _name in ("logical_and", "logical_or", "logical_xor", "logical_not"):
    declare(_name, getattr(np, _name), _bool, elementwise=True, call=f"np.{_name}",
            numpy=_name, arity=1 + (_name != "logical_not"))
declare("pos", operator.pos, _same, "+", elementwise=True)
declare("not", operator.not_, _bool, "not ")
declare("truth", bool, _bool, call="bool")
TRUTH_VALUED = frozenset(n for n, p in PRIMITIVES.items() if p.type_rule is _bool)
declare("abs", abs, _same, elementwise=True, call="abs", numpy="abs")
declare("sign", _sign, _same, elementwise=True, call="np.sign", numpy="sign")
declare("min", min, _arith, elementwise=True, call="min", numpy="minimum", arity=2)
declare("max", max, _arith, elementwise=True, call="max", numpy="maximum", arity=2)
declare("select", _select, lambda ts, args: (broadcast(ts) if any(isinstance(t, ArrayT) for t in ts)
                                             else join(ts[1], ts[2])),
        elementwise=True, numpy="where", arity=3)
declare("float", float, _converted(FLOAT), call="float", numpy="float64")
declare("int", int, _int, call="int", numpy="int64")
declare("floor", math.floor, _int, call="math.floor")
declare("ceil", math.ceil, _int, call="math.ceil")
declare("len", len, _len_type, call="len")
declare("range_len", _range_len, _int)
declare("tuple", lambda *xs: tuple(xs), _tuple_type)
declare("getindex", lambda a, i: a[i], _getindex_type, view=True)
# a[index] with arrays in the index (passes/indexing.py makes it from getindex once types are
# known): a new array, not a view
declare("gather", lambda a, i: a[i], _getindex_type)
declare("setindex", _setindex, _setindex_type, pure=False, writes=True)
# a kernel body's `out[idx] += v` (adjoint/kernel_body.py): one thread's addition into an output
# that other threads may add into too
declare("kernel_add", _add_into, _setindex_type, pure=False, writes=True)
declare("getattr", getattr, _getattr_type)


def _augment(old, new):
    if isinstance(old, np.ndarray):
        old[...] = new
        return old
    return new


# `x op= v`: a new value for a number, but NumPy's in-place update for an array, which every alias
# sees; which one is known only once types are (passes/augment.py then rewrites it)
declare("augment", _augment, lambda ts, args: ts[0] if isinstance(ts[0], ArrayT) else ts[1],
        pure=False, writes=True)
def _slice_type(ts, args):
    for t in ts:
        if t not in (INT, BOOL, NONE):
            raise TypeError(f"a slice bound must be an integer or None, got {t}; write int(...) "
                            f"around it")
    return SLICE


declare("slice", slice, _slice_type, call="slice")  # only ever an index operand

# user-defined rules (zygopy.custom): the rule object is the first operand
def _custom_type(ts, args):
    from ..custom import specialize
    return specialize(args[0], ts[1:]).result_type


def _custom_grad_type(ts, args):
    from ..custom import specialize
    return TupleT(tuple(specialize(args[0], ts[3:]).gradient_types))


# run as Python, what a tangent rule or a pullback returns checked as compiled code checks it
declare("custom", run_forward, _custom_type)
declare("custom_grad", run_pullback, _custom_grad_type)
declare("stop_gradient", lambda x: x, lambda ts, args: ts[0])

# compilation units (zygopy/units.py): the unit, specialised once typed, is the first operand;
# unit_forward returns the value and the tape, which unit_pullback takes with the value's gradient
declare("unit", lambda spec, *xs: spec.evaluate(*xs),
        lambda ts, args: args[0].specialize(ts[1:]).result_type, pure=False)
declare("unit_forward", lambda spec, *xs: spec.forward(*xs),
        lambda ts, args: args[0].forward_type, pure=False)
declare("unit_pullback", lambda spec, tape, g: spec.pullback(tape, g),
        lambda ts, args: args[0].pullback_type)


# zygopy.gradient(g, *args) called in compiled code; the function g is the first operand
def _nested_gradient(g, *args):
    from ..api import gradient
    return gradient(g, *args)


def _nested_jvp(g, n, *args):
    from ..api import jvp
    return jvp(g, args[:n], args[n:])


def _nested_jvp_type(ts, args):
    """(g's result, its tangent): g compiled for the primal types, for its result's type."""
    from .compile import compile_ir
    from .infer import type_of_arg
    g, n = args[0], args[1]
    inner = compile_ir(g, list(ts[2:2 + n]))
    t = type_of_arg(next(br.args[0] for b in inner.blocks for br in b.branches if br.is_return))
    return TupleT((t, t))


declare("nested_jvp", _nested_jvp, _nested_jvp_type, lowered=True)  # (g, n, *primals, *tangents)
# `x is None` of a run-time value: None only where its type says (a nested gradient's part for an
# int argument); decided by type inference, and lowered to the constant
declare("isnone", lambda x: x is None, lambda ts, args: BOOL, lowered=True)
declare("nested_gradient", _nested_gradient,
        lambda ts, args: TupleT(tuple(t if getattr(t, "is_float", False) else NONE
                                     for t in ts[1:])), lowered=True)


@dataclass(frozen=True)
class Raise:
    """`raise cls(...)` in the user's code; the statement's other operands are the values its
    arguments format. Each argument: ("constant", value), ("format", template, n) for an f-string
    of n values, or ("value",) for a value as it is."""
    cls: type
    arguments: tuple
    filename: str
    line: int

    def exception(self, values):
        """The exception, with a note naming the user's line."""
        values, args = list(values), []
        for kind, *rest in self.arguments:
            if kind == "constant":
                args.append(rest[0])
            elif kind == "format":
                template, n = rest
                args.append(template.format(*values[:n]))
                del values[:n]
            else:
                args.append(values.pop(0))
        e = self.cls(*args)
        source = linecache.getline(self.filename, self.line).strip()
        e.add_note(f'  File "{self.filename}", line {self.line}, in the function zygopy '
                   "differentiated" + (f"\n    {source}" if source else ""))
        return e

    def __repr__(self):
        shown = [repr(a[1]) if a[0] == "constant" else "f" + repr(a[1]) if a[0] == "format"
                 else "{}" for a in self.arguments]
        return f"{self.cls.__name__}({', '.join(shown)})"


def _raise(spec, *values):
    raise spec.exception(values)


# raises the user's exception; kept for that effect, it writes nothing (passes/cse.py)
declare("raise", _raise, lambda ts, args: NONE, pure=False)

# the adjoint IR's own operations: gradient slots and typed stacks
# read a gradient slot and reset it to zero
declare("take", None, lambda ts, args: args[0].type, pure=False)
declare("load", None, lambda ts, args: args[0].type, pure=False)  # read a gradient slot
declare("accum", None, lambda ts, args: NONE, pure=False)  # slot += value
declare("push", None, lambda ts, args: NONE, pure=False)  # push(stack type, value)
# pop(stack type), and peek (the top, left in place): a value of the type the stack holds (a
# tagged stack's kind is not that type)
def _held(ts, args):
    kind = args[0]
    if isinstance(kind, Scalar):
        return Scalar(kind.dtype, kind.strong)
    return ArrayT(kind.dtype, kind.ndim) if isinstance(kind, ArrayT) else kind


declare("pop", None, _held, pure=False)
# room for n * per_trip pushes, filled by push_at: reserve(stack type, n, per_trip) -> base
declare("reserve", None, lambda ts, args: INT, pure=False)
declare("push_at", None, lambda ts, args: NONE, pure=False)  # push_at(stack type, place, value)
declare("accum_at", None, lambda ts, args: NONE, pure=False)  # slot[index] += value
# slot[index], reset to zero (take_at) or left (load_at)
for _name in ("take_at", "load_at"):
    declare(_name, None, lambda ts, args: _getindex_type([args[0].type, ts[1]], [None, args[1]]),
            pure=False)
declare("peek", None, _held, pure=False)
declare("drop", None, lambda ts, args: NONE, pure=False)  # pop and forget (one, or a count)
declare("store", None, lambda ts, args: NONE, pure=False)  # slot = value
declare("init", None, lambda ts, args: NONE, pure=False)  # an array slot = zeros shaped like one
# a lazy array slot = zeros shaped like a value, unless it holds an array already
declare("ensure", None, lambda ts, args: NONE, pure=False)

# float -> float functions of the math module: name, NumPy's name (None: NumPy has none), arity
_MATH = [("sin", "sin", 1), ("cos", "cos", 1), ("tan", "tan", 1), ("asin", "arcsin", 1),
         ("acos", "arccos", 1), ("atan", "arctan", 1), ("sinh", "sinh", 1), ("cosh", "cosh", 1),
         ("tanh", "tanh", 1), ("asinh", "arcsinh", 1), ("acosh", "arccosh", 1),
         ("atanh", "arctanh", 1), ("exp", "exp", 1), ("expm1", "expm1", 1), ("log", "log", 1),
         ("log1p", "log1p", 1), ("log2", "log2", 1), ("log10", "log10", 1), ("sqrt", "sqrt", 1),
         ("erf", None, 1), ("erfc", None, 1), ("fabs", "abs", 1), ("atan2", "arctan2", 2),
         ("hypot", "hypot", 2), ("copysign", "copysign", 2), ("fmod", "fmod", 2)]


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
for _name, _np, _arity in _MATH:
    _array_fn = _ARRAY_MATH.get(_name) or getattr(np, _np)
    declare(_name, _elementwise(getattr(math, _name), _array_fn), _float_of, elementwise=True,
            call=f"math.{_name}", numpy=_np, arity=_arity)
# tests of a float: no gradient (a bool), as a comparison
for _name in ("isnan", "isinf", "isfinite"):
    declare(_name, _elementwise(getattr(math, _name), getattr(np, _name), float32=False), _bool,
            elementwise=True, call=f"math.{_name}", numpy=_name)
# NumPy's elementwise functions that the math module lacks
declare("square", _elementwise(lambda x: x * x, np.square), _arith, elementwise=True,
        call="np.square", numpy="square")
declare("logaddexp", _elementwise(lambda a, b: float(np.logaddexp(a, b)), np.logaddexp),
        _float_of, elementwise=True, call="np.logaddexp", numpy="logaddexp", arity=2)
# written with other primitives (passes/lower.py), as NumPy and the math module compute them:
# 2 ** x, 1 / x, x * (pi / 180), x * (180 / pi)
declare("exp2", _elementwise(lambda x: 2.0 ** x, np.exp2), _float_of, numpy="exp2", lowered=True)
declare("reciprocal", _elementwise(lambda x: 1.0 / x, np.reciprocal), _reciprocal_type,
        numpy="reciprocal", lowered=True)
declare("deg2rad", _elementwise(math.radians, np.deg2rad), _float_of, call="math.radians",
        numpy="deg2rad", lowered=True)
declare("rad2deg", _elementwise(math.degrees, np.rad2deg), _float_of, call="math.degrees",
        numpy="rad2deg", lowered=True)
for _name in ("min", "max", "select", "sign"):  # Python's own cannot take arrays
    _prim = PRIMITIVES[_name]
    # `a if c else b` is one of its operands, unpromoted
    PRIMITIVES[_name] = replace(_prim, impl=_elementwise(_prim.impl, getattr(np, _prim.numpy),
                                                         _name != "select"))

# callables that convert their operands to float, then apply their primitive: math.pow(a, b) is
# float(a) ** float(b), a float even for ints (math.pow(10, 20) is 1e+20, 10 ** 20 an int)
FLOAT_OPERANDS = {math.pow: "pow"}


def resolve_callable(obj):
    """The primitive a Python callable stands for, or None."""
    table = _callables()
    try:
        return table.get(obj)
    except TypeError:  # unhashable
        return None


_CALLABLES = None


def _callables():
    """Each primitive's Python and NumPy functions -> its name; where two primitives share a
    NumPy function (np.abs: abs and fabs), the first declared."""
    global _CALLABLES
    if _CALLABLES is None:
        from ..custom import stop_gradient
        t = {**FLOAT_OPERANDS, stop_gradient: "stop_gradient", builtins.pow: "pow"}
        for p in PRIMITIVES.values():
            if p.call is not None and p.name != "slice":  # slice: only from a[i:j]
                module, _, fn = p.call.rpartition(".")
                t.setdefault(getattr({"": builtins, "math": math, "np": np}[module], fn), p.name)
            if p.numpy is not None:
                t.setdefault(getattr(np, p.numpy), p.name)
        _CALLABLES = t
    return _CALLABLES


def result_type(op, arg_types, args):
    return PRIMITIVES[op].type_rule(arg_types, args)

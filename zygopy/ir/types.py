"""A small type lattice: bool < int64 < float64 for scalars, tuples of types, and arrays.

Types print the way the IR shows them (`float64`, `(int64, float64)`, `array(float64, 2d)`).
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Scalar:
    dtype: str  # 'bool', 'int64', 'float64', 'float32'
    # a NumPy scalar (an element or a sum of a float64 array), which promotes like an array of
    # its dtype, rather than a Python number, which takes the dtype of the arrays it meets
    # (NEP 50); float32 scalars are NumPy's whatever this says. It changes only how operations
    # promote, so it takes no part in equality
    strong: bool = field(default=False, compare=False)

    def __str__(self):
        return self.dtype

    @property
    def is_float(self):
        return self.dtype.startswith("float")


@dataclass(frozen=True)
class TupleT:
    elts: tuple

    def __str__(self):
        inner = ", ".join(map(str, self.elts))
        return f"({inner},)" if len(self.elts) == 1 else f"({inner})"


@dataclass(frozen=True)
class ArrayT:
    dtype: str
    ndim: int

    def __str__(self):
        return f"array({self.dtype}, {self.ndim}d)"

    @property
    def is_float(self):
        return self.dtype.startswith("float")


@dataclass(frozen=True)
class ListT:
    """A list built at run time (`hs = []`, `hs.append(h)`): its length is a run-time value, its
    elements are of one type; `elt` is None while no element is known (an empty list)."""
    elt: object = None

    def __str__(self):
        return f"list({self.elt if self.elt is not None else '?'})"

    __repr__ = __str__  # as an operand (`empty_list(list(float64))`), printed as a type


@dataclass(frozen=True)
class AbsentT:
    """The type of the placeholder for the first item of a sum/max/min being built in a loop: it
    takes the type of the items (`join`) and is replaced once that is known (passes/lists.py)."""

    def __str__(self):
        return "absent"


@dataclass(frozen=True)
class DtypeT:
    """An array's `.dtype`, known once types are: operands of this type act as the dtype's name
    written in the code (np.zeros(n, x.dtype) as np.zeros(n, np.float32))."""
    dtype: str

    def __str__(self):
        return f"dtype({self.dtype})"


@dataclass(frozen=True)
class NoneT:
    def __str__(self):
        return "none"


@dataclass(frozen=True)
class SliceT:
    def __str__(self):
        return "slice"


BOOL, INT, FLOAT, FLOAT32, NONE = (Scalar("bool"), Scalar("int64"), Scalar("float64"),
                                   Scalar("float32"), NoneT())
SLICE = SliceT()
_RANK = {"bool": 0, "int64": 1, "float32": 2, "float64": 3}


def is_float(t) -> bool:
    """Values of this type can carry a gradient."""
    if isinstance(t, ListT):
        return t.elt is not None and t.elt.is_float
    return isinstance(t, (Scalar, ArrayT)) and t.is_float


def join(a, b):
    """The least type holding both (what Numba unifies two assignments to)."""
    if a is None:
        return b
    if b is None or a == b and strengths(a) == strengths(b):
        return a
    if isinstance(a, AbsentT) or isinstance(b, AbsentT):
        return b if isinstance(a, AbsentT) else a
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return Scalar(max(a.dtype, b.dtype, key=_RANK.get), a.strong or b.strong)
    if isinstance(a, TupleT) and isinstance(b, TupleT) and len(a.elts) == len(b.elts):
        return TupleT(tuple(join(x, y) for x, y in zip(a.elts, b.elts, strict=True)))
    if isinstance(a, ArrayT) and isinstance(b, ArrayT) and a.ndim == b.ndim:
        return ArrayT(join(Scalar(a.dtype), Scalar(b.dtype)).dtype, a.ndim)
    if isinstance(a, ListT) and isinstance(b, ListT):
        return ListT(list_element(a.elt, b.elt))
    raise TypeError(f"cannot unify {a} and {b}")


def list_element(a, b):
    """The element type of a list holding values of types a and b (None: not known yet). A list
    built at run time holds numbers, or arrays of one dtype and rank."""
    if a is None or b is None or a == b:
        return b if a is None else a
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return join(a, b)
    raise TypeError(f"a list holds values of one type, not {a} and {b}")


def operand_key(value):
    """Equal exactly when two IR operands are the same value. Numbers and strings: type and exact
    value (1, 1.0 and True differ, so do 0.0 and -0.0); tuples and slices: their parts; anything
    else (a variable, a custom rule): identity, as two such objects may print alike yet differ."""
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return type(value).__name__, repr(value)
    if isinstance(value, tuple):
        return "tuple", tuple(operand_key(v) for v in value)
    if isinstance(value, slice):
        return "slice", operand_key((value.start, value.stop, value.step))
    if isinstance(value, dict):  # by its entries: a dict changes in place (a function's
        return "dict", tuple((k, operand_key(v)) for k, v in value.items())  # __kwdefaults__)
    if isinstance(value, (types.MethodType, types.BuiltinMethodType)) and \
            not isinstance(value.__self__, types.ModuleType):
        # a bound method is made anew at each read: the same one binds the same function
        return "method", id(value.__self__), getattr(value, "__func__", value.__name__)
    return "object", id(value)


def strengths(t):
    """Which scalars in a type are strong (`Scalar.strong`), which equality does not compare."""
    if isinstance(t, TupleT):
        return tuple(strengths(e) for e in t.elts)
    return isinstance(t, Scalar) and t.strong


_ARRAY_TYPES: dict = {}  # (dtype, ndim) -> ArrayT or None: str(dtype) costs microseconds


def fits_int64(n) -> bool:
    """Whether an int is one the IR's int64 holds (Python's ints are unbounded)."""
    return -2 ** 63 <= n < 2 ** 63


def typeof(value):
    """The IR type of a Python value, or None when zygopy does not handle it."""
    if isinstance(value, np.ndarray):  # first: the common leaf of a model's parameters
        if type(value) is not np.ndarray and not isinstance(value, np.memmap):
            return None  # np.matrix's * is a matrix product, a masked array skips elements
        key = value.dtype, value.ndim
        t = _ARRAY_TYPES.get(key, False)
        if t is False:
            # ints compute as int64 (widened on entry); uint64 does not fit
            kind = {"b": "bool", "i": "int64", "u": "int64"}.get(value.dtype.kind,
                                                                str(value.dtype))
            kind = None if value.dtype == np.uint64 else kind
            t = _ARRAY_TYPES[key] = ArrayT(kind, value.ndim) if kind in _RANK else None
        return t
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    # a NumPy scalar promotes as its dtype does, a Python number takes the arrays' (NEP 50)
    if isinstance(value, (int, np.integer)):  # compiled as int64, which must hold it
        return Scalar("int64", isinstance(value, np.integer)) if fits_int64(value) else None
    if isinstance(value, np.float32):
        return FLOAT32
    if isinstance(value, float):  # np.float64 too; not float16 nor longdouble
        return Scalar("float64", isinstance(value, np.float64))
    if value is None:
        return NONE
    if isinstance(value, slice):
        return SLICE
    if isinstance(value, tuple):
        elts = tuple(typeof(v) for v in value)
        return None if None in elts else TupleT(elts)
    return None

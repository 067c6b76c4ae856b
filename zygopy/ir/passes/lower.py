"""NumPy functions rewritten into simpler primitives once operand ranks are known, so that their
gradients follow from those primitives' rules and they compile to what Numba has.

np.einsum (and np.dot, np.inner, matmul of a vector with a stack, which are einsums) becomes
transposes, reshapes, matrix products and sums: each pair of operands is contracted by one
matrix product (BLAS), batched over the dimensions both keep, or by a broadcast product where
they share no summed dimension. np.linalg.norm becomes sums, absolute values and square roots;
np.linalg.slogdet a tuple of its sign and log|det|. np.diff, np.roll, np.ptp, np.average,
np.vdot, np.vstack, np.hstack, np.exp2, np.reciprocal and the conversions between degrees and
radians become the slices, sums and arithmetic NumPy computes them with; np.sort and np.median
take the array along an axis at the indices np.argsort gives; np.concatenate with axis=None
joins the arrays flattened.
"""
from __future__ import annotations

import math

import numpy as np

from .. import array_primitives  # noqa: F401  (declares the primitives lowered here)
from ..array_primitives import normal_axes
from ..einsum import LETTERS, parse
from ..ir import Function, Stmt, Var, substitute
from ..primitives import PRIMITIVES, of_masks
from ..types import BOOL, NONE, ArrayT


def lower_compound(fn: Function) -> bool:
    """Rewrite every statement of a `lowered` primitive (and matmul of a vector with a stack of
    matrices); operand types must be known. Returns whether anything changed."""
    mapping = {}
    for b in fn.blocks:
        stmts = []
        for s in b.stmts:
            lowering = LOWERINGS.get(s.op)
            emit = Emitter(fn, s.line)
            result = lowering(emit, *s.args) if lowering is not None else None
            if result is None:
                stmts.append(s)
                continue
            stmts += emit.stmts
            mapping[s.var] = result
        b.stmts = stmts
    if mapping:
        substitute(fn, mapping)
    return bool(mapping)


class Emitter:
    """Appends statements at the line of the statement they replace; returns their values."""

    def __init__(self, fn, line):
        self.fn, self.line, self.stmts = fn, line, []

    def __call__(self, op, *args):
        var = self.fn.new_var()
        self.stmts.append(Stmt(var, op, list(args), self.line))
        return var


def _ndim(v):
    return getattr(v.type, "ndim", 0)


# ---- einsum -----------------------------------------------------------------------------------

class Contraction:
    """The einsum lowering of one statement: operands as (value, letters), and each letter's
    size read, when a reshape needs it, from the first operand that has it."""

    def __init__(self, emit, operands, inputs):
        self.emit = emit
        self.where = {}  # letter -> (operand, axis)
        self.shapes, self.sizes = {}, {}
        for x, letters in zip(operands, inputs, strict=True):
            for axis, letter in enumerate(letters):
                self.where.setdefault(letter, (x, axis))

    def size(self, letter):
        if letter not in self.sizes:
            x, axis = self.where[letter]
            if x not in self.shapes:
                self.shapes[x] = self.emit("getattr", x, "shape")
            self.sizes[letter] = self.emit("getindex", self.shapes[x], axis)
        return self.sizes[letter]

    def product(self, letters):
        """The number of elements of dimensions `letters`, an int value."""
        out = 1
        for letter in letters:
            out = self.size(letter) if out == 1 else self.emit("mul", out, self.size(letter))
        return out

    def reshape(self, x, dims):
        """x reshaped; `dims` holds letters (their sizes) and products of letters (tuples)."""
        sizes = [self.product(d) if isinstance(d, tuple) else
                 1 if d == 1 else self.size(d) for d in dims]
        return self.emit("reshape", x, self.emit("tuple", *sizes))

    def permute(self, x, letters, order):
        """x with its dimensions (named `letters`) in the order `order`."""
        if letters == order:
            return x
        axes = tuple(letters.index(letter) for letter in order)
        return self.emit("transpose", x, None if axes == tuple(range(len(axes)))[::-1] else axes)

    def diagonal(self, x, letters):
        """Repeated letters in one operand ('ii'): only the diagonal counts. The two dimensions
        go first and are merged; every (n + 1)-th row of the merge is the diagonal."""
        while len(set(letters)) < len(letters):
            letter = next(c for c in letters if letters.count(c) > 1)
            first = letters.index(letter)
            second = letters.index(letter, first + 1)
            rest = "".join(c for k, c in enumerate(letters) if k not in (first, second))
            x = self.permute(x, letters, letter + letter + rest)
            x = self.reshape(x, [(letter, letter), *rest])
            step = self.emit("add", self.size(letter), 1)
            x = self.emit("getindex", x, self.emit("slice", None, None, step))
            letters = letter + rest
        return x, letters

    def sum_out(self, x, letters, keep):
        """x summed over the dimensions whose letters are not in `keep`."""
        gone = tuple(k for k, c in enumerate(letters) if c not in keep)
        if gone:
            axis = None if len(gone) == len(letters) else gone[0] if len(gone) == 1 else gone
            x = self.emit("sum", x, axis, False)
        return x, "".join(c for c in letters if c in keep)

    def matrix(self, x, letters, rows, cols, batch):
        """x as (batch..., rows, cols) with rows and cols merged; without batch dimensions a
        vector where there are no rows or no columns, as matmul takes it."""
        x = self.permute(x, letters, batch + rows + cols)
        if not batch and (not rows or not cols):
            return x if len(rows + cols) == 1 else self.reshape(x, [tuple(rows + cols)])
        if len(rows) == 1 and len(cols) == 1:
            return x
        return self.reshape(x, [*batch, tuple(rows), tuple(cols)])

    def pair(self, a, b, keep):
        """Contract the operands a and b, (value, letters) each, keeping the letters in `keep`."""
        (x, xl), (y, yl) = a, b
        x, xl = self.sum_out(x, xl, keep | set(yl))
        y, yl = self.sum_out(y, yl, keep | set(xl))
        batch = "".join(c for c in xl if c in yl and c in keep)
        summed = "".join(c for c in xl if c in yl and c not in keep)
        free_x = "".join(c for c in xl if c not in yl)
        free_y = "".join(c for c in yl if c not in xl)
        out = batch + free_x + free_y
        if not summed:  # a broadcast product: x's free dimensions before y's
            x = self.permute(x, xl, batch + free_x)
            if free_y and (batch or free_x):
                x = self.reshape(x, [*batch, *free_x, *[1] * len(free_y)])
            y = self.permute(y, yl, batch + free_y)
            if batch and free_x:
                y = self.reshape(y, [*batch, *[1] * len(free_x), *free_y])
            return self.emit("mul", x, y), out
        z = self.emit("matmul", self.matrix(x, xl, free_x, summed, batch),
                      self.matrix(y, yl, summed, free_y, batch))
        if len(free_x) > 1 or len(free_y) > 1 or (batch and not (free_x and free_y)):
            z = self.reshape(z, list(out))
        return z, out


def einsum(emit, subscripts, *operands):
    inputs, output = parse(subscripts, [_ndim(x) for x in operands])
    c = Contraction(emit, operands, inputs)
    terms = [c.diagonal(x, letters) for x, letters in zip(operands, inputs, strict=True)]
    x, letters = terms[0]
    for k in range(1, len(terms)):
        keep = set(output).union(*[t[1] for t in terms[k + 1:]])
        x, letters = c.pair((x, letters), terms[k], keep)
    x, letters = c.sum_out(x, letters, set(output))
    return c.permute(x, letters, output)


def _letters(n, skip=""):
    return "".join(c for c in LETTERS if c not in skip)[:n]


def dot(emit, a, b):
    """np.dot: a matrix product up to 2-d; beyond, a sum over a's last and b's second-to-last
    dimension."""
    if _ndim(a) <= 2 and _ndim(b) <= 2:
        return emit("matmul", a, b)
    xs = _letters(_ndim(a) - 1) + "z"
    ys = _letters(_ndim(b), skip=xs)
    ys = ys[:-2] + "z" + ys[-1] if len(ys) > 1 else "z"
    return einsum(emit, f"{xs},{ys}->{xs[:-1]}{ys.replace('z', '')}", a, b)


def inner(emit, a, b):
    """np.inner: a sum over the last dimension of both."""
    xs = _letters(_ndim(a) - 1) + "z"
    ys = _letters(_ndim(b) - 1, skip=xs) + "z"
    return einsum(emit, f"{xs},{ys}->{xs[:-1]}{ys[:-1]}", a, b)


def matmul(emit, a, b):
    """A vector with a stack of matrices (NumPy's matmul takes it as a row or a column): an
    einsum. Other matrix products stay as they are."""
    if not (_ndim(a) == 1 and _ndim(b) > 2 or _ndim(b) == 1 and _ndim(a) > 2):
        return None
    if _ndim(a) == 1:
        ys = _letters(_ndim(b) - 2) + "zy"
        return einsum(emit, f"z,{ys}->{ys[:-2]}y", a, b)
    xs = _letters(_ndim(a) - 2) + "yz"
    return einsum(emit, f"{xs},z->{xs[:-1]}", a, b)


# ---- norms and determinants -------------------------------------------------------------------

def norm(emit, x, ord_, axis, keepdims):
    """np.linalg.norm as reductions (its type rule has refused what is not one)."""
    if not x.type.is_float:
        x = emit("astype", x, "float64")
    if axis is None and _ndim(x) == 2 and ord_ not in (None, "fro"):  # a matrix norm
        along = 0 if abs(ord_) == 1 else 1  # 1: the largest column sum; inf: row sum
        sums = emit("sum", emit("abs", x), along, keepdims)
        return emit("amax" if ord_ > 0 else "amin", sums, None, keepdims)
    if ord_ in (None, 2, "fro"):
        return emit("sqrt", emit("sum", emit("mul", x, x), axis, keepdims))
    size = emit("abs", x)
    if ord_ in (np.inf, -np.inf):
        return emit("amax" if ord_ > 0 else "amin", size, axis, keepdims)
    if ord_ == 1:
        return emit("sum", size, axis, keepdims)
    return emit("pow", emit("sum", emit("pow", size, float(ord_)), axis, keepdims), 1.0 / ord_)


def slogdet(emit, a):
    return emit("tuple", emit("slogdet_sign", a), emit("logabsdet", a))


def ndim(emit, x):
    """np.ndim(x): an array's ndim attribute, 0 for a number (whose `.ndim` becomes 0 too). An
    array's stays a run-time value: type inference decides the branches on it, except a shape
    check whose every path raises, which must raise at run time, not be refused."""
    if isinstance(getattr(x, "type", None), ArrayT):
        return emit("getattr", x, "ndim")
    return 0


def of_a_number(op):
    """A reduction of a number (np.sum(3.0), as NumPy allows): the number itself, as a float for
    a mean, 0 for a variance or an index of the extremum; arrays are left as they are."""
    def lower(emit, a, *options):
        if not isinstance(a, Var) or isinstance(a.type, ArrayT):
            return None
        if op in ("var", "std"):
            return 0.0
        if op in ("argmax", "argmin"):
            return 0
        if op == "mean":
            return emit("float", a)
        return emit("int", a) if a.type == BOOL else a  # NumPy counts a bool as an int
    return lower


def logical(op):
    """+ and * of masks (primitives.of_masks): NumPy's logical or and and."""
    def lower(emit, a, b):
        return emit(op, a, b) if of_masks([getattr(v, "type", None) for v in (a, b)]) else None
    return lower


def isnone(emit, x):
    return getattr(x, "type", None) == NONE


def asarray(emit, x, axis):
    """np.asarray of an array is that array (no copy: a write through it is a write into it)."""
    return x if isinstance(getattr(x, "type", None), ArrayT) else emit("list_stack", x, axis)


def list_stack(emit, x, axis):
    """np.array of an array is a copy of it (which forward mode differentiates too)."""
    return emit("copy", x) if isinstance(getattr(x, "type", None), ArrayT) else None


def getattr_(emit, x, attr):
    return 0 if attr == "ndim" and not isinstance(getattr(x, "type", None), ArrayT) else None


# ---- NumPy functions written with other primitives, as NumPy computes them ---------------------

def _along(emit, axis, index):
    """The index taking `index` (a constant or a run-time slice or int) along `axis` and
    everything along the axes before it."""
    if axis == 0:
        return index
    whole = (slice(None),) * axis
    return emit("tuple", *whole, index) if isinstance(index, Var) else (*whole, index)


def diff(emit, a, n, axis):
    """np.diff: a[1:] - a[:-1] along the axis, n times (`!=` of booleans, as NumPy)."""
    axis = normal_axes(axis, _ndim(a), "np.diff")[0]
    op = "ne" if a.type.dtype == "bool" else "sub"
    for _ in range(n):
        a = emit(op, emit("getindex", a, _along(emit, axis, slice(1, None))),
                 emit("getindex", a, _along(emit, axis, slice(None, -1))))
    return a


def roll(emit, a, shift, axis):
    """np.roll: the elements from n - shift % n on, then those before (of the flattened array for
    axis=None); an empty axis stays as it is."""
    if axis is None:
        flat = _roll_along(emit, emit("ravel", a), shift, 0)
        return emit("reshape", flat, emit("getattr", a, "shape"))
    return _roll_along(emit, a, shift, normal_axes(axis, _ndim(a), "np.roll")[0])


def _roll_along(emit, a, shift, axis):
    n = emit("getindex", emit("getattr", a, "shape"), axis)
    cut = emit("sub", n, emit("mod", shift, emit("max", n, 1)))
    parts = [emit("slice", cut, None, None), emit("slice", None, cut, None)]
    return emit("concatenate", *(emit("getindex", a, _along(emit, axis, p)) for p in parts), axis)


def sort(emit, a, axis, kind):
    """np.sort: the array taken along the axis at the indices that sort it (so the gradient goes
    back to where each element came from)."""
    if axis is None:
        a, axis = emit("ravel", a), 0
    return emit("take_along_axis", a, emit("argsort", a, axis, kind), axis)


def _order_statistics(emit, a, axis, keepdims, what):
    """a sorted along the axis (the flattened array for None) -> (at, n, done): `at(i)` the
    sorted elements at index i along the axis (a slice one long where keepdims keeps the axis),
    `n` their count, `done(value)` the value as NumPy gives it: NaN where the elements hold a NaN
    (which sorts last), and of the flattened array with keepdims shaped with ones."""
    ndim, flat = _ndim(a), axis is None
    if flat:
        s, axis = emit("ravel", a), 0
    else:
        s, axis = a, normal_axes(axis, ndim, what)[0]
    s = sort(emit, s, axis, None)
    n = emit("getindex", emit("getattr", s, "shape"), axis)

    def at(i):
        if keepdims:
            i = emit("slice", i, emit("add", i, 1), None)
        return emit("getindex", s, _along(emit, axis, i))

    def done(value):
        last = at(emit("sub", n, 1))
        value = emit("select", emit("ne", last, last), last, value)
        if keepdims and flat and ndim != 1:
            value = emit("reshape", value, (1,) * ndim)
        return value
    return at, n, done


def median(emit, a, axis, keepdims):
    """np.median: the mean of the middle two of the sorted elements (of the one, for an odd
    count)."""
    at, n, done = _order_statistics(emit, a, axis, keepdims, "np.median")
    low, high = at(emit("floordiv", emit("sub", n, 1), 2)), at(emit("floordiv", n, 2))
    # halves added, not a halved sum: the same for floats, and ints do not overflow
    return done(emit("add", emit("mul", 0.5, low), emit("mul", 0.5, high)))


def quantile(emit, a, q, axis, keepdims):
    """np.quantile, by NumPy's default ('linear') method: at the virtual index q (n - 1) of the
    sorted elements, between the two around it by its fraction t, as NumPy interpolates (from
    the nearer one: a + (b - a) t below t = 0.5, b - (b - a)(1 - t) from there)."""
    at, n, done = _order_statistics(emit, a, axis, keepdims, "np.quantile")
    index = emit("mul", q, emit("sub", n, 1))
    low_index = emit("floor", index)
    low = at(low_index)
    high = at(emit("min", emit("add", low_index, 1), emit("sub", n, 1)))
    t = emit("sub", index, low_index)
    step = emit("sub", high, low)
    value = emit("select", emit("ge", t, 0.5), emit("sub", high, emit("mul", step,
                                                                      emit("sub", 1.0, t))),
                 emit("add", low, emit("mul", step, t)))
    return done(value)


def percentile(emit, a, q, axis, keepdims):
    return quantile(emit, a, q / 100.0, axis, keepdims)  # as NumPy: q / 100, then quantile


def ptp(emit, a, axis, keepdims):
    return emit("sub", emit("amax", a, axis, keepdims), emit("amin", a, axis, keepdims))


def average(emit, a, axis, weights, returned, keepdims):
    """np.average: the mean, or sum(a * w) / sum(w) along the axis; weights of one dimension lie
    along the axis."""
    if not isinstance(weights, Var):
        return emit("mean", a, axis, keepdims)
    if _ndim(weights) != _ndim(a):
        axis = normal_axes(axis, _ndim(a), "np.average")[0]
        others = tuple(k for k in range(_ndim(a)) if k != axis)
        weights = emit("expand_dims", weights, others)
    return emit("truediv", emit("sum", emit("mul", a, weights), axis, keepdims),
                emit("sum", weights, axis, keepdims))


def vdot(emit, a, b):
    return emit("matmul", emit("ravel", a), emit("ravel", b))


def vstack(emit, *arrays):
    rows = [emit("expand_dims", x, 0) if _ndim(x) == 1 else x for x in arrays]
    return emit("concatenate", *rows, 0)


def concatenate(emit, *arrays_and_axis):
    *arrays, axis = arrays_and_axis
    if axis is None:  # NumPy's axis=None: the arrays flattened, then joined
        return emit("concatenate", *(emit("ravel", a) for a in arrays), 0)
    return None


def hstack(emit, *arrays):
    return emit("concatenate", *arrays, 0 if _ndim(arrays[0]) == 1 else 1)


ELEMENTWISE = {"exp2": lambda emit, x: emit("pow", 2.0, x),
               "reciprocal": lambda emit, x: emit("truediv", 1.0, x),
               "deg2rad": lambda emit, x: emit("mul", x, math.pi / 180.0),
               "rad2deg": lambda emit, x: emit("mul", x, 180.0 / math.pi)}


def nested_gradient(emit, g, *args):
    """Done before this pass, by adjoint/sweeps.py (compile_ir runs it), for nested_gradient and
    nested_jvp: it inlines whole functions (tangents of g), more than a rewrite of a statement."""
    return None


LOWERINGS = {"einsum": einsum, "dot": dot, "inner": inner, "matmul": matmul, "norm": norm,
             "slogdet": slogdet, "nested_gradient": nested_gradient, "nested_jvp": nested_gradient,
             "ndim": ndim, "isnone": isnone, "asarray": asarray, "list_stack": list_stack,
             "add": logical("bitor"), "mul": logical("bitand"), "getattr": getattr_,
             "diff": diff, "roll": roll, "ptp": ptp, "average": average,
             "vdot": vdot, "vstack": vstack, "hstack": hstack, "concatenate": concatenate,
             "sort": sort, "median": median, "quantile": quantile, "percentile": percentile,
             **ELEMENTWISE,
             **{op: of_a_number(op) for op in ("sum", "mean", "prod", "amax", "amin", "var",
                                               "std", "argmax", "argmin")}}
assert all(name in LOWERINGS for name, p in PRIMITIVES.items() if p.lowered)

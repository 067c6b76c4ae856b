"""Which dimensions of each array are 1: known to be (True), known not to be (False), or not
known (None).

Compiled code is specialised on which dimensions of its array arguments are 1 (what broadcasting
depends on), never on their sizes. From the arguments' this follows values through what keeps or
drops dimensions (views by integers and whole slices, elementwise broadcasting, matrix products,
transposes, reductions), through the integers read from shapes that size new arrays
(`np.zeros((x.shape[0], 3))`), through calls of compilation units (their own IR's, given the
arguments'), and round loops: a value a loop passes on keeps what every edge
into its block agrees on. The backend reads it to index a size-1 dimension at 0 (fusion.py); the
adjoint pass to know that arrays have one shape, so that no gradient needs summing back
(adjoint/shapes.py).
"""
from __future__ import annotations

from .array_primitives import reduced_axes
from .cfg import reverse_postorder
from .ir import Function, Var
from .primitives import PRIMITIVES
from .types import INT, SLICE, ArrayT, TupleT

_ABSENT = object()  # a value computed from a loop-carried one no edge has given dims yet
CREATED = ("zeros", "ones", "empty", "full")  # a new array of the shape in its first argument
# its operand's shape
SAME = ("copy", "astype", "zeros_like", "ones_like", "empty_like", "full_like", "softmax")


def sole_array_operand(st):
    """The array operand of elementwise statement st that is its only one and of its result's
    rank, or None: st's result then has that operand's shape (numbers broadcast to any),
    whichever of its dimensions are 1."""
    if st.op not in PRIMITIVES or not PRIMITIVES[st.op].elementwise \
            or not isinstance(getattr(st.var, "type", None), ArrayT):
        return None
    arrays = {a for a in st.args if isinstance(a, Var) and isinstance(a.type, ArrayT)}
    if len(arrays) != 1:
        return None
    a = arrays.pop()
    return a if a.type.ndim == st.var.type.ndim else None


def unit_dims(fn: Function, arg_dims) -> dict:
    """{array value or shape tuple: per dimension True, False or None}. `arg_dims[i]` gives entry
    argument i's (signature.unit_dims; None where unknown)."""
    given = {a: _unknown(a.type) for a in fn.args if _tracked(a)}
    given.update((a, tuple(d)) for a, d in zip(fn.args, arg_dims or (), strict=False)
                 if d is not None)
    loop_values = [a for b in fn.blocks[1:] for a in b.args if _tracked(a)]
    carried: dict = {}  # block argument -> what the edges into its block agree on
    for _ in range(len(fn.blocks) + 2):  # each round can only weaken what it carried
        known = _pass(fn, {**given, **carried})
        agreed = _agreed(fn, known)
        if agreed == carried:
            if all(a in carried for a in loop_values):
                return _shaped(known)
            break
        carried = agreed
    # not settled (or a loop value no edge gives): every loop-carried value unknown
    return _shaped(_pass(fn, {**given, **{a: _unknown(a.type) for a in loop_values}}))


def returned_dims(fn: Function, arg_dims):
    """What is known of the value fn returns (None for nothing)."""
    known = unit_dims(fn, arg_dims)
    returned = [known.get(br.args[0]) if isinstance(br.args[0], Var) else None
                for b in fn.blocks for br in b.branches if br.is_return]
    return None if not returned or None in returned else _meet(returned)


def _tracked(v):
    return isinstance(v.type, (ArrayT, TupleT)) or v.type == INT


def _shaped(known):
    """Arrays' and shape tuples' (which a pullback gets from the tape)."""
    return {v: d for v, d in known.items() if isinstance(v.type, (ArrayT, TupleT))
            and isinstance(d, tuple)}


def _unknown(t):
    if isinstance(t, ArrayT):
        return (None,) * t.ndim
    if isinstance(t, TupleT):
        return (None,) * len(t.elts)
    return None


def _agreed(fn, known) -> dict:
    """Each block argument's dims as the edges that reach it so far agree: a dimension two edges
    disagree on is unknown; an edge whose value is not known yet is left out."""
    incoming: dict = {}
    blocks = fn.block_map()
    for b in fn.blocks:
        for br in b.branches:
            if br.target is None:
                continue
            for a, v in zip(blocks[br.target].args, br.args, strict=True):
                if _tracked(a):
                    d = _value(v, known)
                    if d is not _ABSENT:
                        incoming.setdefault(a, []).append(d)
    return {a: _fitted(a.type, _meet(ds)) for a, ds in incoming.items()}


def _fitted(t, d):
    """d if it describes a value of type t, else nothing known."""
    shape = _unknown(t)
    if isinstance(shape, tuple):
        return d if isinstance(d, tuple) and len(d) == len(shape) else shape
    return d if isinstance(d, bool) else None


def _meet(ds):
    """What all of ds say: per dimension of a tuple, or of an integer, the same or unknown."""
    if any(not isinstance(d, tuple) for d in ds):  # integers (or a constant): equal or unknown
        return ds[0] if all(d == ds[0] for d in ds) else None
    return tuple(col[0] if all(c == col[0] for c in col) else None for col in zip(*ds, strict=True))


def _is_int(a) -> bool:
    """An integer constant or value (not a bool)."""
    return isinstance(a, Var) and a.type == INT or isinstance(a, int) and not isinstance(a, bool)


def _value(a, known):
    """What is known of operand a: a tuple for arrays and shapes, True/False/None for an
    integer (whether it is 1), _ABSENT if it waits on a loop."""
    if isinstance(a, Var):
        return known.get(a, _ABSENT if _tracked(a) else None)
    if isinstance(a, bool):
        return None
    if isinstance(a, int):
        return a == 1
    if isinstance(a, tuple) and all(isinstance(x, int) for x in a):
        return tuple(x == 1 for x in a)
    return None


def _pass(fn, start) -> dict:
    """What is known of every value, given what `start` says of the arguments; in reverse
    postorder, so that only loop-carried values can be waited on."""
    known = dict(start)
    tuples = {}  # index tuples as written: value -> its elements
    units = {}  # a unit_forward's (value, tape...) -> what is known of its value
    blocks = fn.block_map()
    for b in (blocks[bid] for bid in reverse_postorder(fn)):
        for st in b.stmts:
            if st.op == "init":  # a gradient's slot: zeros of its value's shape
                known[st.args[0]] = _value(st.args[1], known)
            if st.var is None:
                continue
            if st.op == "tuple":
                tuples[st.var] = st.args
            if st.op == "unit_forward":
                units[st.var] = _unit_result(st, known)
            if not _tracked(st.var):
                continue
            reads = [_value(a, known) for a in st.args if isinstance(a, Var) and _tracked(a)]
            if any(r is _ABSENT for r in reads):
                continue
            known[st.var] = _fitted(st.var.type, _rule(st, known, tuples, units))
    return known


def _rule(st, known, tuples, units):
    """What is known of st's value, or None for nothing."""
    op, args, t = st.op, st.args, st.var.type
    if isinstance(t, TupleT):
        if op == "getattr" and args[1] == "shape":
            return _value(args[0], known)
        if op == "tuple":  # of a shape's integers (the others unknown)
            return tuple(_value(a, known) if _is_int(a) else None for a in args)
        return None
    if not isinstance(t, ArrayT):  # an integer: one of a shape's
        if op == "getindex" and isinstance(args[0], Var) and isinstance(args[0].type, TupleT) \
                and _is_int(args[1]) and not isinstance(args[1], Var):
            shape = _value(args[0], known)
            if isinstance(shape, tuple) and -len(shape) <= args[1] < len(shape):
                return shape[args[1]]
        return None
    if op in ("take", "load") and args[0] in known:  # what a slot holds keeps its shape
        return known[args[0]]
    if op in CREATED:
        shape = _value(args[0], known)
        return shape if isinstance(shape, tuple) else (shape,)
    if op == "reshape":
        return _new_shape(args[1], known, tuples)
    if op in SAME or op == "transpose" and args[1:2] in ([], [None]):
        d = _value(args[0], known)
        return d[::-1] if op == "transpose" else d
    if op in ("dot", "matmul") and all(isinstance(a, Var) and isinstance(a.type, ArrayT)
                                       and a.type.ndim in (1, 2) for a in args):
        left, right = (_value(a, known) for a in args)
        return (*left[:-1], *right[1:])  # the contracted dimensions go
    if op == "getindex" and isinstance(args[0], Var) and isinstance(args[0].type, ArrayT):
        return _indexed(_value(args[0], known), args[1], tuples)
    if op == "getindex" and args[1] == 0 and args[0] in units:  # a unit_forward's value
        return units[args[0]]
    if op == "unit":
        return _unit_result(st, known)
    if "keepdims" in (PRIMITIVES[op].params or ()) and isinstance(args[0], Var) \
            and isinstance(args[0].type, ArrayT):
        # a reduction: its axes are 1 (keepdims) or gone, the others are the operand's
        d = _value(args[0], known)
        axes = reduced_axes(args[1], len(d))
        return tuple(True if j in axes else x for j, x in enumerate(d)
                     if args[-1] is True or j not in axes)
    if op in PRIMITIVES and PRIMITIVES[op].elementwise:
        # 1 where every operand's is, not 1 where one's is not
        columns = [[] for _ in range(t.ndim)]
        for a in args:
            if isinstance(a, Var) and isinstance(a.type, ArrayT):
                for j, x in enumerate(_value(a, known)):
                    columns[j + t.ndim - a.type.ndim].append(x)
        return tuple(False if False in c else True if all(c) else None for c in columns)
    return None


def _new_shape(shape, known, tuples):
    """The dims of x.reshape(shape): a -1 in it stands for what is left, which may be 1."""
    items = tuples.get(shape) if isinstance(shape, Var) else \
        shape if isinstance(shape, tuple) else [shape]
    if items is None:  # a shape read from an array
        return _value(shape, known)
    return tuple(None if isinstance(a, int) and a < 0 else _value(a, known) if _is_int(a)
                 else None for a in items)


def _unit_result(st, known):
    """What is known of the value a compilation unit returns, from its IR and what is known of
    the arguments of this call."""
    spec, *args = st.args
    result_dims = getattr(spec, "result_dims", None)  # a Unit not yet typed has none
    if result_dims is None:
        return None
    dims = [_value(a, known) if isinstance(a, Var) and isinstance(a.type, ArrayT) else None
            for a in args]
    return result_dims(tuple(None if d is _ABSENT else d for d in dims))


def _indexed(dims, index, tuples):
    """The dims of x[index] for x of `dims`: an integer drops a dimension, a whole slice keeps it,
    None adds one of 1; another slice leaves it unknown. None for other indices."""
    items = tuples.get(index, [index]) if isinstance(index, Var) else \
        list(index) if isinstance(index, tuple) else [index]
    out, rest = [], list(dims)
    for i in items:
        if i is None:
            out.append(True)
        elif not rest:
            return None
        elif isinstance(i, slice) and i == slice(None):
            out.append(rest.pop(0))
        elif _is_int(i):
            rest.pop(0)
        elif isinstance(i, slice) or isinstance(i, Var) and i.type == SLICE:
            rest.pop(0)
            out.append(None)
        else:  # an array of indices, a boolean mask, an ellipsis
            return None
    return (*out, *rest)

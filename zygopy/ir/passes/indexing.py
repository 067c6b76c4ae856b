"""Indexing with arrays ("fancy" indexing and boolean masks), once types are known.

`a[idx]`, `a[rows, cols]`, `a[:, idx]`, `a[mask]` and the writes `a[idx] = v`, `a[mask] = v` come
out of the frontend as getindex/setindex like any subscript: which index parts are arrays is known
only once types are. This pass brings each such index to the one form the backends lower without
looking into slices: full slices `:` before the indexed axes, then the index arrays and integers
(or one boolean mask), nothing after. A read through partial slices (`a[1:, idx]`) becomes a basic
read (a view) and a gather from it. The read becomes `gather`, a new array rather than a view.
`np.take` and `np.take_along_axis` become gathers too. Indices NumPy would treat otherwise than
this form allows are refused, saying what to write instead.
"""
from __future__ import annotations

from ...errors import UnsupportedSyntax
from ..infer import type_of_arg
from ..ir import Function, Stmt, Var
from ..primitives import has_index_array, result_type
from ..types import ArrayT, NoneT, SliceT, TupleT

EVERYTHING = slice(None, None, None)


def lower_advanced_indexing(fn: Function) -> bool:
    defs = {s.var: s for b in fn.blocks for s in b.stmts if s.var is not None}
    changed = False
    for b in fn.blocks:
        out = []
        for s in b.stmts:
            emit = _Emitter(fn, out, s.line, defs)
            original = s
            if s.op == "take_axis":
                s = _take(emit, s)
            elif s.op == "take_along_axis":
                s = _take_along_axis(emit, s)
            if (s.op in ("getindex", "setindex") and isinstance(type_of_arg(s.args[0]), ArrayT)
                    and has_index_array(type_of_arg(s.args[1]))):
                s = _canonical(fn, emit, s, defs)
            changed |= s is not original
            out.append(s)
        b.stmts = out
    return changed


class _Emitter:
    """Appends typed statements before the one being rewritten."""

    def __init__(self, fn, out, line, defs):
        self.fn, self.out, self.line, self.defs = fn, out, line, defs

    def __call__(self, op, *args):
        t = result_type(op, [type_of_arg(a) for a in args], list(args))
        var = self.fn.new_var(t)
        self.out.append(Stmt(var, op, list(args), self.line))
        self.defs[var] = self.out[-1]
        return var


def _take(emit, s):
    """np.take(a, idx, axis): a.ravel()[idx] without an axis, else a[:, ..., :, idx]."""
    a, idx, axis = s.args
    if axis is None:
        return Stmt(s.var, "getindex", [emit("ravel", a), idx], s.line)
    axis %= a.type.ndim
    index = emit("tuple", *[EVERYTHING] * axis, idx) if axis else idx
    return Stmt(s.var, "getindex", [a, index], s.line)


def _take_along_axis(emit, s):
    """np.take_along_axis(a, idx, axis) is a[i_0, ..., idx, ..., i_n] where each other i_d is
    np.arange(a.shape[d]) shaped to run along axis d, broadcasting against idx."""
    a, idx, axis = s.args
    ndim = a.type.ndim
    axis %= ndim
    if ndim == 1:
        return Stmt(s.var, "getindex", [a, idx], s.line)
    shape = emit("getattr", a, "shape")
    parts = []
    for d in range(ndim):
        if d == axis:
            parts.append(idx)
            continue
        positions = emit("arange", emit("getindex", shape, d), None, None, None)
        parts.append(emit("reshape", positions, tuple(-1 if e == d else 1 for e in range(ndim))))
    return Stmt(s.var, "getindex", [a, emit("tuple", *parts)], s.line)


def _kind(t):
    if isinstance(t, SliceT):
        return "slice"
    if isinstance(t, NoneT):
        return "none"
    if isinstance(t, ArrayT):
        return "mask" if t.dtype == "bool" else "array"
    return "int"


def _canonical(fn, emit, s, defs):
    a, index = s.args[:2]
    write = s.op == "setindex"
    parts = _parts(fn, s, index, defs)
    kinds = [_kind(type_of_arg(p)) for p in parts]

    def refuse(message, hint):
        raise UnsupportedSyntax(message, fn.filename, s.line, hint=hint)

    if "none" in kinds:
        refuse("None (np.newaxis) in an index with an index array is not supported",
               "add the axis in a step of its own, e.g. a[idx][:, None]")
    if any(isinstance(type_of_arg(p), ArrayT) and type_of_arg(p).ndim == 0 for p in parts):
        refuse("a 0-d index array is not supported", "index with an integer")
    advanced = [i for i, k in enumerate(kinds) if k != "slice"]
    first, last = advanced[0], advanced[-1]
    if "mask" in kinds and len(advanced) > 1:
        refuse("a boolean mask together with other index arrays or integers is not supported",
               "index in two steps, e.g. a[i][mask], or turn the mask into an index array")
    if last - first + 1 != len(advanced):
        refuse("index arrays (or integers) separated by slices are not supported: NumPy moves "
               "the indexed axes to the front there",
               "index in two steps, e.g. a[i][:, idx] or a[:, :, idx][i]")
    partial = [p for p, k in zip(parts, kinds, strict=True) if k == "slice" and not _full(p, defs)]
    if partial and write:
        refuse("writing through a partial slice and an index array at once is not supported",
               "index the whole axis (a[:, idx] = v), or write into a copy and assign it back")
    if partial:  # slice first (a view), then gather from the view
        basic = []
        for p, k in zip(parts, kinds, strict=True):
            ndim = type_of_arg(p).ndim if k == "mask" else 1
            basic += [p] if k == "slice" else [EVERYTHING] * ndim
        a = emit("getindex", a, emit("tuple", *basic))
    chosen = parts[first:last + 1]
    if first == 0 and len(chosen) == 1:
        new_index = chosen[0]
    else:
        new_index = emit("tuple", *[EVERYTHING] * first, *chosen)
    if write:
        return Stmt(None, "setindex", [a, new_index, *s.args[2:]], s.line)
    return Stmt(s.var, "gather", [a, new_index], s.line)


def _parts(fn, s, index, defs):
    if not isinstance(type_of_arg(index), TupleT):
        return [index]
    d = defs.get(index) if isinstance(index, Var) else None
    if d is None or d.op != "tuple":
        raise UnsupportedSyntax("an index tuple with arrays in it must be written out in the "
                                "subscript", fn.filename, s.line, hint="write a[i, j], not a[t]")
    return list(d.args)


def _full(part, defs):
    """The slice `:`, a constant or the result of slice(None, None, None)."""
    if isinstance(part, slice):
        return part == EVERYTHING
    d = defs.get(part) if isinstance(part, Var) else None
    return d is not None and d.op == "slice" and all(x is None for x in d.args)


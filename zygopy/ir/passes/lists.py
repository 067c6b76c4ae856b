"""Run-time lists and reductions once types are known (list_primitives.py): an empty list `[]`
takes the element type of the list it grows into (`hs = []` before a loop that appends arrays),
a literal list of mixed types, which can only be a tuple, becomes one, and the placeholder for
the first item of a sum/max/min built in a loop becomes a value of the items' type (what the
reduction of no items gives)."""
from __future__ import annotations

import math

import numpy as np

from ...errors import UnsupportedSyntax, UnsupportedType
from ..ir import Partition, Var, substitute, uses
from ..types import FLOAT, AbsentT, ArrayT, ListT, Scalar, TupleT


def resolve_lists(fn) -> bool:
    check_no_read_after_growth(fn)
    changed = False
    for b in fn.blocks:
        for s in b.stmts:
            if s.op != "list":
                continue
            if isinstance(s.var.type, TupleT):
                s.op = "tuple"
                changed = True
            elif not s.args:
                s.op, s.args = "empty_list", [_grown_type(fn, s.var)]
                changed = True
    return _settle_absent(fn) or changed


def _settle_absent(fn) -> bool:
    """sum() of no items is 0; max() and min() of none raise ValueError (the frontend checks),
    so what stands for their first item then is never seen (NaN; an empty array for arrays)."""
    mapping, found = {}, False
    for b in fn.blocks:
        for s in b.stmts:
            if s.op != "absent":
                continue
            found = True
            kind, t = s.args[0], _grown_type(fn, s.var, AbsentT)
            if isinstance(t, ArrayT):
                s.op, s.args = "zeros", [(0,) * t.ndim, t.dtype]
                s.var.type = t
            elif isinstance(t, Scalar) or kind == "sum":
                mapping[s.var] = _no_items(kind, t)
            else:
                raise UnsupportedType(f"{kind}() of an empty sequence", fn.filename, s.line,
                                      hint=f"give {kind}() at least one item")
    if mapping:
        substitute(fn, mapping)
        for b in fn.blocks:
            b.stmts = [s for s in b.stmts if s.var not in mapping]
    return found


def _no_items(kind, t):
    dtype = t.dtype if isinstance(t, Scalar) else "int64"
    value = 0 if kind == "sum" or not dtype.startswith("float") else math.nan
    if dtype == "float32":
        return np.float32(value)
    return float(value) if dtype == "float64" else value


def _grown_type(fn, var, unsettled=ListT):
    """The type of the first list with known elements (or value of a known type) that `var`
    flows into (through appends and block arguments); a list of floats if it never gets any."""
    blocks = fn.block_map()
    seen, todo = {var}, [var]
    while todo:
        v = todo.pop(0)
        if unsettled is AbsentT:
            if v.type is not None and not isinstance(v.type, AbsentT):
                return v.type
        elif isinstance(v.type, ListT) and v.type.elt is not None:
            return v.type
        for b in fn.blocks:
            for s in b.stmts:
                if s.op == "list_append" and s.args[0] is v and s.var not in seen:
                    seen.add(s.var)
                    todo.append(s.var)
            for br in b.branches:
                if br.target is None:
                    continue
                for a, p in zip(br.args, blocks[br.target].args, strict=True):
                    if isinstance(a, Var) and a is v and p not in seen:
                        seen.add(p)
                        todo.append(p)
    return ListT(FLOAT) if unsettled is ListT else AbsentT()


def check_no_read_after_growth(fn):
    """A list value read after an append grew it (`a = hs; hs.append(h); a[-1]`, where Python's
    `a` is the longer list) would get its gradient at the wrong places: refused. The values that
    are one list object are those joined by appends and block arguments; after an append, only
    its result names the list, until another value of it is defined again (a loop's next trip)."""
    position = {}  # value -> (block id, index of its statement; -1 for a block argument)
    for b in fn.blocks:
        for v in b.args:
            position[v] = (b.id, -1)
        for k, s in enumerate(b.stmts):
            if s.var is not None:
                position[s.var] = (b.id, k)
    same = _one_object(fn)
    succ = {b.id: b.successors() for b in fn.blocks}
    for b in fn.blocks:
        for i, s in enumerate(b.stmts):
            if s.op != "list_append":
                continue
            for v in same(s.args[0]):
                where = position.get(v)
                if v is s.var or where is None or (where[0] == b.id and where[1] > i):
                    continue
                later = _reached(b.id, succ, where[0])
                for c in fn.blocks:
                    if c is not b and c.id not in later:
                        continue
                    for inst in (c.stmts[i + 1:] if c is b else c.stmts) + c.branches:
                        if v in uses(inst):
                            raise UnsupportedSyntax(
                                f"the list {v.name or ''!r} is read here after an append made "
                                "it longer, through another name or an older value",
                                fn.filename, getattr(inst, "line", None) or s.line,
                                hint="read the list by the name you append to")


def _one_object(fn):
    """value -> the list values that are the same object (joined by appends and block args)."""
    same = Partition()
    union, find = same.union, same.find

    blocks = fn.block_map()
    for b in fn.blocks:
        for s in b.stmts:
            if s.op == "list_append" and hasattr(s.args[0], "type"):
                union(s.args[0], s.var)
        for br in b.branches:
            if br.target is not None:
                for a, p in zip(br.args, blocks[br.target].args, strict=True):
                    if isinstance(p.type, ListT) and hasattr(a, "type"):
                        union(a, p)
    groups = {}
    for v in list(same.parent):
        groups.setdefault(find(v), []).append(v)
    return lambda v: groups.get(find(v), [v])


def _reached(start, succ, stop):
    """Blocks reachable from the end of block `start` without passing through block `stop`."""
    seen, todo = set(), list(succ[start])
    while todo:
        bid = todo.pop()
        if bid in seen or bid == stop:
            continue
        seen.add(bid)
        todo.extend(succ[bid])
    return seen

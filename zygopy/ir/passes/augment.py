"""Augmented assignment once types are known: `x op= v` is `x = x op v` for a number, and for an
array NumPy's in-place update `x[:] = x op v`, which the array's aliases (another name, a view, a
loop over it) see."""
from __future__ import annotations

from ..ir import Stmt, substitute
from ..types import SLICE, ArrayT


def lower_augmented(fn) -> bool:
    mapping = {}
    for b in fn.blocks:
        stmts = []
        for s in b.stmts:
            if s.op != "augment":
                stmts.append(s)
                continue
            old, new = s.args
            if isinstance(s.var.type, ArrayT):
                everything = fn.new_var(SLICE)
                stmts.append(Stmt(everything, "slice", [None, None, None], s.line))
                stmts.append(Stmt(None, "setindex", [old, everything, new], s.line))
                mapping[s.var] = old
            else:
                mapping[s.var] = new
        b.stmts = stmts
    if mapping:
        substitute(fn, mapping)
    return bool(mapping)

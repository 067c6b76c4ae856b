"""Constant folding, a few exact algebraic identities, and branches on constants."""
from __future__ import annotations

from ..ir import Function, Var, substitute
from ..primitives import PRIMITIVES
from ..types import BOOL, FLOAT, INT, fits_int64

NEVER_FOLD = {"setindex", "getattr"}


def fold_constants(fn: Function) -> bool:
    mapping = {}
    defs = {s.var: s for b in fn.blocks for s in b.stmts if s.var is not None}
    for b in fn.blocks:
        for s in b.stmts:
            if s.var is None or s.op in NEVER_FOLD or not PRIMITIVES[s.op].pure:
                continue
            args = [mapping.get(a, a) if isinstance(a, Var) else a for a in s.args]
            folded = _fold(s, args, defs)
            if folded is not _NO:
                mapping[s.var] = folded
    if mapping:
        substitute(fn, mapping)
    return bool(mapping)


_NO = object()


def _fold(s, args, defs):
    if not any(isinstance(a, Var) for a in args):
        try:
            value = PRIMITIVES[s.op].impl(*args)
        except Exception:  # leave the error to run time (division by zero on a dead path, ...)
            return _NO
        # Python's value where no IR type holds it (an int past 2^63, a complex number): left to
        # run time, which computes it as NumPy does (wrapped around, NaN)
        if type(value) is complex or type(value) is int and not fits_int64(value):
            return _NO
        return value
    if s.op == "getindex" and isinstance(args[0], Var) and isinstance(args[1], int):
        d = defs.get(args[0])
        if d is not None and d.op == "tuple" and -len(d.args) <= args[1] < len(d.args):
            return d.args[args[1]]
    if s.op == "truth" and isinstance(args[0], Var) and args[0].type == BOOL:
        return args[0]
    if s.op == "mul":  # x * 1 is exactly x for ints and floats (a for loop's index with step 1)
        for x, one in (args, args[::-1]):
            if (isinstance(x, Var) and x.type in (INT, FLOAT) and type(one) in (int, float)
                    and one == 1):
                return x
    if s.op == "len" and isinstance(args[0], Var):
        d = defs.get(args[0])
        if d is not None and d.op == "tuple":
            return len(d.args)
    return _NO


def fold_branches(fn: Function) -> bool:
    """`br T unless c` with a constant c either always falls through or always jumps."""
    changed = False
    for b in fn.blocks:
        kept = []
        for br in b.branches:
            if br.cond is not None and not isinstance(br.cond, Var):
                changed = True
                if br.cond:  # never taken
                    continue
                br.cond = None
            kept.append(br)
            if br.cond is None:
                break
        b.branches = kept
    return changed

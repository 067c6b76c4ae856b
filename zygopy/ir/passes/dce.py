"""Dead-code elimination: pure statements whose result nobody reads are removed."""
from __future__ import annotations

from ..ir import Function, used_values
from ..primitives import PRIMITIVES


def eliminate_dead_code(fn: Function) -> bool:
    changed = False
    while True:
        used = used_values(fn)
        removed = False
        for b in fn.blocks:
            keep = [s for s in b.stmts
                    if not (_pure(s) and (s.var is None or id(s.var) not in used))]
            if len(keep) != len(b.stmts):
                b.stmts, removed = keep, True
        if not removed:
            return changed
        changed = True


def _pure(s):
    prim = PRIMITIVES.get(s.op)
    return prim is not None and prim.pure

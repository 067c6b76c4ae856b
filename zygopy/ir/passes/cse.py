"""Common-subexpression elimination over the dominator tree."""
from __future__ import annotations

from ..cfg import dominators, reverse_postorder
from ..ir import Function, Var, substitute
from ..primitives import PRIMITIVES


def eliminate_common_subexpressions(fn: Function) -> bool:
    dom = dominators(fn)
    blocks = fn.block_map()
    available = {}  # expression key -> (block id, Var)
    mapping = {}
    # a[i] read twice is one value only if nothing may write an array in between
    writes = any(not PRIMITIVES[s.op].pure for b in fn.blocks for s in b.stmts)
    for bid in reverse_postorder(fn):
        for s in blocks[bid].stmts:
            if s.var is None or not PRIMITIVES[s.op].pure or (writes and s.op == "getindex"):
                continue
            key = (s.op, tuple(_key(mapping.get(a, a) if isinstance(a, Var) else a) for a in s.args))
            hit = available.get(key)
            if hit is not None and hit[0] in dom[bid]:
                mapping[s.var] = hit[1]
            else:
                available[key] = (bid, s.var)
    if mapping:
        substitute(fn, mapping)
    return bool(mapping)


def _key(a):
    if isinstance(a, Var):
        return ("v", id(a))
    return ("c", type(a).__name__, repr(a))

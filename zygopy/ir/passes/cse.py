"""Common-subexpression elimination over the dominator tree."""
from __future__ import annotations

from ..cfg import dominators, reverse_postorder
from ..ir import Function, Var, substitute
from ..primitives import PRIMITIVES
from ..types import ArrayT, operand_key


def eliminate_common_subexpressions(fn: Function) -> bool:
    dom = dominators(fn)
    blocks = fn.block_map()
    available = {}  # expression key -> (block id, Var)
    mapping = {}
    writes = any(not PRIMITIVES[s.op].pure and s.op != "raise" for b in fn.blocks for s in b.stmts)
    for bid in reverse_postorder(fn):
        epoch = 0  # writes so far in this block
        for s in blocks[bid].stmts:
            if not PRIMITIVES[s.op].pure:
                epoch += 1
            if s.var is None or not PRIMITIVES[s.op].pure:
                continue
            args = [mapping.get(a, a) if isinstance(a, Var) else a for a in s.args]
            key = (s.op, tuple(map(operand_key, args)))
            if writes and _touches_memory(s):
                # an array result may be written into later: it stays a buffer of its own; a
                # number read from arrays is the same only in one block with no write in between
                if s.var.type is None or isinstance(s.var.type, ArrayT):
                    continue
                key += ("memory", bid, epoch)
            hit = available.get(key)
            if hit is not None and hit[0] in dom[bid]:
                mapping[s.var] = hit[1]
            else:
                available[key] = (bid, s.var)
    if mapping:
        substitute(fn, mapping)
    return bool(mapping)


def _touches_memory(s):
    """Where arrays are written: np.sin(a) or a[i] twice may differ (a write in between), and two
    np.zeros(n) or a.copy() are two buffers. Only an array's shape cannot change."""
    if s.op in ("len", "getattr") and s.args[1:] in ((), ("shape",), ("size",), ("ndim",)):
        return False
    values = [s.var] + [a for a in s.args if isinstance(a, Var)]
    # before types are inferred, any value may be an array
    return any(v.type is None or isinstance(v.type, ArrayT) for v in values)

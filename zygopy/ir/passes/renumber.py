"""Renumber blocks 1..n in reverse postorder and values in order of definition, for printing."""
from __future__ import annotations

from ..cfg import reverse_postorder
from ..ir import Function


def renumber(fn: Function, values=True) -> Function:
    order = reverse_postorder(fn)
    blocks = fn.block_map()
    fn.blocks = [blocks[b] for b in order]
    new_ids = {b.id: i + 1 for i, b in enumerate(fn.blocks)}
    if not values:
        return fn
    n = 0
    for b in fn.blocks:
        b.id = new_ids[b.id]
        for br in b.branches:
            if br.target is not None:
                br.target = new_ids[br.target]
        for v in b.args + [s.var for s in b.stmts if s.var is not None]:
            n += 1
            v.id = n
    fn.next_id = n + 1
    return fn

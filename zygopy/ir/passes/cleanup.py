"""CFG cleanup: drop unreachable blocks, skip empty forwarding blocks, merge straight lines."""
from __future__ import annotations

from ..cfg import reverse_postorder
from ..ir import Function, substitute
from ..types import operand_key


def remove_unreachable(fn: Function) -> bool:
    live = set(reverse_postorder(fn))
    before = len(fn.blocks)
    fn.blocks = [b for b in fn.blocks if b.id in live]
    return len(fn.blocks) != before


def skip_empty_blocks(fn: Function) -> bool:
    """A block with no arguments, no statements and one plain branch is jumped over."""
    forward = {}
    for b in fn.blocks[1:]:
        if not b.args and not b.stmts and len(b.branches) == 1 and not b.branches[0].is_return \
                and b.branches[0].target != b.id:
            forward[b.id] = b.branches[0]
    changed = False
    for b in fn.blocks:
        for br in b.branches:
            seen = set()
            while br.target in forward and br.target not in seen and not br.args:
                seen.add(br.target)
                nxt = forward[br.target]
                br.target, br.args = nxt.target, list(nxt.args)
                changed = True
    # a block whose branches now all go to one target with equal arguments needs only one
    for b in fn.blocks:
        if len(b.branches) == 2 and b.branches[0].target == b.branches[1].target is not None \
                and _same(b.branches[0].args, b.branches[1].args):
            b.branches = [b.branches[1]]
            changed = True
    return changed


def _same(xs, ys):
    return len(xs) == len(ys) and all(operand_key(x) == operand_key(y)
                                      for x, y in zip(xs, ys, strict=True))


def merge_blocks(fn: Function) -> bool:
    """Append B to A when A's only branch goes to B and B has no other predecessor."""
    changed = False
    while True:
        preds = fn.predecessors()
        blocks = fn.block_map()
        for a in fn.blocks:
            if len(a.branches) != 1 or a.branches[0].is_return:
                continue
            bid = a.branches[0].target
            if bid == a.id or bid == fn.entry.id or len(preds[bid]) != 1:
                continue
            b = blocks[bid]
            substitute(fn, dict(zip(b.args, a.branches[0].args, strict=True)))
            a.stmts += b.stmts
            a.branches = b.branches
            fn.blocks.remove(b)
            changed = True
            break
        else:
            return changed

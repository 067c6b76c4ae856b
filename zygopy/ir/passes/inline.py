"""Inlining a typed IR function in place of one statement (the frontend inlines Python functions
from their source; this is for functions that exist only as IR, such as a tangent)."""
from __future__ import annotations

from ..ir import Block, Branch, Function, Stmt, Var


def inline_call(fn: Function, block: Block, index: int, callee: Function, args) -> Block:
    """Replace statement `index` of `block`, whose value is what `callee` (unchanged) returns for
    `args`, by a branch into a copy of callee's blocks. The statements after it move to a new
    block that takes the result as its argument; it is returned (more may be inlined into it).
    The copied statements get the replaced statement's line: an error inside them is reported
    where the user's code asked for them."""
    stmt = block.stmts[index]
    after = fn.new_block([stmt.var])
    after.stmts, after.branches = block.stmts[index + 1:], block.branches
    block.stmts = block.stmts[:index]
    renamed = {}

    def value(a):
        if not isinstance(a, Var):
            return a
        if a not in renamed:
            renamed[a] = fn.new_var(a.type, a.name)
        return renamed[a]

    copies = {b.id: fn.new_block() for b in callee.blocks}
    for b in callee.blocks:
        copy = copies[b.id]
        copy.args = [value(a) for a in b.args]
        copy.stmts = [Stmt(value(s.var), s.op, [value(a) for a in s.args], stmt.line)
                      for s in b.stmts]
        copy.branches = [Branch(after.id if br.is_return else copies[br.target].id,
                                [value(a) for a in br.args], value(br.cond))
                         for br in b.branches]
    block.branches = [Branch(copies[callee.entry.id].id, list(args))]
    return after

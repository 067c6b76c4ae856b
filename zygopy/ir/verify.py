"""Checks every IR a pass produces: SSA definitions dominate their uses, branches match blocks."""
from __future__ import annotations

from .cfg import dominators
from .ir import Function, Var, uses


class VerifyError(Exception):
    pass


def verify(fn: Function) -> Function:
    blocks = fn.block_map()
    if len(blocks) != len(fn.blocks):
        raise VerifyError("two blocks share an id")
    defined_in = {}  # Var -> (block id, position); block args are at position -1
    for b in fn.blocks:
        for a in b.args:
            _define(defined_in, a, b.id, -1)
        for i, s in enumerate(b.stmts):
            if s.var is not None:
                _define(defined_in, s.var, b.id, i)
        if not b.branches:
            raise VerifyError(f"block {b.name} has no terminator")
        for br in b.branches[:-1]:
            if br.cond is None:
                raise VerifyError(f"block {b.name}: an unconditional branch is followed by more "
                                  "branches")
        if b.branches[-1].cond is not None:
            raise VerifyError(f"block {b.name} ends with a conditional branch")
        for br in b.branches:
            if br.is_return:
                if br.cond is not None:
                    raise VerifyError(f"block {b.name}: conditional return")
                continue
            if br.target not in blocks:
                raise VerifyError(f"block {b.name} branches to missing block {br.target}")
            want = len(blocks[br.target].args)
            if len(br.args) != want:
                raise VerifyError(f"block {b.name} passes {len(br.args)} arguments to block "
                                  f"{br.target}, which takes {want}")
    dom = dominators(fn)
    for b in fn.blocks:
        if b.id not in dom:
            continue  # unreachable blocks are not checked for dominance
        for i, inst in enumerate(b.stmts + b.branches):
            for v in uses(inst):
                if v not in defined_in:
                    raise VerifyError(f"block {b.name} uses {v!r}, which is never defined")
                db, di = defined_in[v]
                ok = di < i if db == b.id else db in dom[b.id]
                if not ok:
                    raise VerifyError(f"block {b.name} uses {v!r} where its definition does not "
                                      "dominate")
    return fn


def _define(defined_in, v, bid, pos):
    if not isinstance(v, Var):
        raise VerifyError(f"block {bid} defines {v!r}, which is not a variable")
    if v in defined_in:
        raise VerifyError(f"{v!r} is defined twice")
    defined_in[v] = (bid, pos)

"""Block-argument cleanup: the phi simplifications of Braun et al.

A block argument is trivial when every predecessor passes it the same value (or the argument
itself, around a loop): it is replaced by that value. An argument nothing reads is removed.
Both remove the matching operand from every branch into the block.
"""
from __future__ import annotations

from ..ir import Function, substitute, used_values
from ..types import operand_key


def _incoming(fn: Function):
    inc = {b.id: [] for b in fn.blocks}
    for b in fn.blocks:
        for br in b.branches:
            if br.target is not None:
                inc[br.target].append(br)
    return inc


def _drop_arg(block, index, incoming):
    del block.args[index]
    for br in incoming[block.id]:
        del br.args[index]


def remove_trivial_args(fn: Function) -> bool:
    changed = False
    while True:
        incoming, mapping = _incoming(fn), {}
        for b in fn.blocks[1:]:  # the entry's arguments are the function's parameters
            for i in reversed(range(len(b.args))):
                arg = b.args[i]
                values = {operand_key(br.args[i]): br.args[i]
                          for br in incoming[b.id] if br.args[i] is not arg}
                if len(values) == 1:
                    mapping[arg] = next(iter(values.values()))
                    _drop_arg(b, i, incoming)
        if not mapping:
            return changed
        substitute(fn, mapping)
        changed = True


def remove_dead_args(fn: Function) -> bool:
    changed = False
    while True:
        used = used_values(fn)
        incoming = _incoming(fn)
        removed = False
        for b in fn.blocks[1:]:
            for i in reversed(range(len(b.args))):
                arg = b.args[i]
                # an argument used only to pass itself around a loop is dead too
                self_only = all(br.args[i] is arg for br in incoming[b.id] if arg in br.args)
                if id(arg) not in used or (self_only and _only_self_uses(fn, arg, b, i, incoming)):
                    _drop_arg(b, i, incoming)
                    removed = True
        if not removed:
            return changed
        changed = True


def _only_self_uses(fn, arg, block, index, incoming):
    for b in fn.blocks:
        for s in b.stmts:
            if any(a is arg for a in s.args):
                return False
        for br in b.branches:
            if br.cond is arg:
                return False
            for j, a in enumerate(br.args):
                if a is arg and not (br.target == block.id and j == index):
                    return False
    return True

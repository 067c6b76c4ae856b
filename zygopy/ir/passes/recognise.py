"""A composition recognised as the primitive it spells: 1 / (1 + exp(-x)) of a float array is
sigmoid(x).

The primitive's derivative y (1 - y) reads its result alone, where the formula's reads exp(-x) and
1 + exp(-x) as well: two more arrays kept for the reverse pass per sigmoid (an LSTM step writes
three), and two more stored from the loop that computes them. Its value never overflows on the way
(exp(800) is inf). Only where the formula's intermediates serve nothing else, and only on arrays:
for a number, Python's math.exp raises OverflowError where the primitive would not.
"""
from __future__ import annotations

from ..ir import Function, Var, users_of
from ..types import ArrayT


def recognise_sigmoid(fn: Function) -> bool:
    defs = {s.var: s for b in fn.blocks for s in b.stmts if s.var is not None}
    users = users_of(fn)
    changed = False
    for b in fn.blocks:
        for s in b.stmts:
            x = _sigmoid_operand(s, defs, users)
            if x is not None:
                s.op, s.args = "sigmoid", [x]  # the formula's statements are left to DCE
                changed = True
    return changed


def _sigmoid_operand(s, defs, users):
    """x where s is y = 1 / (1 + exp(-x)) (or exp(-x) + 1) of a float array x; else None."""
    if s.op != "truediv" or not _one(s.args[0]) or not (
            isinstance(s.var.type, ArrayT) and s.var.type.is_float):
        return None
    d = _sole_use(s.args[1], "add", defs, users)
    if d is None:
        return None
    e = d.args[1] if _one(d.args[0]) else d.args[0] if _one(d.args[1]) else None
    e = _sole_use(e, "exp", defs, users)
    n = e and _sole_use(e.args[0], "neg", defs, users)
    x = n and n.args[0]
    return x if isinstance(x, Var) and x.type == s.var.type else None


def _one(c) -> bool:
    return type(c) in (int, float) and c == 1


def _sole_use(v, op, defs, users):
    """The statement defining v, if it is an `op` and v has one use."""
    d = defs.get(v) if isinstance(v, Var) else None
    return d if d is not None and d.op == op and len(users.get(v, ())) == 1 else None

"""A composition recognised as the primitive it spells: 1 / (1 + exp(-x)) of a float array is
sigmoid(x); e / sum(e, axis, keepdims=True) with e = exp(x - max(x, axis, keepdims=True)) is
softmax(x, axis).

The primitive's derivative y (1 - y) reads its result alone, where the formula's reads exp(-x) and
1 + exp(-x) as well: two more arrays kept for the reverse pass per sigmoid (an LSTM step writes
three), and two more stored from the loop that computes them. Its value never overflows on the way
(exp(800) is inf). Only where the formula's intermediates serve nothing else, and only on arrays:
for a number, Python's math.exp raises OverflowError where the primitive would not.

The softmax's derivative y (g - sum(g y)) likewise reads its result alone, where the formula's
reverse pass reads x, its maximum, e and the sum, and sends a gradient through the maximum (where
x attains it, and how many times) that adds up to nothing: the softmax does not change when the
same number is subtracted from all of x.
"""
from __future__ import annotations

from ..ir import Function, Var, users_of
from ..types import ArrayT


def recognise_primitives(fn: Function) -> bool:
    defs = {s.var: s for b in fn.blocks for s in b.stmts if s.var is not None}
    users = users_of(fn)
    changed = False
    for b in fn.blocks:
        for s in b.stmts:
            for op, operands in (("sigmoid", _sigmoid_operand), ("softmax", _softmax_operands)):
                args = operands(s, defs, users)
                if args is not None:
                    s.op, s.args = op, args  # the formula's statements are left to DCE
                    changed = True
                    break
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
    return [x] if isinstance(x, Var) and x.type == s.var.type else None


def _softmax_operands(s, defs, users):
    """[x, axis] where s is e / sum(e, axis, keepdims=True), e = exp(x - m) used by these two
    alone, m = max(x, axis, keepdims=True), along one integer axis of a float array x; else
    None."""
    if s.op != "truediv" or not (isinstance(s.var.type, ArrayT) and s.var.type.is_float):
        return None
    e, total = s.args
    total = _sole_use(total, "sum", defs, users)
    exp = defs.get(e) if isinstance(e, Var) else None
    if total is None or total.args[0] is not e or exp is None or exp.op != "exp" or sorted(
            map(id, users.get(e, ()))) != sorted((id(s), id(total))):
        return None
    shifted = _sole_use(exp.args[0], "sub", defs, users)
    greatest = shifted and _sole_use(shifted.args[1], "amax", defs, users)
    x = greatest and greatest.args[0]
    axis = total.args[1]
    if not (isinstance(x, Var) and shifted.args[0] is x and x.type == s.var.type
            and type(axis) is int and type(greatest.args[1]) is int
            and greatest.args[1] == axis and greatest.args[2] is True and total.args[2] is True):
        return None
    return [x, axis]


def _one(c) -> bool:
    return type(c) in (int, float) and c == 1


def _sole_use(v, op, defs, users):
    """The statement defining v, if it is an `op` and v has one use."""
    d = defs.get(v) if isinstance(v, Var) else None
    return d if d is not None and d.op == op and len(users.get(v, ())) == 1 else None

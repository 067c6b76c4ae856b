"""A composition recognised as the primitive it spells: 1 / (1 + exp(-x)) of a float array is
sigmoid(x); e / sum(e, axis, keepdims=True) with e = exp(x - max(x, axis, keepdims=True)) is
softmax(x, axis); m + log(sum(exp(x - m), axis)) with that maximum m is logsumexp(x, axis), and
x - logsumexp(x, axis) the log-softmax.

The primitive's derivative y (1 - y) reads its result alone, where the formula's reads exp(-x) and
1 + exp(-x) as well: two more arrays kept for the reverse pass per sigmoid (an LSTM step writes
three), and two more stored from the loop that computes them. Its value never overflows on the way
(exp(800) is inf). Only where the formula's intermediates serve nothing else, and only on arrays:
for a number, Python's math.exp raises OverflowError where the primitive would not.

The softmax's derivative y (g - sum(g y)) likewise reads its result alone, where the formula's
reverse pass reads x, its maximum, e and the sum, and sends a gradient through the maximum (where
x attains it, and how many times) that adds up to nothing: the softmax does not change when the
same number is subtracted from all of x. So does logsumexp's, whose derivative is the softmax.
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
            for op, operands in (("sigmoid", _sigmoid_operand), ("softmax", _softmax_operands),
                                 ("logsumexp", _logsumexp_operands)):
                args = operands(s, defs, users)
                if args is not None:
                    s.op, s.args = op, args  # the formula's statements are left to DCE
                    changed = True
                    break
            else:
                changed |= _recognise_log_softmax(s, defs, users)
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
    alone, m = max(x, axis, keepdims=True) used once, along one integer axis of a float array
    x; else None."""
    if s.op != "truediv" or not (isinstance(s.var.type, ArrayT) and s.var.type.is_float):
        return None
    e, total = s.args
    total = _sole_use(total, "sum", defs, users)
    if total is None or total.args[0] is not e or sorted(map(id, users.get(e, ()))) != sorted(
            (id(s), id(total))):
        return None
    found = _shifted_exps(e, defs, users, reads=2)
    axis = total.args[1]
    if not found or type(axis) is not int or total.args[2] is not True:
        return None
    x, greatest, _ = found
    if x.type != s.var.type or greatest.args[1] != axis or len(users.get(greatest.var, ())) != 1:
        return None
    return [x, axis]


def _one(c) -> bool:
    return type(c) in (int, float) and c == 1


def _sole_use(v, op, defs, users):
    """The statement defining v, if it is an `op` and v has one use."""
    d = defs.get(v) if isinstance(v, Var) else None
    return d if d is not None and d.op == op and len(users.get(v, ())) == 1 else None


def _shifted_exps(e, defs, users, uses=1, reads=1):
    """(x, m's statement, the exp statement) where e = exp(x - m) of a float array x and
    m = max(x, axis, keepdims=True), e read by `reads` statements and x - m by `uses`; else
    None."""
    exp = defs.get(e) if isinstance(e, Var) else None
    exp = exp if exp is not None and exp.op == "exp" and len(users.get(e, ())) == reads else None
    shifted = exp and defs.get(exp.args[0]) if isinstance(exp and exp.args[0], Var) else None
    if shifted is None or shifted.op != "sub" or len(users.get(shifted.var, ())) != uses:
        return None
    greatest = defs.get(shifted.args[1]) if isinstance(shifted.args[1], Var) else None
    greatest = greatest if greatest is not None and greatest.op == "amax" else None
    x = shifted.args[0]
    if not (greatest and greatest.args[0] is x and isinstance(x.type, ArrayT) and x.type.is_float
            and type(greatest.args[1]) is int and greatest.args[2] is True):
        return None
    return x, greatest, exp


def _logsumexp_operands(s, defs, users):
    """[x, axis, keepdims] where s is log(sum(exp(x - m), axis, keepdims)) + m (or m + ...),
    m = max(x, axis, keepdims=True), with m read as it is if keepdims, else indexed at 0 along
    the axis (m[:, 0]); the formula's values read by nothing else. Else None."""
    if s.op != "add" or not isinstance(s.var.type, ArrayT) or not all(
            isinstance(a, Var) for a in s.args):
        return None
    for log, back in (s.args, s.args[::-1]):
        log = _sole_use(log, "log", defs, users)
        total = log and _sole_use(log.args[0], "sum", defs, users)
        found = total and _shifted_exps(total.args[0], defs, users)
        if not found or type(total.args[1]) is not int:
            continue
        x, greatest, _ = found
        axis, keepdims = total.args[1], total.args[2]
        if greatest.args[1] != axis or len(users.get(greatest.var, ())) != 2:
            continue
        if keepdims is True and back is greatest.var or keepdims is False and _squeezed(
                back, greatest.var, axis, defs, users):
            return [x, axis, keepdims]
    return None


def _squeezed(v, m, axis, defs, users) -> bool:
    """Whether v is m[..., 0, ...], the one element of m's size-1 `axis`, read once."""
    d = _sole_use(v, "getindex", defs, users)
    index = d and d.args[1]
    if not (d and d.args[0] is m and isinstance(index, tuple) and len(index) == m.type.ndim):
        return False
    whole = slice(None, None, None)
    return all((i == 0 and type(i) is int) if k == axis % m.type.ndim else i == whole
               for k, i in enumerate(index))


def _recognise_log_softmax(s, defs, users) -> bool:
    """s = d - log(sum(exp(d), axis, keepdims=True)) with d = x - max(x, axis, keepdims=True)
    becomes x - logsumexp(x, axis, keepdims=True): its log statement made the primitive."""
    if s.op != "sub" or not isinstance(s.var.type, ArrayT) or not all(
            isinstance(a, Var) for a in s.args):
        return False
    log = _sole_use(s.args[1], "log", defs, users)
    total = log and _sole_use(log.args[0], "sum", defs, users)
    found = total and _shifted_exps(total.args[0], defs, users, uses=2)
    if not found or type(total.args[1]) is not int or total.args[2] is not True:
        return False
    x, greatest, exp = found
    if exp.args[0] is not s.args[0] or greatest.args[1] != total.args[1] \
            or len(users.get(greatest.var, ())) != 1:
        return False
    log.op, log.args = "logsumexp", [x, total.args[1], True]
    s.args = [x, log.var]
    return True

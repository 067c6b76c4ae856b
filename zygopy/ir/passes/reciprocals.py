"""Divisions by one number in a block of derivative code share its reciprocal: x / b, y / b become
r = 1 / b, x * r, y * r.

The reverse of z = a / b divides by b three times (z again where it is recomputed, g / b and
g z / b), and a division costs several multiplications: in a Gaussian mixture's gradient
(benchmarks/loops.py) they were a sixth of the time. x * (1 / b) may differ from x / b in the last
bit, which a derivative may and a value the user reads may not: this runs on reverse IR only.
"""
from __future__ import annotations

from collections import Counter

from ..ir import Function, Stmt, Var
from ..types import Scalar


def share_reciprocals(fn: Function) -> bool:
    changed = False
    for block in fn.blocks:
        divisors = Counter(s.args[1] for s in block.stmts if _by_number(s))
        shared = {b for b, uses in divisors.items() if uses > 1}
        if not shared:
            continue
        reciprocal, stmts = {}, []
        for s in block.stmts:
            if _by_number(s) and s.args[1] in shared:
                b = s.args[1]
                if b not in reciprocal:
                    reciprocal[b] = fn.new_var(b.type)
                    stmts.append(Stmt(reciprocal[b], "truediv", [1.0, b], s.line))
                s.op, s.args = "mul", [s.args[0], reciprocal[b]]
            stmts.append(s)
        block.stmts = stmts
        changed = True
    return changed


def _by_number(s) -> bool:
    """Whether s divides by a float number (of its own type: the reciprocal has it too)."""
    if s.op != "truediv" or not isinstance(s.args[1], Var):
        return False
    b = s.args[1].type
    return isinstance(b, Scalar) and b.is_float and s.var is not None and s.var.type == b

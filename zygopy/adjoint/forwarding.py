"""Gradient slots turned back into SSA values where they do not need to be memory.

The adjoint pass accumulates every gradient into a slot (`%3̄ += ...`, later `take(%3̄)`), which is
simple and right across loops and branches. But when all of a slot's contributions and its read
are in one block, the slot is just a sum: the contributions are added as values and the read is
replaced by the sum. For arrays this saves allocating a zero array and a pass over memory per
intermediate value, and lets the elementwise chains of the reverse pass fuse.
"""
from __future__ import annotations

from ..ir.infer import type_of_arg
from ..ir.ir import Function, Slot, Stmt, Var, substitute
from ..ir.primitives import has_index_array

SLOT_OPS = {"accum", "take", "load", "init", "ensure", "accum_at", "take_at", "load_at"}


def forward_slots(fn: Function, new_var) -> bool:
    refs = {}  # slot -> [(block, stmt)]
    for b in fn.blocks:
        for s in b.stmts:
            if s.op in SLOT_OPS:
                refs.setdefault(s.args[0], []).append((b, s))
            elif any(isinstance(a, Slot) for a in s.args):
                raise AssertionError(f"slot used by {s.op}")
    mapping = {}
    for slot, uses in refs.items():
        # the zeros an array slot starts from are made at the pullback's entry, wherever its
        # contributions are: a slot added into and read in one block that runs once (the read is
        # where its value was defined, outside loops, or the slot is made anew each trip)
        inits = [(b, s) for b, s in uses if s.op == "init"]
        uses = [(b, s) for b, s in uses if s.op != "init"] or uses
        block = uses[0][0]
        ops = [s.op for _, s in uses]
        if any(b is not block for b, _ in uses) or ops[-1] not in ("take", "load"):
            continue
        if any(op != "accum" for op in ops[:-1]) or "accum" not in ops:
            continue
        # replace: init dropped, accumulations chained with add, the read by the running sum
        total, stmts, read = None, [], uses[-1][1]
        for b, init in inits:
            if b is not block:
                b.stmts.remove(init)
        for s in block.stmts:
            if s.op in SLOT_OPS and s.args[0] is slot:
                if s.op == "accum":
                    if total is None:
                        total = s.args[1]
                    else:
                        var = new_var(slot.type)
                        stmts.append(Stmt(var, "add", [total, s.args[1]], s.line))
                        total = var
                elif s is read:
                    mapping[s.var] = total
                continue
            stmts.append(s)
        block.stmts = stmts
    if mapping:
        substitute(fn, mapping)
    return bool(mapping)


def keep_in_place(fn: Function):
    """`%g = take_at(s, i)` ... `accum_at(s, i, %g)` with nothing else reading or changing s in
    between leaves s[i] as it was: the reverse of `a[i] = a[i] + v` (or `a[i] += v`), whose
    gradient passes through a[i] unchanged. The element is read without reset and not added
    back: two fewer memory writes per trip of such a loop. (Run after common subexpressions are
    merged, so that one index is one value.)"""
    for b in fn.blocks:
        open_takes = {}  # slot -> its take_at still unmatched
        dropped = set()
        for s in b.stmts:
            if s.op not in SLOT_OPS:
                continue
            slot = s.args[0]
            taken = open_takes.pop(slot, None)
            if (s.op == "accum_at" and taken is not None and s.args[2] is taken.var
                    and len(s.args) == 3 and _same(s.args[1], taken.args[1])):
                taken.op = "load_at"
                dropped.add(id(s))
            elif s.op == "take_at" and not has_index_array(type_of_arg(s.args[1])):
                open_takes[slot] = s
        if dropped:
            b.stmts = [s for s in b.stmts if id(s) not in dropped]


def _same(a, b):
    return a is b or not isinstance(a, Var) and not isinstance(b, Var) and a == b

"""Reverse loops that a zero gradient enters are skipped.

The reverse of a loop is linear in the gradients it receives: where every one of them is exactly
zero, all it would add is zeros. That is common where a choice is made per trip: the reverse of
`best = min(best, dist)` gives the losing candidate a zero gradient, and the loop that computed
that candidate need not be reversed at all (k-means reverses the distance to the nearest centre
only, as a hand-written adjoint does). The test is made once, on entering the reverse loop.

A loop qualifies when skipping it changes nothing but those zeros: it reads nothing recorded
(no stack), puts back no overwritten element, reads no array gradient, and receives its
gradients only through the slots its header takes, all scalars.
"""
from __future__ import annotations

from ..ir.cfg import natural_loops
from ..ir.ir import Branch, Function, Slot, Stmt, substitute_in, uses
from ..ir.primitives import PRIMITIVES
from ..ir.types import BOOL, FLOAT, Scalar, is_float

# besides pure primitives, what a skippable loop may do: read scalar slots and add to any slot
_GRADIENT_OPS = {"take", "load", "accum", "accum_at"}


def skip_idle_loops(rev: Function) -> list:
    """Guard each loop that qualifies. -> [(header, test block, skip block)]"""
    guards = []
    while True:  # loops found again after each guard, which adds blocks to the loops around it
        blocks = rev.block_map()
        done = {header.id for header, _, _ in guards}
        found = next(((blocks[h], body) for h, body in natural_loops(rev).items()
                      if h not in done and _skippable(rev, blocks[h], body)), None)
        if found is None:
            return guards
        guards.append((found[0], *_guard(rev, *found)))


def _skippable(rev, header, body) -> bool:
    blocks = rev.block_map()
    exits = [br for bid in body for br in blocks[bid].branches if br.target not in body]
    if len(exits) != 1 or exits[0] not in header.branches or exits[0].target is None \
            or exits[0].args:
        return False  # left from its header only
    taken_at_header = {s.args[0] for s in header.stmts if s.op == "take"}
    if not all(isinstance(s.type, Scalar) for s in taken_at_header) or not any(
            is_float(s.type) for s in taken_at_header):
        return False
    outflow = _used_after(rev, body)
    if any(v not in _taken_values(header) for v in outflow) or outflow and rev.predecessors()[
            exits[0].target] != [header.id]:
        return False  # what flows out is what the header took (zero if skipped), to one block
    added_outside = {s.args[0] for b in rev.blocks if b.id not in body
                     for s in b.stmts if s.op == "accum"}
    for bid in body:
        for s in blocks[bid].stmts:
            if s.op in _GRADIENT_OPS:
                reads = s.op in ("take", "load")
                if reads and not (isinstance(s.args[0].type, Scalar) and (
                        blocks[bid] is header or s.args[0] not in added_outside)):
                    return False
            elif (not PRIMITIVES[s.op].pure or s.op == "custom_grad"
                  or any(isinstance(a, Slot) for a in s.args)):
                return False
    return True


def _taken_values(header) -> dict:
    return {s.var: s.args[0] for s in header.stmts if s.op == "take"}


def _used_after(rev, body) -> list:
    """Values defined in the loop and read after it."""
    defined = {s.var for b in rev.blocks if b.id in body for s in b.stmts if s.var is not None}
    return list(dict.fromkeys(a for b in rev.blocks if b.id not in body
                              for inst in b.stmts + b.branches for a in uses(inst)
                              if a in defined))


def _guard(rev, header, body):
    """Entering edges go through a test of the header's float slots: all zero -> take them (the
    trip count among them) and leave as the loop would, passing on what was taken."""
    taken = _taken_values(header)
    floats = [slot for slot in taken.values() if is_float(slot.type)]
    leave = next(br for br in header.branches if br.target not in body)
    outflow = _used_after(rev, body)
    entering = [br for b in rev.blocks if b.id not in body
                for br in b.branches if br.target == header.id]
    test, skip = rev.new_block(), rev.new_block()
    for br in entering:
        br.target = test.id
    size = None
    for slot in floats:  # the sum of magnitudes is zero only if each is (NaN is not)
        value = rev.new_var(slot.type)
        magnitude = rev.new_var(slot.type)
        test.stmts += [Stmt(value, "load", [slot]), Stmt(magnitude, "abs", [value])]
        if size is not None:
            total = rev.new_var(size.type if size.type == magnitude.type else FLOAT)
            test.stmts.append(Stmt(total, "add", [size, magnitude]))
            magnitude = total
        size = magnitude
    idle = rev.new_var(BOOL)
    test.stmts.append(Stmt(idle, "eq", [size, 0.0]))
    test.branches = [Branch(header.id, [], idle), Branch(skip.id, [])]
    took = {slot: rev.new_var(slot.type) for slot in taken.values()}
    skip.stmts = [Stmt(var, "take", [slot]) for slot, var in took.items()]
    # the block after the loop receives what flows out of it from either way
    after = rev.block_map()[leave.target]
    flowing = {v: rev.new_var(v.type) for v in outflow}
    after.args += flowing.values()
    leave.args = list(flowing)
    skip.branches = [Branch(after.id, [took[taken[v]] for v in flowing])]
    substitute_in([b for b in rev.blocks if b.id not in body and b is not skip], flowing)
    return test, skip

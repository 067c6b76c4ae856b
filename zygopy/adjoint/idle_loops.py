"""Reverse loops that a zero gradient enters are skipped.

The reverse of a loop is linear in the gradients it receives: where every one of them is exactly
zero, all it would add is zeros. That is common where a choice is made per trip: the reverse of
`best = min(best, dist)` gives the losing candidate a zero gradient, and the loop that computed
that candidate need not be reversed at all (k-means reverses the distance to the nearest centre
only, as a hand-written adjoint does). The test is made once, on entering the reverse loop.

A loop qualifies when skipping it changes nothing but those zeros: it reads nothing recorded
(no stack), puts back no overwritten element, reads no array gradient, and receives its
gradients only through the slots its header takes, all scalars.

A loop that qualifies but for what it reads from stacks, each of which a trip pops a known
number of times (its forward trips recorded there at known places, adjoint/tape.py), is tested
before every trip instead: once the gradients it carries are all zero, so are those of every trip
left, whose records are dropped at once (the reverse of `best = min(best, dist)` over k-means'
centres stops at the nearest one).
"""
from __future__ import annotations

from ..ir.cfg import natural_loops
from ..ir.ir import Branch, Function, Slot, Stmt, substitute_in, uses
from ..ir.primitives import PRIMITIVES
from ..ir.types import BOOL, FLOAT, INT, Scalar, is_float
from .tape import TripStack

# besides pure primitives, what a skippable loop may do: read scalar slots and add to any slot
_GRADIENT_OPS = {"take", "load", "accum", "accum_at"}


def skip_idle_loops(rev: Function) -> list:
    """Guard each loop that qualifies. -> [(header, test block, skip block)]"""
    guards = []
    while True:  # loops found again after each guard, which adds blocks to the loops around it
        blocks = rev.block_map()
        done = {b.id for guard in guards for b in guard[:2]}
        found = None
        loops = natural_loops(rev)
        for h, body in loops.items():
            drops = None if h in done else _skippable(rev, blocks[h], body, loops)
            if drops is not None:
                found = blocks[h], body, drops
                break
        if found is None:
            return guards
        guards.append((found[0], *_guard(rev, *found)))


def _skippable(rev, header, body, loops):
    """None if the loop does not qualify; else the stacks it pops, each with how many values a
    trip pops ({} for a loop that pops none). `loops`: natural_loops(rev)."""
    drops = _pops_per_trip(rev, body, loops)
    if drops is None or header.args or not _adds_only(rev, header, body):
        return None
    if drops:  # skipped from a trip on, with trips left: only zeros may flow out
        taken = _taken_values(header)
        if _trip_counter(header) is None or any(
                not is_float(taken[v].type) for v in _used_after(rev, body)):
            return None
    return drops


def _pops_per_trip(rev, body, loops):
    """{stack: pops per trip} if every pop in the loop is of a stack whose forward recorded a
    fixed number per trip (a TripStack) and lies outside the loops inside it; else None."""
    blocks = rev.block_map()
    inner = set().union(*(b for b in loops.values() if b < body), set())
    drops = {}
    for bid in body:
        for s in blocks[bid].stmts:
            if s.op == "pop":
                if bid in inner or not isinstance(s.args[0], TripStack):
                    return None
                drops[s.args[0]] = drops.get(s.args[0], 0) + 1
    return drops


def _adds_only(rev, header, body) -> bool:
    """Whether a run of the loop entered with zero gradients changes nothing but adding zeros."""
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
            elif s.op == "pop":  # a TripStack's (_pops_per_trip)
                continue
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


def _guard(rev, header, body, drops):
    """Entering edges go through a test of the header's float slots: all zero -> take them (the
    trip count among them) and leave as the loop would, passing on what was taken. A loop that
    pops (`drops`) is tested in every trip instead (_guard_trips)."""
    if drops:
        return _guard_trips(rev, header, body, drops)
    taken = _taken_values(header)
    floats = [slot for slot in taken.values() if is_float(slot.type)]
    leave = next(br for br in header.branches if br.target not in body)
    outflow = _used_after(rev, body)
    entering = [br for b in rev.blocks if b.id not in body
                for br in b.branches if br.target == header.id]
    test, skip = rev.new_block(), rev.new_block()
    for br in entering:
        br.target = test.id
    values = []
    for slot in floats:
        values.append(rev.new_var(slot.type))
        test.stmts.append(Stmt(values[-1], "load", [slot]))
    test.branches = [Branch(header.id, [], _all_zero(rev, test, values)), Branch(skip.id, [])]
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


def _guard_trips(rev, header, body, drops):
    """After the header has taken its slots, a trip whose float gradients are all zero drops what
    the trips left (the count the header took, this one among them) would have popped, and goes
    back to the header, which then takes a trip count of zero and leaves: a loop with one exit
    stays one that Python's `while` expresses (structure.py). The others go on as before."""
    taken = _taken_values(header)
    go_on = next(br for br in header.branches if br.target in body)
    test, skip = rev.new_block(), rev.new_block()
    test.branches = [Branch(go_on.target, go_on.args, _all_zero(
        rev, test, [v for v, slot in taken.items() if is_float(slot.type)])),
                     Branch(skip.id, [])]
    go_on.target, go_on.args = test.id, []
    trips_left = _trip_counter(header)
    for stack, per_trip in drops.items():
        count = trips_left
        if per_trip != 1:
            count = rev.new_var(INT)
            skip.stmts.append(Stmt(count, "mul", [trips_left, per_trip]))
        skip.stmts.append(Stmt(None, "drop", [stack, count]))
    skip.branches = [Branch(header.id, [])]
    return test, skip


def _all_zero(rev, block, values):
    """A bool, computed at the end of `block`: whether every float of `values` is zero (the sum
    of magnitudes is zero only if each is; NaN is not)."""
    size = None
    for value in values:
        magnitude = rev.new_var(value.type)
        block.stmts.append(Stmt(magnitude, "abs", [value]))
        if size is not None:
            total = rev.new_var(size.type if size.type == magnitude.type else FLOAT)
            block.stmts.append(Stmt(total, "add", [size, magnitude]))
            magnitude = total
        size = magnitude
    idle = rev.new_var(BOOL)
    block.stmts.append(Stmt(idle, "eq", [size, 0.0]))
    return idle


def _trip_counter(header):
    """The trips left, which the header takes from their slot and tests for > 0; or None."""
    taken = _taken_values(header)
    return next((s.args[0] for s in header.stmts
                 if s.op == "gt" and s.args[0] in taken and s.args[1] == 0), None)

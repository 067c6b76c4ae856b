"""Which arrays a pullback's element accesses may overlap (unchecked.py's scopes), so that LLVM
keeps a gradient's elements in registers across a loop's trips instead of reloading them after
every store into another array: an in-place stencil's reverse adds into the gradient at i - 1, i
and i + 1 each trip, and puts back the primal element the forward overwrote.

A gradient slot's array is the pullback's own: made by zy_zeros or copied by zy_accum, then
added into, and handed on by `take`, which empties the slot. So it shares no memory with
another slot's array or a primal one. Each slot's array gets a scope of its own; every other
array shares one scope, except those that may hold a slot's memory (a value taken or loaded from
a slot, and whatever is computed from it), whose accesses carry no scope and so are assumed to
overlap anything.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ...ir.ir import Slot, Var
from ...ir.types import ArrayT, ListT, Scalar

ELEMENT_OF_SLOT = ("accum_at", "take_at", "load_at")
# statements that add into a slot or read its elements out: none hands on the slot's memory
BY_VALUE = ("accum", *ELEMENT_OF_SLOT, "init", "ensure")
CONTAINERS = (Var, Slot, Scalar, ArrayT, ListT)  # values, slots and stacks


@dataclass
class Scopes:
    nest: str
    own: dict  # gradient slot -> its scope's index
    unscoped: set = field(default_factory=set)  # values that may hold a slot's memory
    adopting: set = field(default_factory=set)  # accums whose empty slot takes the array over

    def place(self, key) -> str | None:
        """The scope arguments of an access to `key` (a slot or an array value): its own scope,
        the shared one (-1), or None for no scope."""
        if key in self.own:
            k = self.own[key]
        elif isinstance(key, Var) and key not in self.unscoped:
            k = -1
        else:
            return None
        return f"'{self.nest}', {len(self.own)}, {k}"


def _gradient_array(slot) -> bool:
    return isinstance(slot, Slot) and slot.of is not None and isinstance(slot.type, ArrayT)


def reverse_scopes(rev) -> Scopes:
    """The scopes of pullback `rev`'s element accesses."""
    stmts = [s for b in rev.blocks for s in b.stmts]
    stored = {s.args[0] for s in stmts if s.op == "store"}
    slots = list(dict.fromkeys(s.args[0] for s in stmts if s.op in ELEMENT_OF_SLOT
                               and _gradient_array(s.args[0]) and s.args[0] not in stored))
    # what may hold a slot's memory, to a fixed point: values, and the slots, stacks and block
    # arguments they reach
    blocks, reached, changed = rev.block_map(), set(), True
    while changed:
        before = len(reached)
        for s in stmts:
            held = [a for a in s.args if isinstance(a, CONTAINERS)]
            if s.op in BY_VALUE or not any(a in reached or _gradient_memory(a) for a in held):
                continue
            if s.var is not None and not isinstance(s.var.type, Scalar):
                reached.add(s.var)
            reached.update(a for a in held if not isinstance(a, Var) and a not in slots)
        for b in rev.blocks:
            for br in b.branches:
                if not br.is_return:
                    reached.update(p for p, a in zip(blocks[br.target].args, br.args, strict=True)
                                   if isinstance(a, Var) and a in reached)
        changed = len(reached) != before
    return Scopes("reverse", {slot: k for k, slot in enumerate(slots)}, reached,
                  _adopting(rev))


def _adopting(rev) -> set:
    """The accums into a lazy slot whose contribution is a gradient taken from a lazy slot that
    is never loaded (an array nothing else refers to), read by nothing after them and not added
    again before it is taken again (a loop around the accum alone): the slot, if empty, can take
    the array over instead of copying it. A loop's reverse moves each trip's
    gradients from slot to slot so; copying them cost an in-place stencil's pullback an eighth
    of its time."""
    # a slot read by `load` may have handed its array to a value that outlives the take
    loaded = {s.args[0] for b in rev.blocks for s in b.stmts if s.op in ("load", "store")}
    taken, uses, escaping = {}, defaultdict(list), set()
    for b in rev.blocks:
        for at, s in enumerate(b.stmts):
            if (s.op == "take" and _gradient_array(s.args[0]) and s.args[0].lazy
                    and s.args[0] not in loaded):
                taken[s.var] = b.id
            for a in s.args:
                if isinstance(a, Var):
                    uses[a].append((b.id, at, s))
        escaping.update(a for br in b.branches for a in br.args if isinstance(a, Var))
    successors = {b.id: b.successors() for b in rev.blocks}
    adopting = set()
    for c, home in taken.items():
        if c in escaping:
            continue
        for block, at, s in uses[c]:
            later = {(b, a) for b, a, other in uses[c] if other is not s}
            if (s.op == "accum" and s.args[0].lazy and s.args[1] is c
                    and not any(b == block and a > at for b, a in later)
                    and not _reaches(successors, block, {block} | {b for b, _ in later}, home)):
                adopting.add(s)
    return adopting


def _reaches(successors, start, targets, home) -> bool:
    """Whether a path from the end of block `start` enters a block in `targets` before passing
    through block `home` (where the value is made again)."""
    seen, todo = set(), list(successors[start])
    while todo:
        b = todo.pop()
        if b in seen or b == home:
            continue
        if b in targets:
            return True
        seen.add(b)
        todo.extend(successors[b])
    return False


def _gradient_memory(a) -> bool:
    """Whether `a` is a gradient slot that holds an array or a list."""
    return isinstance(a, Slot) and a.of is not None and not isinstance(a.type, Scalar)

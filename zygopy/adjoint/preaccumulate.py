"""The pullback's elementwise start moved into the forward, computed there with a unit seed.

A scalar loss `np.sum(e(a, b, c))` has a pullback that spreads the seed `dy` over the elements and
runs e's rules on every element: linear in `dy`, and reading values only the forward computed. So
the forward can compute those gradients for dy = 1 in the loop that computes e (local partial
derivatives, as in Tapenade's preaccumulation), and the pullback only scales them by dy: each
element's forward and reverse run in one loop, and the tape holds the partials instead of the
intermediate values. Done where it pays: the partials are no more arrays than the tape held and
fewer than the pullback's loop would read, and their inputs are the forward's arguments or its
elementwise values (which its loops compute).
"""
from __future__ import annotations

from ..ir.ir import Function, Stmt, Var, substitute, users_of, uses
from ..ir.passes.dce import eliminate_dead_code
from ..ir.primitives import PRIMITIVES
from ..ir.types import ArrayT, Scalar

# how a statement's value can be linear in the seed: through its first operand alone, through
# every operand it adds (a constant 0 counts), or through exactly one factor
LINEAR = {"spread": "first", "neg": "first", "pos": "first", "truediv": "first",
          "add": "every", "sub": "every", "select": "every", "mul": "one"}


def preaccumulate(fwd: Function, rev: Function, tape: list) -> list:
    """Move the seed-linear, elementwise start of `rev` into `fwd` where it pays; -> the new tape
    (rev's arguments after the seed)."""
    seed = rev.entry.args[0]
    ret = [b for b in fwd.blocks if any(br.is_return for br in b.branches)]
    if not (isinstance(seed.type, Scalar) and seed.type.is_float) or len(ret) != 1:
        return tape
    forward = set(fwd.args) | {s.var for s in fwd.entry.stmts if s.var is not None}
    moved, linear = _movable(rev, seed, forward)
    users = users_of(rev)
    partials = [s.var for s in moved if s.var in linear
                and any(u not in moved for u in users.get(s.var, []))]
    needed = set(partials)  # what the partials are computed from
    for st in reversed(moved):
        if st.var in needed:
            needed.update(uses(st))
    moved = [st for st in moved if st.var in needed]
    if not _pays(moved, partials, fwd, rev, tape, users):
        return tape

    one = fwd.new_var(seed.type)
    copies = {seed: one}
    fwd.entry.stmts.insert(0, Stmt(one, "astype", [1.0, seed.type.dtype]))
    for st in moved:
        copies[st.var] = fwd.new_var(st.var.type)
        ret[0].stmts.append(Stmt(copies[st.var], st.op, [copies.get(a, a) if isinstance(a, Var)
                                                         else a for a in st.args], st.line))
    scaled = {p: rev.new_var(p.type) for p in partials}
    substitute(rev, scaled)
    rev.entry.stmts[:0] = [Stmt(scaled[p], "mul", [seed, copies[p]], _line(moved, p))
                           for p in partials]
    eliminate_dead_code(rev)
    read = {v for b in rev.blocks for inst in b.stmts + b.branches for v in uses(inst)}
    new_tape = [v for v in tape if v in read] + [copies[p] for p in partials]
    rev.entry.args[1:] = new_tape
    return new_tape


def _movable(rev, seed, forward):
    """The pure statements at the start of rev's entry that the forward can compute: linear in
    the seed (-> the second set), elementwise on the forward's values, or numbers and shapes
    from them; in order."""
    linear, available, moved = {seed}, set(), []
    for st in rev.entry.stmts:
        if not PRIMITIVES[st.op].pure:
            break
        reads = uses(st)
        if not all(r in linear or r in available or r in forward for r in reads):
            continue
        if any(r in linear for r in reads):
            if not _linear(st, linear):
                continue
            linear.add(st.var)
        elif st.var is not None and (PRIMITIVES[st.op].elementwise
                                     or not isinstance(st.var.type, ArrayT)):  # shapes, counts
            available.add(st.var)
        else:
            continue
        moved.append(st)
    return moved, linear


def _linear(st, linear) -> bool:
    """Whether st's value is linear in the seed, its seed-dependent operands being those LINEAR
    allows (a select's condition is not one of the operands it adds)."""
    kind = LINEAR.get(st.op)
    if kind is None or st.var is None:
        return False
    dependent = [i for i, a in enumerate(st.args) if a in linear]
    if kind == "one":
        return len(dependent) == 1
    if kind == "first":
        return dependent == [0]
    added = range(1 if st.op == "select" else 0, len(st.args))
    return set(dependent) <= set(added) and all(
        st.args[i] in linear or st.args[i] == 0.0 for i in added)


def _pays(moved, partials, fwd, rev, tape, users) -> bool:
    if not partials or not all(isinstance(p.type, ArrayT) for p in partials):
        return False
    inputs = {r for st in moved for r in uses(st) if isinstance(r.type, ArrayT)} & set(tape)
    if len(inputs) <= len(partials):
        return False  # the pullback's loop reads no more than scaling the partials would
    elementwise = {s.var for s in fwd.entry.stmts
                   if s.var is not None and PRIMITIVES[s.op].elementwise}
    if not all(v in fwd.args or v in elementwise for v in inputs):
        return False  # a reduction's or a product's result: a loop of its own in the forward
    inside = set(moved)  # what stays in the pullback: the rest, and moved values it still reads
    remaining = [i for b in rev.blocks for i in b.stmts + b.branches if i not in inside]
    remaining += [st for st in moved if st.var not in partials
                  and any(u not in inside for u in users.get(st.var, []))]
    kept = {v for u in remaining for v in uses(u)}
    stored = [v for v in tape if isinstance(v.type, ArrayT) and v not in fwd.args]
    return len([v for v in stored if v in kept]) + len(partials) <= len(stored)


def _line(moved, v):
    return next(s.line for s in moved if s.var is v)

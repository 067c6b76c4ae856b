"""What the forward records for the reverse pass: the adjoint's last stage decides it, and
code_adjoint shows it per trip of each loop (the figure the to-be-recorded analyses and
recomputation keep down).

A forward value the reverse reads is pushed on a typed stack only where it is defined inside a
loop that also contains the block reading it; a block that runs once in every trip of a loop
whose trip count is known when it starts writes its scalars at places of their own in room the
loop reserves (a store Numba can vectorise, not a test of the stack's fill per value), or the loop
around it reserves for all its runs, where it runs as many trips in each; an array a
counted loop only reads is pushed once per run of the loop; arrays a loop passes round with their
places permuted (`u, v = v, u`) are swapped back trip by trip, not recorded; index expressions
and elements of arrays nothing writes are recomputed in the reverse; everything else is read
directly, from the tape the forward returns.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..ir.cfg import dominators, natural_loops
from ..ir.infer import type_of_arg
from ..ir.ir import Branch, Function, Slot, Stmt, Var, substitute_in
from ..ir.primitives import PRIMITIVES, TRUTH_VALUED, has_index_array
from ..ir.types import BOOL, INT, ArrayT, Scalar, TupleT, is_float
from .activity import VIEWS
from .mutation import written_values

# scalar arithmetic computed again in the reverse from elements read again, not recorded (reread);
# so is a power to a constant integer
REREAD_ARITHMETIC = {"add", "sub", "mul", "neg", "pos"}
# and, on elements of arrays nothing writes, a division or an exponential too: computed again in
# the reverse rather than pushed and popped once per trip
RECOMPUTED_ARITHMETIC = REREAD_ARITHMETIC | {"truediv", "exp"}


def record(primal, built) -> tuple:
    """Where each forward value the reverse blocks of `built` read comes from: pushes and pops
    added, the tape chosen. -> (tape, stack kinds)"""
    unrestored = drop_unread_restores(primal.fn, built.rev)
    recorder = _Recorder(primal, built, unrestored)
    tape, stacks = recorder.stash()
    recorder.allocate_before_loops()
    return tape, stacks


class _Recorder:
    def __init__(self, primal, built, unrestored):
        self.fn = primal.fn
        self.unrestored = unrestored
        self.trips, self.exit_blocks = primal.trips, primal.exit_blocks
        # the loops as they are now: counting an inner loop's trips split blocks off inside the
        # loops around it, after those were measured (a stale body made an inner loop's header
        # look like a block run once per trip of the outer loop: one record where it made many)
        now = natural_loops(self.fn)
        self.loop_body = {h: now.get(h, body) for h, body in primal.loop_body.items()}
        self.loops, self.defined_in = built.loops, built.defined_in
        self.group, self.rev_of = built.group, built.rev_of
        self.trip_index, self.going_round = built.trip_index, built.going_round
        self.hoisted = {}  # (loop header, array) -> slot the reverse pass reads it from
        self.numbered = self._numbered_loops()
        self.definition = {s.var: s for b in self.fn.blocks for s in b.stmts if s.var is not None}
        self.once_per_trip = self._once_per_trip()
        self._outer = {}  # inner loop header -> _outer_trips' answer
        self.scalar_tags = 0  # tagged stacks of numbers (TripStack, HoistedScalars) made
        self.after_swap = {}  # reverse block id -> how many statements swap carried arrays
        self.carried = self._carried_arrays()

    def new_var(self, type=None):
        return self.fn.new_var(type)

    def stash(self):
        """Decide, per reverse block, which forward values come from a stack and which from the
        tape."""
        loops, defined_in = self.loops, self.defined_in
        definition = self.definition
        # arguments nothing writes (the caller's arrays the function writes are private copies;
        # an operand of an impure primitive, such as record_statistics, may be written): an
        # element read from one is read again in the reverse rather than recorded
        impure = {a for b in self.fn.blocks for s in b.stmts
                  if not getattr(PRIMITIVES.get(s.op), "pure", True) for a in s.args
                  if isinstance(a, Var)}
        # and new arrays computed outside loops in blocks every run passes through
        # (np.exp(log_sigma[0:m]), as counter rows are), which the tape holds once: the reverse
        # may read their shapes at its start
        dom = dominators(self.fn)
        returning = [dom[b.id] for b in self.fn.blocks
                     if b.id in dom and any(br.is_return for br in b.branches)]
        always = set.intersection(*returning) if returning else set()
        fresh = {v for v, b in defined_in.items() if b in always and not loops.get(b)
                 and isinstance(v.type, ArrayT) and v in definition
                 and PRIMITIVES[definition[v].op].pure and not PRIMITIVES[definition[v].op].view}
        unwritten = {a for a in self.fn.args if isinstance(a.type, ArrayT)} | fresh
        unwritten -= written_values(self.fn) | impure
        # and the numbers computed outside loops, which the tape holds once
        unwritten |= {v for v, b in defined_in.items()
                      if not loops.get(b) and isinstance(v.type, Scalar)}
        # what changes arrays other than the writes the reverse undoes
        changed = {a for b in self.fn.blocks for s in b.stmts
                   if s.op != "setindex" and not getattr(PRIMITIVES.get(s.op), "pure", True)
                   for a in s.args if isinstance(a, Var)} | self.unrestored
        tape, stacks = [], []
        for b in self.fn.blocks:
            blocks = self.group[b.id]
            self.record_truths(b, blocks)
            self.reread(b, blocks, changed)
            self.count_known_trips(b, blocks, definition)
            self.recompute(blocks, definition, unwritten | self._counted(b), self._invariant(b))
            self.count_down(b, blocks)
            refs = _forward_refs(blocks, defined_in)
            stacked = [v for v in refs if loops[b.id] and defined_in[v] in loops[b.id]]
            hoisted = self.hoist(b, stacked, stacks)
            carried = [v for v in stacked if v not in hoisted and self._carried_at(b.id, v)]
            self.load_carried(blocks, carried)
            refs = [v for v in refs if v not in carried]
            stacked = [v for v in stacked if v not in hoisted and v not in carried]
            for v in refs:
                if v not in stacked and v not in tape:
                    tape.append(v)
            substitute_in(blocks, hoisted)
            if not stacked:
                continue
            kinds = self.reserve(b, stacked)
            popped = {}
            for v in stacked:
                kind = kinds.get(v, v.type)
                if kind not in stacks:
                    stacks.append(kind)
                if v not in kinds:
                    b.stmts.append(Stmt(None, "push", [kind, v]))
                popped[v] = self.new_var(v.type)
            pops = [Stmt(popped[v], "pop", [kinds.get(v, v.type)]) for v in reversed(stacked)]
            self.rev_of[b.id].stmts[:0] = pops
            substitute_in(blocks, popped)
        return tape, stacks

    def _carried_arrays(self) -> dict:
        """Arrays a counted loop's back edge passes among its block arguments as they are, only
        their places permuted (`u, v = v, u`): the reverse pass swaps them back at each trip
        instead of recording them. -> {header argument: (header id, the slot holding it)}"""
        blocks = self.fn.block_map()
        out = {}
        for h in self.numbered & set(self.going_round):
            header = blocks[h]
            back = self._back_edge(h)
            passed = {a: p for a, p in zip(header.args, back.args, strict=True)
                      if isinstance(a.type, ArrayT) and p in header.args}
            while True:  # keep a permutation of the arguments: each from one kept, none lost
                sources = list(passed.values())
                kept = {a: p for a, p in passed.items()
                        if p in passed and sources.count(p) == 1}
                if kept == passed:
                    break
                passed = kept
            for a in passed:
                out[a] = (h, Slot(20_000 + len(out), None, a.type))
        self._carry(out, blocks)
        return out

    def _back_edge(self, h):
        """The branch going round loop h: the header's one edge besides its entry (the block
        recorded as its source when the trips were counted may since have had that branch split
        off, by an inner loop whose exit it was)."""
        return next(br for b in self.fn.blocks if b.id != self.trips[h][1]
                    for br in b.branches if br.target == h)

    def _carry(self, carried, blocks):
        """Each exit of a loop sets the slots of its carried arrays to their last values; each trip
        the reverse pass starts sets them to the values of the trip before."""
        for h in dict.fromkeys(h for h, _ in carried.values()):
            back = self._back_edge(h)
            mine = [(a, p) for a, p in zip(blocks[h].args, back.args, strict=True)
                    if a in carried and carried[a][0] == h]
            for exit_id, header in self.exit_blocks.items():
                if header == h:
                    self.rev_of[exit_id].stmts[:0] = [Stmt(None, "store", [carried[a][1], a])
                                                      for a, _ in mine]
            # the trip after passed a the value p had: going back, p gets a's value
            now = {a: self.new_var(a.type) for a, _ in mine}
            swap = ([Stmt(now[a], "load", [carried[a][1]]) for a, _ in mine]
                    + [Stmt(None, "store", [carried[p][1], now[a]]) for a, p in mine])
            self.going_round[h].stmts[:0] = swap
            self.after_swap[self.going_round[h].id] = len(swap)

    def _carried_at(self, block_id, v) -> bool:
        """Whether the reverse of this block reads carried array v from its slot: inside v's
        loop, where the slot holds v's value in the trip being reversed."""
        return v in self.carried and block_id in self.loop_body[self.carried[v][0]]

    def load_carried(self, blocks, carried):
        """The reverse blocks read each carried array from its slot (after a trip's swap)."""
        for rb in blocks:
            reads = [v for v in carried if v in _forward_refs([rb], self.defined_in)]
            if not reads:
                continue
            loaded = {v: self.new_var(v.type) for v in reads}
            at = self.after_swap.get(rb.id, 0)
            rb.stmts[at:at] = [Stmt(loaded[v], "load", [self.carried[v][1]]) for v in reads]
            substitute_in([rb], loaded)

    def record_truths(self, b, blocks):
        """A comparison the reverse makes of forward values alone (which operand `min` chose)
        is made by the forward instead, which then records one bool per trip rather than the
        numbers compared, when nothing else in the reverse reads them."""
        if not self.loops[b.id]:
            return
        # (of numbers: an edge taken, `%from != 0`, is recorded as the int it is)
        candidates = [(rb, s) for rb in blocks for s in rb.stmts if s.op in TRUTH_VALUED
                      and all(not isinstance(a, Var) or a in self.defined_in
                              and isinstance(a.type, Scalar) for a in s.args)
                      and any(isinstance(a, Var) and is_float(a.type) for a in s.args)]
        compared = Counter(a for _, s in candidates for a in s.args
                           if isinstance(a, Var) and self._in_loop(b, a))
        uses = Counter(a for a in _forward_refs(blocks, self.defined_in, repeat=True)
                       if a in compared)
        if not compared or compared != uses:
            return
        for rb, s in candidates:
            rb.stmts.remove(s)
            s.var.type = BOOL
            b.stmts.append(s)
            self.defined_in[s.var] = b.id

    def reread(self, b, blocks, changed):
        """Scalars a loop body computes from elements of arrays (u[i - 1] - 2.0 * u[i]), computed
        again in its reverse block rather than recorded. The reverse pass puts back what each
        write overwrote, so between the undo of the first write `b` made after a read and the
        undo of the last write before it, the array holds what the read saw: the copies go at
        one point inside every such window, before every use. Only arrays the reverse reads
        without a record per trip of the loop (made before it) are read again."""
        if not self.loops[b.id]:
            return  # outside loops a value is recorded once, and nothing is gained
        rev = blocks[0]
        # an index is read from where the reverse has it anyway, never recorded for this
        needed = set(_forward_refs(blocks, self.defined_in))
        reads = {}  # candidate -> positions in b of the reads it is computed from
        made = []
        for p, s in enumerate(b.stmts):
            x = s.var
            if x is None or not (isinstance(x.type, Scalar) and is_float(x.type)):
                continue
            if s.op == "getindex" and self._readable(b, s.args[0], changed) and all(
                    not isinstance(a, Var) or a.type == INT and (
                        a in needed or not self._in_loop(b, a)) for a in s.args[1:]):
                reads[x] = {p}
            elif (s.op in REREAD_ARITHMETIC or s.op == "pow" and isinstance(s.args[1], int)) \
                    and any(a in reads for a in s.args) and all(
                    not isinstance(a, Var) or a in reads or not self._in_loop(b, a)
                    for a in s.args):
                reads[x] = set().union(*(reads[a] for a in s.args if a in reads))
            else:
                continue
            made.append(s)
        undo = {p: next(k for k, t in enumerate(rev.stmts)
                        if t.op == "setindex" and t.args[2] is s.args[3])
                for p, s in enumerate(b.stmts) if s.op == "setindex" and len(s.args) > 3}
        # the window of a read at p: after the undo of the first write after it (undone last of
        # those), up to the undo of the last write before it
        lo = {p: max((k + 1 for w, k in undo.items() if w > p), default=0) for p in range(
            len(b.stmts))}
        hi = {p: min((k for w, k in undo.items() if w < p), default=len(rev.stmts))
              for p in range(len(b.stmts))}
        def used_before(v, k):
            return any(v in t.args for t in rev.stmts[:k]) or any(
                v in br.args or v is br.cond for br in rev.branches)
        first = True
        while made:
            opens = {s.var: max(lo[p] for p in reads[s.var]) for s in made}
            if first:  # those used before their window opens can never be read again
                bad, first = {v for v, k in opens.items() if used_before(v, k)}, False
            else:
                at = max(opens.values())
                bad = {s.var for s in made if any(hi[p] < at for p in reads[s.var])
                       or used_before(s.var, at)}
                if not bad:
                    break
            for s in made:  # what is computed from a dropped value is dropped too
                if any(a in bad for a in s.args):
                    bad.add(s.var)
            made = [s for s in made if s.var not in bad]
        if not made:
            return
        clones = {}
        copies = []
        for s in made:
            clones[s.var] = self.new_var(s.var.type)
            copies.append(Stmt(clones[s.var], s.op, [clones.get(a, a) for a in s.args], s.line))
        tail = rev.stmts[at:]
        for t in tail:
            t.args = [clones.get(a, a) if isinstance(a, Var) else a for a in t.args]
        rev.stmts[at:] = copies + tail

    def _counted(self, b) -> set:
        """The trip counters count_down gives b's reverse blocks."""
        return {self.trips[h][0] for h, body in self.loop_body.items()
                if b.id in body and b.id != h and h in self.numbered}

    def count_down(self, b, blocks):
        """A loop's trip counter, read in the reverse of its body, is the number of the trip the
        reverse pass is undoing, which it counts down anyway: not recorded (`for i in range(n)`
        counts its trips in `i`, prepare.py)."""
        for h, body in self.loop_body.items():
            if b.id in body and b.id != h and h in self.numbered:
                substitute_in(blocks, {self.trips[h][0]: self.trip_index[h]})

    def count_known_trips(self, b, blocks, definition):
        """A loop left only from its header once `trips < n` fails, n coming from outside it
        (`for i in range(n)`), ran n trips (none if n <= 0, which the reverse treats alike): its
        exit's reverse reads n, often computed again (a shape) rather than recorded per run."""
        h = self.exit_blocks.get(b.id)
        bound = self._known_trips(h, b.id, definition)
        if bound is not None:
            substitute_in(blocks, {self.trips[h][0]: bound})

    def _known_trips(self, h, exit_id, definition):
        """n, if counted loop `h` is left (to `exit_id`) only from its header once `trips < n`
        fails, n coming from outside it; else None."""
        if h not in self.numbered:
            return None
        header = self.fn.block_map()[h]
        leave = next(br for br in header.branches if br.target == exit_id)
        test = definition.get(leave.cond)
        if test is None or test.op != "lt" or test.args[0] is not self.trips[h][0]:
            return None
        bound = test.args[1]
        known = (isinstance(bound, Var) and bound.type == INT
                 and self.defined_in.get(bound) not in self.loop_body[h]
                 or isinstance(bound, int) and not isinstance(bound, bool))
        return bound if known else None

    def _once_per_trip(self) -> dict:
        """Block id -> (loop header, trip count) for the blocks that run exactly once in every
        trip of a counted loop whose trip count is known when it starts: those that dominate its
        back edge and lie in no loop inside it."""
        dom = dominators(self.fn)
        bodies = natural_loops(self.fn)
        out = {}
        for exit_id, h in self.exit_blocks.items():
            bound = self._known_trips(h, exit_id, self.definition)
            if bound is None:
                continue
            body = self.loop_body[h]
            for bid in body - {h}:
                if bid in dom.get(self.trips[h][2], ()) and not any(
                        bid in inner and inner < body for inner in bodies.values()):
                    out[bid] = (h, bound)
        return out

    def reserve(self, b, stacked) -> dict:
        """Where `b` runs once per trip of a loop with known trips: the loop's entry reserves room
        for every trip's scalars of each dtype, and each trip writes its own at
        `base + trip * per_trip + j`, in the order pushes would have filled it (so the reverse pops
        them as usual). -> {value: its stack}"""
        scalars = [v for v in stacked if isinstance(v.type, Scalar)]
        if b.id not in self.once_per_trip or not scalars:
            return {}
        h, bound = self.once_per_trip[b.id]
        trip = self.trips[h][0]
        kinds = {}
        for dtype in dict.fromkeys(v.type.dtype for v in scalars):
            values = [v for v in scalars if v.type.dtype == dtype]
            self.scalar_tags += 1
            kind = TripStack(dtype, tag=self.scalar_tags)
            base, first, offset = self._room(kind, h, bound, len(values)), self.new_var(INT), trip
            if len(values) > 1:
                offset = self.new_var(INT)
                b.stmts.append(Stmt(offset, "mul", [trip, len(values)]))
            b.stmts.append(Stmt(first, "add", [base, offset]))
            for j, v in enumerate(values):
                at = first
                if j:
                    at = self.new_var(INT)
                    b.stmts.append(Stmt(at, "add", [first, j]))
                b.stmts.append(Stmt(None, "push_at", [kind, at, v]))
                kinds[v] = kind
        return kinds

    def _room(self, kind, h, bound, per) -> Var:
        """The base of the room for `bound` trips of loop h, `per` values a trip, reserved at the
        loop's entry; or, where that entry runs once in every trip of a loop around h whose trips
        are known and `bound` can be computed before that loop, reserved there for all of its
        trips at once (k-means' loop over centres, run once per point): the stack's growth is
        then tested once, not in every trip of the outer loop."""
        entry = self.fn.block_map()[self.trips[h][1]]
        base = self.new_var(INT)
        outer = self._outer_trips(h, bound)
        if outer is None:
            entry.stmts.append(Stmt(base, "reserve", [kind, bound, per]))
            return base
        before, total, done = outer  # done: h's trips in the outer loop's trips before this one
        first = self.new_var(INT)
        before.stmts.append(Stmt(first, "reserve", [kind, total, per]))
        if per != 1:
            scaled = self.new_var(INT)
            entry.stmts.append(Stmt(scaled, "mul", [done, per]))
            done = scaled
        entry.stmts.append(Stmt(base, "add", [first, done]))
        return base

    def _outer_trips(self, h, bound):
        """(the block before the loop around h, all of h's trips in it, h's trips before the
        current one of it), where h's entry runs once in every trip of a loop with known trips
        and `bound` can be computed before that loop; None otherwise. Once per loop h: every
        dtype's room shares them. Trips that do not run (a bound below 0) count none."""
        if h not in self._outer:
            entry = self.fn.block_map()[self.trips[h][1]]
            outer = self.once_per_trip.get(entry.id)
            found = None
            if outer is not None:
                h2, bound2 = outer
                before = self.fn.block_map()[self.trips[h2][1]]
                computed = []
                ahead = self._computed_at(bound, self.loop_body[h2], computed)
                if ahead is not None:
                    n2, n, total, here, done = (self.new_var(INT) for _ in range(5))
                    before.stmts += [*computed, Stmt(n2, "max", [bound2, 0]),
                                     Stmt(n, "max", [ahead, 0]), Stmt(total, "mul", [n2, n])]
                    entry.stmts += [Stmt(here, "max", [bound, 0]),
                                    Stmt(done, "mul", [self.trips[h2][0], here])]
                    found = before, total, done
            self._outer[h] = found
        return self._outer[h]

    def _computed_at(self, v, body, stmts):
        """v outside loop `body`: itself if defined outside the loop, or computed again by
        statements added to `stmts` where pure statements inside it compute v from values defined
        outside it (`len(range(0, m, 1))`); None otherwise."""
        if not isinstance(v, Var) or self.defined_in.get(v) not in body:
            return v
        d = self.definition.get(v)
        if d is None or d.op not in PRIMITIVES or not PRIMITIVES[d.op].pure:
            return None
        args = [self._computed_at(a, body, stmts) for a in d.args]
        if any(a is None for a in args):
            return None
        again = self.new_var(v.type)
        stmts.append(Stmt(again, d.op, args))
        return again

    def _numbered_loops(self) -> set:
        """Headers of the counted loops whose trips the reverse numbers: those left from their
        header only, so that the reverse enters each trip through it. A trip left early (break,
        return) is reversed from where it was left, before the header has numbered it."""
        left_early = {self.exit_blocks[br.target] for blk in self.fn.blocks for br in blk.branches
                      if br.target in self.exit_blocks and blk.id != self.exit_blocks[br.target]}
        return set(self.trip_index) - left_early

    def _in_loop(self, b, v):
        return self.defined_in.get(v) in self.loops[b.id]

    def _readable(self, b, a, changed):
        """Whether the reverse of `b` reads array `a` without a record per trip of b's loops:
        made outside them, or outside the innermost counted loop (which records it once per run
        of the loop, hoist)."""
        if not isinstance(a, Var) or not isinstance(a.type, ArrayT) or a in changed:
            return False
        if not self._in_loop(b, a):
            return True
        h = self._innermost(b)
        return h is not None and self.defined_in[a] not in self.loop_body[h]

    def _innermost(self, b):
        """The header of the innermost loop holding block b, or None."""
        loops = [h for h, body in self.loop_body.items() if b.id in body]
        return min(loops, key=lambda h: len(self.loop_body[h])) if loops else None

    def _invariant(self, b) -> set:
        """The numbers made in loops around b's innermost loop, which hoist records once per run
        of it: arithmetic on them and on elements is computed again in the reverse, like
        arithmetic on numbers made outside loops."""
        h = self._innermost(b)
        if h is None:
            return set()
        inner = self.loop_body[h]
        return {v for v, d in self.defined_in.items() if isinstance(v.type, Scalar)
                and d in self.loops[b.id] and d not in inner}

    def hoist(self, b, values, stacks):
        """Arrays and numbers a counted loop only reads (made before it, in a loop around it)
        are recorded once per run of the loop, not once per trip: pushed where the loop is
        entered, read at each of its exits in the reverse pass, and dropped once the reverse pass
        leaves the loop. (The weight of a key in attention, used for each of the values' columns
        in the loop inside, is recorded once per key.) Returns {value: what the reverse reads}."""
        h = self._innermost(b)
        if h is None or not values:
            return {}
        body = self.loop_body[h]
        invariant = [v for v in values if self.defined_in[v] not in body]
        out = {}
        for v in invariant:
            key = (h, v)
            if key not in self.hoisted:
                slot = Slot(10_000 + len(self.hoisted), None, v.type)
                # an array an outer loop carries is in its slot already: nothing to record
                carried = self._carried_at(h, v)
                if not carried:
                    if isinstance(v.type, ArrayT):
                        kind = HoistedStack(v.type.dtype, v.type.ndim, len(self.hoisted) + 1)
                    else:
                        self.scalar_tags += 1
                        kind = HoistedScalars(v.type.dtype, tag=self.scalar_tags)
                    stacks.append(kind)
                    entry = self.fn.block_map()[self.trips[h][1]]
                    entry.stmts.append(Stmt(None, "push", [kind, v]))
                    self.rev_of[entry.id].stmts.insert(0, Stmt(None, "drop", [kind]))
                for exit_id, header in self.exit_blocks.items():
                    if header == h:
                        got = self.new_var(v.type)
                        read = (Stmt(got, "load", [self.carried[v][1]]) if carried
                                else Stmt(got, "peek", [kind]))
                        self.rev_of[exit_id].stmts[:0] = [read, Stmt(None, "store", [slot, got])]
                self.hoisted[key] = slot
            loaded = self.new_var(v.type)
            self.rev_of[b.id].stmts.insert(0, Stmt(loaded, "load", [self.hoisted[key]]))
            out[v] = loaded
        return out

    def allocate_before_loops(self):
        """A lazy gradient slot (allocated on its first contribution) that a reverse loop adds
        into, shaped like an array the loop only reads, is allocated where the reverse pass
        enters the loop instead of being checked at every trip: Numba compiles a loop that may
        replace an array into code 20-30x slower (an in-place stencil's gradient)."""
        like_at = {"accum_at": 3, "take_at": 2}  # the operand a lazy slot is shaped like
        for (h, _), held in self.hoisted.items():
            exits = [e for e, header in self.exit_blocks.items() if header == h]
            blocks = [rb for b in self.loop_body[h] | set(exits) for rb in self.group.get(b, ())]
            stmts = [s for rb in blocks for s in rb.stmts]
            loaded = {s.var for s in stmts if s.op == "load" and s.args[0] is held}
            reset = {s.args[0] for s in stmts if s.op == "take"}
            users = [s for s in stmts if s.op in like_at and len(s.args) > like_at[s.op]
                     and s.args[like_at[s.op]] in loaded and s.args[0] not in reset]
            slots = list(dict.fromkeys(s.args[0] for s in users))
            for s in users:
                del s.args[like_at[s.op]]
            for e in exits:
                stmts = self.rev_of[e].stmts
                at = next(k for k, s in enumerate(stmts) if s.op == "store" and s.args[0] is held)
                stmts[at + 1:at + 1] = [Stmt(None, "ensure", [slot, stmts[at].args[1]])
                                        for slot in slots]

    def recompute(self, blocks, definition, unwritten, hoisted):
        """Index expressions (slices, index tuples, an int plus or minus a constant: i - 1, a sum
        of trip counters: i + j), the elements and views of arrays nothing writes (in `unwritten`,
        with the numbers computed outside loops and the trip counters the reverse counts down)
        and arithmetic on them are rebuilt in the reverse block that reads them: cheaper than
        recording them (the reverse needs the index anyway, to add into the array's gradient),
        and a slice cannot be stored on a stack or returned. The numbers in `hoisted` are read as
        they are, and sums and products of them computed again too."""
        clones = {}

        def clone(v):
            if v not in clones:
                s = definition[v]
                args = [clone(a) if _recomputed(a, definition, unwritten, hoisted) else a
                        for a in s.args]
                clones[v] = self.new_var(v.type)
                made.append(Stmt(clones[v], s.op, args, s.line))
            return clones[v]

        made = []
        for rb in blocks:
            for inst in rb.stmts + rb.branches:
                for a in inst.args:
                    if _recomputed(a, definition, unwritten, hoisted):
                        clone(a)
        if clones:
            blocks[0].stmts[:0] = made
            substitute_in(blocks, clones)


def _recomputed(v, definition, unwritten, hoisted=frozenset()):
    s = definition.get(v) if isinstance(v, Var) else None
    if s is None or v in hoisted or v in unwritten and isinstance(v.type, Scalar):
        return False  # a number read as it is

    def again(a, within=hoisted):
        return _recomputed(a, definition, unwritten, within)
    if s.op in ("slice", "tuple"):
        return True
    if s.op == "range_len":  # the trips of a loop over a range of numbers computed outside loops
        return all(not isinstance(a, Var) or a in unwritten or again(a) for a in s.args)
    if s.op == "getattr" and s.args[1] in SHAPE_ATTRIBUTES:  # range(X.shape[1]) in a loop
        return s.args[0] in unwritten
    if s.op == "getindex" and isinstance(s.args[0], Var) and isinstance(s.args[0].type, TupleT):
        return isinstance(s.args[1], int) and again(s.args[0])
    if s.op == "getindex" and s.args[0] in unwritten and (
            isinstance(v.type, Scalar) or not has_index_array(type_of_arg(s.args[1]))):
        # an element, or a view (x[:, i + di]: rebuilt, not pushed on a list of arrays per trip)
        return all(not isinstance(a, Var) or a.type == INT or again(a) for a in s.args[1:])
    if s.op in RECOMPUTED_ARITHMETIC and isinstance(v.type, Scalar) and is_float(v.type):
        # arithmetic on such elements (a difference X[j, i] - C[k, i]): two reads and an add
        # again rather than a record per trip
        # (with numbers computed outside loops, read from the tape once: math.exp(s)); a hoisted
        # number only in sums and products: an exponential per trip of the inner loop cost more
        # than its record (a mixture's log-likelihood, 27 -> 33 ms)
        cheap = s.op in REREAD_ARITHMETIC
        return all(not isinstance(a, Var) or a in unwritten or cheap and a in hoisted
                   or again(a, hoisted if cheap else frozenset()) for a in s.args)
    # an offset index costs an add to rebuild from the index the reverse reads anyway, and so
    # does a sum of trip counters (x[:, i + di]), which the reverse counts down
    return s.op in ("add", "sub") and v.type == INT and (
        sum(isinstance(a, Var) for a in s.args) == 1
        or all(not isinstance(a, Var) or a in unwritten for a in s.args))


@dataclass(frozen=True)
class TripStack(Scalar):
    """The stack of one dtype's scalars that a block records in every trip of a loop whose trips
    are known when it starts (_Recorder.reserve)."""
    tag: int = 0

    def __str__(self):
        return f"{self.dtype} #{self.tag}"


@dataclass(frozen=True)
class HoistedStack(ArrayT):
    """The stack of one loop-invariant array, pushed once per run of a loop."""
    tag: int = 0

    def __str__(self):
        return f"array({self.dtype}, {self.ndim}d) #{self.tag}"


@dataclass(frozen=True)
class HoistedScalars(Scalar):
    """The stack of the numbers of one dtype that one loop only reads, pushed once per run of
    the loop."""
    tag: int = 0

    def __str__(self):
        return f"{self.dtype} hoisted #{self.tag}"


# slot operations whose operands from this position on only give a shape (a lazy slot's)
SHAPED_LIKE = {"take": 1, "take_at": 2, "load_at": 2, "accum_at": 3, "ensure": 1}
SHAPE_ATTRIBUTES = {"shape", "size", "ndim"}


def drop_unread_restores(fn: Function, rev: Function) -> set:
    """Arrays whose values the reverse never reads, through themselves or a view (a force array
    the forward only adds into, a buffer read linearly, an output a convolution adds into slice by
    slice): what a write into one overwrites is neither saved by the forward nor put back by the
    reverse, which only needs the gradients. Left alone: arrays whose memory other values may reach
    (_private_memory). -> those arrays"""
    writes = [s for b in fn.blocks for s in b.stmts if s.op == "setindex" and len(s.args) > 3]
    base = _private_memory(fn, {s.args[0] for s in writes})  # the arrays and their views
    arrays = set(base.values())
    for b in rev.blocks:
        for s in b.stmts:
            for k, a in enumerate(s.args):
                if isinstance(a, Var) and a in base and not _shape_or_restore(s, k):
                    arrays.discard(base[a])
        for br in b.branches:
            arrays -= {base[a] for a in [*br.args, br.cond] if isinstance(a, Var) and a in base}
    if not arrays:
        return arrays
    for b in rev.blocks:
        b.stmts = [s for s in b.stmts if not (s.op == "setindex" and s.args[0] in arrays)]
    saved = {s.args[3] for s in writes if s.args[0] in arrays}
    for s in writes:
        if s.args[0] in arrays:
            s.args = s.args[:3]
    # the reads that saved them go too, with the slices a saved copy was taken of: save_overwritten
    # made them for these writes alone
    saved |= {s.args[0] for b in fn.blocks for s in b.stmts if s.var in saved and s.op == "copy"}
    for b in fn.blocks:
        b.stmts = [s for s in b.stmts if s.var not in saved]
    return arrays


def _private_memory(fn, arrays) -> dict:
    """Of `arrays`, those whose memory no value but their views can reach: {each such array and
    each of its views: the array}. Reached otherwise: through a block argument or a branch, or an
    operand of anything but an elementwise operation, a copy, a view (followed), a write into it or
    of it, or a read of its shape or of a number."""
    base = {a: a for a in arrays}
    grown = True
    while grown:  # views of views, whatever the order of the blocks
        grown = False
        for b in fn.blocks:
            for s in b.stmts:
                if s.op in VIEWS and isinstance(s.args[0], Var) and s.args[0] in base \
                        and s.var not in base and isinstance(s.var.type, ArrayT):
                    base[s.var], grown = base[s.args[0]], True
    reached = {base[a] for b in fn.blocks for a in b.args if a in base}
    for b in fn.blocks:
        for br in b.branches:
            reached |= {base[a] for a in br.args if isinstance(a, Var) and a in base}
        for s in b.stmts:
            if s.op == "setindex" or s.op == "getattr" and s.args[1] in SHAPE_ATTRIBUTES \
                    or s.op in ("copy", *VIEWS) or s.var is not None and (
                        isinstance(s.var.type, Scalar) or s.op in PRIMITIVES
                        and PRIMITIVES[s.op].elementwise):
                continue
            reached |= {base[a] for a in s.args if isinstance(a, Var) and a in base}
    return {v: a for v, a in base.items() if a not in reached}


def _shape_or_restore(s, k):
    """Whether operand k of reverse statement s reads only the shape of an array, or puts back
    what a write overwrote."""
    return (s.op == "setindex" and k == 0
            or s.op == "getattr" and k == 0 and s.args[1] in SHAPE_ATTRIBUTES
            or k >= SHAPED_LIKE.get(s.op, len(s.args)))


def _forward_refs(blocks, defined_in, repeat=False):
    """The forward values reverse blocks read, in order of first read (of every read: repeat)."""
    refs = []
    for rb in blocks:
        for inst in rb.stmts + rb.branches:
            vals = inst.args + ([inst.cond] if isinstance(inst, Branch) and inst.cond is not None
                                else [])
            for a in vals:
                if isinstance(a, Var) and a in defined_in and (repeat or a not in refs):
                    refs.append(a)
    return refs


def tape_per_trip(forward: Function) -> list:
    """One line per loop whose trips record values: where it is and what one trip records."""
    bodies = natural_loops(forward)
    pushed = {h: Counter() for h in bodies}
    for b in forward.blocks:
        around = [h for h, body in bodies.items() if b.id in body]
        if not around:
            continue
        innermost = min(around, key=lambda h: len(bodies[h]))
        for s in b.stmts:
            if s.op in ("push", "push_at"):
                kind = s.args[0]
                pushed[innermost]["array" if isinstance(kind, ArrayT) else kind.dtype] += 1
    lines = []
    for h, counts in pushed.items():
        if not counts:
            continue
        where = min((s.line for b in forward.blocks if b.id in bodies[h] for s in b.stmts
                     if s.line is not None), default=None)
        scalars = {k: n for k, n in counts.items() if k != "array"}
        size = sum(n * np.dtype(k).itemsize for k, n in scalars.items())
        parts = [f"{n} {k}" for k, n in sorted(scalars.items())]
        what = ", ".join(parts) + f" ({size} byte{'' if size == 1 else 's'})" if parts else ""
        if counts["array"]:
            what += (" + " if what else "") + f"{counts['array']} array reference(s)"
        lines.append(f"loop from line {where}: {what} per trip")
    return lines

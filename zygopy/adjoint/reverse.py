"""The adjoint pass: typed primal IR -> forward IR that records, and reverse IR that replays it.

The algorithm follows Zygote ("Don't Unroll Adjoint", Innes 2018), with typed storage:
- a block with several incoming edges gets a block argument `%from`, the number of the edge that
  reached it; which branch ran is just another value;
- there is one reverse block per primal block: it walks the block's statements backwards,
  applying each rule from `rules.RULES` and accumulating into gradient slots (`%3̄ += ...`), then
  routes the gradients of the block's arguments back along the edge that `%from` names;
- a value the reverse pass needs is pushed on a typed stack only when it is defined inside a loop
  that also contains the block reading it; everything else is read directly (the *tape*);
- activity analysis leaves integers, booleans and values the result does not depend on alone.
Loops stay loops: the reverse of a loop is a loop, whatever the trip count.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from ..errors import NotScalar
from ..ir.cfg import dominators, loop_blocks, natural_loop
from ..ir.infer import infer_types, type_of_arg
from ..ir.ir import Block, Branch, Function, Slot, Stmt, Var
from ..ir.passes.dce import eliminate_dead_code
from ..ir.passes.fold import fold_constants
from ..ir.passes.pipeline import optimize
from ..ir.passes.renumber import renumber
from ..ir.primitives import PRIMITIVES, has_index_array, result_type
from ..ir.types import INT, ArrayT, Scalar, TupleT, is_float
from .activity import active_values
from .array_rules import ELEMENTWISE, Scatter
from .forwarding import forward_slots
from .lists import record_list_positions
from .mutation import check_writes, written_arguments, written_values
from .preaccumulate import preaccumulate
from .rules import Sym, rule_for
from .shapes import equal_shapes
from .tape import tape_per_trip


@dataclass
class Adjoint:
    forward: Function  # the primal, recording `%from` edges and pushing stacked values
    reverse: Function  # arguments: (dy, *tape); returns the tuple of gradients
    tape: list  # forward values the reverse reads directly (besides the stacks)
    stacks: list  # types of the stacks used: one stack per scalar dtype or array type
    wrt: tuple

    @functools.cached_property
    def written(self) -> list:
        """Indices of the arguments the forward may write into: a run works on copies of those."""
        return written_arguments(self.forward)

    def __str__(self):
        from ..ir.printer import format_function
        tape = "".join(f"  {line}\n" for line in tape_per_trip(self.forward))
        return ((f"tape:\n{tape}\n" if tape else "")
                + f"forward:\n{format_function(self.forward, show_lines=True)}\n\n"
                f"reverse:\n{format_function(self.reverse, show_lines=True)}")


def adjoint(fn: Function, wrt, unit_dims=None) -> Adjoint:
    """Differentiate `fn` (typed IR, transformed in place into the forward) w.r.t. argument indices
    `wrt`. `unit_dims[i]` says which dimensions of argument i are 1, if known (shapes.py)."""
    return _AdjointBuilder(fn, tuple(wrt), equal_shapes(fn, unit_dims)).build()


class _AdjointBuilder:
    def __init__(self, fn, wrt, same_shape):
        self.fn, self.wrt, self.same_shape = fn, wrt, same_shape
        self.blocks = fn.block_map()
        self.rev = Function(fn.name + "_pullback", [], fn.filename)
        self.slots = {}
        self.rev_of = {}  # primal block id -> reverse block
        self.group = {}  # primal block id -> reverse blocks built for it
        self.labels = []
        self.shapes = {}
        self.hoisted = {}  # (loop header, array) -> slot the reverse pass reads it from
        self.cur = None
        self.line = None

    # ---- helpers -----------------------------------------------------------------------
    def new_var(self, type=None):
        return self.fn.new_var(type)

    def is_active(self, v):
        return isinstance(v, Var) and v in self.active

    def slot(self, v):
        """v's gradient slot. An array's is allocated up front, unless v is defined in a loop: then
        it starts empty, meaning zero, since the value's shape is only known once it is computed."""
        if v not in self.slots:
            lazy = isinstance(v.type, ArrayT) and bool(self.loops.get(self.defined_in.get(v)))
            self.slots[v] = Slot(len(self.slots) + 1, v, v.type, lazy)
        return self.slots[v]

    def take(self, v):
        slot = self.slot(v)
        return self.emit("take", slot, *([v] if slot.lazy else []))

    def emit(self, op, *args):
        vals = [a.v if isinstance(a, Sym) else a for a in args]
        if op == "getattr" and vals[1] == "shape" and isinstance(vals[0], Var):
            shape = self.shape_of(vals[0])
            if shape is not None:
                return Sym(self.emit, shape)
        var = self.new_var()
        self.cur.stmts.append(Stmt(var, op, vals, self.line))
        return Sym(self.emit, var)

    def shape_of(self, v):
        """v's shape computed in the forward, so that the tape holds a tuple rather than the array.
        An elementwise result's shape is derived from its operands' shapes (the same variable when
        nothing broadcasts), which keeps intermediates foldable in the forward. None for values
        defined in loops: their shape is read from the stacked value."""
        if v not in self.defined_in or self.loops.get(self.defined_in[v]):
            return None
        if v not in self.shapes and v in self.same_shape:
            self.shapes[v] = self.shape_of(self.same_shape[v])
        if v not in self.shapes:
            block = self.blocks[self.defined_in[v]]
            d = self.definition.get(v)
            parts = []
            if d is not None and d.op in ELEMENTWISE:
                for a in d.args:
                    if isinstance(a, Var) and isinstance(a.type, ArrayT):
                        shape = self.shape_of(a)
                        if shape is not None and all(shape is not p for p in parts):
                            parts.append(shape)
            if len(parts) == 1:
                self.shapes[v] = parts[0]
                return parts[0]
            shape = self.new_var(TupleT((INT,) * v.type.ndim))
            op, args = ("broadcast_shape", parts) if parts else ("getattr", [v, "shape"])
            at = next((i + 1 for i, st in enumerate(block.stmts) if st.var is v), 0)
            block.stmts.insert(at, Stmt(shape, op, args))
            self.shapes[v] = shape
            self.defined_in[shape] = block.id
        return self.shapes[v]

    def effect(self, op, *args):
        self.cur.stmts.append(Stmt(None, op, list(args), self.line))

    def new_rev_block(self, primal, args=()):
        """A reverse block for `primal`: the first is `n'`, edge blocks after it `n'1`, `n'2`,
        ..."""
        blocks = self.group.setdefault(primal.id, [])
        block = Block(len(self.rev.blocks) + 1, list(args))
        self.labels.append((block, primal, f"{len(blocks)}" if blocks else ""))
        self.rev.blocks.append(block)
        blocks.append(block)
        return block

    # ---- the transform -----------------------------------------------------------------
    def build(self) -> Adjoint:
        fn = self.fn
        returns = [b for b in fn.blocks if any(br.is_return for br in b.branches)]
        assert len(returns) == 1, "the frontend makes exactly one return"
        ret_block = returns[0]
        ret = ret_block.branches[-1].args[0]
        outputs = self.outputs(ret)
        self.active = active_values(fn, self.wrt, outputs)
        check_writes(fn)
        record_list_positions(fn, self.new_var)
        self.save_overwritten()
        self.count_trips()
        self.incoming = {b.id: [] for b in fn.blocks}
        for b in fn.blocks:
            for br in b.branches:
                if br.target is not None:
                    self.incoming[br.target].append((b, br))
        self.record_edges()

        dy = self.new_var()
        for b in [ret_block] + [b for b in reversed(fn.blocks) if b is not ret_block]:
            self.rev_of[b.id] = self.new_rev_block(b, [dy] if b is ret_block else [])
        self.loops = loop_blocks(fn)
        self.definition = {st.var: st for b in fn.blocks for st in b.stmts if st.var is not None}
        self.defined_in = {v: b.id for b in fn.blocks
                           for v in b.args + [s.var for s in b.stmts if s.var]}
        self.cur = self.rev_of[ret_block.id]
        self.seed(ret, dy)
        for b in fn.blocks:
            self.reverse_block(b)
        entry = self.rev_of[ret_block.id]
        self.cur = entry
        entry.stmts[:0] = [Stmt(None, "init", [slot, self.emit("getattr", v, "shape").v])
                           for v, slot in list(self.slots.items())
                           if isinstance(v.type, ArrayT) and not slot.lazy]

        fold_constants(self.rev)
        forward_slots(self.rev, self.new_var)
        eliminate_dead_code(self.rev)
        tape, stacks = self.stash()
        self.allocate_before_loops()
        self.rev.entry.args = [dy] + tape
        infer_types(self.rev, [self.output_type(ret)] + [v.type for v in tape])
        optimize(self.rev)
        infer_types(self.rev, [self.output_type(ret)] + [v.type for v in tape])
        own_results(self.rev)
        tape = preaccumulate(fn, self.rev, tape)
        renumber_all(fn, self.rev)
        for block, primal, suffix in self.labels:  # labels name the primal blocks' final numbers
            block.label = f"{primal.id}'{suffix}"
        return Adjoint(fn, self.rev, tape, stacks, self.wrt)

    def outputs(self, ret):
        t = self.output_type(ret)
        if isinstance(t, TupleT):
            if not all(is_float(e) or e == INT or e == Scalar("bool") for e in t.elts):
                raise NotScalar(f"the function returns {t}; zygopy differentiates real scalars or "
                                "tuples of them", self.fn.filename, self.fn.line)
        elif not isinstance(t, Scalar):
            raise NotScalar(f"the function returns {t}, not a real scalar", self.fn.filename,
                            self.fn.line,
                            hint="reduce the result to a scalar (e.g. with a sum), or use jacobian")
        return [ret] if isinstance(ret, Var) else []

    def output_type(self, ret):
        return ret.type if isinstance(ret, Var) else Scalar("float64")

    def save_overwritten(self):
        """Before each `a[index] = v`, read what it overwrites (a copy for a slice); the reverse
        pass puts it back. The saved value rides along as a fourth operand of the write."""
        for b in self.fn.blocks:
            stmts = []
            for s in b.stmts:
                if s.op == "setindex" and isinstance(s.args[0].type, ArrayT):
                    a, index = s.args[:2]
                    old = self.new_var(result_type("getindex", [a.type, type_of_arg(index)],
                                                   [a, index]))
                    gather = has_index_array(type_of_arg(index))  # gives a copy, not a view
                    stmts.append(Stmt(old, "gather" if gather else "getindex", [a, index], s.line))
                    if isinstance(old.type, ArrayT) and not gather:
                        saved = self.new_var(old.type)
                        stmts.append(Stmt(saved, "copy", [old], s.line))
                        old = saved
                    s.args = s.args[:3] + [old]
                stmts.append(s)
            b.stmts = stmts

    def count_trips(self):
        """Loop headers entered from one edge outside and one back edge count their trips instead.

        The header takes a trip counter `%trips` (0 on entry, +1 on the back edge); each exit of
        the loop gets a block of its own whose reverse loads the count into a counter slot. The
        reverse header then goes around the back edge while the counter is positive: one number
        per run of the loop instead of one recorded edge per iteration.
        """
        self.trips = {}  # header id -> (trip counter Var, entry source id, back-edge source id)
        self.loop_body = {}  # header id -> ids of the blocks of the counted loop
        self.exit_blocks = {}  # id of a block made for a loop exit -> header id
        dom = dominators(self.fn)
        preds = self.fn.predecessors()
        for h in list(self.fn.blocks):
            if len(preds[h.id]) != 2:
                continue
            back = [p for p in preds[h.id] if h.id in dom.get(p, ())]
            if len(back) != 1 or back[0] == h.id or preds[h.id].count(back[0]) != 1:
                continue
            entry = next(p for p in preds[h.id] if p != back[0])
            trips = self.new_var(INT)
            trips.name = "trips"
            h.args.append(trips)
            blocks = self.fn.block_map()
            for br in blocks[entry].branches:
                if br.target == h.id:
                    br.args.append(0)
            latch = blocks[back[0]]
            nxt = self.new_var(INT)
            latch.stmts.append(Stmt(nxt, "add", [trips, 1]))
            for br in latch.branches:
                if br.target == h.id:
                    br.args.append(nxt)
            body = natural_loop(self.fn, h.id, back[0])
            for u in [b for b in self.fn.blocks if b.id in body]:
                for br in u.branches:
                    if br.target is not None and br.target not in body:
                        split = self.fn.new_block()
                        split.branches = [Branch(br.target, br.args)]
                        br.target, br.args = split.id, []
                        self.exit_blocks[split.id] = h.id
            self.trips[h.id] = (trips, entry, back[0])
            self.loop_body[h.id] = body
            preds = self.fn.predecessors()
            dom = dominators(self.fn)

    def record_edges(self):
        """Blocks with several incoming edges receive the number of the edge taken, as `%from`."""
        self.edge_var = {}
        for b in self.fn.blocks:
            edges = self.incoming[b.id]
            if len(edges) > 1 and b.id not in self.trips:
                var = self.new_var(INT)
                var.name = "from"
                b.args.append(var)
                for k, (_, br) in enumerate(edges):
                    br.args.append(k)
                self.edge_var[b.id] = var

    def seed(self, ret, dy):
        if not isinstance(ret, Var) or not isinstance(ret.type, TupleT):
            if self.is_active(ret):
                self.effect("accum", self.slot(ret), dy)
            return
        d = self.definition.get(ret)
        if d is None or d.op != "tuple":
            raise NotScalar("the returned tuple must be built in the function (return a, b)",
                            self.fn.filename, self.fn.line)
        for i, e in enumerate(d.args):
            if self.is_active(e):
                self.effect("accum", self.slot(e), self.emit("getindex", dy, i).v)

    def reverse_block(self, b):
        self.cur = self.rev_of[b.id]
        for s in reversed(list(b.stmts)):  # shape_of may insert into b while we walk it
            if s.op == "setindex":
                self.line = s.line
                self.reverse_write(s)
                continue
            if s.var is None or not self.is_active(s.var):
                continue
            self.line = s.line
            g = self.take(s.var)
            rule = rule_for(s.op, self.fn.filename, s.line)
            contributions = rule(g, Sym(self.emit, s.var), *[Sym(self.emit, a) for a in s.args])
            broadcasting = s.op in ELEMENTWISE and isinstance(s.var.type, ArrayT)
            for a, c in zip(s.args, contributions, strict=False):
                if c is None or not self.is_active(a):
                    continue
                if isinstance(c, Scatter):  # the reverse of reading a[index]
                    slot = self.slot(a)
                    self.effect("accum_at", slot, c.index.v, c.value.v, *([a] if slot.lazy else []))
                    continue
                c = c.v if isinstance(c, Sym) else c
                if broadcasting:  # sum the gradient back to the operand's shape
                    if isinstance(a.type, Scalar):
                        c = self.emit("sum", c, None, False).v
                    elif self.shape_of(a) is None or self.shape_of(a) is not self.shape_of(s.var):
                        c = self.emit("sum_to", c, self.emit("getattr", a, "shape")).v
                self.effect("accum", self.slot(a), c)
        self.line = None
        if b is self.fn.entry:
            self.cur.branches.append(Branch(None, [self.emit("tuple", *self.gradients()).v]))
            return
        if b.id in self.exit_blocks:
            trips = self.trips[self.exit_blocks[b.id]][0]
            self.effect("accum", self.slot(trips), trips)
        grads = {a: self.take(a).v for a in b.args if self.is_active(a)}
        edges = self.incoming[b.id]
        if len(edges) == 1:
            self.route(edges[0], b, grads)
            return
        rev_b = self.cur
        if b.id in self.trips:
            trips, entry, _ = self.trips[b.id]
            left = self.emit("take", self.slot(trips)).v
            conds = [self.emit("gt", left, 0).v]  # false: the first trip, reached from outside
            edges = sorted(edges, key=lambda e: e[0].id != entry)
        else:
            came_from = self.edge_var[b.id]
            conds = [self.emit("ne", came_from, k).v for k in range(len(edges) - 1)]
        for k, edge in enumerate(edges):
            target = self.new_rev_block(b)
            rev_b.branches.append(Branch(target.id, [], conds[k] if k < len(conds) else None))
            self.cur = target
            if b.id in self.trips and k == 1:
                self.effect("accum", self.slot(trips), self.emit("sub", left, 1).v)
            self.route(edge, b, grads)

    def reverse_write(self, s):
        """`a[index] = v`: v gets the gradient that reached a[index], which then restarts from zero;
        then a[index] gets back what the forward overwrote, so earlier rules read a as it was.
        Where an index array names an element twice, the last write is the one that stayed: only
        its position gets the gradient (take_at)."""
        a, index, v = s.args[:3]
        old = s.args[3]
        if self.is_active(a):
            slot = self.slot(a)
            g = self.emit("take_at", slot, index, *([a] if slot.lazy else []))
            region = result_type("getindex", [a.type, type_of_arg(index)], [a, index])
            if self.is_active(v):
                if isinstance(v.type, Scalar) and isinstance(region, ArrayT):
                    g = self.emit("sum", g, None, False)
                elif isinstance(v.type, ArrayT):
                    g = self.emit("sum_to", g, self.emit("getattr", v, "shape"))
                self.effect("accum", self.slot(v), g.v)
        self.effect("setindex", a, index, old)

    def route(self, edge, b, grads):
        """Send the gradients of b's arguments to the values the edge passed, then go to its
        source."""
        source, br = edge
        for a, passed in zip(b.args, br.args, strict=True):
            if a in grads and self.is_active(passed):
                self.effect("accum", self.slot(passed), grads[a])
        self.cur.branches.append(Branch(self.rev_of[source.id].id))

    def gradients(self):
        out = []
        for i in self.wrt:
            a = self.fn.args[i]
            if self.is_active(a):
                g = self.emit("load", self.slot(a))  # the last read: no need to reset
                if a.type.dtype == "float32":  # a gradient has its argument's dtype
                    g = self.emit("astype", g, "float32")
                out.append(g.v)
            elif isinstance(a.type, ArrayT) and a.type.is_float:  # zeros shaped like the argument
                out.append(self.emit("zeros", self.emit("getattr", a, "shape"), a.type.dtype).v)
            else:
                out.append(0.0 if is_float(a.type) else None)
        return out

    # ---- what the reverse reads from the forward ------------------------------------------
    def stash(self):
        """Decide, per reverse block, which forward values come from a stack and which from the
        tape."""
        loops, defined_in = self.loops, self.defined_in
        definition = {s.var: s for b in self.fn.blocks for s in b.stmts if s.var is not None}
        # arguments nothing writes (the caller's arrays the function writes are private copies;
        # an operand of an impure primitive, such as record_statistics, may be written): an
        # element read from one is read again in the reverse rather than recorded
        impure = {a for b in self.fn.blocks for s in b.stmts
                  if not getattr(PRIMITIVES.get(s.op), "pure", True) for a in s.args
                  if isinstance(a, Var)}
        unwritten = {a for a in self.fn.args if isinstance(a.type, ArrayT)} - written_values(
            self.fn) - impure
        tape, stacks = [], []
        for b in self.fn.blocks:
            blocks = self.group[b.id]
            self.recompute(blocks, definition, unwritten)
            refs = _forward_refs(blocks, defined_in)
            stacked = [v for v in refs if loops[b.id] and defined_in[v] in loops[b.id]]
            hoisted = self.hoist(b, [v for v in stacked if isinstance(v.type, ArrayT)], stacks)
            stacked = [v for v in stacked if v not in hoisted]
            for v in refs:
                if v not in stacked and v not in tape:
                    tape.append(v)
            for rb in blocks:
                _substitute_in(rb, hoisted)
            if not stacked:
                continue
            popped = {}
            for v in stacked:
                if v.type not in stacks:
                    stacks.append(v.type)
                b.stmts.append(Stmt(None, "push", [v.type, v]))
                popped[v] = self.new_var(v.type)
            pops = [Stmt(popped[v], "pop", [v.type]) for v in reversed(stacked)]
            self.rev_of[b.id].stmts[:0] = pops
            for rb in blocks:
                _substitute_in(rb, popped)
        return tape, stacks


    def hoist(self, b, arrays, stacks):
        """Arrays a counted loop only reads are recorded once per run of the loop, not once per
        trip: pushed where the loop is entered, read at each of its exits in the reverse pass, and
        dropped once the reverse pass leaves the loop. Returns {array: what the reverse reads}."""
        loops = [h for h, body in self.loop_body.items() if b.id in body]
        if not loops or not arrays:
            return {}
        h = min(loops, key=lambda h: len(self.loop_body[h]))  # the innermost
        body = self.loop_body[h]
        invariant = [v for v in arrays if self.defined_in[v] not in body]
        out = {}
        for v in invariant:
            key = (h, v)
            if key not in self.hoisted:
                kind = HoistedStack(v.type.dtype, v.type.ndim, len(self.hoisted) + 1)
                stacks.append(kind)
                slot = Slot(10_000 + len(self.hoisted), None, v.type)
                entry = self.fn.block_map()[self.trips[h][1]]
                entry.stmts.append(Stmt(None, "push", [kind, v]))
                self.rev_of[entry.id].stmts.insert(0, Stmt(None, "drop", [kind]))
                for exit_id, header in self.exit_blocks.items():
                    if header == h:
                        peeked = self.new_var(v.type)
                        self.rev_of[exit_id].stmts[:0] = [Stmt(peeked, "peek", [kind]),
                                                          Stmt(None, "store", [slot, peeked])]
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

    def recompute(self, blocks, definition, unwritten):
        """Index expressions (slices, index tuples, an int plus or minus a constant: i - 1) and
        the elements of arrays nothing writes (`unwritten`) are rebuilt in the reverse block that
        reads them: cheaper than recording them (the reverse needs the index anyway, to add into
        the array's gradient), and a slice cannot be stored on a stack or returned."""
        clones = {}

        def clone(v):
            if v not in clones:
                s = definition[v]
                args = [clone(a) if _recomputed(a, definition, unwritten) else a for a in s.args]
                clones[v] = self.new_var(v.type)
                made.append(Stmt(clones[v], s.op, args, s.line))
            return clones[v]

        made = []
        for rb in blocks:
            for inst in rb.stmts + rb.branches:
                for a in inst.args:
                    if _recomputed(a, definition, unwritten):
                        clone(a)
        if clones:
            blocks[0].stmts[:0] = made
            for rb in blocks:
                _substitute_in(rb, clones)


def _recomputed(v, definition, unwritten):
    s = definition.get(v) if isinstance(v, Var) else None
    if s is None:
        return False
    if s.op in ("slice", "tuple"):
        return True
    if s.op == "getindex" and s.args[0] in unwritten and isinstance(v.type, Scalar):
        return all(not isinstance(a, Var) or a.type == INT or _recomputed(a, definition, unwritten)
                   for a in s.args[1:])
    # an offset index costs an add to rebuild from the index the reverse reads anyway
    return (s.op in ("add", "sub") and v.type == INT
            and sum(isinstance(a, Var) for a in s.args) == 1)


@dataclass(frozen=True)
class HoistedStack(ArrayT):
    """The stack of one loop-invariant array, pushed once per run of a loop."""
    tag: int = 0

    def __str__(self):
        return f"array({self.dtype}, {self.ndim}d) #{self.tag}"


def _forward_refs(blocks, defined_in):
    refs = []
    for rb in blocks:
        for inst in rb.stmts + rb.branches:
            vals = inst.args + ([inst.cond] if isinstance(inst, Branch) and inst.cond is not None
                                else [])
            for a in vals:
                if isinstance(a, Var) and a in defined_in and a not in refs:
                    refs.append(a)
    return refs


def _substitute_in(block, mapping):
    for s in block.stmts:
        s.args = [mapping.get(a, a) if isinstance(a, Var) else a for a in s.args]
    for br in block.branches:
        br.args = [mapping.get(a, a) if isinstance(a, Var) else a for a in br.args]
        if isinstance(br.cond, Var):
            br.cond = mapping.get(br.cond, br.cond)


def own_results(rev):
    """Each gradient returned is an array of its own: one returned twice (x + y: one spread for
    both) or one the caller passed is copied."""
    for b in rev.blocks:
        define = {s.var: s for s in b.stmts if s.var is not None}
        for br in b.branches:
            result = define.get(br.args[0]) if br.is_return else None
            if result is None or result.op != "tuple":
                continue
            seen, at = set(), b.stmts.index(result)
            for i, a in enumerate(result.args):
                if isinstance(a, Var) and isinstance(a.type, ArrayT) and (
                        a in seen or a in rev.args):
                    copy = rev.new_var(a.type)
                    b.stmts.insert(at, Stmt(copy, "copy", [a], result.line))
                    at += 1
                    a = result.args[i] = copy
                seen.add(a)


def renumber_all(fwd, rev):
    """Number forward blocks 1..n and reverse blocks after them; values in order across both."""
    renumber(fwd)
    renumber(rev, values=False)
    n = fwd.next_id - 1
    for b in rev.blocks:
        for v in b.args[:1] + [s.var for s in b.stmts if s.var is not None]:
            n += 1
            v.id = n
    fwd.next_id = n + 1

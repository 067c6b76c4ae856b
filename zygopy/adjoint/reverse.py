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
from ..ir.cfg import loop_blocks
from ..ir.infer import infer_types, type_of_arg
from ..ir.ir import Block, Branch, Function, Slot, Stmt, Var
from ..ir.passes.dce import eliminate_dead_code
from ..ir.passes.fold import fold_constants
from ..ir.passes.pipeline import optimize
from ..ir.passes.reciprocals import share_reciprocals
from ..ir.passes.renumber import renumber
from ..ir.primitives import result_type
from ..ir.types import INT, ArrayT, Scalar, TupleT, is_float
from ..ir.unit_dims import sole_array_operand
from ..ir.unit_dims import unit_dims as known_unit_dims
from .activity import VIEWS, active_values
from .array_rules import ELEMENTWISE, Scatter
from .forwarding import forward_slots, keep_in_place
from .idle_loops import skip_idle_loops
from .lists import record_list_positions
from .mutation import check_writes, written_arguments
from .preaccumulate import preaccumulate
from .prepare import prepare
from .rules import Sym, rule_for
from .shapes import equal_shapes
from .shifts import stop_shift_gradients
from .tape import record, tape_per_trip
from .tuple_results import expose_parts, is_part_read


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


def adjoint(fn: Function, wrt, unit_dims=None, any_output=False) -> Adjoint:
    """Differentiate `fn` (typed IR, transformed in place into the forward) w.r.t. argument indices
    `wrt`. `unit_dims[i]` says which dimensions of argument i are 1, if known (shapes.py). The
    result must be a real scalar or a tuple of them, unless `any_output` (a unit's pullback takes
    a gradient shaped like its result, units.py).

    In stages, each handing the next what it made: the primal prepared (prepare.py), the reverse
    built (here), what the forward records decided (tape.py), then both cleaned up."""
    wrt = tuple(wrt)
    dims = known_unit_dims(fn, unit_dims)
    ret_block, ret = _the_return(fn)
    parts = expose_parts(fn)
    stop_shift_gradients(fn)
    active = active_values(fn, wrt, [ret] if any_output else _outputs(fn, ret))
    check_writes(fn)
    record_list_positions(fn, fn.new_var)
    primal = prepare(fn)
    built = _ReverseBuilder(primal, wrt, active, dims, parts).build(ret_block, ret)
    rev = built.rev
    fold_constants(rev)
    forward_slots(rev, fn.new_var)
    eliminate_dead_code(rev)
    split_units(built)
    tape, stacks = record(primal, built)
    rev.entry.args = [built.dy] + tape
    arg_types = [_output_type(ret)] + [v.type for v in tape]
    infer_types(rev, arg_types)
    optimize(rev)
    share_reciprocals(rev)
    keep_in_place(rev)
    infer_types(rev, arg_types)
    own_results(rev)
    tape = preaccumulate(fn, rev, tape)
    guards = skip_idle_loops(rev)
    renumber_all(fn, rev)
    for block, primal_block, suffix in built.labels:  # named by the primal blocks' final numbers
        block.label = f"{primal_block.id}'{suffix}"
    for header, test, skip in guards:  # `6'z`: is the gradient entering 6' zero; `6's`: skip it
        test.label, skip.label = header.label + "z", header.label + "s"
    return Adjoint(fn, rev, tape, stacks, wrt)


def split_units(built):
    """A unit whose pullback the reverse calls runs its forward instead, which returns its tape
    with its value: `%y = unit(f, xs...)` becomes `%t = unit_forward(f, xs...)` and
    `%y = getindex(%t, 0)`, and the pullback takes %t where the rule passed it %y."""
    fwd, rev = built.fn, built.rev
    pulled = {s.args[1] for b in rev.blocks for s in b.stmts if s.op == "unit_pullback"}
    taped = {}
    for b in fwd.blocks:
        stmts = []
        for s in b.stmts:
            if s.op == "unit" and s.var in pulled:
                t = taped[s.var] = fwd.new_var(s.args[0].forward_type)
                built.defined_in[t] = b.id
                stmts += [Stmt(t, "unit_forward", s.args, s.line),
                          Stmt(s.var, "getindex", [t, 0], s.line)]
            else:
                stmts.append(s)
        b.stmts = stmts
    for b in rev.blocks:
        for s in b.stmts:
            if s.op == "unit_pullback":
                s.args[1] = taped[s.args[1]]


def _the_return(fn):
    returns = [b for b in fn.blocks if any(br.is_return for br in b.branches)]
    assert len(returns) == 1, "the frontend makes exactly one return"
    return returns[0], returns[0].branches[-1].args[0]


def _outputs(fn, ret):
    t = _output_type(ret)
    if isinstance(t, TupleT):
        if not all(is_float(e) or e == INT or e == Scalar("bool") for e in t.elts):
            raise NotScalar(f"the function returns {t}; zygopy differentiates real scalars or "
                            "tuples of them", fn.filename, fn.line)
    elif not isinstance(t, Scalar):
        raise NotScalar(f"the function returns {t}, not a real scalar", fn.filename, fn.line,
                        hint="reduce the result to a scalar (e.g. with a sum), or use jacobian")
    return [ret] if isinstance(ret, Var) else []


def _output_type(ret):
    return ret.type if isinstance(ret, Var) else Scalar("float64")


class _ReverseBuilder:
    """The reverse blocks of a prepared primal, one group per primal block, reading forward
    values directly (tape.py then decides how each reaches them)."""

    def __init__(self, primal, wrt, active, dims, parts):
        fn = self.fn = primal.fn
        self.primal, self.wrt, self.active = primal, wrt, active
        self.dims = dims  # which dimensions of each array value are 1 (ir/unit_dims.py)
        self.same_shape = equal_shapes(fn, dims)
        self.parts = parts  # a call's tuple result -> its parts (tuple_results.py)
        self.blocks = fn.block_map()
        self.rev = Function(fn.name + "_pullback", [], fn.filename)
        self.slots = {}
        self.rev_of = {}  # primal block id -> reverse block
        self.group = {}  # primal block id -> reverse blocks built for it
        self.labels = []
        self.shapes = {}
        self.trip_index = {}  # counted loop header id -> the number of the trip being reversed
        self.going_round = {}  # counted loop header id -> the reverse block a trip starts in
        self.loops = loop_blocks(fn)
        self.definition = {st.var: st for b in fn.blocks for st in b.stmts if st.var is not None}
        self.defined_in = {v: b.id for b in fn.blocks
                           for v in b.args + [s.var for s in b.stmts if s.var]}
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
            shape = self.shape_of(vals[0]) or self.trip_shape(vals[0])
            if shape is not None:
                return Sym(self.emit, shape)
            vals[0] = self._root(vals[0])
        var = self.new_var()
        self.cur.stmts.append(Stmt(var, op, vals, self.line))
        return Sym(self.emit, var)

    def summed_back(self, g, a, result):
        """g, the gradient of elementwise `result`, summed back to the shape of its operand a:
        over the dimensions a lacks and those where it is known to be 1, as sums (which fusion
        joins to the loop that computes g), or by sum_to where that is known only at run time."""
        mine, lead = self.dims.get(a), result.type.ndim - a.type.ndim
        if not mine or None in mine:  # (a 0-d array's gradient is one too, not a number)
            return self.emit("sum_to", g, self.emit("getattr", a, "shape")).v
        ones = tuple(lead + j for j, one in enumerate(mine) if one)
        if ones:
            g = self.emit("sum", g, ones if len(ones) > 1 else ones[0], True).v
        if lead:
            g = self.emit("sum", g, tuple(range(lead)) if lead > 1 else 0, False).v
        return g

    def shaped_alike(self, a, b):
        """Whether arrays a and b are known to have one shape: b made from a alone (numbers
        broadcast to any shape), or both in one class of equal shapes."""
        if self._root(b) is self._root(a) or self.same_shape.get(a, a) is self.same_shape.get(b, b):
            return True
        return self.shape_of(a) is not None and self.shape_of(a) is self.shape_of(b)

    def _root(self, v):
        """The array v's shape is read from: down a chain of elementwise values each made from
        one array (of its rank), whatever dimensions may be 1."""
        while v in self.definition and (a := sole_array_operand(self.definition[v])) is not None:
            v = a
        return v

    def shape_of(self, v):
        """v's shape computed in the forward, so that the tape holds a tuple rather than the array.
        An elementwise result's shape is derived from its operands' shapes (the same variable when
        nothing broadcasts), which keeps intermediates foldable in the forward. None for values
        defined in loops: their shape is read from the stacked value."""
        if v not in self.defined_in or self.loops.get(self.defined_in[v]):
            return None
        if v not in self.shapes and self.same_shape.get(v, v) is not v:
            shape = self.shape_of(self.same_shape[v])  # None where that value is a loop's
            if shape is not None:
                self.shapes[v] = shape
        if v not in self.shapes:
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
            self._after(v, [Stmt(shape, op, args)])
            self.shapes[v] = shape
        return self.shapes[v]

    def trip_shape(self, v):
        """The shape of v, an array a loop defines, as a tuple of sizes the forward reads right
        after the array it is read from (_root: reading v's own would keep v from the loop that
        computes it with its neighbours): the tape records the numbers per trip rather than the
        array. None for values a loop does not define."""
        v = self._root(v)
        if v not in self.defined_in or not self.loops.get(self.defined_in[v]):
            return self.shape_of(v)
        if v not in self.shapes:
            whole = self.new_var(TupleT((INT,) * v.type.ndim))
            sizes = [self.new_var(INT) for _ in range(v.type.ndim)]
            shape = self.new_var(whole.type)
            self._after(v, [Stmt(whole, "getattr", [v, "shape"]),
                            *(Stmt(n, "getindex", [whole, i]) for i, n in enumerate(sizes)),
                            Stmt(shape, "tuple", sizes)])
            self.shapes[v] = shape
        return self.shapes[v]

    def _after(self, v, stmts):
        """stmts put in the forward right after v's definition (first in its block for a block
        argument)."""
        block = self.blocks[self.defined_in[v]]
        at = next((i + 1 for i, st in enumerate(block.stmts) if st.var is v), 0)
        block.stmts[at:at] = stmts
        for st in stmts:
            self.defined_in[st.var] = block.id

    def effect(self, op, *args):
        self.cur.stmts.append(Stmt(None, op, list(args), self.line))

    def new_rev_block(self, primal_block, args=()):
        """A reverse block for `primal_block`: the first is `n'`, edge blocks after it `n'1`,
        `n'2`, ..."""
        blocks = self.group.setdefault(primal_block.id, [])
        block = Block(len(self.rev.blocks) + 1, list(args))
        self.labels.append((block, primal_block, f"{len(blocks)}" if blocks else ""))
        self.rev.blocks.append(block)
        blocks.append(block)
        return block

    # ---- the transform -----------------------------------------------------------------
    def build(self, ret_block, ret):
        fn = self.fn
        self.dy = self.new_var()
        for b in [ret_block] + [b for b in reversed(fn.blocks) if b is not ret_block]:
            self.rev_of[b.id] = self.new_rev_block(b, [self.dy] if b is ret_block else [])
        self.cur = self.rev_of[ret_block.id]
        self.seed(ret, self.dy)
        for b in fn.blocks:
            self.reverse_block(b)
        entry = self.rev_of[ret_block.id]
        self.cur = entry
        entry.stmts[:0] = [Stmt(None, "init", [slot, self.emit("getattr", v, "shape").v])
                           for v, slot in list(self.slots.items())
                           if isinstance(v.type, ArrayT) and not slot.lazy]
        return self

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
            if is_part_read(s, self.parts):
                continue  # the call that made the tuple takes its parts' gradients
            self.line = s.line
            if s.var in self.parts:
                if not any(map(self.is_active, self.parts[s.var])):
                    continue
                g, y = self.tuple_gradient(self.parts[s.var])
            elif s.var is not None and self.is_active(s.var):
                g, y = self.take(s.var), Sym(self.emit, s.var)
            else:
                continue
            if s.op == "unit":  # its pullback computes the gradients used here, no others
                s.args[0] = s.args[0].differentiated(
                    [i for i, a in enumerate(s.args[1:]) if self.is_active(a)])
            rule = rule_for(s.op, self.fn.filename, s.line)
            contributions = rule(g, y, *[Sym(self.emit, a) for a in s.args])
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
                    elif not self.shaped_alike(a, s.var):
                        c = self.summed_back(c, a, s.var)
                self.effect("accum", self.slot(a), c)
        self.line = None
        if b is self.fn.entry:
            self.cur.branches.append(Branch(None, [self.emit("tuple", *self.gradients()).v]))
            return
        if b.id in self.primal.exit_blocks:
            trips = self.primal.trips[self.primal.exit_blocks[b.id]][0]
            self.effect("accum", self.slot(trips), trips)
        grads = {a: self.take(a).v for a in b.args if self.is_active(a)}
        edges = self.primal.incoming[b.id]
        if len(edges) == 1:
            self.route(edges[0], b, grads)
            return
        rev_b = self.cur
        if b.id in self.primal.trips:
            trips, entry, _ = self.primal.trips[b.id]
            left = self.emit("take", self.slot(trips)).v
            conds = [self.emit("gt", left, 0).v]  # false: the first trip, reached from outside
            edges = sorted(edges, key=lambda e: e[0].id != entry)
        else:
            came_from = self.primal.edge_var[b.id]
            conds = [self.emit("ne", came_from, k).v for k in range(len(edges) - 1)]
        for k, edge in enumerate(edges):
            target = self.new_rev_block(b)
            rev_b.branches.append(Branch(target.id, [], conds[k] if k < len(conds) else None))
            self.cur = target
            if b.id in self.primal.trips and k == 1:  # going round: the trip to reverse
                self.going_round[b.id] = target
                self.trip_index[b.id] = self.emit("sub", left, 1).v
                self.effect("accum", self.slot(trips), self.trip_index[b.id])
            self.route(edge, b, grads)

    def tuple_gradient(self, parts):
        """(gradient, value) of a call's tuple result, from its parts: a part with no gradient
        gets a zero shaped like it."""
        grads = []
        for p in parts:
            if self.is_active(p):
                grads.append(self.take(p).v)
            elif isinstance(p.type, ArrayT):
                grads.append(self.emit("zeros_like", p, None).v)
            else:
                grads.append(0.0 if is_float(p.type) else None)
        return self.emit("tuple", *grads), self.emit("tuple", *parts)

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
                elif isinstance(v.type, ArrayT) and not (  # v of the region's rank, no 1s
                        v in self.same_shape and v.type.ndim == region.ndim):
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
                # a gradient has its argument's dtype, and a 0-d array's is a 0-d array (which
                # compiled code may compute as a number)
                if a.type.dtype == "float32" or a.type == ArrayT(a.type.dtype, 0):
                    g = self.emit("astype", g, a.type.dtype)
                out.append(g.v)
            elif isinstance(a.type, ArrayT) and a.type.is_float:  # zeros shaped like the argument
                out.append(self.emit("zeros", self.emit("getattr", a, "shape"), a.type.dtype).v)
            else:
                out.append(0.0 if is_float(a.type) else None)
        return out


def own_results(fn):
    """Each array fn returns is one of its own: one returned twice (x + y: one spread for both)
    or one the caller passed (an argument, a value read from outside) is copied, in a tuple
    returned or one inside it (jvp's (value, tangent) of a function returning a tuple). What may
    hold an operand's memory counts as that operand: a cast to the dtype it has already and a
    sum_to of its shape (compiled code hands the operand on), a view (a unit's pullback returned
    one array as the gradients of x and b in `x + self.b`, which its caller gave the user)."""
    define = {s.var: (s, b) for b in fn.blocks for s in b.stmts if s.var is not None}

    def underlying(a):
        while a in define and _hands_on(define[a][0]):
            a = define[a][0].args[0]
        return a

    def own(result, seen):
        """Copies, before the tuple statement `result`, the arrays it holds that are not its own."""
        s, b = result
        for i, a in enumerate(s.args):
            if isinstance(a, Var) and a in define and define[a][0].op == "tuple":
                own(define[a], seen)
            elif isinstance(a, Var) and isinstance(a.type, ArrayT) and (
                    underlying(a) in seen or underlying(a) in fn.args):
                copy = fn.new_var(a.type)
                b.stmts.insert(b.stmts.index(s), Stmt(copy, "copy", [a], s.line))
                a = s.args[i] = copy
            seen.add(underlying(a))

    for b in fn.blocks:
        for br in b.branches:
            result = define.get(br.args[0]) if br.is_return else None
            if result is not None and result[0].op == "tuple":
                own(result, set())


def _hands_on(s) -> bool:
    """Whether statement s's array result may be its first operand's memory."""
    a = s.args[0] if s.args else None
    return isinstance(a, Var) and (
        s.op == "astype" and a.type == s.var.type or s.op == "sum_to"
        or s.op in VIEWS and isinstance(a.type, ArrayT) and isinstance(s.var.type, ArrayT))


def renumber_all(fwd, rev):
    """Number forward blocks 1..n and reverse blocks after them; values in order across both (the
    reverse's entry takes the tape, forward values, after its gradient; a block that joins the
    paths round an idle loop takes values of the reverse's own, numbered as they were made until
    now, which could be a tape value's number: the generated code read the wrong one)."""
    renumber(fwd)
    renumber(rev, values=False)
    n = fwd.next_id - 1
    for b in rev.blocks:
        for v in (b.args[:1] if b is rev.entry else b.args) + [s.var for s in b.stmts
                                                                if s.var is not None]:
            n += 1
            v.id = n
    fwd.next_id = n + 1

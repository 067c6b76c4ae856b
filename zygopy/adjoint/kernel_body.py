"""A per-element kernel body in IR: its writes into outputs, and the scalar function whose
gradient is one thread's share of the backward kernel.

The body `k(i, *outputs, *inputs)` is what one thread runs for the thread index `i`. It writes
outputs as `out[idx] = v` or `out[idx] += v` and never reads them otherwise. For the output
gradients `gout` (extra arguments), the thread's share of the vector-Jacobian product is the
gradient, with respect to the inputs, of the scalar `sum over its writes of gout[idx] * v`: the
adjoint pass differentiates that function, so the reverse sweep of a thread is the ordinary
reverse of its body (loops stay loops, values needed from a loop on a per-thread stack).

Which accesses to an array may collide across threads is decided from their indices: an array
is the thread's own where every index of it holds the thread index `i` at one same position
(`out[i]`, `out[i, j]`; thread i's `x[j, i]` is thread j's `x[i, j]`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedSyntax, UnsupportedType
from ..ir.ir import Branch, Function, Stmt, Var
from ..ir.passes.dce import eliminate_dead_code
from ..ir.types import INT, ArrayT, Scalar, TupleT

ADD_INTO = "kernel_add"  # out[idx] += v (declared with the primitives)


@dataclass
class Body:
    """A kernel body's IR with its writes made explicit."""
    fn: Function  # writes: `setindex(out, idx, v)` and `kernel_add(out, idx, v)`
    outputs: int  # how many arguments after `i` are outputs


def prepare_body(fn: Function) -> Body:
    """Finds the outputs (the arguments written into), turns `out[idx] += v` into one
    `kernel_add`, and refuses what a kernel body cannot do."""
    written = [s.args[0] for b in fn.blocks for s in b.stmts if s.op == "setindex"]
    params = fn.args[1:]
    outputs = [a for a in params if a in written]
    n = len(outputs)
    if not outputs:
        raise UnsupportedSyntax(f"the kernel {fn.name!r} writes no output", fn.filename, fn.line,
                                hint="write its result into an output argument: out[i] = ...")
    if params[:n] != outputs:
        raise UnsupportedSyntax(f"the outputs of the kernel {fn.name!r} must be its first "
                                "arguments after the thread index", fn.filename, fn.line,
                                hint="def k(i, out, x, ...): the arrays it writes, then those "
                                "it reads")
    if fn.args[0].type != Scalar("int64"):
        raise UnsupportedType(f"the first argument of the kernel {fn.name!r} is the thread index",
                              fn.filename, fn.line)
    for k, a in enumerate(params):
        if isinstance(a.type, Scalar) and a.type.is_float:
            _through_an_array(fn, k + 1)
    for a in outputs:
        if not (isinstance(a.type, ArrayT) and a.type.is_float):
            raise UnsupportedType(f"the output {a.name!r} of the kernel {fn.name!r} must be a "
                                  "float array", fn.filename, fn.line)
    _merge_additions(fn, set(outputs))
    _check_body(fn, set(outputs))
    _refuse_overwrites(fn, set(outputs))
    return Body(fn, n)


def _through_an_array(fn, position):
    """The float argument at `position` taken as a one-element array and read from it: every
    thread adds its share of the float's gradient into that one element (the caller passes the
    float in such an array, kernel.py)."""
    a = fn.args[position]
    held = fn.new_var(ArrayT(a.type.dtype, 1), a.name)
    fn.entry.args[position] = held
    fn.entry.stmts.insert(0, Stmt(a, "getindex", [held, 0], fn.line))


def _merge_additions(fn, outputs):
    """`t = out[idx]; u = t + v; out[idx] = u` (what `out[idx] += v` becomes) -> one
    `kernel_add(out, idx, v)`; `out[idx] -= v` -> `kernel_add(out, idx, -v)`."""
    definition = {s.var: s for b in fn.blocks for s in b.stmts if s.var is not None}
    for b in fn.blocks:
        stmts = []
        for s in b.stmts:
            merged = _as_addition(fn, s, outputs, definition)
            stmts += merged if merged else [s]
        b.stmts = stmts
    eliminate_dead_code(fn)


def _as_addition(fn, s, outputs, definition):
    """The statements that make the write `s` an addition, or None if it is none."""
    if s.op != "setindex" or s.args[0] not in outputs:
        return None
    out, index, value = s.args[:3]
    op = definition.get(value)
    if op is None or op.op not in ("add", "sub"):
        return None
    pairs = [op.args] if op.op == "sub" else [op.args, op.args[::-1]]
    for old, other in pairs:
        read = definition.get(old)
        if (read is not None and read.op == "getindex" and read.args[0] is out
                and _same_index(read.args[1], index, definition)):
            if op.op == "add":
                return [Stmt(None, ADD_INTO, [out, index, other], s.line)]
            negated = fn.new_var(op.var.type)
            return [Stmt(negated, "neg", [other], s.line),
                    Stmt(None, ADD_INTO, [out, index, negated], s.line)]
    return None


def _same_index(a, b, definition):
    if a is b or (not isinstance(a, Var) and not isinstance(b, Var) and a == b):
        return True
    da, db = definition.get(a), definition.get(b)
    return (da is not None and db is not None and da.op == db.op == "tuple"
            and len(da.args) == len(db.args)
            and all(_same_index(x, y, definition) for x, y in zip(da.args, db.args, strict=True)))


def _check_body(fn, outputs):
    for b in fn.blocks:
        for s in b.stmts:
            if s.op in ("setindex", ADD_INTO):
                if s.args[0] not in outputs:
                    raise _error(fn, s, f"writes into {s.args[0].name!r}, which it also reads",
                                 "a kernel writes its outputs and reads its inputs; keep "
                                 "intermediate values in local variables")
                if not _one_element(s.args[0].type, s.args[1]):
                    raise _error(fn, s, f"writes {s.args[0].name}[...] at an index that is not "
                                 "one element", f"index each of its {s.args[0].type.ndim} axes "
                                 "with an integer (out[i, j] = v), in a loop over j for a row")
                continue
            if any(a in outputs for a in s.args):
                raise _error(fn, s, "reads an output", "keep the value in a local variable "
                             "and write the output once (or add into it with +=)")
            if s.var is not None and isinstance(s.var.type, ArrayT):
                raise _error(fn, s, "makes an array", "index arrays down to elements "
                             "(x[i, j]) and keep intermediate values in local scalars")


def _one_element(array_type, index):
    t = index.type if isinstance(index, Var) else INT
    parts = t.elts if isinstance(t, TupleT) else (t,)
    return len(parts) == array_type.ndim and all(p == INT for p in parts)


def _refuse_overwrites(fn, outputs):
    """A thread writes each element of an output with `=` at most once: the backward counts every
    write's value (the sum of gout[idx] * v over the writes), so one overwritten would still get
    a gradient. Refused: a write in a loop at an index the loop does not change, and two writes
    into one output that one run may both make, unless their indices differ in a constant."""
    from ..ir.cfg import loop_blocks
    loops = loop_blocks(fn)
    defined = {v: b.id for b in fn.blocks for v in b.args + [s.var for s in b.stmts]}
    definition = definitions(fn)
    reach = _reachable(fn)
    writes = [(b.id, k, s) for b in fn.blocks for k, s in enumerate(b.stmts)
              if s.op in ("setindex", ADD_INTO) and s.args[0] in outputs]
    for bid, k, s in writes:
        if s.op != "setindex":
            continue
        loop = loops[bid]
        if loop and all(defined.get(v) not in loop for v in _entries(s.args[1], definition)
                        if isinstance(v, Var)):
            raise _error(fn, s, f"writes {s.args[0].name}[...] in a loop at an index the loop "
                         "does not change", "keep the value in a local variable and write it "
                         "after the loop: the backward counts every write")
        for other_bid, other_k, t in writes:
            both = (other_bid, other_k) != (bid, k) and (
                other_bid == bid or other_bid in reach[bid] or bid in reach[other_bid])
            if both and t.args[0] is s.args[0] and not _distinct(s.args[1], t.args[1],
                                                                  definition):
                raise _error(fn, s, f"writes {s.args[0].name}[...] where it also writes or adds "
                             "into it", "compute the element's value in a local variable and "
                             "write it once: the backward counts every write")


def _entries(index, definition):
    """The entries of an index: those of the tuple it was built as, or the index itself."""
    d = definition.get(index) if isinstance(index, Var) else None
    return d.args if d is not None and d.op == "tuple" else [index]


def _distinct(a, b, definition):
    """Whether two indices surely name different elements: entries at one position that are
    different constants."""
    return any(not isinstance(x, Var) and not isinstance(y, Var) and x != y
               for x, y in zip(_entries(a, definition), _entries(b, definition), strict=False))


def _reachable(fn):
    """Block id -> the ids of the blocks reachable from it by one branch or more."""
    succ = {b.id: b.successors() for b in fn.blocks}
    out = {}
    for start in succ:
        seen, todo = set(), list(succ[start])
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.add(x)
                todo += succ[x]
        out[start] = seen
    return out


def _error(fn, s, what, hint):
    return UnsupportedSyntax(f"the kernel {fn.name!r} {what}", fn.filename, s.line or fn.line,
                             hint=hint)


def shared_arrays(accesses, thread, definition) -> set:
    """Of (array, index) accesses, the arrays that several threads may access at one element:
    those whose indices do not all hold the thread index at one same position."""
    common = {}
    for array, index in accesses:
        here = _thread_positions(index, thread, definition)
        common[array] = common[array] & here if array in common else here
    return {a for a, positions in common.items() if not positions}


def _thread_positions(index, thread, definition) -> frozenset:
    return frozenset(k for k, a in enumerate(_entries(index, definition)) if a is thread)


def definitions(*fns) -> dict:
    return {s.var: s for fn in fns for b in fn.blocks for s in b.stmts if s.var is not None}


def loss_function(body: Body, new_fn) -> Function:
    """The body as a scalar function of (i, *outputs, *inputs, *output gradients): the sum of
    gout[idx] * v over its writes. `new_fn()` gives a fresh copy of the body's IR (prepared)."""
    fn = new_fn()
    outs = fn.args[1:1 + body.outputs]
    gouts = []
    for out in outs:
        g = fn.new_var(out.type, "d_" + (out.name or "out"))
        gouts.append(g)
    fn.entry.args += gouts
    grad_of = dict(zip(outs, gouts, strict=True))
    f64 = Scalar("float64")
    for b in fn.blocks:
        if b is fn.entry:
            total = 0.0
        else:
            total = fn.new_var(f64, "share")
            b.args.append(total)
        stmts = []
        for s in b.stmts:
            if s.op in ("setindex", ADD_INTO) and s.args[0] in grad_of:
                out, index, value = s.args[:3]
                g = fn.new_var(Scalar(out.type.dtype))
                term, summed = fn.new_var(f64), fn.new_var(f64, "share")
                stmts += [Stmt(g, "getindex", [grad_of[out], index], s.line),
                          Stmt(term, "mul", [g, value], s.line),
                          Stmt(summed, "add", [total, term], s.line)]
                total = summed
            else:
                stmts.append(s)
        b.stmts = stmts
        for br in b.branches:
            if br.is_return:
                br.args = [total]
            else:
                br.args = [*br.args, total]
    return fn


@dataclass
class KernelAdjoint:
    """What the backend lowers: the body (forward kernel) and the adjoint of one thread's share
    (backward kernel), with the writes that other threads may make too."""
    body: Body
    adjoint: object  # reverse.Adjoint of the share: forward records, reverse accumulates
    wrt: tuple  # positions among the body's arguments of the inputs that get gradients
    shared_outputs: set  # outputs that several threads may add into
    shared_gradients: set  # inputs whose gradient several threads may add into


def kernel_adjoint(pyfn, arg_types) -> KernelAdjoint:
    """`arg_types`: the thread index's, then the outputs' and the inputs'."""
    from ..ir.compile import compile_ir
    from ..ir.infer import infer_types
    from .reverse import adjoint

    def prepared():
        return prepare_body(compile_ir(pyfn, arg_types, capture=False, allocating=False))

    body = prepared()
    fn = body.fn
    thread = fn.args[0]
    writes = [s for b in fn.blocks for s in b.stmts if s.op in ("setindex", ADD_INTO)]
    shared = shared_arrays([s.args[:2] for s in writes], thread, definitions(fn))
    for s in writes:  # `=` is for the thread's own elements: another thread's `+=` would race it
        if s.op == "setindex" and s.args[0] in shared:
            raise _error(fn, s, f"writes {s.args[0].name}[...] where other threads may write "
                         "too", "add into it (+=), which threads do one at a time, or write "
                         "only at the thread's own index (out[i] = ..., the same position of "
                         "i in every index of it)")
    shared_outputs = {fn.args.index(a) for a in shared}
    share = loss_function(body, lambda: prepared().fn)
    types = [a.type for a in share.args]  # a float argument is held in an array now
    infer_types(share, types)
    wrt = tuple(k for k, t in enumerate(types[:len(arg_types)])
                if k > body.outputs and isinstance(t, ArrayT) and t.is_float)
    adj = adjoint(share, wrt)
    if any(isinstance(k, ArrayT) for k in adj.stacks):
        raise UnsupportedSyntax(f"the kernel {fn.name!r} needs arrays kept per loop trip",
                                fn.filename, fn.line)
    _gradients_in_place(adj)
    for f in (body.fn, adj.forward, adj.reverse):
        returns_outside_loops(f)
    rev_defs = definitions(adj.forward, adj.reverse)
    accum = [s.args[:2] for b in adj.reverse.blocks for s in b.stmts if s.op == "accum_at"]
    assert all(slot.of in adj.forward.args for slot, _ in accum)
    shared_gradients = {adj.forward.args.index(slot.of)
                        for slot in shared_arrays(accum, adj.forward.args[0], rev_defs)}
    return KernelAdjoint(body, adj, wrt, shared_outputs, shared_gradients)


def returns_outside_loops(fn: Function):
    """An edge from a loop to the return block goes through a block of its own outside the loop,
    so that code generation writes the return after the loop, where a kernel's one-trip loop
    can be left; a return from inside two loops is refused."""
    from ..ir.cfg import loop_blocks
    ret = next(b for b in fn.blocks for br in b.branches if br.is_return)
    in_loop = {bid for bid, loops in loop_blocks(fn).items() if loops}
    for b in list(fn.blocks):
        for br in b.branches:
            if br.target == ret.id and b.id in in_loop:
                edge = fn.new_block()
                edge.branches = [Branch(ret.id, br.args)]
                br.target, br.args = edge.id, []
    loops = loop_blocks(fn)
    if any(loops[b.id] for b in fn.blocks if ret.id in b.successors()):
        raise UnsupportedSyntax(f"the kernel {fn.name!r} returns from inside nested loops",
                                fn.filename, fn.line,
                                hint="leave the loops with a flag, and return after them")
    return fn


def _gradients_in_place(adj):
    """The reverse adds straight into the gradient arrays of the inputs (the backend passes them
    in under the slots' names) instead of allocating them per thread and returning them."""
    rev = adj.reverse
    for b in rev.blocks:
        b.stmts = [s for s in b.stmts
                   if not (s.op in ("init", "load") and s.args[0].of in adj.forward.args)]
        for br in b.branches:
            if br.is_return:
                br.args = [0.0]
    eliminate_dead_code(rev)

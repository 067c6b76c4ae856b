"""`zygopy.gradient(g, x, ...)` called inside a function being compiled (a loss on a gradient's
norm, a physics-informed residual).

The inner gradient is computed in forward mode and inlined: one tangent of g per float input
element, seeded with a unit vector (a loop over the elements for an array). What results is
ordinary IR, so an outer gradient differentiates it as `hvp` does (reverse over forward), forward
mode and the evaluator run it, and the backend compiles it; nothing is a black box. The cost is
one tangent sweep of g per input element: meant for the few inputs such code differentiates, not
for the weights of a large model.
"""
from __future__ import annotations

from ..errors import UnsupportedType
from ..ir.infer import type_of_arg
from ..ir.ir import Branch, Stmt
from ..ir.passes.inline import inline_call
from ..ir.types import ArrayT, Scalar, is_float
from .tangent import tangent


def lower_nested(fn, capture=True) -> bool:
    """Expand every `nested_gradient(g, *args)` of fn (typed IR, changed in place); with
    `capture`, the values g reads from outside become hidden arguments of fn. Returns whether
    anything changed (fn then needs its types inferred again)."""
    changed = False
    while (found := _first(fn)) is not None:
        _expand(fn, *found, capture)
        changed = True
    return changed


def _first(fn):
    for b in fn.blocks:
        for i, s in enumerate(b.stmts):
            if s.op == "nested_gradient":
                return b, i
    return None


def _expand(fn, block, index, capture):
    from ..ir.compile import compile_ir
    stmt = block.stmts[index]
    g, point = stmt.args[0], stmt.args[1:]
    types = [type_of_arg(a) for a in point]
    where = fn.filename, stmt.line
    for t in types:
        if not (isinstance(t, Scalar) or isinstance(t, ArrayT) and t.is_float):
            raise UnsupportedType(f"zygopy.gradient inside a compiled function takes numbers and "
                                  f"float arrays; {g.__name__!r} was given a {t}", *where,
                                  hint="pass the arrays and numbers themselves, not structures")
    inner = compile_ir(g, types, capture=capture)
    returned = type_of_arg(next(br.args[0] for b in inner.blocks for br in b.branches
                                if br.is_return))
    if not (isinstance(returned, Scalar) and returned.is_float):
        raise UnsupportedType(f"zygopy.gradient differentiates a function returning a float; "
                              f"{g.__name__!r} returns {returned}", *where)
    hidden = [_hidden_argument(fn, c) for c in inner.captured if c.runtime]
    fn.captured += [c for c in inner.captured if not c.runtime]
    sweep = tangent(inner, range(len(point)), value=False)
    floats = [k for k, t in enumerate(types) if is_float(t)]

    rest, branches = block.stmts[index + 1:], block.branches
    block.stmts = block.stmts[:index]
    emit = _Emitter(fn, stmt.line)
    zeros = {k: emit(block, "zeros_like", point[k], None) if isinstance(types[k], ArrayT) else 0.0
             for k in floats}

    def along(cur, k, seed):
        """(block, the tangent of g at `point` along input k's `seed`)."""
        seeds = [seed if j == k else zeros[j] for j in floats]
        return emit.call(cur, sweep, [*point, *seeds, *hidden])

    cur, grads = block, []
    for k, t in enumerate(types):
        if k not in floats:
            grads.append(None)
        elif isinstance(t, ArrayT):
            cur, grad = _elementwise(fn, emit, cur, point[k], t, lambda c, s, k=k: along(c, k, s))
            grads.append(grad)
        else:
            cur, grad = along(cur, k, 1.0)
            grads.append(grad)
    cur.stmts += [Stmt(stmt.var, "tuple", grads, stmt.line), *rest]
    cur.branches = branches


def _elementwise(fn, emit, cur, x, t, along):
    """(block, the gradient along array x): a loop over x's elements, each seeding one tangent."""
    size = emit(cur, "getattr", x, "size")
    flat = emit(cur, "zeros", size, t.dtype)
    j = fn.new_var()
    head, body, done = fn.new_block([j]), fn.new_block(), fn.new_block()
    cur.branches = [Branch(head.id, [0])]
    more = emit(head, "lt", j, size)
    head.branches = [Branch(done.id, [], more), Branch(body.id, [])]
    unit = emit(body, "zeros", size, t.dtype)
    body.stmts.append(Stmt(None, "setindex", [unit, j, 1.0], emit.line))
    seed = _shaped_like(emit, body, unit, x, t)
    back, derivative = along(body, seed)
    back.stmts.append(Stmt(None, "setindex", [flat, j, derivative], emit.line))
    back.branches = [Branch(head.id, [emit(back, "add", j, 1)])]
    return done, _shaped_like(emit, done, flat, x, t)


def _shaped_like(emit, block, flat, x, t):
    """The vector `flat` in x's shape: a new array, not a view (a view may not be used across
    writes, and these are used in later blocks)."""
    if t.ndim == 1:
        return flat
    return emit(block, "copy", emit(block, "reshape", flat, emit(block, "getattr", x, "shape")))


def _hidden_argument(fn, captured):
    """A new hidden argument of fn for a value the inner function reads at each call."""
    arg = fn.new_var(captured.type, captured.name)
    fn.entry.args.append(arg)
    fn.arg_names.append(captured.name)
    fn.captured.append(captured)
    return arg


class _Emitter:
    """Appends statements to a block at the nested call's line; returns their values."""

    def __init__(self, fn, line):
        self.fn, self.line = fn, line

    def __call__(self, block, op, *args):
        var = self.fn.new_var()
        block.stmts.append(Stmt(var, op, list(args), self.line))
        return var

    def call(self, block, callee, args):
        """(the block after it, the result) of inlining callee(*args) at the end of block."""
        self(block, "nested_call")  # the statement the callee's body replaces
        after = inline_call(self.fn, block, len(block.stmts) - 1, callee, args)
        return after, after.args[0]


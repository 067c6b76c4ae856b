"""Derivatives assembled from tangent sweeps, one per input element, inlined into IR: a sweep is a
tangent function (tangent.py) seeded with a unit vector, and an array input gets a loop over its
elements. What results is ordinary IR that the evaluator runs and the backend compiles as one
function, with no Python loop of calls.

- `zygopy.gradient(g, x, ...)` called inside a function being compiled (a loss on a gradient's
  norm, a physics-informed residual): the inner gradient is inlined so, and an outer gradient
  differentiates it as `hvp` does (reverse over forward); nothing is a black box. Its cost is one
  sweep of g per input element: meant for the few inputs such code differentiates, not for the
  weights of a large model.
- `jacobian` of an array-valued function in forward mode: all its columns in one call.
"""
from __future__ import annotations

from ..errors import UnsupportedType
from ..ir.infer import infer_types, type_of_arg
from ..ir.ir import Branch, Function, Stmt
from ..ir.passes.inline import inline_call
from ..ir.passes.pipeline import optimize
from ..ir.passes.renumber import renumber
from ..ir.types import ArrayT, Scalar, TupleT, is_float
from ..ir.verify import verify
from .mutation import written_arguments
from .tangent import tangent, tangent_arguments


def lower_nested(fn, capture=True) -> bool:
    """Expand every `nested_gradient(g, *args)` and `nested_jvp(g, n, *primals, *tangents)` of fn
    (typed IR, changed in place); with `capture`, the values g reads from outside become hidden
    arguments of fn. Returns whether anything changed (fn then needs its types inferred again)."""
    changed = False
    while (found := _first(fn)) is not None:
        block, index = found
        expand = _expand_jvp if block.stmts[index].op == "nested_jvp" else _expand
        expand(fn, block, index, capture)
        changed = True
    return changed


def _first(fn):
    for b in fn.blocks:
        for i, s in enumerate(b.stmts):
            if s.op in ("nested_gradient", "nested_jvp"):
                return b, i
    return None


def _inner(fn, g, point, stmt, capture, what):
    """g compiled for the types of `point` (numbers and float arrays), and fn's arguments for the
    values it reads from outside."""
    from ..ir.compile import compile_ir
    types = [type_of_arg(a) for a in point]
    for t in types:
        if not (isinstance(t, Scalar) or isinstance(t, ArrayT) and t.is_float):
            raise UnsupportedType(f"{what} inside a compiled function takes numbers and float "
                                  f"arrays; {g.__name__!r} was given a {t}", fn.filename,
                                  stmt.line, hint="pass the arrays and numbers themselves, not "
                                  "structures")
    inner = compile_ir(g, types, capture=capture)
    hidden = [_hidden_argument(fn, c) for c in inner.captured if c.runtime]
    fn.captured += [c for c in inner.captured if not c.runtime]
    return inner, hidden


def _split(block, index):
    """Cut block before statement `index`: (the statements after it, the block's branches)."""
    rest, branches = block.stmts[index + 1:], block.branches
    block.stmts = block.stmts[:index]
    return rest, branches


def _expand(fn, block, index, capture):
    stmt = block.stmts[index]
    g, point = stmt.args[0], stmt.args[1:]
    inner, hidden = _inner(fn, g, point, stmt, capture, "zygopy.gradient")
    returned = type_of_arg(next(br.args[0] for b in inner.blocks for br in b.branches
                                if br.is_return))
    if not (isinstance(returned, Scalar) and returned.is_float):
        raise UnsupportedType(f"zygopy.gradient differentiates a function returning a float; "
                              f"{g.__name__!r} returns {returned}", fn.filename, stmt.line)
    rest, branches = _split(block, index)
    sweeps = _Sweeps(fn, block, stmt.line, tangent(inner, range(len(point)), value=False),
                     point, hidden)
    cur, grads = block, []
    for k in range(len(point)):
        if k in sweeps.floats:
            cur, grad = sweeps.derivative(cur, k)
        else:
            grad = None  # an int or a bool
        grads.append(grad)
    cur.stmts += [Stmt(stmt.var, "tuple", grads, stmt.line), *rest]
    cur.branches = branches


def _expand_jvp(fn, block, index, capture):
    """One sweep of g's forward mode along the tangents given (None: zero), inlined."""
    stmt = block.stmts[index]
    g, n = stmt.args[0], stmt.args[1]
    point, given = stmt.args[2:2 + n], stmt.args[2 + n:]
    inner, hidden = _inner(fn, g, point, stmt, capture, "zygopy.jvp")
    for p, t in zip(point, given, strict=True):
        if t is not None and isinstance(type_of_arg(p), ArrayT) != isinstance(type_of_arg(t),
                                                                              ArrayT):
            raise UnsupportedType(f"zygopy.jvp of {g.__name__!r} was given a tangent of type "
                                  f"{type_of_arg(t)} for an argument of type {type_of_arg(p)}",
                                  fn.filename, stmt.line,
                                  hint="give each tangent its argument's shape (None for zero)")
    rest, branches = _split(block, index)
    sweeps = _Sweeps(fn, block, stmt.line, tangent(inner, range(n), value=True), point, hidden)
    seeds = [given[k] if given[k] is not None else sweeps.zeros[k] for k in sweeps.floats]
    arguments = [*sweeps.fresh_point(block), *seeds, *hidden]
    cur, result = sweeps.emit.call(block, sweeps.sweep, arguments)
    value, dvalue = (sweeps.emit(cur, "getindex", result, i) for i in (0, 1))
    cur.stmts += [Stmt(stmt.var, "tuple", [value, dvalue], stmt.line), *rest]
    cur.branches = branches


def _hidden_argument(fn, captured):
    """A new hidden argument of fn for a value the inner function reads at each call."""
    arg = fn.new_var(captured.type, captured.name)
    fn.entry.args.append(arg)
    fn.arg_names.append(captured.name)
    fn.captured.append(captured)
    return arg


def jacobian_columns(sweep: Function, wrt) -> Function:
    """From `sweep`, the tangent function (with its value) of an array-valued function w.r.t.
    `wrt`: IR taking the leaves and the hidden arguments that returns the value, then per float
    leaf of wrt its derivatives: the tangent along a scalar leaf; for an array leaf, a matrix whose
    row j is the flattened tangent along its element j."""
    wrt = tangent_arguments(sweep, wrt)
    hidden = sum(1 for c in sweep.captured if c.runtime)
    n = len(sweep.args) - len(wrt) - hidden
    fn = Function(f"{sweep.name}_columns", [], sweep.filename, line=sweep.line,
                  captured=sweep.captured)
    entry = fn.new_block()
    entry.args = [fn.new_var(a.type, a.name) for i, a in enumerate(sweep.args)
                  if i < n or i >= n + len(wrt)]
    fn.arg_names = [a.name for a in entry.args]
    sweeps = _Sweeps(fn, entry, sweep.line, sweep, entry.args[:n], entry.args[n:], wrt)
    cur, result = sweeps.emit.call(entry, sweep, sweeps.arguments(entry, None, None))
    value = sweeps.emit(cur, "getindex", result, 0)
    out = [value]
    for k in sweeps.floats:
        cur, derivative = sweeps.derivative(cur, k, value)
        out.append(derivative)
    cur.branches = [Branch(None, [sweeps.emit(cur, "tuple", *out)])]
    infer_types(fn, [a.type for a in fn.args])
    optimize(fn)
    infer_types(fn, [a.type for a in fn.args])
    return verify(renumber(fn))


class _Sweeps:
    """Sweeps of the tangent function `sweep` at `point` (values of fn), emitted into fn; the
    zero seeds are made in `block`, where the point is known. A sweep returns the tangent alone,
    or (value, tangent) when it was made with its value."""

    def __init__(self, fn, block, line, sweep, point, hidden, floats=None):
        self.fn, self.sweep, self.point, self.hidden = fn, sweep, point, hidden
        types = [type_of_arg(p) for p in point]
        self.floats = [k for k, t in enumerate(types) if is_float(t)] if floats is None \
            else list(floats)
        self.emit = _Emitter(fn, line)
        self.zeros = {k: self.emit(block, "zeros_like", point[k], None)
                      if isinstance(types[k], ArrayT) else 0.0 for k in self.floats}
        returned = type_of_arg(next(br.args[0] for b in sweep.blocks for br in b.branches
                                    if br.is_return))
        self.with_value = isinstance(returned, TupleT)
        self.tangent_type = returned.elts[1] if self.with_value else returned
        self.written = {i for i in written_arguments(sweep) if i < len(point)}

    def fresh_point(self, block):
        """The point, with a copy (made in block) of each array the sweep writes into: every
        sweep starts from the point as it was, and the caller's arrays are not changed (a
        gradient or a Jacobian computed in Python leaves its arguments as they were)."""
        return [self.emit(block, "copy", p) if i in self.written else p
                for i, p in enumerate(self.point)]

    def arguments(self, block, k, seed):
        """The sweep's arguments, made in block: the point, `seed` along input k and zeros
        along the others, the hidden values."""
        return [*self.fresh_point(block), *(seed if j == k else self.zeros[j] for j in self.floats),
                *self.hidden]

    def along(self, cur, k, seed):
        """(the block after it, the tangent) of the sweep along input k's `seed`."""
        cur, result = self.emit.call(cur, self.sweep, self.arguments(cur, k, seed))
        return cur, self.emit(cur, "getindex", result, 1) if self.with_value else result

    def derivative(self, cur, k, value=None):
        """(the block after it, the derivative along input k): one sweep for a number; for an
        array, a loop of sweeps over its elements that gathers them in a new array: shaped like
        the input where the tangents are numbers, else (given `value`, an array like them)
        a matrix whose row j is the flattened tangent along element j."""
        x = self.point[k]
        t = type_of_arg(x)
        if not isinstance(t, ArrayT):
            return self.along(cur, k, 1.0)
        emit = self.emit
        size = emit(cur, "getattr", x, "size")
        if value is None:
            gathered = emit(cur, "zeros", size, t.dtype)
        else:
            shape = emit(cur, "tuple", size, emit(cur, "getattr", value, "size"))
            gathered = emit(cur, "zeros", shape, self.tangent_type.dtype)
        j = self.fn.new_var()
        head, body, done = self.fn.new_block([j]), self.fn.new_block(), self.fn.new_block()
        cur.branches = [Branch(head.id, [0])]
        more = emit(head, "lt", j, size)
        head.branches = [Branch(done.id, [], more), Branch(body.id, [])]
        unit = emit(body, "zeros", size, t.dtype)
        emit.write(body, unit, j, 1.0)
        back, tangent_j = self.along(body, k, _shaped_like(emit, body, unit, x, t))
        if isinstance(self.tangent_type, ArrayT):
            tangent_j = emit(back, "ravel", tangent_j)
        emit.write(back, gathered, j, tangent_j)
        back.branches = [Branch(head.id, [emit(back, "add", j, 1)])]
        return done, gathered if value is not None else _shaped_like(emit, done, gathered, x, t)


def _shaped_like(emit, block, flat, x, t):
    """The vector `flat` in x's shape: a new array, not a view (a view may not be used across
    writes, and these are used in later blocks)."""
    if t.ndim == 1:
        return flat
    return emit(block, "copy", emit(block, "reshape", flat, emit(block, "getattr", x, "shape")))


class _Emitter:
    """Appends statements to a block at one line; returns their values."""

    def __init__(self, fn, line):
        self.fn, self.line = fn, line

    def __call__(self, block, op, *args):
        var = self.fn.new_var()
        block.stmts.append(Stmt(var, op, list(args), self.line))
        return var

    def write(self, block, array, index, value):
        """array[index] = value."""
        block.stmts.append(Stmt(None, "setindex", [array, index, value], self.line))

    def call(self, block, callee, args):
        """(the block after it, the result) of inlining callee(*args) at the end of block."""
        self(block, "nested_call")  # the statement the callee's body replaces
        after = inline_call(self.fn, block, len(block.stmts) - 1, callee, args)
        return after, after.args[0]

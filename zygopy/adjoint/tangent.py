"""Forward mode: typed primal IR -> IR that computes the value and its tangent (a jvp).

Each active value (activity.py: it varies with a differentiated argument and the result depends
on it) gets its tangent computed right after it, by its primitive's tangent rule
(`rules.tangent_rule_for`). Blocks take the tangents of their active arguments as extra
arguments, so loops stay loops and branches stay branches. A tangent that is zero is no value at
all (None) until a branch, a write or the result needs one. An array the function writes into
has a tangent array of its own, written alongside it (`a[i] = v`, then `ȧ[i] = v̇`); the
caller's arrays and tangents are never written.

The result is ordinary IR: the evaluator runs it, the backend compiles it as it compiles a primal,
and the reverse pass differentiates it (reverse over forward: Hessian-vector products).
"""
from __future__ import annotations

from ..errors import UnsupportedType
from ..ir.infer import infer_types, type_of_arg
from ..ir.ir import RAISED, Function, Stmt, Var
from ..ir.passes.pipeline import optimize
from ..ir.passes.renumber import renumber
from ..ir.primitives import PRIMITIVES
from ..ir.types import ArrayT, ListT, TupleT, is_float
from ..ir.unit_dims import unit_dims as known_unit_dims
from ..ir.verify import verify
from .activity import VIEWS, tangent_values
from .mutation import check_writes, written_values
from .rules import Sym, tangent_rule_for
from .shapes import equal_shapes

# what an array tangent may alias (an operand's tangent, or a view of one): a write needs its own
ALIASING = VIEWS | {"spread"}


def tangent(fn: Function, wrt, unit_dims=None, value=True) -> Function:
    """Forward mode of `fn` (typed IR, transformed in place) w.r.t. the entry arguments `wrt` (the
    float ones among them get a tangent). The result takes the primal's leaves, then one tangent
    per float argument of `wrt`, then the hidden arguments; it returns (value, tangent), or the
    tangent alone when `value` is false. `unit_dims` as for adjoint()."""
    wrt = tangent_arguments(fn, wrt)
    check_writes(fn)
    ret = _returned(fn).branches[-1].args[0]
    builder = _Builder(fn, wrt, [ret] if isinstance(ret, Var) else [],
                       equal_shapes(fn, known_unit_dims(fn, unit_dims)))
    builder.build(value)
    infer_types(fn, [a.type for a in fn.args])
    optimize(fn)
    infer_types(fn, [a.type for a in fn.args])
    return verify(renumber(fn))


def contracted(fn: Function) -> Function:
    """fn (typed IR, changed in place) with its array result contracted with a new argument u
    shaped like it, after the leaves: sum(result * u), whose gradient is the vector-Jacobian
    product uᵀJ (a row of the Jacobian for a basis u)."""
    ret_block = _returned(fn)
    ret = ret_block.branches[-1].args[0]
    u = fn.new_var(ret.type, "u")
    fn.entry.args.insert(leaf_count(fn), u)
    product, total = fn.new_var(), fn.new_var()
    ret_block.stmts += [Stmt(product, "mul", [ret, u]), Stmt(total, "sum", [product, None, False])]
    ret_block.branches[-1].args = [total]
    infer_types(fn, [a.type for a in fn.args])
    return verify(fn)


def _returned(fn):
    """The block that returns (the frontend makes one)."""
    return next(b for b in fn.blocks if b.branches[-1].is_return)


def leaf_count(fn: Function) -> int:
    """How many of fn's entry arguments are the caller's leaves: the hidden ones come last."""
    return len(fn.args) - sum(1 for c in fn.captured if c.runtime)


def tangent_arguments(fn: Function, wrt) -> tuple:
    """The entry arguments of `wrt` that get a tangent: the floating-point ones."""
    return tuple(i for i in wrt if is_float(fn.args[i].type))


class _Builder:
    def __init__(self, fn, wrt, outputs, same_shape):
        self.fn, self.wrt, self.same_shape = fn, wrt, same_shape
        self.active = tangent_values(fn, wrt, outputs)
        self.written = written_values(fn)
        self.dot = {}  # active value -> its tangent (a Var), or None for a zero one
        self.definition = {s.var: s for b in fn.blocks for s in b.stmts if s.var is not None}
        self.stmts, self.line = [], None

    def emit(self, op, *args):
        var = self.fn.new_var()
        self.stmts.append(Stmt(var, op, [a.v if isinstance(a, Sym) else a for a in args],
                               self.line))
        return Sym(self.emit, var)

    def build(self, value):
        fn = self.fn
        self._refuse_lists()
        leaves = leaf_count(fn)
        params = [fn.new_var(fn.args[i].type, f"d{fn.args[i].name or ''}") for i in self.wrt]
        for i, t in zip(self.wrt, params, strict=True):
            self.dot[fn.args[i]] = t
        for b in fn.blocks[1:]:  # the entry's arguments are the function's
            for a in list(b.args):
                if a in self.active:
                    self.dot[a] = fn.new_var(a.type)
                    b.args.append(self.dot[a])
        for b in fn.blocks:
            self.stmts = []
            if b is fn.entry:
                for a in fn.args:
                    self.define(a, self.dot.get(a), fresh=False)
            for s in b.stmts:
                self.stmts.append(s)
                self.line = s.line
                if s.op == "setindex":
                    self.write(s)
                elif s.var in self.active:
                    self.define(s.var, *self.tangent_of(s))
            for br in b.branches:
                self.branch(br, value)
            b.stmts = self.stmts
        fn.entry.args[leaves:leaves] = params

    def _refuse_lists(self):
        for b in self.fn.blocks:
            for s in b.stmts:
                if s.var in self.active and isinstance(s.var.type, ListT):
                    raise UnsupportedType("forward mode (jvp, hessian) does not support lists of "
                                          "values that vary with the differentiated arguments",
                                          self.fn.filename, s.line,
                                          hint="build an array (np.stack, np.zeros and writes) "
                                               "instead, or use reverse mode")

    def define(self, v, t, fresh):
        """Record v's tangent t; an array the function writes into gets one of its own."""
        if v in self.written and v in self.active:
            if t is None:
                t = self.zero(v)
            elif not fresh:
                t = self.emit("copy", t).v
        self.dot[v] = t

    def tangent_of(self, s):
        """(the tangent of s's result or None, whether it is an array of its own)."""
        ds = [Sym(self.emit, self.dot[a]) if isinstance(a, Var) and self.dot.get(a) is not None
              else None for a in s.args]
        if not any(d is not None for d in ds):
            return None, False
        if s.op == "tuple":
            return self.emit("tuple", *[d if d is not None else self.zero(a)
                                        for d, a in zip(ds, s.args, strict=True)]).v, True
        rule = tangent_rule_for(s.op, self.fn.filename, s.line)
        before = len(self.stmts)
        t = rule(ds, Sym(self.emit, s.var), *[Sym(self.emit, a) for a in s.args])
        t = t.v if isinstance(t, Sym) else t
        if t is not None and self.broadcasts(s, ds):
            t = self.emit("spread", t, self.shape(s.var), ()).v
        made = {st.var: st.op for st in self.stmts[before:]}
        return t, t in made and made[t] not in ALIASING

    def broadcasts(self, s, ds):
        """Whether an elementwise tangent may have a smaller shape than the result: some array
        operand has no tangent, and the operands are not all known to have the result's shape
        (the one without a tangent may be what gives it that shape)."""
        if not (PRIMITIVES[s.op].elementwise and isinstance(s.var.type, ArrayT)):
            return False
        root = self.same_shape.get(s.var, s.var)
        arrays = [(a, d) for a, d in zip(s.args, ds, strict=True)
                  if isinstance(type_of_arg(a), ArrayT)]
        return any(d is None for _, d in arrays) and not all(
            self.same_shape.get(a, a) is root for a, _ in arrays)

    def shape(self, v):
        """v's shape, from its operands' where it is elementwise: reading v's own would keep it a
        named array, which the backend could not fold into its uses."""
        d = self.definition.get(v)
        if d is None or not PRIMITIVES[d.op].elementwise:
            return self.emit("getattr", v, "shape")
        shapes = {}  # one operand per class of equal shapes
        for a in d.args:
            if isinstance(a, Var) and isinstance(a.type, ArrayT):
                shapes.setdefault(self.same_shape.get(a, a), a)
        shapes = [self.shape(a) for a in shapes.values()]
        return shapes[0] if len(shapes) == 1 else self.emit("broadcast_shape", *shapes)

    def write(self, s):
        """`a[index] = v`: the tangent array gets v's tangent at the same place."""
        a, index, v = s.args[:3]
        if a in self.active:
            dv = self.dot.get(v) if isinstance(v, Var) else None
            self.stmts.append(Stmt(None, "setindex", [self.dot[a], index,
                                                      0.0 if dv is None else dv], s.line))

    def branch(self, br, value):
        self.line = None
        if br.is_return:
            r = br.args[0]
            t = self.dot.get(r) if isinstance(r, Var) else None
            t = self.zero(r) if t is None else t
            br.args = [self.emit("tuple", r, t).v if value else t]
            return
        target = self.fn.block(br.target)
        for p, x in zip(list(target.args), list(br.args), strict=False):
            if p in self.active:
                t = self.dot.get(x) if isinstance(x, Var) else None
                br.args.append(x if x is RAISED else self.zero(x) if t is None else t)

    def zero(self, x):
        """A zero tangent for the value x: zeros shaped like an array, 0.0 for a float, a tuple
        of zeros for a tuple; None for values with no tangent (ints, bools)."""
        t = type_of_arg(x)
        if isinstance(t, ArrayT):
            return self.emit("zeros_like", x, None if t.is_float else "float64").v
        if isinstance(t, TupleT):
            return self.emit("tuple", *[self.zero(self.emit("getindex", x, i).v)
                                        for i in range(len(t.elts))]).v
        return 0.0 if is_float(t) else None


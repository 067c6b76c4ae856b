"""Costly values an inner loop computes from its counter alone, computed once as arrays.

In a loop nest such as

    for j in range(n):
        for k in range(m):
            z = (x[j] - mu[k]) / math.exp(log_sigma[k])

`math.exp(log_sigma[k])` depends on k and on nothing the outer loop changes, yet runs n * m
times. Before the outer loop this pass computes it for every k at once,
`e = np.exp(log_sigma[0:m])`, and the inner loop reads `e[k]`: n * m exponentials become m, in
the primal and in the gradient (whose reverse then reads e[k] too, and sums into log_sigma's
gradient once per k).

What is moved: a float64 value made by elementwise primitives from `a[k]` (a one-dimensional
float64 array `a` fixed in the outer loop), numbers fixed in the outer loop and constants, where
the chain holds a costly primitive (not only sums, products, comparisons). The counter k runs
from 0 by steps of 1 while below a bound fixed in the outer loop; nothing in the outer loop
writes into an array. Moved values are pure and raise nothing (NumPy's error model), so computing
them for every k, or where the loops do not run, changes no result. A k past `a`'s end still
raises IndexError, reading the array made here.
"""
from __future__ import annotations

from ..cfg import natural_loops
from ..ir import Function, Stmt, Var, users_of
from ..primitives import PRIMITIVES
from ..types import INT, SLICE, ArrayT, Scalar, TupleT

FLOAT64 = Scalar("float64")
# elementwise primitives too cheap to be worth an array of their own
CHEAP = {"add", "sub", "mul", "neg", "pos", "abs", "sign", "min", "max", "select",
         "lt", "le", "gt", "ge", "eq", "ne"}
# what the outer loop may compute from fixed values (an inner bound, `range(mu.shape[0])`) and
# the code before it compute again: statements that cannot raise
SAFE_AGAIN = {"getattr", "range_len", "len", "add", "sub", "mul", "neg", "min", "max"}


def hoist_counter_rows(fn: Function) -> bool:
    """Rewrite fn (typed) in place; True if anything moved (types of the new values are set)."""
    loops = natural_loops(fn)
    changed = False
    for inner, inner_body in loops.items():
        around = [h for h, body in loops.items() if h != inner and inner_body < body]
        if around:
            outer = min(around, key=lambda h: len(loops[h]))
            changed |= _hoist(fn, inner, inner_body, loops[outer], outer, loops)
    return changed


def _hoist(fn, inner, inner_body, outer_body, outer, loops) -> bool:
    blocks = fn.block_map()
    if any(PRIMITIVES[s.op].writes for b in outer_body for s in blocks[b].stmts):
        return False
    outside = [p for p in fn.predecessors()[outer] if p not in outer_body]
    if len(outside) != 1 or len(blocks[outside[0]].branches) != 1:
        return False
    fixed = {a for b in fn.blocks if b.id not in outer_body for a in b.args}
    fixed |= {s.var for b in fn.blocks if b.id not in outer_body for s in b.stmts if s.var}
    nested = set().union(*(body for h, body in loops.items() if h != inner and body < inner_body))
    again = {}  # values the outer loop computes from fixed ones, safely: their statements
    for bid in sorted(outer_body - inner_body):
        for s in blocks[bid].stmts:
            if (s.var is not None and _safe_again(s)
                    and all(a in fixed or a in again for a in s.args if isinstance(a, Var))):
                again[s.var] = s
    counter = _counter(fn, blocks, inner, inner_body, fixed | set(again))
    if counter is None:
        return False
    k, bound = counter
    # values of the inner loop's own blocks computed from k and fixed values alone
    rows, scalars = {}, dict(again)  # value -> its statement: depends on k / on fixed values only
    for bid in sorted(inner_body - nested - {inner}):
        for s in blocks[bid].stmts:
            kind = _kind(s, k, fixed, rows, scalars)
            if kind is not None:
                (rows if kind else scalars)[s.var] = s
    users = users_of(fn)
    moved = [v for v in rows if _costly(v, rows)
             and any(getattr(u, "var", None) not in rows for u in users.get(v, ()))]
    if not moved:
        return False
    made, emitted = {}, []

    def before_loops(v):
        """v computed before the outer loop: an array over k if it depends on k."""
        if not isinstance(v, Var) or (v not in rows and v not in scalars):
            return v
        if v not in made:
            s = rows.get(v) or scalars[v]
            if s.op == "getindex" and v in rows:
                op, args, t = "getindex", [s.args[0], whole], s.args[0].type
            else:
                op, args = s.op, [before_loops(a) for a in s.args]
                t = ArrayT("float64", 1) if v in rows else v.type
            made[v] = fn.new_var(t)
            emitted.append(Stmt(made[v], op, args, s.line))
        return made[v]

    whole = fn.new_var(SLICE)
    emitted.append(Stmt(whole, "slice", [0, before_loops(bound), None]))
    read = {rows[v]: Stmt(v, "getindex", [before_loops(v), k], rows[v].line) for v in moved}
    for bid in inner_body:
        blocks[bid].stmts = [read.get(st, st) for st in blocks[bid].stmts]
    blocks[outside[0]].stmts += emitted
    return True


def _safe_again(s) -> bool:
    if s.op == "getindex":  # an entry of a shape
        return isinstance(s.args[1], int) and isinstance(s.args[0], Var) \
            and isinstance(s.args[0].type, TupleT)
    if s.op == "range_len" and not (isinstance(s.args[2], int) and s.args[2] != 0):
        return False  # range() raises for a step of 0
    return s.op in SAFE_AGAIN and all(not isinstance(a, Var) or a.type == INT
                                      or s.op in ("getattr", "len") for a in s.args)


def _kind(s, k, fixed, rows, scalars):
    """True: s computes a float64 from k's element of a fixed array (and fixed values); False:
    from fixed values only; None: neither."""
    if s.var is None or s.var.type != FLOAT64:
        return None
    if s.op == "getindex":
        a, i = s.args
        ok = (i is k and isinstance(a, Var) and a in fixed and a.type == ArrayT("float64", 1))
        return True if ok else None
    prim = PRIMITIVES.get(s.op)
    if prim is None or not prim.elementwise or not prim.pure:
        return None
    vars_ = [a for a in s.args if isinstance(a, Var)]
    if not all(a in fixed or a in rows or a in scalars for a in vars_):
        return None
    if any(a in rows for a in vars_):
        return True
    return False


def _costly(v, rows) -> bool:
    s = rows.get(v)
    if s is None:
        return False
    cheap = (s.op in CHEAP or s.op == "getindex"
             or s.op == "pow" and isinstance(s.args[1], int))  # a[k] ** 2: products
    return not cheap or any(_costly(a, rows) for a in s.args if isinstance(a, Var))


def _counter(fn, blocks, header, body, fixed):
    """(k, bound) where the loop at `header` counts k = 0, 1, ... while k < bound, bound fixed
    in the outer loop; else None."""
    h = blocks[header]
    if not h.stmts or h.stmts[0].op != "lt" or len(h.branches) != 2:
        return None
    test = h.stmts[0]
    k, bound = test.args
    if not isinstance(k, Var) or k not in h.args or not (isinstance(bound, int) or bound in fixed):
        return None
    exit_, stay = h.branches
    if exit_.cond is not test.var or exit_.target in body or stay.target not in body:
        return None
    position = h.args.index(k)
    definition = {s.var: s for b in body for s in blocks[b].stmts if s.var is not None}
    for pred in fn.predecessors()[header]:
        for br in blocks[pred].branches:
            if br.target != header:
                continue
            start = br.args[position]
            if pred in body:
                step = definition.get(start)
                if step is None or step.op != "add" or step.args != [k, 1]:
                    return None
            elif start != 0:
                return None
    return k, bound

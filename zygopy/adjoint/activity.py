"""Activity analysis: which values need an adjoint.

A value is *varied* when it depends on a differentiated argument and *useful* when the result
depends on it; only values that are both, and of a floating type, are *active*. Integers,
booleans, constants and dead-end computations get no adjoint code at all.
"""
from __future__ import annotations

from ..ir import array_primitives  # noqa: F401  (declares the array primitives)
from ..ir.ir import Function, Var
from ..ir.primitives import PRIMITIVES
from ..ir.types import ArrayT, ListT, is_float

# operations whose array result may share memory with their first operand (NumPy's views)
VIEWS = {n for n, p in PRIMITIVES.items() if p.view}


def _edges(fn: Function):
    """(source value, destination Var) pairs: statement operands -> results (but through
    stop_gradient), branch operands -> block args."""
    blocks = fn.block_map()
    for b in fn.blocks:
        for s in b.stmts:
            if s.var is not None and s.op != "stop_gradient":
                for a in s.args:
                    if isinstance(a, Var):
                        yield a, s.var
                if s.op in VIEWS and isinstance(s.var.type, ArrayT):
                    yield s.var, s.args[0]  # a view shares its base's memory
            elif s.op == "setindex" and isinstance(s.args[2], Var):
                yield s.args[2], s.args[0]  # a written array depends on what was written
        for br in b.branches:
            if br.target is not None:
                for a, p in zip(br.args, blocks[br.target].args, strict=True):

                    if isinstance(a, Var):
                        yield a, p


def active_values(fn: Function, wrt, outputs) -> set:
    edges = [(a, d) for a, d in _edges(fn) if is_float(d.type) or _is_float_tuple(d.type)]
    varied = {fn.args[i] for i in wrt if is_float(fn.args[i].type)}
    varied = _closure(varied, [(a, d) for a, d in edges])
    useful = _closure(set(outputs), [(d, a) for a, d in edges])
    return {v for v in varied & useful if is_float(v.type)}


def tangent_values(fn: Function, wrt, outputs) -> set:
    """Forward mode's active values: varied and useful, as above, and floats, tuples holding floats
    or lists (which forward mode refuses, rather than lose their tangents)."""
    edges = [(a, d) for a, d in _edges(fn)
             if is_float(d.type) or _is_float_tuple(d.type) or isinstance(d.type, ListT)]
    varied = _closure({fn.args[i] for i in wrt}, edges)
    useful = _closure(set(outputs), [(d, a) for a, d in edges])
    return varied & useful


def _is_float_tuple(t):
    return hasattr(t, "elts") and any(is_float(e) for e in t.elts)


def _closure(start, edges):
    out = {}
    for a, d in edges:
        out.setdefault(a, []).append(d)
    seen, todo = set(start), list(start)
    while todo:
        for d in out.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen

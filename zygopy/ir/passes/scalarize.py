"""Split tuple-typed block arguments into one argument per element.

A tuple carried around a loop or merged after a branch then flows as separate scalars, so
activity analysis and the adjoint see each element; the tuple is rebuilt where it is used and
folding removes it wherever only its elements are read.
"""
from __future__ import annotations

from ..ir import Function, Stmt, Var
from ..types import TupleT


def scalarize_tuple_args(fn: Function) -> bool:
    changed = False
    for b in fn.blocks[1:]:
        for i in reversed(range(len(b.args))):
            arg = b.args[i]
            if not isinstance(arg.type, TupleT):
                continue
            parts = [fn.new_var(t, name=arg.name) for t in arg.type.elts]
            b.args[i:i + 1] = parts
            b.stmts.insert(0, Stmt(arg, "tuple", list(parts)))
            for source in fn.blocks:
                for br in source.branches:
                    if br.target == b.id:
                        br.args[i:i + 1] = _elements(fn, source, br.args[i], len(parts))
            changed = True
    return changed


def _elements(fn, block, value, n):
    if not isinstance(value, Var):
        return list(value)
    out = []
    for k in range(n):
        v = fn.new_var(value.type.elts[k])
        block.stmts.append(Stmt(v, "getindex", [value, k]))
        out.append(v)
    return out

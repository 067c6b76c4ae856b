"""Calls that return a tuple (a custom rule's `return a, b`, a kernel's several outputs): before
the adjoint pass, each part is read once, by a `getindex` right after the call, and the tuple
nowhere else. Activity, the tape and gradient slots then deal in the parts, which are numbers and
arrays; the reverse pass hands the call the parts' gradients as one tuple (reverse.py)."""
from __future__ import annotations

from ..errors import UnsupportedSyntax
from ..ir.ir import Function, Stmt, Var, substitute, uses
from ..ir.types import TupleT

OPAQUE = ("custom",)  # operations whose tuple result the IR cannot see into


def expose_parts(fn: Function) -> dict:
    """Rewrites fn in place; returns {tuple Var: [its parts' Vars]}."""
    parts_of = {}
    for b in fn.blocks:
        stmts = []
        for s in b.stmts:
            stmts.append(s)
            if s.op in OPAQUE and isinstance(s.var.type, TupleT):
                parts = parts_of[s.var] = [fn.new_var(t) for t in s.var.type.elts]
                stmts += [Stmt(p, "getindex", [s.var, i], s.line) for i, p in enumerate(parts)]
        b.stmts = stmts
    if not parts_of:
        return parts_of
    made = {id(p) for parts in parts_of.values() for p in parts}
    same = {}
    for b in fn.blocks:
        kept = []
        for s in b.stmts:
            if s.op == "getindex" and s.args[0] in parts_of and id(s.var) not in made:
                parts = parts_of[s.args[0]]
                if isinstance(s.args[1], int) and -len(parts) <= s.args[1] < len(parts):
                    same[s.var] = parts[s.args[1]]
                    continue
            kept.append(s)
        b.stmts = kept
    substitute(fn, same)
    maker = {s.var: s for b in fn.blocks for s in b.stmts if s.var in parts_of}
    for b in fn.blocks:
        for inst in b.stmts + b.branches:
            whole = next((v for v in uses(inst) if v in parts_of), None)
            if whole is not None and not (getattr(inst, "op", None) == "getindex"
                                          and id(inst.var) in made):
                rule = maker[whole].args[0]
                # a tangent rule takes the whole result: hessian through the rule gets here
                raise UnsupportedSyntax(f"the tuple that {rule!r} returns is used whole here; "
                                        "gradients flow through its parts only (so second "
                                        "derivatives through such a rule are not supported)",
                                        fn.filename, getattr(inst, "line", None),
                                        hint="unpack it where it is returned: a, b = rule(x)")
    return parts_of


def is_part_read(s, parts_of) -> bool:
    return s.op == "getindex" and isinstance(s.args[0], Var) and s.args[0] in parts_of

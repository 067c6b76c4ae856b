"""Scaling the tape in place where its caller owns it.

A scalar loss's pullback often starts by scaling arrays of the tape by dy: the preaccumulated
partials (adjoint/preaccumulate.py) are the gradients for dy = 1. A standalone pullback can run any
number of times, so each scaling writes a new array. value_and_gradient runs its pullback once and
drops the tape after it, so there the pullback may scale the partials in place, and skip the
scaling for dy = 1: for np.sum of an elementwise chain on 10^6 elements, three passes of 8 MB
left out.
"""
from __future__ import annotations

from ...ir.ir import Stmt, Var, users_of
from ...ir.primitives import PRIMITIVES
from ...ir.types import ArrayT, Scalar


def owned_scalings(adj) -> dict:
    """{statement `s * t` of the pullback: (s, t)} where t may be scaled in place when the tape
    is owned: t is a tape array that the forward allocated (an elementwise result) and nothing in
    the forward holds or writes (only elementwise statements read it), read by this statement
    alone, which runs once (in the entry, which no branch enters), and of the statement's type."""
    fwd, rev = adj.forward, adj.reverse
    if rev.entry.id in {t for b in rev.blocks for t in b.successors()}:
        return {}
    made = {s.var: s for b in fwd.blocks for s in b.stmts if s.var is not None}
    read_forward, read_reverse = users_of(fwd), users_of(rev)
    tape = set(rev.args[1:])
    out = {}
    for st in rev.entry.stmts:
        if st.op != "mul" or not isinstance(st.var.type, ArrayT) or len(st.args) != 2:
            continue
        t, s = st.args if isinstance(st.args[0], Var) and st.args[0] in tape else st.args[::-1]
        if (t in tape and t.type == st.var.type and isinstance(s, Var)
                and s.type == Scalar(t.type.dtype) and read_reverse[t] == [st]
                and t in made and PRIMITIVES[made[t].op].elementwise
                and all(isinstance(u, Stmt) and PRIMITIVES[u.op].elementwise
                        for u in read_forward.get(t, []))):
            out[st] = (s, t)
    return out


def scaling_in_place(scalings, statement, name):
    """A statement writer (source.body's `lower`) that writes the scalings through zy_scaled,
    which scales in place where the pullback's `owned` argument says so, and the rest with
    `statement`. A scaling that a fused loop computes, or that is folded into its use (one pass
    either way), is left to them."""
    def lower(w, st):
        fusion = w.fusion
        if (st not in scalings or st in w.folding
                or fusion is not None and (st in fusion.skipped or st in fusion.regions)):
            statement(w, st)
            return
        s, t = scalings[st]
        w(f"{name(st.var)} = zy_scaled({w.operand(s)}, {w.operand(t)}, owned)")
    return lower

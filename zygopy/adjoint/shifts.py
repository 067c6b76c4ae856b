"""The shift of a log-sum-exp gets no gradient.

Written for stability, a log-sum-exp subtracts a shift m (usually the largest term) and adds it
back:

    best = max over k of t[k]
    s = 0.0
    for k in range(m):
        s += math.exp(t[k] - best)
    r = best + math.log(s)

r = log(sum of exp(t[k])) whatever the shift, so dr/dbest is zero; computed term by term it is
1 - (sum of exp(t[k] - best)) / s, a rounding error, which the reverse pass carries back through
the loop that found the largest term (a mixture's log-likelihood spent a third of its gradient
there; a hand-written adjoint skips it). Here the shift's uses in the sum and in the addition
read it through `stop_gradient`, so those edges carry no gradient and the shift's own
computation, where nothing else needs its gradient, is neither recorded nor reversed (JAX's
`logsumexp` stops the gradient at its shift too).

A sum qualifies when it starts from 0.0 and adds nothing but terms `exp(u - shift)`, each read
by nothing else; its value is read only by one `log`, whose result only `shift + log(...)` reads;
and no loop that carries the sum from trip to trip computes the shift anew (every term, and the
addition, then read the same shift).
"""
from __future__ import annotations

from ..ir.cfg import natural_loops
from ..ir.ir import Branch, Function, Stmt, Var, users_of
from ..ir.types import Scalar, is_float


def stop_shift_gradients(fn: Function) -> int:
    """Rewrite fn (typed) in place; -> the number of sums whose shift now has no gradient."""
    logs = [s for b in fn.blocks for s in b.stmts if s.op == "log" and isinstance(s.args[0], Var)]
    if not logs:
        return 0
    users, defined, incoming = users_of(fn), _definitions(fn), _incoming(fn)
    stopped = []
    for log in logs:
        added = users.get(log.var, [])
        if len(added) != 1 or not _adds(added[0]):
            continue
        shift = next((a for a in added[0].args if a is not log.var), None)
        if not (isinstance(shift, Var) and isinstance(shift.type, Scalar)
                and is_float(shift.type)):
            continue
        terms = _shifted_terms(fn, log, shift, users, defined, incoming)
        if terms is not None:
            stopped.append((shift, [added[0], *terms]))
    for shift, readers in stopped:
        held = fn.new_var(shift.type)
        _insert_after(defined, shift, Stmt(held, "stop_gradient", [shift]))
        for s in readers:
            s.args = [held if a is shift else a for a in s.args]
    return len(stopped)


def _adds(s) -> bool:
    return isinstance(s, Stmt) and s.op == "add" and len(s.args) == 2


def _definitions(fn) -> dict:
    """Var -> (block, its defining statement or None for a block argument)."""
    out = {}
    for b in fn.blocks:
        out.update((a, (b, None)) for a in b.args)
        out.update((s.var, (b, s)) for s in b.stmts if s.var is not None)
    return out


def _incoming(fn) -> dict:
    """Block id -> [(id of a block branching to it, the branch)]."""
    out = {}
    for b in fn.blocks:
        for br in b.branches:
            if br.target is not None:
                out.setdefault(br.target, []).append((b.id, br))
    return out


def _shifted_terms(fn, log, shift, users, defined, incoming):
    """The statements `u - shift` of the sum `log` reads, if it qualifies (module docstring),
    else None."""
    chain, terms, todo = set(), [], [log.args[0]]
    carried = set()  # (block, source) edges that bring a partial sum into a block argument
    while todo:
        v = todo.pop()
        if v in chain:
            continue
        chain.add(v)
        if v not in defined:
            return None
        block, s = defined[v]
        if s is None:  # a block argument: every edge into it brings 0.0 or a partial sum
            if block is fn.entry:
                return None
            at = block.args.index(v)
            for source, br in incoming[block.id]:
                a = br.args[at]
                if isinstance(a, Var):
                    todo.append(a)
                    carried.add((block.id, source))
                elif a != 0.0:
                    return None
            continue
        if not _adds(s):
            return None
        for a in s.args:
            term = _term(a, shift, users, defined)
            if term is not None:
                terms.append(term)
            elif isinstance(a, Var):
                todo.append(a)
            elif a != 0.0:
                return None
    sums = {s.var for _, s in map(defined.get, chain) if s is not None}
    block_args = {b.id: b.args for b in fn.blocks}
    for v in chain:  # the partial sums are read by the sum alone, and by `log` at its end
        for u in users.get(v, []):
            if u is log:
                continue
            if isinstance(u, Branch):
                if u.cond is v or any(a is v and block_args[u.target][i] not in chain
                                      for i, a in enumerate(u.args)):
                    return None
            elif u.var not in sums:
                return None
    for e in (users[t.var][0].var for t in terms):
        if any(isinstance(u, Branch) or u.var not in sums for u in users[e]):
            return None
    if _recomputed_while_carried(fn, defined[shift][0].id, carried):
        return None
    return terms


def _term(a, shift, users, defined):
    """The statement `d = u - shift` if `a = exp(d)` and d is read by that alone, else None."""
    if not isinstance(a, Var) or a not in defined:
        return None
    _, e = defined[a]
    if e is None or e.op != "exp" or not isinstance(e.args[0], Var) or e.args[0] not in defined:
        return None
    _, d = defined[e.args[0]]
    if d is None or d.op != "sub" or d.args[1] is not shift or d.args[0] is shift:
        return None
    return d if len(users[d.var]) == 1 else None


def _recomputed_while_carried(fn, shift_block, carried) -> bool:
    """Whether a loop that holds the shift's block also carries a partial sum round its back
    edge: a sum of terms taken at different shifts."""
    for header, body in natural_loops(fn).items():
        if shift_block in body and any(h == header and src in body for h, src in carried):
            return True
    return False


def _insert_after(defined, v, stmt):
    block, s = defined[v]
    at = 0 if s is None else block.stmts.index(s) + 1
    stmt.line = block.stmts[at - 1].line if at else None
    block.stmts.insert(at, stmt)

"""What the reverse pass needs of run-time lists, recorded in the forward.

A list grows in place, so by the time the reverse pass runs it may be longer than it was when
an element was appended or read. So each append records the list's length before it (where the
appended element's gradient sits in the list's gradient), and a read `xs[i]` has its index made
non-negative in the forward (`xs[-1]` is the last element then, not at the end).
"""
from __future__ import annotations

from ..errors import UnsupportedSyntax
from ..ir.ir import Partition, Stmt, Var
from ..ir.types import INT, ArrayT, ListT
from .activity import VIEWS


def record_list_positions(fn, new_var):
    check_appended_arrays_not_written(fn)
    for b in fn.blocks:
        stmts = []
        for s in b.stmts:
            if s.op == "list_append" and len(s.args) == 2:
                length = new_var(INT)
                stmts.append(Stmt(length, "len", [s.args[0]], s.line))
                s.args = s.args + [length]
            elif (s.op == "getindex" and isinstance(getattr(s.args[0], "type", None), ListT)
                  and not (isinstance(s.args[1], int) and s.args[1] >= 0)):
                index = new_var(INT)
                stmts.append(Stmt(index, "list_index", list(s.args), s.line))
                s.args = [s.args[0], index]
            stmts.append(s)
        b.stmts = stmts


def check_appended_arrays_not_written(fn):
    """A list holds the arrays appended to it, not copies: a write into one of them (`buf[:] = v`
    after `xs.append(buf)`) changes what the list holds, which the gradients of the list cannot
    follow. Refused where an appended array may be the same array as one written into (through
    a view, or a variable that holds either)."""
    appended = [(s, s.args[1]) for b in fn.blocks for s in b.stmts
                if s.op == "list_append" and isinstance(s.args[1], Var)
                and isinstance(s.args[1].type, ArrayT)]
    written = [s.args[0] for b in fn.blocks for s in b.stmts if s.op == "setindex"]
    if not appended or not written:
        return
    same = _same_memory(fn)
    for s, x in appended:
        if any(same(x) is same(w) for w in written):
            raise UnsupportedSyntax("this array is appended to a list and also written into, so "
                                    "the list would change with it", fn.filename, s.line,
                                    hint="append a copy: xs.append(a.copy())")


def _same_memory(fn):
    """value -> a representative of the arrays it may share memory with (views, block args)."""
    same = Partition()

    def union(a, b):
        if isinstance(a, Var) and isinstance(b, Var):
            same.union(a, b)

    blocks = fn.block_map()
    for b in fn.blocks:
        for s in b.stmts:
            if (s.op in VIEWS and isinstance(getattr(s.var, "type", None), ArrayT)
                    and isinstance(getattr(s.args[0], "type", None), ArrayT)):
                union(s.var, s.args[0])
            elif s.op == "augment":
                union(s.var, s.args[0])
        for br in b.branches:
            if br.target is not None:
                for a, p in zip(br.args, blocks[br.target].args, strict=True):
                    if isinstance(p.type, ArrayT):
                        union(a, p)
    return same.find

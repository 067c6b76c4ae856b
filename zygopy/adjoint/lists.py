"""What the reverse pass needs of run-time lists, recorded in the forward.

A list grows in place, so by the time the reverse pass runs it may be longer than it was when
an element was appended or read. So each append records the list's length before it (where the
appended element's gradient sits in the list's gradient), and a read `xs[i]` has its index made
non-negative in the forward (`xs[-1]` is the last element then, not at the end).
"""
from __future__ import annotations

from ..ir.ir import Stmt
from ..ir.types import INT, ListT


def record_list_positions(fn, new_var):
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

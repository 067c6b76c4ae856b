"""Derivative rules of run-time lists (ir/list_primitives.py), in the same table as the others.

The gradient of a list is a list of gradients, where a missing entry is zero: reading `xs[i]`
adds into entry i (the getindex rule's Scatter), and the reverse of an append takes the entry at
the list's length before it. The list's gradient then goes on as it is: its entries from that
length on belong to elements appended later, and nothing before the append reads them (a list
only grows), so cutting them off would only cost time.
"""
from __future__ import annotations

from ..ir.types import ArrayT
from .rules import RULES, _prim

item, unstack = map(_prim, ["list_grad_item", "list_unstack"])


def _literal(g, y, *elements):
    return tuple(item(g, k, x) for k, x in enumerate(elements))


def _append(g, y, xs, x, length):
    return g, item(g, length, x), None


def _stack(g, y, xs, axis):
    if isinstance(xs.v.type, ArrayT):  # np.array of an array: a copy
        return g, None
    return unstack(g, axis), None


RULES.update({"list": _literal, "list_append": _append, "list_stack": _stack})

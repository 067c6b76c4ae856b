"""Derivative rules of run-time lists (ir/list_primitives.py), in the same table as the others.

The gradient of a list is a list of gradients, where a missing entry is zero: reading `xs[i]`
adds into entry i (the getindex rule's Scatter), and the reverse of an append takes the entry at
the list's length before it, then cuts the gradient back to that length, in place.
"""
from __future__ import annotations

from ..ir.types import ArrayT
from .rules import RULES, _prim

item, prefix, unstack = map(_prim, ["list_grad_item", "list_grad_prefix", "list_unstack"])


def _literal(g, y, *elements):
    return tuple(item(g, k, x) for k, x in enumerate(elements))


def _append(g, y, xs, x, length):
    grad_x = item(g, length, x)  # before the cut, which removes it
    return prefix(g, length), grad_x, None


def _stack(g, y, xs, axis):
    if isinstance(xs.v.type, ArrayT):  # np.array of an array: a copy
        return g, None
    return unstack(g, axis), None


RULES.update({"list": _literal, "list_append": _append, "list_stack": _stack})

"""Lists built at run time: `[a, b]`, `hs = []`, `hs.append(h)`, `np.stack(hs)`, `hs[i]`, `len(hs)`.

A list's elements are of one type (numbers, or arrays of one dtype and rank) and its length is a
run-time value, so a loop that appends stays a loop. `list_append` changes the list in place, as
Python does, and returns it: the frontend rebinds the list's name to the result, so that the IR
orders every read after the appends before it. Reading a list with `getindex` and `len` are the
primitives of the same names.

The gradient of a list is a list of gradients, which may be shorter than the list: missing
entries (and an empty list) are zeros. The operations below `list_stack` exist for the reverse
pass only.
"""
from __future__ import annotations

import numpy as np

from .primitives import INT, declare
from .types import AbsentT, ArrayT, ListT, Scalar, TupleT, list_element


def _literal_type(ts, args):
    """`[a, b, c]`: a run-time list if its elements are of one type, else a tuple (whose items
    are then known while compiling, as a tuple's are)."""
    try:
        elt = None
        for t in ts:
            if not isinstance(t, (Scalar, ArrayT)):
                raise TypeError
            elt = list_element(elt, t)
        return ListT(elt)
    except TypeError:
        return TupleT(tuple(ts))


def _append_type(ts, args):
    lst, t = ts[0], ts[1]
    if not isinstance(lst, ListT):
        raise TypeError(f"append needs a list built in the function, got {lst}")
    if not isinstance(t, (Scalar, ArrayT)):
        raise TypeError(f"a list built at run time holds numbers or arrays, not {t}")
    try:
        return ListT(list_element(lst.elt, t))
    except TypeError:
        raise TypeError(f"appending a {t} to a list of {lst.elt}: a list built at run time "
                        "holds values of one type (use a tuple, or one list per type)") from None


def _append(lst, x, length=None):  # the adjoint pass adds the length before the append
    lst.append(x)
    return lst


def _stack_type(ts, args):
    t = ts[0]
    if isinstance(t, ArrayT) and args[1] == 0:
        return t  # np.array(a) of an array: a copy
    if not isinstance(t, ListT):
        raise TypeError(f"np.stack/np.array of a {t} is not supported; pass a list built in the "
                        "function or a literal tuple of arrays")
    elt = t.elt if t.elt is not None else Scalar("float64")
    ndim = elt.ndim + 1 if isinstance(elt, ArrayT) else 1
    if not -ndim <= args[1] < ndim:
        raise TypeError(f"axis {args[1]} is out of range for stacking {elt}")
    return ArrayT(elt.dtype, ndim)


def _stack(lst, axis):
    if isinstance(lst, np.ndarray):
        return lst.copy()
    return np.stack(lst, axis=axis)


def _unstack_type(ts, args):
    g = ts[0]
    elt = Scalar(g.dtype, strong=True) if g.ndim == 1 else ArrayT(g.dtype, g.ndim - 1)
    return ListT(elt)


def _unstack(g, axis):
    return [np.take(g, k, axis=axis) for k in range(g.shape[axis])]


def _item(grads, k, like):
    """Entry k of a list's gradient: a missing entry is zero (shaped like the element)."""
    if k < len(grads) and grads[k] is not None:
        return grads[k]
    return np.zeros_like(like) if isinstance(like, np.ndarray) else 0.0


# a list is a mutable object: two lists are never merged, nor a list folded into a constant
declare("list", lambda *xs: list(xs), _literal_type, pure=False)
declare("empty_list", lambda t: [], lambda ts, args: args[0], pure=False)  # of a known type
declare("list_append", _append, _append_type, pure=False, writes=True)
declare("list_index", lambda lst, i: i + len(lst) if i < 0 else i, lambda ts, args: INT)
declare("list_stack", _stack, _stack_type, params={"axis": 0})
# np.asarray: an array as it is (a write through the result is a write into it, as in NumPy),
# a list stacked (passes/lower.py)
declare("asarray", lambda x, axis: x if isinstance(x, np.ndarray) else _stack(x, axis),
        _stack_type, params={"axis": 0}, lowered=True)
declare("list_unstack", _unstack, _unstack_type)
declare("list_grad_item", _item, lambda ts, args: ts[2])


def _absent(kind, position):
    raise TypeError("replaced once types are known")  # and so never folded as a constant


# the first item of a sum/max/min built in a loop, before there is one (passes/lists.py)
declare("absent", _absent, lambda ts, args: AbsentT())

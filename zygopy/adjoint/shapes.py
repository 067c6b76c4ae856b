"""Which arrays the reverse pass may treat as having one shape, without specialising on sizes.

An operand of an elementwise operation that has the result's rank and no dimension that can be 1
has the result's shape: nothing broadcasts it (ir/unit_dims.py says which dimensions can be 1,
from the arguments' through views, matrix products, new arrays' shapes and loops). The reverse
pass runs only after the forward succeeded, so it may use one shape for all of them and skip
summing gradients back to each operand's shape (which would also stop Numba from fusing the
elementwise reverse into one loop). Compiled code is specialised on which dimensions of each
argument are 1 (what broadcasting depends on), never on the sizes themselves.
"""
from __future__ import annotations

from ..ir.cfg import reverse_postorder
from ..ir.ir import Function, Var
from ..ir.types import ArrayT
from .array_rules import ELEMENTWISE


def equal_shapes(fn: Function, dims) -> dict:
    """{array value with no dimension 1: the value that names its class of equal shapes, which
    dominates it (itself, if none)}. `dims` tells, per dimension of each array value, whether it
    is 1 (ir/unit_dims.py). An operand of an elementwise result's rank none of whose dimensions
    is 1 has the result's shape, whatever the other operands are (a bias row, a scalar)."""
    without_ones = {v for v, d in dims.items()
                    if isinstance(v.type, ArrayT) and all(x is False for x in d)}
    # a class is named by the member that dominates the others (the reverse pass computes its
    # shape where it is defined): of two that dominate one statement, the one first in reverse
    # postorder, or first in their block
    order, blocks = {}, fn.block_map()
    for i, b in enumerate(blocks[bid] for bid in reverse_postorder(fn)):
        order.update({a: (i, -1) for a in b.args})
        order.update({st.var: (i, j) for j, st in enumerate(b.stmts) if st.var is not None})
    root: dict = {}

    def find(v):
        while v in root:
            v = root[v]
        return v

    for b in fn.blocks:
        for st in b.stmts:
            if st.op not in ELEMENTWISE or not isinstance(st.var.type, ArrayT):
                continue
            same = {find(a) for a in st.args if isinstance(a, Var) and a in without_ones
                    and a.type.ndim == st.var.type.ndim}
            if same:
                first = min(same, key=lambda r: order.get(r, (len(blocks), 0)))
                for r in same - {first}:
                    root[r] = first
                root[st.var] = first
    return {v: find(v) for v in without_ones}

"""Which arrays the reverse pass may treat as having one shape, without specialising on sizes.

An elementwise operation on arrays of one rank, none of whose dimensions can be 1, succeeds only
if its operands have equal shapes, and then its result has that shape too: there is nothing to
broadcast. The reverse pass runs only after the forward succeeded, so it may use one shape for
all of them and skip summing gradients back to each operand's shape (which would also stop Numba
from fusing the elementwise reverse into one loop). Compiled code is specialised on which
dimensions of each argument are 1 (what broadcasting depends on), never on the sizes themselves.
"""
from __future__ import annotations

from ..ir.ir import Function, Var
from ..ir.types import ArrayT
from .array_rules import ELEMENTWISE


def equal_shapes(fn: Function, unit_dims) -> dict:
    """{array value: the earlier value whose shape it shares}. `unit_dims[i]` tells, per dimension
    of entry argument i, whether it is 1 (None for non-arrays or when unknown)."""
    without_ones = {a for a, dims in zip(fn.args, unit_dims or (), strict=False) if dims is not None
                    and not any(dims)}
    root: dict = {}

    def find(v):
        while v in root:
            v = root[v]
        return v

    for b in fn.blocks:
        for st in b.stmts:
            if st.op not in ELEMENTWISE or not isinstance(st.var.type, ArrayT):
                continue
            arrays = [a for a in st.args if isinstance(a, Var) and isinstance(a.type, ArrayT)]
            if arrays and all(a in without_ones and a.type.ndim == st.var.type.ndim
                              for a in arrays):
                first = find(arrays[0])
                for a in arrays[1:]:
                    if find(a) is not first:
                        root[find(a)] = first
                root[st.var] = first
                without_ones.add(st.var)
    return {v: find(v) for v in root}

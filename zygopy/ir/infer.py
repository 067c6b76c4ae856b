"""Type inference over the IR: a forward data-flow fixpoint on the lattice of `types`.

Argument types come from the call; each primitive's type rule gives its result; a block argument
takes the join of what every predecessor passes (bool < int64 < float64, as Numba unifies them).
"""
from __future__ import annotations

from ..errors import UnsupportedType
from .cfg import reverse_postorder
from .ir import RAISED, Function, Slot, Var
from .primitives import result_type
from .types import NONE, AbsentT, DtypeT, join, strengths, typeof


def type_of_arg(a):
    if isinstance(a, (Var, Slot)):
        return a.type
    return typeof(a) or NONE


def infer_types(fn: Function, arg_types) -> Function:
    for b in fn.blocks:
        for v in b.args + [s.var for s in b.stmts if s.var is not None]:
            v.type = None
    # a custom rule's forward may be called with more or fewer values than it has parameters:
    # extra types are ignored, and parameters left without one stay untyped (compile_ir says so)
    for a, t in zip(fn.args, arg_types, strict=False):
        a.type = t
    blocks = fn.block_map()
    order = reverse_postorder(fn)
    changed = True
    while changed:
        changed = False
        for bid in order:
            b = blocks[bid]
            for s in b.stmts:
                ts = [type_of_arg(a) for a in s.args]
                # an absent first item (types.AbsentT) is typed by the items it is joined with
                if any(t is None or isinstance(t, AbsentT) for t in ts):
                    continue
                try:  # statements kept for their effect (a[i] = v) are checked too
                    t = result_type(s.op, ts, known_dtypes(s.args, ts))
                except TypeError as e:
                    raise UnsupportedType(str(e), fn.filename, s.line) from None
                if s.var is not None and _changed(t, s.var.type):
                    s.var.type, changed = t, True
            for br in b.branches:
                if br.is_return:
                    continue
                for param, a in zip(blocks[br.target].args, br.args, strict=True):
                    t = type_of_arg(a)
                    if t is None or a is RAISED:  # from a path that raised: nothing arrives
                        continue
                    try:
                        new = join(param.type, t)
                    except TypeError:
                        name = f"{param.name!r} " if param.name else ""
                        raise UnsupportedType(f"the value {name}is {param.type} on one path and "
                                              f"{t} on another",
                                              fn.filename, _line_of(b, fn)) from None
                    if _changed(new, param.type):
                        param.type, changed = new, True
    return fn


def returned_type(fn: Function):
    """The type of what fn returns."""
    return type_of_arg(next(br.args[0] for b in fn.blocks for br in b.branches if br.is_return))


def known_dtypes(args, ts):
    """The operands, with the name of its dtype for each `x.dtype` (DtypeT)."""
    return [t.dtype if isinstance(t, DtypeT) else a for a, t in zip(args, ts, strict=True)]


def _changed(new, old):
    return new != old or strengths(new) != strengths(old)  # equality ignores strength


def _line_of(block, fn):
    for s in reversed(block.stmts):
        if s.line:
            return s.line
    return getattr(fn, "line", None)

"""Lowering of run-time lists (ir/list_primitives.py) to Numba typed lists and the helpers of
`list_runtime`."""
from __future__ import annotations

from ...ir.types import ArrayT, ListT, Scalar

NUMBA_SCALARS = {"float64": "float64", "float32": "float32", "int64": "int64", "bool": "boolean"}


def numba_type(elt) -> str:
    """Numba's type of a list element: a number, or a C-contiguous array."""
    if isinstance(elt, ArrayT):
        return f"types.{NUMBA_SCALARS[elt.dtype]}[{', '.join([':'] * (elt.ndim - 1) + ['::1'])}]"
    return f"types.{NUMBA_SCALARS[elt.dtype]}"


def empty_list(t: ListT) -> str:
    return f"List.empty_list({numba_type(t.elt if t.elt is not None else Scalar('float64'))})"


def missing_entry(elt) -> str:
    """What stands for a zero entry in a list of gradients."""
    if isinstance(elt, ArrayT):
        return f"np.zeros(({'0, ' * elt.ndim}), np.{elt.dtype})"
    return f"np.{elt.dtype}(0)"


def element(src, elt) -> str:
    return f"np.ascontiguousarray({src})" if isinstance(elt, ArrayT) else src


def list_statement(w, s, operand, name) -> bool:
    """Write a list statement; False if `s` is not one."""
    op, args = s.op, s.args
    if op in ("list", "empty_list"):
        w(f"{name(s.var)} = {empty_list(s.var.type)}")
        for a in (args if op == "list" else []):
            w(f"{name(s.var)}.append({element(operand(a), s.var.type.elt)})")
    elif op == "list_append":
        w(f"{operand(args[0])}.append({element(operand(args[1]), s.var.type.elt)})")
        w(f"{name(s.var)} = {operand(args[0])}")
    else:
        return False
    return True


def list_expression(s, args) -> str | None:
    """Python source for a list operation that is one expression, or None if `s` is not one."""
    op, ops = s.op, s.args
    if op == "list_stack":
        return _stack(s, args[0])
    if op == "list_unstack":
        ndim = ops[0].type.ndim
        axis = ops[1] % ndim
        front = args[0] if axis == 0 else f"np.ascontiguousarray({_moved(args[0], ndim, axis)})"
        return f"zy_list_unstack({front}, {empty_list(s.var.type)})"
    if op == "list_grad_item":
        if isinstance(s.var.type, ArrayT):
            return f"zy_list_item({args[0]}, {args[1]}, {args[2]})"
        return f"zy_scalar_list_item({args[0]}, {args[1]}, np.{s.var.type.dtype}(0))"
    if op == "list_index":
        return f"zy_list_index({args[0]}, {args[1]})"
    return None


def _stack(s, src):
    t = s.args[0].type
    if isinstance(t, ArrayT):
        return f"{src}.copy()"
    if not isinstance(t.elt, ArrayT):
        return f"zy_scalar_list_stack({src}, np.empty(0, np.{s.var.type.dtype}))"
    ndim, axis = s.var.type.ndim, s.args[1] % s.var.type.ndim
    stacked = f"zy_list_stack({src})"
    if axis == 0:
        return stacked
    # stacked along a new first axis, which then moves to `axis`
    order = list(range(1, ndim))
    order.insert(axis, 0)
    return f"np.ascontiguousarray(np.transpose({stacked}, {tuple(order)}))"


def _moved(src, ndim, axis):
    """src with `axis` moved to the front."""
    order = [axis] + [d for d in range(ndim) if d != axis]
    return f"np.transpose({src}, {tuple(order)})"


def no_gradients(slot_name) -> str:
    """The empty list a list slot starts from and `take` leaves behind: one per slot, allocated
    once (a new one per loop trip costs more than the rest of the trip); the helpers never grow
    an empty list in place, so it stays empty."""
    return f"no_{slot_name}"


def slot_statement(w, s, operand, name) -> bool:
    """Gradient slots of lists: accum adds lists entry by entry, accum_at into one entry, take
    leaves an empty list (zero) behind. False if `s` is not such a statement."""
    if s.op not in ("take", "accum", "accum_at") or not isinstance(s.args[0].type, ListT):
        return False
    slot, t = name(s.args[0]), s.args[0].type
    if s.op == "take":
        w(f"{name(s.var)} = {slot}")
        w(f"{slot} = {no_gradients(slot)}")
    elif s.op == "accum":
        w(f"{slot} = zy_list_accum({slot}, {operand(s.args[1])})")
    else:
        index, g = operand(s.args[1]), operand(s.args[2])
        w(f"{slot} = zy_list_accum_at({slot}, {index}, {element(g, t.elt)}, "
          f"{missing_entry(t.elt)})")
    return True

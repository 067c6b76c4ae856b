"""Lowering of array operations to NumPy calls Numba compiles (or to `runtime` helpers where
Numba has no NumPy equivalent, such as max/min/mean along an axis)."""
from __future__ import annotations

from ..ir.primitives import PRIMITIVES
from ..ir.types import ArrayT

HELPERS = {"erf": "zy_erf", "erfc": "zy_erfc"}  # elementwise on arrays, where NumPy has none


def is_array(a) -> bool:
    return isinstance(getattr(a, "type", None), ArrayT)


def array_expression(s, args) -> str | None:
    """Python source for an array statement, or None if it is not one."""
    op, ops = s.op, s.args
    prim = PRIMITIVES[op]  # an operator (a + b) stays one on arrays
    if prim.elementwise and prim.symbol is None and any(is_array(a) for a in ops):
        return f"{HELPERS.get(op) or 'np.' + prim.numpy}({', '.join(args)})"
    if op in ("sum", "mean", "amax", "amin"):
        return _reduction(op, ops[0], args[0], ops[1])
    if op == "matmul":  # Numba's np.dot wants one dtype
        dtype = s.var.type.dtype
        cast = [f"{a}.astype(np.{dtype})" if is_array(o) and o.type.dtype != dtype else a
                for a, o in zip(args, ops, strict=True)]
        return f"np.dot({cast[0]}, {cast[1]})"
    if op == "astype":
        return f"{args[0]}.astype(np.{ops[1]})" if is_array(ops[0]) else f"np.{ops[1]}({args[0]})"
    if op == "transpose":
        return f"np.transpose({args[0]})"
    if op == "reshape":
        return f"np.ascontiguousarray({args[0]}).reshape({args[1]})"
    if op == "ravel":
        return f"np.ascontiguousarray({args[0]}).reshape(-1)"
    if op == "spread":
        if ops[2] is None or not is_array(ops[0]):  # a whole reduction, or one to a scalar
            return f"np.full({args[1]}, {args[0]})"
        return f"np.broadcast_to(np.expand_dims({args[0]}, {ops[2]}), {args[1]})"
    if op == "sum_to":
        return f"zy_sum_to({args[0]}, {args[1]})"
    if op == "broadcast_shape":  # right-aligned; where sizes differ one of them is 1
        n = len(s.var.type.elts)
        dims = []
        for d in range(n):
            sizes = [f"{a}[{d - (n - len(o.type.elts))}]" for a, o in zip(args, ops, strict=True)
                     if d >= n - len(o.type.elts)]
            dims.append(sizes[0] if len(sizes) == 1 else f"max({', '.join(sizes)})")
        return "(" + "".join(f"{x}, " for x in dims) + ")"
    if op == "outer":
        return f"np.outer({args[0]}, {args[1]})"
    if op == "copy":
        return f"{args[0]}.copy()"
    if op in ("concatenate", "stack"):
        parts = "".join(f"np.ascontiguousarray({a}), " for a in args[:-1])
        return f"np.{op}(({parts}), axis={args[-1]})"
    if op in ("zeros", "ones", "empty"):
        dtype = f", np.{ops[1]}" if ops[1] is not None else ""
        return f"np.{op}({args[0]}{dtype})"
    if op in ("zeros_like", "ones_like", "empty_like"):
        return f"np.{op}({args[0]})"
    return None


def _reduction(op, a, src, axis):
    if axis is None or a.type.ndim == 1:  # along the only axis: a whole reduction
        return f"np.{ {'amax': 'max', 'amin': 'min'}.get(op, op) }({src})"
    ndim = a.type.ndim
    axis %= ndim
    if op == "sum":
        return f"np.sum({src}, axis={axis})"
    if op == "mean":
        return f"np.sum({src}, axis={axis}) / {src}.shape[{axis}]"
    # max/min along an axis: view as (before, n, after), reduce the middle, restore the shape
    before = " * ".join(f"{src}.shape[{d}]" for d in range(axis)) or "1"
    after = " * ".join(f"{src}.shape[{d}]" for d in range(axis + 1, ndim)) or "1"
    kept = "".join(f"{src}.shape[{d}], " for d in range(ndim) if d != axis)
    helper = "zy_max_middle" if op == "amax" else "zy_min_middle"
    return (f"{helper}(np.ascontiguousarray({src})"
            f".reshape(({before}, {src}.shape[{axis}], {after})))"
            f".reshape(({kept}))")


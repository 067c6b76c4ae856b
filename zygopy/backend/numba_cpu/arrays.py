"""Lowering of array operations to NumPy calls Numba compiles (or to `runtime` helpers where
Numba has no NumPy equivalent, such as max/min/mean along an axis)."""
from __future__ import annotations

import re

from ...ir.array_primitives import normal_axes, pad_widths, permutation, reduced_axes
from ...ir.infer import type_of_arg
from ...ir.primitives import PRIMITIVES, has_index_array, index_parts
from ...ir.types import ArrayT, SliceT, TupleT

# elementwise on arrays: where NumPy has none, and np.where, which Numba compiles slowly
HELPERS = {"erf": "zy_erf", "erfc": "zy_erfc", "select": "zy_where"}
# elementwise primitives with a ufunc of zygopy's own, for arrays and numbers alike: in every
# dtype, or in float32 only
OWN_UFUNCS = {"sigmoid": "zy_sigmoid"}
FLOAT32_HELPERS = {"tanh": "zy_tanh32"}
LINALG = {"solve": "np.linalg.solve({})", "inv": "np.linalg.inv({})", "det": "np.linalg.det({})",
          "cholesky": "np.linalg.cholesky({})", "cholesky_grad": "zy_cholesky_grad({})",
          "slogdet_sign": "np.linalg.slogdet({})[0]", "logabsdet": "np.linalg.slogdet({})[1]"}
# primitives that are one compiled kernel each (nn_kernels.py), called with their operands
KERNELS = {op: "zy_" + op for op in ("conv2d", "conv2d_grad_input", "conv2d_grad_weight",
                                     "maxpool2d", "maxpool2d_grad", "maxpool2d_gather",
                                     "random_uniform", "record_statistics")}


def is_array(a) -> bool:
    return isinstance(getattr(a, "type", None), ArrayT)


def own_kernel(op, dtype) -> str | None:
    """zygopy's own function for elementwise primitive `op` on arrays or numbers of `dtype`."""
    return OWN_UFUNCS.get(op) or (FLOAT32_HELPERS.get(op) if dtype == "float32" else None)


def numpy_function(op, dtype) -> str:
    """The function computing elementwise primitive `op` on arrays or numbers of `dtype`."""
    return own_kernel(op, dtype) or HELPERS.get(op) or "np." + PRIMITIVES[op].numpy


def int_power(op, dtype, args) -> str | None:
    """An int ** as NumPy computes it: raising for a negative exponent (runtime.zy_int_power)."""
    return f"zy_int_power({args[0]}, {args[1]})" if op == "pow" and dtype == "int64" else None


def array_expression(s, args) -> str | None:
    """Python source for an array statement, or None if it is not one."""
    op, ops = s.op, s.args
    prim = PRIMITIVES[op]  # an operator (a + b) stays one on arrays
    power = int_power(op, getattr(s.var.type, "dtype", None), args)
    if power and any(is_array(a) for a in ops):
        return power
    if prim.elementwise and prim.symbol is None and any(is_array(a) for a in ops):
        return f"{numpy_function(op, s.var.type.dtype)}({', '.join(args)})"
    if op in KERNELS:
        return f"{KERNELS[op]}({', '.join(args)})"
    if op in REDUCTIONS:
        return _reduction(s, args[0])
    if op in SCANS:
        return _scan(s, args[0])
    if op in ("prod_others", "prod_others_grad"):
        return _prod_others(ops[0], args[:-1], ops[-1])
    if op == "matmul":  # Numba's np.dot wants one dtype, and at most 2-d operands
        a, b = _in_dtype(s, args, ops)
        if ops[0].type.ndim > 2 or ops[1].type.ndim > 2:
            return f"zy_matmul({a}, {b})"
        return f"zy_dot({a}, {b})"
    if op in LINALG:  # Numba's LAPACK wants floats of one dtype
        value = LINALG[op].format(", ".join(_in_dtype(s, args, ops)))
        # Numba's det and slogdet of float32 are float64 (which would then promote the arrays
        # they meet): in the IR's dtype, as NumPy's
        return value if is_array(s.var) else f"np.{s.var.type.dtype}({value})"
    if op == "astype":
        if not is_array(ops[0]):
            return f"np.{ops[1]}({args[0]})"
        # an array typed 0-d may be a number there (Numba's arithmetic on 0-d arrays gives one)
        x = f"np.asarray({args[0]})" if ops[0].type.ndim == 0 else args[0]
        return f"{x}.astype(np.{ops[1]})"
    if op in SHAPES:
        return SHAPES[op](s, args)
    if op == "reshape":
        return f"np.ascontiguousarray({args[0]}).reshape({args[1]})"
    if op == "ravel":
        return f"np.ascontiguousarray({args[0]}).reshape(-1)"
    if op == "spread":
        return _spread(ops[0], args[0], args[1], ops[2])
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
        return f"np.outer({', '.join(_in_dtype(s, args, ops))})"
    if op == "copy":
        return f"{args[0]}.copy()"
    if op == "arange":  # Numba's gives int64 for ints, float64 otherwise
        given = [a for a, o in zip(args[:3], ops[:3], strict=True) if o is not None]
        natural = "int64" if all(type_of_arg(o).dtype in ("bool", "int64") for o in ops[:3]
                                 if o is not None) else "float64"
        dtype = s.var.type.dtype
        return f"np.arange({', '.join(given)})" + (f".astype(np.{dtype})" if dtype != natural
                                                    else "")
    if op in ("concatenate", "stack"):
        parts = "".join(f"np.ascontiguousarray({a}), " for a in args[:-1])
        return f"np.{op}(({parts}), axis={args[-1]})"
    if op in ("zeros", "empty"):  # through the runtime's, compiled once
        return f"zy_{op}({args[0]}, np.{ops[1] or 'float64'})"
    if op == "ones":
        dtype = f", np.{ops[1]}" if ops[1] is not None else ""
        return f"np.ones({args[0]}{dtype})"
    if op in ("zeros_like", "ones_like", "empty_like"):
        return f"np.{op}({args[0]}" + (f", np.{ops[1]})" if ops[1] is not None else ")")
    return None


def _in_dtype(s, args, ops):
    """The array operands' source, cast to the result's dtype where they differ."""
    dtype = s.var.type.dtype
    return [f"{a}.astype(np.{dtype})" if is_array(o) and o.type.dtype != dtype else a
            for a, o in zip(args, ops, strict=True)]


# a reduction over every axis that Numba's NumPy computes, and the runtime helper computing each
# reduction along the middle axis of a (before, n, after) view
WHOLE = {"sum": "np.sum", "prod": "np.prod", "mean": "np.mean", "amax": "np.max",
         "amin": "np.min", "argmax": "np.argmax", "argmin": "np.argmin"}
MIDDLE = {"sum": "zy_sum_middle", "prod": "zy_prod_middle", "mean": "zy_mean_middle",
          "amax": "zy_max_middle", "amin": "zy_min_middle", "var": "zy_var_middle",
          "argmax": "zy_argmax_middle", "argmin": "zy_argmin_middle",
          "logsumexp": "zy_logsumexp_middle"}
REDUCTIONS = set(MIDDLE) | {"std"}
SCANS = {"cumsum": "zy_cumsum_middle", "cumprod": "zy_cumprod_middle",
         "cumsum_reverse": "zy_cumsum_reverse_middle", "softmax": "zy_softmax_middle",
         "argsort": "zy_argsort_middle"}


def _dims(src, dims):
    return "(" + "".join(f"{d}, " if isinstance(d, int) else f"{src}.shape[{d[0]}], "
                         for d in dims) + ")"


def _product(src, axes):
    return " * ".join(f"{src}.shape[{d}]" for d in axes) or "1"


def _middle(data, src, ndim, axes):
    """The array `data` (of `src`'s shape) as a (before, n, after) array whose middle axis runs
    over `axes`; the axes are first moved to the end where they are not adjacent."""
    if axes == tuple(range(axes[0], axes[-1] + 1)):
        before, after = range(axes[0]), range(axes[-1] + 1, ndim)
        view = f"np.ascontiguousarray({data})"
    else:
        before, after = [d for d in range(ndim) if d not in axes], ()
        view = f"np.ascontiguousarray(np.transpose({data}, {_moved(ndim, axes)}))"
    return (f"{view}.reshape(({_product(src, before)}, {_product(src, axes)}, "
            f"{_product(src, after)}))")


def _moved(ndim, axes):
    return tuple([d for d in range(ndim) if d not in axes] + list(axes))


def _reduction(s, src):
    op, a, axis, keepdims = s.op, s.args[0], s.args[1], s.args[-1]
    ndim, out = a.type.ndim, s.var.type
    axes = reduced_axes(axis, ndim)
    data = src
    if op not in ("argmax", "argmin") and a.type.dtype != out.dtype:  # ints to float for mean
        data = f"{src}.astype(np.{out.dtype})"
    kept = [d for d in range(ndim) if d not in axes]
    shape = _dims(src, [1 if d in axes else (d,) for d in range(ndim)] if keepdims
                  else [(d,) for d in kept])
    if op == "std":
        var = _reduction_value("var", data, src, ndim, axes, kept, shape, keepdims, s.args[2])
        return f"np.sqrt({var})"
    if len(axes) == ndim and op in WHOLE:
        value = f"{WHOLE[op]}({data})"
        return f"np.full({shape}, {value}, np.{out.dtype})" if keepdims else value
    ddof = s.args[2] if op == "var" else None
    return _reduction_value(op, data, src, ndim, axes, kept, shape, keepdims, ddof)


def _reduction_value(op, data, src, ndim, axes, kept, shape, keepdims, ddof):
    """A reduction through its runtime helper: a (before, after) array, reshaped."""
    extra = f", {ddof!r}" if ddof is not None else ""
    value = f"{MIDDLE[op]}({_middle(data, src, ndim, axes)}{extra})"
    if not keepdims and not kept:
        return f"{value}[0, 0]"
    return f"{value}.reshape({shape})"


def _scan(s, src):
    """cumsum, cumprod, the reverse cumsum (of a gradient), argsort and the softmax along an axis,
    or flattened (not the softmax)."""
    a, axis = s.args[0], s.args[1]
    data = src if a.type.dtype == s.var.type.dtype or s.op == "argsort" else \
        f"{src}.astype(np.{s.var.type.dtype})"
    if axis is None:
        flat = f"np.ascontiguousarray({data}).reshape((1, {src}.size, 1))"  # a view's too
        return f"{SCANS[s.op]}({flat}).reshape(({src}.size,))"
    ndim = a.type.ndim
    axis %= ndim
    return f"{SCANS[s.op]}({_middle(data, src, ndim, (axis,))}).reshape({src}.shape)"


def scaled_softmax(s, src, divisor) -> str:
    """softmax(x / divisor) (statement s, of float64 arrays), x's source `src`: the kernel divides
    as it reads (fusion.py)."""
    ndim = s.args[0].type.ndim
    middle = _middle(src, src, ndim, (s.args[1] % ndim,))
    return f"zy_softmax_scaled_middle({middle}, {divisor}).reshape({src}.shape)"


def _prod_others(a, srcs, axes):
    """The derivative of a product over `axes` (each element's product of the others), or with a
    second operand shaped like the first, its reverse along it (prod_others_grad)."""
    ndim, src = a.type.ndim, srcs[0]
    helper = "zy_prod_others_middle" if len(srcs) == 1 else "zy_prod_others_grad_middle"
    value = f"{helper}({', '.join(_middle(x, src, ndim, axes) for x in srcs)})"
    moved = _moved(ndim, axes)
    if axes == tuple(range(axes[0], axes[-1] + 1)):  # no axes were moved
        return f"{value}.reshape({src}.shape)"
    back = tuple(moved.index(d) for d in range(ndim))
    return (f"np.ascontiguousarray(np.transpose({value}.reshape({_dims(src, [(d,) for d in moved])}"
            f"), {back}))")


def _spread(g, src, shape, axes):
    """A reduction's gradient `g` broadcast to its operand's shape, with a new axis of it at
    each of `axes`."""
    if not is_array(g):  # a whole reduction, or one to a scalar
        return f"np.full({shape}, {src})"
    if not axes:
        return f"np.broadcast_to({src}, {shape})"
    if len(axes) == 1:
        return f"np.broadcast_to(np.expand_dims({src}, {axes[0]}), {shape})"
    ndim = g.type.ndim + len(axes)
    dims = "".join("1, " if d in axes else f"{shape}[{d}], " for d in range(ndim))
    return f"np.broadcast_to(np.ascontiguousarray({src}).reshape(({dims})), {shape})"


def indexing_lines(s, src, result=None):
    """Source lines of gather, setindex, accum_at or take_at (operands' source `src`, the result's
    name `result`) where the index holds arrays, or None for a basic index. The index has the form
    passes/indexing.py gives it: full slices, then index arrays and integers, or one mask."""
    index_type = type_of_arg(s.args[1])
    if not has_index_array(index_type):
        return None
    parts = index_parts(index_type)
    lead = next(k for k, t in enumerate(parts) if not isinstance(t, SliceT))
    chosen = [f"{src[1]}[{k}]" for k in range(lead, len(parts))] \
        if isinstance(index_type, TupleT) else [src[1]]
    target, ndim = src[0], s.args[0].type.ndim
    shape = f"{target}.shape"
    at = "at_" + re.sub(r"\W", "_", result or f"{target}_{src[1]}")
    if parts[lead].dtype == "bool":
        indexed = parts[lead].ndim
        flat = f"zy_mask_index({chosen[0]}, {shape}[{lead}:{lead + indexed}])"
    else:  # positions along the indexed axes, row-major: ((i0 * n1 + i1) * n2 + i2) ...
        indexed = len(chosen)
        flat = f"zy_index({chosen[0]}, {shape}[{lead}])"
        for k, part in enumerate(chosen[1:], lead + 1):
            flat = f"({flat}) * {shape}[{k}] + zy_index({part}, {shape}[{k}])"
    dims = "(" + ", ".join(_product(target, r) for r in
                           (range(lead), range(lead, lead + indexed), range(lead + indexed, ndim)))
    dims += ")"
    region = " + ".join([f"{shape}[:{lead}]"] * bool(lead) + [f"{at}.shape"]
                        + [f"{shape}[{lead + indexed}:]"] * (lead + indexed < ndim))
    lines = [f"{at} = {flat}"]
    if s.op == "gather":
        lines.append(f"{result} = zy_gather({target}, {at}, {dims}).reshape({region})")
    elif s.op == "setindex":
        lines.append(f"zy_scatter_set({target}, {at}, {src[2]}, {dims}, {region})")
    elif s.op == "accum_at":
        lines.append(f"zy_scatter_add({target}, {at}, {src[2]}, {dims})")
    else:  # take_at
        lines.append(f"{result} = zy_take_last({target}, {at}, {dims}).reshape({region})")
    return lines


# ---- creation and shape --------------------------------------------------------------------------
def _tuple(items):
    return "(" + "".join(f"{x}, " for x in items) + ")"


def _sizes(src, ndim):
    return [f"{src}.shape[{d}]" for d in range(ndim)]


def _items(operand, src):
    """Source of each element of a tuple operand (an int stands for a 1-tuple)."""
    t = type_of_arg(operand)
    return [f"{src}[{i}]" for i in range(len(t.elts))] if isinstance(t, TupleT) else [src]


def _reshaped(src, dims):
    return f"np.ascontiguousarray({src}).reshape({_tuple(dims)})"


def _copies(src, dims, expanded, result):
    """src viewed with the shape `dims`, broadcast to `expanded` and reshaped to `result`: how
    tile and repeat lay out their copies (Numba has neither with an axis or a tuple)."""
    spread = f"np.broadcast_to({_reshaped(src, dims)}, {_tuple(expanded)})"
    return _reshaped(spread, result)


def _summed(src, dims, axes):
    """src viewed with the shape `dims`, summed over `axes`: the gradient of the copies."""
    out = _reshaped(src, dims)
    for axis in sorted(axes, reverse=True):
        out = f"np.sum({out}, axis={axis})"
    return out


def _as_dtype(src, dtype):
    return src if dtype == "float64" else f"{src}.astype(np.{dtype})"


def _permuted(s, args):
    a = s.args[0]
    order = permutation(s.op, a.type.ndim, s.args[1:] or [None])
    if order == tuple(reversed(range(a.type.ndim))):
        return f"np.transpose({args[0]})"
    return f"np.transpose({args[0]}, {_tuple(order)})"


def _expand_dims(s, args):
    n = s.var.type.ndim
    axes, dims = normal_axes(s.args[1], n, "np.expand_dims"), iter(_sizes(args[0], n))
    return _reshaped(args[0], ["1" if d in axes else next(dims) for d in range(n)])


def _squeeze(s, args):
    ndim = s.args[0].type.ndim
    axes = normal_axes(s.args[1], ndim, "np.squeeze")
    return _reshaped(args[0], [x for d, x in enumerate(_sizes(args[0], ndim)) if d not in axes])


def _flip(s, args):
    ndim = s.var.type.ndim
    axes = range(ndim) if s.args[1] is None else normal_axes(s.args[1], ndim, "np.flip")
    return f"{args[0]}[{', '.join('::-1' if d in axes else ':' for d in range(ndim))}]"


def _tile(s, args):
    a, n = s.args[0], s.var.type.ndim
    shape = ["1"] * (n - a.type.ndim) + _sizes(args[0], a.type.ndim)
    reps = _items(s.args[1], args[1])
    reps = ["1"] * (n - len(reps)) + reps
    return _copies(args[0], [x for d in shape for x in ("1", d)],
                   [x for pair in zip(reps, shape, strict=True) for x in pair],
                   [f"{r} * {d}" for r, d in zip(reps, shape, strict=True)])


def _untile(s, args):
    n = s.args[0].type.ndim
    shape = _items(s.args[1], args[1])
    reps = _items(s.args[2], args[2])
    shape_n, reps_n = ["1"] * (n - len(shape)) + shape, ["1"] * (n - len(reps)) + reps
    out = _summed(args[0], [x for pair in zip(reps_n, shape_n, strict=True) for x in pair],
                  range(0, 2 * n, 2))
    return out if len(shape) == n else f"{out}.reshape({args[1]})"


def _repeat(s, args):
    a, r, axis = s.args[0], args[1], s.args[2]
    if axis is None:
        size = f"{args[0]}.size"
        return _copies(args[0], [size, "1"], [size, r], [f"{size} * {r}"])
    k = normal_axes(axis, a.type.ndim, "np.repeat")[0]
    dims = _sizes(args[0], a.type.ndim)
    return _copies(args[0], dims[:k + 1] + ["1"] + dims[k + 1:], dims[:k + 1] + [r] + dims[k + 1:],
                   dims[:k] + [f"{dims[k]} * {r}"] + dims[k + 1:])


def _unrepeat(s, args):
    shape, r, axis = _items(s.args[1], args[1]), args[2], s.args[3]
    if axis is None:
        return f"{_summed(args[0], ['-1', r], [1])}.reshape({args[1]})"
    k = normal_axes(axis, len(shape), "np.repeat")[0]
    return _summed(args[0], shape[:k + 1] + [r] + shape[k + 1:], [k + 1])


def _pad(s, args):
    ndim = s.var.type.ndim
    widths = pad_widths(s.args[1], ndim)
    shape = [f"{d} + {b + e}" for d, (b, e) in zip(_sizes(args[0], ndim), widths, strict=True)]
    before = _tuple(b for b, _ in widths)
    return f"zy_pad({args[0]}, {before}, {_tuple(shape)}, {args[3]})"


def _linspace(s, args):
    start, stop, num = args[:3]
    src = (f"np.linspace({start}, {stop}, {num})" if s.args[3]
           else f"np.linspace({start}, {stop}, {num} + 1)[:-1]")
    return _as_dtype(src, s.var.type.dtype)


def _eye(s, args):
    n, m, k = (args[0], args[0], "0") if s.op == "identity" else args[:3]
    return f"np.eye({n}, {m}, {k}, np.{s.var.type.dtype})"


def _trace(s, args):
    src = f"np.trace({args[0]}, {args[1]})"
    return src if s.var.type.dtype == "float64" else f"np.{s.var.type.dtype}({src})"


def _window(s, args):
    axis = "" if s.args[2] is None else f", {args[2]}"
    return f"zy_sliding_window_view({args[0]}, {args[1]}{axis})"


def _window_sum(s, args):
    return f"zy_window_sum({args[0]}, {args[1]}, {args[2]})"


SHAPES = {
    "transpose": _permuted, "swapaxes": _permuted, "moveaxis": _permuted,
    "expand_dims": _expand_dims, "squeeze": _squeeze, "flip": _flip,
    "tile": _tile, "untile": _untile, "repeat": _repeat, "unrepeat": _unrepeat, "pad": _pad,
    "triu": lambda s, args: f"np.triu({args[0]}, {args[1]})",
    "tril": lambda s, args: f"np.tril({args[0]}, {args[1]})",
    "diag": lambda s, args: f"np.diag({args[0]}, {args[1]})",
    "undiag": lambda s, args: f"zy_undiag({args[0]}, {args[1]}, {args[2]})",
    "trace": _trace,
    "sliding_window_view": _window, "window_sum": _window_sum,
    "linspace": _linspace, "eye": _eye, "identity": _eye,
    "full": lambda s, args: f"np.full({args[0]}, {args[1]}, np.{s.var.type.dtype})",
    "full_like": lambda s, args: f"np.full_like({args[0]}, {args[1]}, np.{s.var.type.dtype})",
}

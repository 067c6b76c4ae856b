"""Array elements read and written without a bounds check, for the code zygopy generates around
indices known to be in range: the reverse pass replays the indices its forward pass checked, on
the same arrays and on gradients shaped like them, and a stack is read below its top. Generated
modules are compiled with bounds checking on (out-of-range user indices raise IndexError); these
leave it out where it cannot fire, so that the loops stay tight. Negative indices still count
from the end.

    zy_at(a, i)         a[i]
    zy_put(a, i, v)     a[i] = v
    zy_add_at(a, i, v)  a[i] += v

`i` is an integer, or a tuple of one per dimension.
"""
from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import load_item, make_array, store_item

__all__ = ["zy_at", "zy_put", "zy_add_at"]


def _positions(a, index):
    """The index's integer types, one per dimension of array type `a`, or None."""
    if not isinstance(a, types.Array):
        return None
    parts = tuple(index.types) if isinstance(index, types.BaseTuple) else (index,)
    if len(parts) != a.ndim or not all(isinstance(t, types.Integer) for t in parts):
        return None
    return parts


def _pointer(context, builder, a, index_type, parts, array, index):
    values = cgutils.unpack_tuple(builder, index, len(parts)) if isinstance(
        index_type, types.BaseTuple) else [index]
    values = [context.cast(builder, v, t, types.intp) for v, t in zip(values, parts, strict=True)]
    return cgutils.get_item_pointer(context, builder, a, make_array(a)(context, builder, array),
                                    values, wraparound=True, boundscheck=False)


@intrinsic
def zy_at(typingctx, a, index):
    parts = _positions(a, index)
    if parts is None:
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, a, index, parts, *args)
        return load_item(context, builder, a, ptr)
    return a.dtype(a, index), codegen


def _writer(add):
    def typer(typingctx, a, index, value):
        parts = _positions(a, index)
        if parts is None or not isinstance(value, (types.Number, types.Boolean)):
            return None

        def codegen(context, builder, sig, args):
            ptr = _pointer(context, builder, a, index, parts, args[0], args[1])
            v = context.cast(builder, args[2], value, a.dtype)
            if add:
                v = builder.fadd(load_item(context, builder, a, ptr), v) if isinstance(
                    a.dtype, types.Float) else builder.add(load_item(context, builder, a, ptr), v)
            store_item(context, builder, a, v, ptr)
            return context.get_dummy_value()
        return types.none(a, index, value), codegen
    return intrinsic(typer)


zy_put = _writer(add=False)
zy_add_at = _writer(add=True)

"""Array elements read and written without a bounds check, for the code zygopy generates around
indices known to be in range: the reverse pass replays the indices its forward pass checked, on
the same arrays and on gradients shaped like them, and a stack is read below its top. Generated
modules are compiled with bounds checking on (out-of-range user indices raise IndexError); these
leave it out where it cannot fire, so that the loops stay tight. Negative indices still count
from the end.

    zy_at(a, i)         a[i]
    zy_put(a, i, v)     a[i] = v
    zy_add_at(a, i, v)  a[i] += v
    zy_at_top(a, i)     a[i], and
    zy_put_top(a, i, v) a[i] = v, for an i never negative (a place in a stack): no test for
                        counting from the end

`i` is an integer, or a tuple of one per dimension.

Accesses may also say which others they cannot overlap, so that LLVM needs no run-time test
for it. A fused loop nest (fusion.py) reads its leaves and stores into arrays it has just
allocated, so no store can change what it reads: without saying so, LLVM vectorised a nest
behind a test of whether the arrays overlap, which small arrays lying close together fail,
sending the loop down its scalar path, whose sums add up in another order (a gradient's last
bit would change from call to call). A pullback's gradient arrays lie apart from each other
and from its primal arrays (scopes.py). Such an access names its nest, how many scopes of their
own the nest's arrays have, and the scope of the array it accesses (-1: the one the rest share):

    zy_at_in(a, i, nest, scopes, k)            a[i]
    zy_put_in(a, i, v, nest, scopes, k)        a[i] = v
    zy_add_at_in(a, i, v, nest, scopes, k)     a[i] += v

Each becomes LLVM scoped-noalias metadata: an access in its array's scope, disjoint from every
other scope of the nest, so that only accesses in one scope (or without one) may overlap.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import load_item, make_array, store_item

__all__ = ["zy_at", "zy_at_top", "zy_put", "zy_put_top", "zy_add_at", "zy_at_in", "zy_put_in",
           "zy_add_at_in"]


def _positions(a, index):
    """The index's integer types, one per dimension of array type `a`, or None."""
    if not isinstance(a, types.Array):
        return None
    parts = tuple(index.types) if isinstance(index, types.BaseTuple) else (index,)
    if len(parts) != a.ndim or not all(isinstance(t, types.Integer) for t in parts):
        return None
    return parts


def _pointer(context, builder, a, index_type, parts, array, index, wraparound=True):
    values = cgutils.unpack_tuple(builder, index, len(parts)) if isinstance(
        index_type, types.BaseTuple) else [index]
    values = [context.cast(builder, v, t, types.intp) for v, t in zip(values, parts, strict=True)]
    return cgutils.get_item_pointer(context, builder, a, make_array(a)(context, builder, array),
                                    values, wraparound=wraparound, boundscheck=False)


def _scope(place):
    """(nest, scopes, k) from an access's literal place arguments: () for none; False if they are
    not literals (Numba then retries with literals)."""
    if not all(isinstance(t, (types.StringLiteral, types.IntegerLiteral)) for t in place):
        return False
    return tuple(t.literal_value for t in place)


class _Node(ir.values.MDValue):
    """A metadata node that names itself first, as LLVM's scopes and domains do: unlike one named
    by a string, it is the same as no other node, and LLVM's inliner copies it, so a nest
    inlined twice into one function keeps two sets of scopes."""
    __hash__ = object.__hash__
    __eq__ = object.__eq__
    __ne__ = object.__ne__

    def __init__(self, module, *operands):
        super().__init__(module, [ir.MetaDataString(module, "")], name=str(len(module.metadata)))
        self.operands = (self, *operands)


def _scopes(module, nest, count):
    """The nest's scopes in this module: the shared one, then each array's own."""
    made = module.__dict__.setdefault("zy_scopes", {})
    if (nest, count) not in made:
        domain = _Node(module, ir.MetaDataString(module, f"zy.{nest}"))
        made[nest, count] = [_Node(module, domain, ir.MetaDataString(module, f"zy.{nest}.{k}"))
                             for k in ("shared", *range(count))]
    return made[nest, count]


def _mark(builder, first, scope):
    """Tag the loads and stores emitted since instruction `first` with the nest's scopes."""
    if not scope:
        return
    nest, count, own = scope
    module = builder.module
    scopes = _scopes(module, nest, count)
    mine = own + 1
    for instr in builder.block.instructions[first:]:
        if isinstance(instr, (ir.LoadInstr, ir.StoreInstr)):
            instr.set_metadata("alias.scope", module.add_metadata([scopes[mine]]))
            instr.set_metadata("noalias", module.add_metadata(
                [s for k, s in enumerate(scopes) if k != mine]))


def _reader(a, index, *place, wraparound=True):
    parts, scope = _positions(a, index), _scope(place)
    if parts is None or scope is False:
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, a, index, parts, args[0], args[1], wraparound)
        first = len(builder.block.instructions)
        value = load_item(context, builder, a, ptr)
        _mark(builder, first, scope)
        return value
    return a.dtype(a, index, *place), codegen


def _writer(add, a, index, value, *place, wraparound=True):
    parts, scope = _positions(a, index), _scope(place)
    if parts is None or not isinstance(value, (types.Number, types.Boolean)) or scope is False:
        return None

    def codegen(context, builder, sig, args):
        ptr = _pointer(context, builder, a, index, parts, args[0], args[1], wraparound)
        v = context.cast(builder, args[2], value, a.dtype)
        first = len(builder.block.instructions)
        if add:
            v = builder.fadd(load_item(context, builder, a, ptr), v) if isinstance(
                a.dtype, types.Float) else builder.add(load_item(context, builder, a, ptr), v)
        store_item(context, builder, a, v, ptr)
        _mark(builder, first, scope)
        return context.get_dummy_value()
    return types.none(a, index, value, *place), codegen


@intrinsic
def zy_at(typingctx, a, index):
    return _reader(a, index)


@intrinsic
def zy_at_top(typingctx, a, index):
    return _reader(a, index, wraparound=False)


@intrinsic
def zy_put(typingctx, a, index, value):
    return _writer(False, a, index, value)


@intrinsic
def zy_put_top(typingctx, a, index, value):
    return _writer(False, a, index, value, wraparound=False)


@intrinsic
def zy_add_at(typingctx, a, index, value):
    return _writer(True, a, index, value)


@intrinsic
def zy_at_in(typingctx, a, index, nest, scopes, own):
    return _reader(a, index, nest, scopes, own)


@intrinsic
def zy_put_in(typingctx, a, index, value, nest, scopes, own):
    return _writer(False, a, index, value, nest, scopes, own)


@intrinsic
def zy_add_at_in(typingctx, a, index, value, nest, scopes, own):
    return _writer(True, a, index, value, nest, scopes, own)

"""Reductions fused with the elementwise expressions they consume: one loop nest, no temporaries.

`np.sum(w * np.exp(-0.5 * d * d), axis=1)` lowered statement by statement fills an array per
operation (Numba fuses the elementwise chain into one, but not the sum that reads it). Here the
sum becomes a loop over the broadcast shape of the chain's leaves, each element computed as a
local number and added where it belongs. Sums that share an intermediate (a value and its tangent
both read exp(...)) run in one loop nest, computing the shared part once per element. Values of a
region broadcast to one shape run in one loop nest over it (unless a sum would count an element
twice); otherwise, if their shapes turn out to differ at run time, each runs its own loop.

A region is a set of sums in one block with the elementwise float statements they read; values
read elsewhere too (by the tape, another statement) are stored from the loop as arrays, and
elementwise statements no sum reads form regions of their own. Everything else a region reads is
a leaf, broadcast to the loop's shape. The region is written at its first statement after its
leaves' definitions, which must come before every use of its values, and nothing between its
first and last statements may write.
"""
from __future__ import annotations

from contextlib import contextmanager

from ...ir.array_primitives import reduced_axes
from ...ir.cfg import reverse_postorder
from ...ir.infer import type_of_arg
from ...ir.ir import Function, Partition, Slot, Var, users_of, uses
from ...ir.primitives import PRIMITIVES, index_parts, is_weak
from ...ir.types import NONE, ArrayT, Scalar
from ...ir.unit_dims import unit_dims
from .arrays import int_power, numpy_function

FUSED_REDUCTIONS = ("sum", "mean")
FLOATS = ("float64", "float32")  # a region computes in one of these (and bools, for conditions)
# elementwise primitives computed on numbers inside the loop; erf/erfc and the integer divisions
# keep their array lowering
ELEMENT_OPS = {n for n, p in PRIMITIVES.items() if p.elementwise} - {
    "erf", "erfc", "floordiv", "mod", "fmod"}
# the elementwise primitives with a kernel in mathlib.py (which imports Numba, so the names are
# kept here: building source must not import it), and those whose kernel has a limited range
VECTOR_KERNELS = {"exp": "zy_exp", "expm1": "zy_expm1", "log": "zy_log", "log1p": "zy_log1p",
                  "tanh": "zy_tanh", "sigmoid": "zy_logistic", "sin": "zy_sin", "cos": "zy_cos"}
LIMITED_RANGE = {"sin", "cos"}
# kernels for float32 results: as accurate once rounded, and 2-3x faster
FLOAT32_KERNELS = {"exp": "zy_exp_f32", "tanh": "zy_tanh_f32", "sigmoid": "zy_logistic_f32"}
# float64 lanes of a vector (AVX2): a loop shorter than this runs one element at a time, where
# libm's exp is faster than these (1.9x, 3 elements a loop, against 0.5x from 4 on)
VECTOR_WIDTH = 4
# those Numba computes by calling libm, one element at a time, and zygopy has no kernel for: a
# loop calling one is not vectorised, and libm's exp is faster than a kernel that is not
# (sqrt, fabs and copysign are LLVM intrinsics, which vectorise; np.logaddexp calls log1p)
SCALAR_ONLY = ({n for n in ELEMENT_OPS if (PRIMITIVES[n].call or "").startswith("math.")}
               - {"sqrt", "fabs", "copysign"} - set(VECTOR_KERNELS)) | {"logaddexp"}


# impure statements a region's values may be computed across: they read or write a stack, or a
# gradient slot whose array no value the region reads can share (_shares_slots)
STACK_OPS = ("push", "pop", "drop")


def _shares_slots(fn: Function) -> dict:
    """{gradient slot: the values that may share its array}: what is read from it (a statement
    of a slot with a result) or stored in it whole, views of those, and every array a block
    receives (which may be one of them). An accumulation adds into the slot's own array, or a
    copy. In reverse postorder a view comes after what it views, but through a block's
    arguments."""
    slot_of, blocks = {}, fn.block_map()
    for st in (st for bid in reverse_postorder(fn) for st in blocks[bid].stmts):
        if st.op == "store":
            slot_of[st.args[1]] = st.args[0]
        elif st.var is not None and isinstance(st.args[0], Slot):
            slot_of[st.var] = st.args[0]
        elif PRIMITIVES[st.op].view and isinstance(st.args[0], Var) and st.args[0] in slot_of:
            slot_of[st.var] = slot_of[st.args[0]]
    received = {a for b in fn.blocks if b is not fn.entry for a in b.args
                if isinstance(a.type, ArrayT)}  # (the arguments are none of them)
    shared = {}
    for v, slot in slot_of.items():
        shared.setdefault(slot, set(received)).add(v)
    return shared


def _calls_libm(st) -> bool:
    """Whether Numba computes statement st's element by calling libm: x ** 2 and x ** 2.0 are
    multiplications, x ** 3.0 or x ** y a call of pow."""
    if st.op == "pow":
        power = st.args[1]
        return isinstance(power, Var) or not (isinstance(power, int) or power == 2.0)
    return st.op in SCALAR_ONLY


class Fusion:
    """The fused regions of fn's blocks; `keep` holds values read after the body (the tape);
    `arg_dims[i]` says which dimensions of entry argument i are 1 (signature.unit_dims), where
    the compiled code is specialised on it."""

    def __init__(self, fn: Function, keep=(), arg_dims=()):
        self.skipped, self.regions = set(), {}  # statements not written; first root -> region
        self.dims = unit_dims(fn, arg_dims)
        users = users_of(fn)
        keep = set(keep)
        shapes = {st.var: st for b in fn.blocks for st in b.stmts if st.op == "broadcast_shape"
                  or st.op == "getattr" and st.args[1] == "shape"}
        # arrays whose elements may not lie one after another (views, and values merged at a
        # block's head, which may be views): a loop reading one is not vectorised
        strided = {a for b in fn.blocks if b is not fn.entry for a in b.args} | {
            st.var for b in fn.blocks for st in b.stmts
            if PRIMITIVES[st.op].view and not _contiguous_view(st)}
        slots = _shares_slots(fn)
        for b in fn.blocks:
            for region in _regions(b.stmts, users, keep, shapes, slots):
                region.strided = strided
                self.regions[region.at] = region
                self.skipped.update(st for st in region.inside() if st is not region.at)
        self.scaled = _scaled_softmaxes(fn, users, keep, self.skipped, self.regions,
                                        self.named())
        self.skipped.update(q for q, _ in self.scaled.values())

    def named(self):
        """The values regions compute in their loops or read as arrays: none may be folded."""
        return {v for r in self.regions.values() for root in r.roots()
                for v in _tree_of(root, r)}


def _scaled_softmaxes(fn, users, keep, skipped, regions, named) -> dict:
    """softmax(x / c) of float64 arrays, c a number and x / c read by nothing else: the softmax
    kernel divides each element as it reads it (the quotient it would have read), and the array
    x / c, as large as the softmax, is never made (attention's S = Q K^T / sqrt(d); its gradient
    ran 4.5% faster). -> {softmax statement: (the quotient's statement, c)}"""
    out = {}
    for b in fn.blocks:
        quotients = {}  # of the block so far, with no write since
        for st in b.stmts:
            q = quotients.get(st.args[0]) if st.op == "softmax" else None
            if (q is not None and users.get(q.var) == [st] and q.var not in keep
                    and q not in skipped and q not in regions and q.var not in named):
                out[st] = (q, q.args[1])
            if _by_a_number(st):
                quotients[st.var] = st
            elif not PRIMITIVES[st.op].pure:
                quotients.clear()  # a write: x may have changed since its quotient
    return out


def _by_a_number(st) -> bool:
    """Whether st is x / c, x a float64 array of st's type and c a number."""
    return (st.op == "truediv" and isinstance(st.var.type, ArrayT)
            and st.var.type.dtype == "float64" and isinstance(st.args[0], Var)
            and st.args[0].type == st.var.type and not isinstance(type_of_arg(st.args[1]), ArrayT))


class Region:
    """Sums and stored arrays (outputs) computed in one loop nest from the `internal` values'
    elements, written where statement `at` stands."""

    def __init__(self, sums, outputs, internal, definition, at, seeds, shapes, position):
        self.sums, self.outputs, self.internal = sums, outputs, internal
        self.definition, self.at, self.seeds = definition, at, seeds  # seeds: as for _region
        self.position = position  # statement -> its place in the block
        self.shapes = shapes  # shape tuple -> the getattr or broadcast_shape defining it
        self.strided = frozenset()  # arrays whose elements may not be contiguous (Fusion's)

    def shape_parts(self, shape, name, operand):
        """The shapes a shape tuple broadcasts, as source: x.shape for x's shape, whichever way
        it is reached, so that equal shapes are seen to be equal."""
        d = self.shapes.get(shape)
        if d is None:
            return [operand(shape)]
        if d.op == "getattr":
            return [f"{name(d.args[0])}.shape"]
        return [p for a in d.args for p in self.shape_parts(a, name, operand)]

    def inside(self):
        """Its statements, in program order."""
        return sorted([self.definition[v] for v in self.internal] + self.sums,
                      key=self.position.get)

    def ndim(self):
        return max(v.type.ndim for v in self.roots())

    def roots(self):
        """The values whose elements the loop computes: what each sum adds up, each output."""
        return [s.args[0] for s in self.sums] + self.outputs


def _candidate(st):
    return (st.var is not None and isinstance(st.var.type, ArrayT)
            and st.var.type.dtype in (*FLOATS, "bool")
            and (st.op in ELEMENT_OPS or _summed_back(st) or st.op == "spread" and (
                st.args[2] == () or not isinstance(type_of_arg(st.args[0]), ArrayT)
                or _new_axes(st) is not None)))


def _new_axes(st):
    """The axes a spread of an array adds where its result has no others (the gradient of a
    sum over them, spread back: g[i] along a row); None otherwise."""
    if st.op != "spread" or not st.args[2] or not isinstance(type_of_arg(st.args[0]), ArrayT):
        return None
    g, axes = st.args[0], st.args[2]
    ndim = st.var.type.ndim
    axes = reduced_axes(axes, ndim)
    return axes if g.type.ndim + len(axes) == ndim else None


def _summed_back(st) -> bool:
    """A gradient summed back to an operand's shape of its own rank, sum_to(g, a.shape): g
    itself wherever nothing was broadcast, which a loop computing it takes for granted after
    testing the shapes (write_region)."""
    return (st.op == "sum_to" and isinstance(st.args[0], Var)
            and isinstance(st.args[0].type, ArrayT) and st.args[0].type.ndim == st.var.type.ndim)


def _fusible_sum(st):
    return (st.op in FUSED_REDUCTIONS and isinstance(st.args[0], Var)
            and isinstance(st.args[0].type, ArrayT) and st.var.type.dtype in FLOATS
            and (st.args[1] is None or isinstance(st.args[1], (int, tuple))))


def _regions(stmts, users, keep, shapes, slots):
    """Sums with the elementwise values they read, then what is left of the elementwise values,
    in connected groups of one rank and float dtype, whose outputs are the values read
    elsewhere."""
    position = {st: i for i, st in enumerate(stmts)}
    definition = {st.var: st for st in stmts if _candidate(st)}
    context = (definition, users, position, stmts, keep, shapes, slots)

    sums = [st for st in stmts if _fusible_sum(st) and st.args[0] in definition]
    trees = {s: set(_reads([s.args[0]], definition, definition)) for s in sums}
    groups = []  # sums reading a value in common, of one rank and reduced axes
    for s in sums:
        key = (s.args[0].type.ndim, s.args[1], s.args[2], s.var.type.dtype)
        joined = [g for g in groups if g[0] == key and any(trees[t] & trees[s] for t in g[1])]
        merged = [s] + [t for g in joined for t in g[1]]
        groups = [g for g in groups if g not in joined] + [(key, merged)]
    out, taken = [], set()  # a value is computed by one region: later ones read it as a leaf
    for _, group in groups:
        group = sorted(group, key=position.get)
        # together if they can be, else apart (a sum read by another's values)
        for sums in [group] + ([[s] for s in group] if len(group) > 1 else []):
            r = (_sum_region(sums, trees, taken, context, True)
                 or _sum_region(sums, trees, taken, context, False))
            if r is not None:
                out.append(r)
                taken.update(r.internal)
                if sums is group:
                    break
    pending = _components([st for st in definition.values() if st.var not in taken])
    while pending:
        members = pending.pop(0)
        values = {st.var for st in members}
        reads = {a for st in members for a in _operands(st)}
        for i, r in enumerate(out):  # values computed from a region's: in its loop if they can
            if reads & set(r.internal) and r.ndim() == members[0].var.type.ndim and (
                    merged := _region(r.sums, set(r.internal) | values, context, True,
                                      r.seeds | values)):
                out[i] = merged
                break
        else:  # Numba fuses one chain itself: a loop pays for values it shares or a spread
            found = _region([], values, context, True, values)
            if found is None:
                continue
            if len(found.internal) > 1 and (len(found.outputs) > 1 or any(
                    definition[v].op in ("spread", "sum_to") for v in found.internal)):
                out.append(found)
            # what it left out (computed before a write among it) may form regions of its own
            pending += _components([st for st in members if st.var not in found.internal])
    return out


def _components(stmts):
    """Elementwise statements joined where one reads another's value, both of one rank and one
    float dtype (bools join either)."""
    same = Partition()
    defined = {st.var for st in stmts}
    for st in stmts:
        for a in _operands(st):
            if a in defined and a.type.ndim == st.var.type.ndim and (
                    "bool" in (a.type.dtype, st.var.type.dtype)
                    or a.type.dtype == st.var.type.dtype):
                same.union(a, st.var)
    members = {}
    for st in stmts:
        members.setdefault(same.find(st.var), []).append(st)
    return [m for m in members.values()
            if len({st.var.type.dtype for st in m} - {"bool"}) == 1]


def _sum_region(group, trees, taken, context, storing):
    definition = context[0]
    dtype = group[0].var.type.dtype  # float32 is not mixed with float64 (NumPy's promotions)
    internal = {v for s in group for v in trees[s]
                if v in definition and v not in taken and v.type.dtype in (dtype, "bool")}
    return _region(group, internal, context, storing)


def _region(sums, internal, context, storing, seeds=frozenset()):
    """The region of these sums and elementwise values, or None where it cannot be written at
    its first root. Values neither sums nor `seeds` read are left out. A value read outside the
    region is stored if `storing` and it has the loop's rank and dtype; otherwise it is a leaf,
    and so are what only it read."""
    definition, users, position, stmts, keep, shapes, slots = context
    ndim = max(v.type.ndim for v in [s.args[0] for s in sums] or internal)
    dtype = sums[0].var.type.dtype if sums else \
        next(v.type.dtype for v in internal if v.type.dtype != "bool")
    while True:
        inside = set(sums) | {definition[v] for v in internal}
        read = set(_reads([s.args[0] for s in sums] + [v for v in seeds if v in internal],
                          definition, internal))
        outputs = {v for v in internal & read
                   if v in keep or any(u not in inside for u in users.get(v, []))}
        dropped = {v for v in internal if v not in read}
        # a spread adding axes reads its operand along the others: an array, stored first
        dropped |= {st.args[0] for st in inside if _new_axes(st) is not None} & internal
        dropped |= {v for v in outputs if not (storing and v.type.ndim == ndim
                                               and v.type.dtype in (dtype, "bool"))}
        # a value a leaf is computed from (S of S - np.max(S)) is computed before it, apart
        leaves = {a for st in inside for a in uses(st) if a not in internal}  # spread shapes too
        ready = max((position[st] for st in stmts if st.var in leaves), default=-1)
        dropped |= {v for v in outputs if any(
            u not in inside and position.get(u, ready + 1) <= ready for u in users.get(v, []))}
        # and so is a value computed before a write among the region's statements
        span = sorted(position[st] for st in inside) or [0]
        writes = [p for p in range(span[0], span[-1])
                  if stmts[p] not in inside and not _harmless(stmts[p], leaves, slots)]
        if writes:
            dropped |= {v for v in internal if position[definition[v]] < writes[-1]}
        if not dropped:
            break
        internal -= dropped
    if not all(s.args[0] in internal for s in sums) or not (sums or outputs):
        return None
    roots = list(sums) + [definition[v] for v in outputs]
    # written at its first statement after its leaves' definitions, before any use of its values
    at = min((st for st in inside if position[st] > ready), key=position.get, default=None)
    used = [position[u] for r in roots for u in users.get(r.var, [])
            if u not in inside and u in position]
    if at is None or any(p <= position[at] for p in used) or leaves & {s.var for s in sums}:
        return None  # (a sum of the region read by another, np.sum(e * np.sum(e)), among them)
    if any(isinstance(a.type, ArrayT) and a.type.ndim == 0
           for a in leaves | {r.var for r in roots}):
        return None  # a 0-d array has no element to index
    first = min(position[st] for st in inside)
    last = max(position[st] for st in inside)
    if not all(_harmless(st, leaves, slots) for st in stmts[first:last] if st not in inside):
        return None  # a leaf written between would be read after the write
    order = sorted(internal, key=lambda v: position[definition[v]])
    return Region(list(sums), sorted(outputs, key=lambda v: position[definition[v]]), order,
                  definition, at, frozenset(seeds) & internal, shapes, position)


def _harmless(st, leaves, slots) -> bool:
    """Whether statement st may run before or after the loop that computes a region reading
    `leaves`, rather than among its statements."""
    if PRIMITIVES[st.op].pure or st.op in STACK_OPS:
        return True
    return bool(st.args) and isinstance(st.args[0], Slot) and not (
        slots.get(st.args[0], set()) & leaves)


def write_region(w, region: Region, name, operand, tag, dims, unfused):
    """The region's loop nest: broadcast leaves, one accumulator per sum, an array per output,
    the elements. Where it sums gradients back (sum_to), the nest runs if the shapes they are
    summed to are the loop's, and `unfused(statement)` writes each statement otherwise."""
    loop, nest = _region_nest(w, region, name, operand, tag, dims)
    summed = [st for st in region.inside() if st.op == "sum_to"]
    if summed and loop is None:  # a nest for each root's shape: the statements as they are
        for st in region.inside():
            unfused(st)
        return
    if summed:
        w(f"if {' and '.join(f'{operand(st.args[1])} == {loop}' for st in summed)}:  "
          "# nothing summed back")
        w.indent()
    nest()
    if summed:
        w.dedent()
        with _general(w):
            for st in region.inside():
                unfused(st)


def _region_nest(w, region, name, operand, tag, dims):
    """Writes the shapes write_region's nest runs over. -> the name of the loop's shape (None
    where the roots' shapes may differ at run time, and each may run a nest of its own), and a
    function that writes the nest."""
    leaves, parts = [], {}
    for root in region.roots():  # each root's own iteration shape: its leaves and spreads
        parts[root] = []
        for v in _tree_of(root, region):
            d = region.definition.get(v) if v in region.internal else None
            if d is not None and d.op == "spread":
                parts[root] += region.shape_parts(d.args[1], name, operand)
            elif d is None and isinstance(v.type, ArrayT):
                if not _spread_only(v, region):  # a spread's new axes align it otherwise
                    parts[root].append(f"{name(v)}.shape")
                if v not in leaves:
                    leaves.append(v)
    roots = list(parts)
    if all(set(parts[r]) == set(parts[roots[0]]) for r in roots):  # one shape, plainly
        parts = {roots[0]: parts[roots[0]]}
    shapes = {}
    for r, p in parts.items():
        shapes[r] = f"zy_shape_{tag}_{len(shapes)}"
        w(f"{shapes[r]} = zy_broadcast_shapes({', '.join(dict.fromkeys(p))})")
    first = shapes[roots[0]]
    if len(shapes) == 1:
        return first, lambda: _loops(w, region, roots, first, leaves, name, operand, tag, dims)
    # A root that reads every leaf has the whole loop's shape; every other root's is the same
    # or 1 along some dimensions (broadcasting), so the one loop nest serves them all, storing
    # such an output's element where its own index is. Sums are counted once per element, so
    # theirs must be the whole shape; and a root known to be 1 where the loop is not would be
    # computed again for each of the loop's elements along it.
    whole = set().union(*map(set, parts.values()))
    full = next((r for r in roots if set(parts[r]) == whole), None)
    if full is not None and all(set(parts[s.args[0]]) == whole for s in region.sums) \
            and not any(_known_narrower(dims.get(r), dims.get(full)) for r in roots):
        narrow = {r: shapes[r] for r in roots if set(parts[r]) != whole}
        return shapes[full], lambda: _loops(w, region, roots, shapes[full], leaves, name,
                                            operand, tag, dims, narrow=narrow)

    def each():
        w(f"if {' and '.join(f'{shapes[r]} == {first}' for r in roots[1:])}:")
        w.indent()
        _loops(w, region, roots, first, leaves, name, operand, tag, dims)
        w.dedent()
        w("else:  # shapes that differ: a loop nest for each, reading the arrays stored before it")
        w.indent()
        stored = set()
        for r in dict.fromkeys(region.outputs + [s.args[0] for s in region.sums]):
            expand = set(region.internal) - stored
            mine = [v for v in _reads([r], region.definition, expand)
                    if v in leaves or v in stored]
            _loops(w, region, [r], shapes[r], mine, name, operand, tag, dims, expand)
            if r in region.outputs:
                stored.add(r)
        w.dedent()
    return None, each


def _known_narrower(mine, loop) -> bool:
    """Whether unit_dims show a value of dimensions `mine` to be 1 where the loop's are not."""
    return mine is not None and loop is not None and any(
        m is True and n is False for m, n in zip(mine, loop, strict=True))


def _spread_only(leaf, region) -> bool:
    """Whether the region reads `leaf` only through spreads that add axes."""
    readers = [region.definition[v] for v in region.internal
               if leaf in _operands(region.definition[v])]
    return bool(readers) and all(_new_axes(st) is not None for st in readers)


def _tree_of(v, region):
    """The values v's element reads, v first: internal ones recursively, leaves as they are."""
    return _reads([v], region.definition, region.internal)


def _reads(roots, definition, expand):
    """The values the elements of `roots` read, roots first: through the statements of the
    values in `expand`, the others as they are."""
    out, frontier = {}, list(roots)
    while frontier:
        x = frontier.pop()
        if x not in out:
            out[x] = None
            if x in expand:
                frontier += _operands(definition[x])
    return list(out)


def _operands(st):
    """The values an element of st reads (a spread's or sum_to's shape is not one)."""
    return [a for a in (st.args[:1] if st.op in ("spread", "sum_to") else st.args)
            if isinstance(a, Var)]


def _loops(w, region, roots, shape, leaves, name, operand, tag, dims, expand=None, narrow=None):
    """A loop nest computing the roots' elements from the leaves', through the internal values
    in `expand` (all, unless given); `narrow` maps outputs whose shape is 1 where the loop's is
    not to the name of their shape.

    A loop that LLVM can vectorise calls zygopy's own kernels (mathlib.py) and sums with
    reassociable adds; where their sin or cos met an argument beyond their range, the loop nest
    runs again with libm's functions. The kernels pay only in a vectorised loop, so a loop that
    calls a function of libm's, or reads a view whose elements may not be contiguous, calls
    libm's; so does a nest whose innermost dimension turns out shorter than a vector. A leaf
    dimension that may be 1 (broadcast) is read at i * k, and a narrow output stored at i * k,
    which LLVM cannot vectorise: the nest reads and stores at i where, at run time, none is 1
    and no output is narrow, and at i * k, with libm's, otherwise."""
    expand = set(region.internal) if expand is None else expand
    needed = {v for v in _reads(roots, region.definition, expand) if v in expand}
    nest = (w, region, roots, shape, leaves, name, operand, tag, dims, needed, narrow)
    strided = [v for v in leaves if v in region.strided and not _dims(v, dims)[-1]]
    kernels = any(region.definition[v].op in VECTOR_KERNELS for v in needed)
    if any(_calls_libm(region.definition[v]) for v in needed) or strided and not kernels:
        _loop_nest(*nest)
        return
    unknown = [(v, j) for v in leaves for j, one in enumerate(_dims(v, dims)) if one is None]
    tests = [f"{name(v)}.shape[{j}] != 1" for v, j in unknown]
    tests += [f"{s} == {shape}" for s in (narrow or {}).values()]
    if not tests:
        _vectorised(*nest, copies=strided)
        return
    w(f"if {' and '.join(tests)}:  # nothing broadcast")
    w.indent()
    known = {**dims, **{v: tuple(bool(one) for one in _dims(v, dims)) for v, _ in unknown}}
    _vectorised(w, region, roots, shape, leaves, name, operand, tag, known, needed, None,
                copies=strided)
    w.dedent()
    with _general(w):
        _loop_nest(*nest)


@contextmanager
def _general(w):
    """The else branch of a test for the common case: what it holds is compiled only into general
    code (runtime.zy_general, a constant to Numba); code for the common case raises instead."""
    w("else:")
    w("    if zy_general:")
    w.indent()
    w.indent()
    yield
    w.dedent()
    w("else:")
    w("    raise zy_despecialised()")
    w.dedent()


def _copying(views, name):
    """`name`, naming the contiguous copies of these views instead of them."""
    return lambda v: f"c_{name(v)}" if v in views else name(v)


def _dims(v, dims):
    """Per dimension of v: True where it is 1, False where it is not, None if known only at run
    time."""
    return dims.get(v, (None,) * v.type.ndim)


def _vectorised(w, region, roots, shape, leaves, name, operand, tag, dims, needed, narrow,
                copies=()):
    """A nest of _loops' that LLVM vectorises: through the kernels, with a libm twin where its
    innermost dimension is too short and a rerun where sin or cos met a far argument. It reads
    contiguous copies of the leaves in `copies`: the kernels pay for them (an LSTM's gates are
    views z[:, a:b], which LLVM does not vectorise)."""
    for v in copies:
        w(f"c_{name(v)} = np.ascontiguousarray({name(v)})")
    if copies:
        name = _copying(set(copies), name)
    nest = (w, region, roots, shape, leaves, name, operand, tag, dims, needed, narrow)
    ops = {region.definition[v].op for v in needed}
    ndim = max(r.type.ndim for r in roots)
    short = ndim > 1 and bool(ops & set(VECTOR_KERNELS))
    if short:
        w(f"if {shape}[{ndim - 1}] < {VECTOR_WIDTH}:  # too short to vectorise: libm's")
        w.indent()
        _loop_nest(*nest)
        w.dedent()
        w("else:")
        w.indent()
    far = f"far_{tag}_{name(roots[0])}" if ops & LIMITED_RANGE else None
    if far:
        w(f"{far} = 0")
    _loop_nest(*nest, kernels=True, far=far)
    if far:
        w(f"if {far}:  # beyond zy_sin's and zy_cos's range: again, with libm's")
        w.indent()
        _loop_nest(*nest)
        w.dedent()
    if short:
        w.dedent()


def _contiguous_view(st) -> bool:
    """Whether Numba types view st of a contiguous array as contiguous: x[i], x[i, a:b],
    x[None, :], not x[:, a:b] (integers, then one slice, NumPy's new axes anywhere), or a
    reshape."""
    if st.op in ("reshape", "ravel"):
        return True
    if st.op != "getindex":
        return False
    parts = [p for p in index_parts(type_of_arg(st.args[1])) if p != NONE]
    return all(isinstance(p, Scalar) for p in parts[:-1])


def _loop_nest(w, region, roots, shape, leaves, name, operand, tag, dims, needed, narrow,
               kernels=False, far=None):
    """_loops' nest: through zygopy's kernels and reassociable sums if `kernels`, setting the
    flag named `far` where an argument is beyond their range. Elements are read and stored
    unchecked (zy_at_in, zy_put_in): the indices run over the leaves' broadcast shape, so they
    are in range, and a bounds check per element stops LLVM vectorising a nest of two or more
    loops. The accesses say that the nest stores only into the arrays it allocates (unchecked.py),
    so that LLVM vectorises it without a run-time overlap test, and its sums add up in one order
    wherever its arrays lie."""
    ndim = max(r.type.ndim for r in roots)
    sums = [s for s in region.sums if s.args[0] in roots]
    outputs = [v for v in region.outputs if v in roots and v in needed]
    index = [f"i_{tag}_{d}" for d in range(ndim)]
    nest = f"{tag}_{name(roots[0])}_{w.nests[tag, roots[0]]}"
    w.nests[tag, roots[0]] += 1

    def element_of(v, positions):
        """v's element at these indices: a size-1 dimension at 0 (np.broadcast_to compiles
        slowly), one that may be 1 at i * k."""
        at = [("0" if one else f"{i} * k_{name(v)}_{j}" if one is None else i)
              for j, (i, one) in enumerate(zip(positions, _dims(v, dims), strict=True))]
        return f"zy_at_in({name(v)}, ({''.join(i + ', ' for i in at)}), '{nest}', {stored}, -1)"

    # float32 sums add up in float64, rounded once at the end; a sum into an array is stored by
    # the nest, its index among the stored arrays its position in `into`
    targets, totals, into = {}, {}, {}
    for s in sums:
        axes = reduced_axes(s.args[1], ndim)
        keepdims = s.args[2]
        kept = [d for d in range(ndim) if d not in axes]
        out_dims = [("1" if d in axes else f"{shape}[{d}]") for d in range(ndim)] if keepdims \
            else [f"{shape}[{d}]" for d in kept]
        totals[s] = total = name(s.var) if s.var.type.dtype == "float64" else f"t_{name(s.var)}"
        if out_dims:
            w(f"{total} = zy_zeros(({''.join(d + ', ' for d in out_dims)}), np.float64)")
            at = [("0" if d in axes else index[d]) for d in range(ndim)] if keepdims \
                else [index[d] for d in kept]
            into[s] = (total, f"({''.join(i + ', ' for i in at)})", len(into))
        else:
            w(f"{total} = 0.0")
            targets[s] = total
    narrow = narrow or {}
    stored_at = {}  # output -> its element's index
    stored = len(into) + len(outputs)
    view = {}  # a leaf's element
    for v in leaves:
        for j, one in enumerate(_dims(v, dims)):
            if one is None:  # known only at run time
                w(f"k_{name(v)}_{j} = int({name(v)}.shape[{j}] != 1)")
        view[v] = element_of(v, index[ndim - v.type.ndim:])
    for v in outputs:
        dtype = "bool_" if v.type.dtype == "bool" else v.type.dtype
        w(f"{name(v)} = zy_empty({narrow.get(v, shape)}, np.{dtype})")
        stored_at[v] = index
        if v in narrow:
            for d in range(ndim):
                w(f"k_{name(v)}_{d} = int({narrow[v]}[{d}] != 1)")
            stored_at[v] = [f"{i} * k_{name(v)}_{d}" for d, i in enumerate(index)]
    single = "float32" in {r.type.dtype for r in roots}
    # a sum along the innermost dimension into an array adds up in a local number first: one
    # that LLVM keeps in registers (an array element it must store on every trip)
    inner = {s: f"a_{totals[s]}" for s in into if ndim - 1 in reduced_axes(s.args[1], ndim)}

    def add_into(s, x):
        array, at, k = into[s]
        return f"zy_add_at_in({array}, {at}, {x}, '{nest}', {stored}, {k})"
    for d in range(ndim):
        if d == ndim - 1:
            for local in inner.values():
                w(f"{local} = 0.0")
        w(f"for {index[d]} in range({shape}[{d}]):")
        w.indent()
    element = {}
    for v in region.internal:
        if v not in needed:
            continue
        d = region.definition[v]
        args = [element[a] if a in element else view[a] if a in view
                else _number(a, operand(a), single) for a in d.args]
        element[v] = f"e_{name(v)}"
        axes = _new_axes(d)
        if axes is not None:  # the spread's operand is a leaf: read along the other axes
            args[0] = element_of(d.args[0], [i for k, i in enumerate(index) if k not in axes])
        value = args[0] if d.op in ("spread", "sum_to") else element_expression(
            d.op, args, d.var.type.dtype, kernels)
        w(f"{element[v]} = {value}")
        if far and d.op in LIMITED_RANGE:
            w(f"{far} |= zy_far({args[0]})")
    for s in sums:
        x, total = element.get(s.args[0]) or view[s.args[0]], inner.get(s, targets.get(s))
        if total is None:
            w(add_into(s, x))
        else:
            w(f"{total} = zy_radd({total}, {x})" if kernels else f"{total} += {x}")
    for k, v in enumerate(outputs, start=len(into)):
        at = ''.join(i + ', ' for i in stored_at[v])
        w(f"zy_put_in({name(v)}, ({at}), {element[v]}, '{nest}', {stored}, {k})")
    w.dedent()
    for s, local in inner.items():
        w(add_into(s, local))
    w.dedent(ndim - 1)
    for s in sums:
        total = totals[s]
        if s.op == "mean":
            axes = reduced_axes(s.args[1], ndim)
            count = " * ".join(f"{shape}[{d}]" for d in axes)
            total = f"{total} / ({count})"
        if s.var.type.dtype == "float32":
            total = f"({total}).astype(np.float32)" if isinstance(s.var.type, ArrayT) \
                else f"np.float32({total})"
        if total != name(s.var):
            w(f"{name(s.var)} = {total}")


def _number(a, src, single):
    """A number operand; in float32 code a Python number is a float32 (NEP 50), as NumPy
    computes it, where Numba would compute in float64."""
    if single and is_weak(type_of_arg(a)) and type_of_arg(a).dtype != "bool":
        return f"np.float32({src})"
    return src


def element_expression(op, args, dtype, kernels=False):
    """One element of an elementwise primitive, on numbers of `dtype`; through zygopy's own
    vectorisable kernel, if it has one and `kernels`."""
    prim = PRIMITIVES[op]
    kernel = (FLOAT32_KERNELS.get(op) if dtype == "float32" else None) or VECTOR_KERNELS.get(op)
    if kernels and kernel:
        value = f"{kernel}({', '.join(args)})"
        return value if dtype == "float64" else f"np.{dtype}({value})"
    if op == "select":
        return f"({args[1]} if {args[0]} else {args[2]})"
    if power := int_power(op, dtype, args):
        return power
    if prim.symbol is not None and len(args) == 1:
        return f"({prim.symbol}{args[0]})"
    if prim.symbol is not None:
        return f"({args[0]} {prim.symbol} {args[1]})"
    return f"{numpy_function(op, dtype)}({', '.join(args)})"


"""Element accesses proved within bounds, which compiled code then makes without a check.

An array's length along each dimension is known symbolically where it comes from an argument's
shape, a copy, or `np.zeros`/`ones`/`empty` of known sizes (through loop-carried buffers too, when
every value a block argument receives has the same lengths). A counted loop whose header tests
`k < m`, its counter starting at 0 or more and growing, has 0 <= k <= m - 1 in its body, and
`m = range_len(a, b, 1)` gives k <= b - a - 1. An index k + c is proved when c >= 0 and the
upper bound plus c falls below the length on the same symbol: `for i in range(1, n - 1)`
reading `u[i - 1]` and `u[i + 1]` of a `u` of length n. Anything else stays checked.

A symbol is a pair (atom, offset): None with a constant, or a hashable atom (the length of an
argument's dimension, or an int value) plus a constant.
"""
from __future__ import annotations

from .cfg import natural_loops, reverse_postorder
from .ir import Function, Var
from .types import INT, ArrayT, TupleT

_MADE = ("zeros", "ones", "empty")  # (shape, dtype): arrays of the sizes given
_TOP = object()  # not known yet, while lengths are being found


def accesses_in_bounds(fn: Function) -> set:
    """{(array, index)} of the element reads and writes in `fn` proved within bounds."""
    definition = {s.var: s for b in fn.blocks for s in b.stmts if s.var is not None}
    lengths = _lengths(fn, definition)
    facts = _counter_bounds(fn, definition, lengths)
    proved = set()
    for b in fn.blocks:
        bounds = {k: ub for h, (k, ub, body) in facts.items() if b.id in body and b.id != h}
        for s in b.stmts:
            if s.op not in ("getindex", "setindex") or not isinstance(s.args[0], Var):
                continue
            array, index = s.args[0], s.args[1]
            shape = lengths.get(array)
            parts = _parts(index, definition)
            if (shape and parts is not None and len(parts) == len(shape)
                    and all(_within(p, n, bounds, definition, lengths)
                            for p, n in zip(parts, shape, strict=True))):
                proved.add((array, index))
    return proved


def _parts(index, definition):
    """The int components of an element index, or None."""
    s = definition.get(index) if isinstance(index, Var) else None
    if s is not None and s.op == "tuple":
        items = s.args
    elif isinstance(index, Var) and isinstance(index.type, TupleT):
        return None
    else:
        items = [index]
    ok = all(isinstance(p, Var) and p.type == INT or type(p) is int for p in items)
    return list(items) if ok else None


def _within(index, length, bounds, definition, lengths) -> bool:
    atom, offset = _value(index, definition, lengths)
    if atom not in bounds or offset < 0 or length is None:
        return False  # only a counter plus a constant is proved, from below by the counter's 0
    upper = bounds[atom]
    return upper[0] == length[0] and upper[1] + offset < length[1]


def _value(v, definition, lengths):
    """The symbol of int value `v`."""
    if type(v) is int:
        return None, v
    s = definition.get(v)
    if s is not None:
        if s.op in ("add", "sub") and any(type(a) is int for a in s.args):
            x, c = (s.args[0], s.args[1]) if type(s.args[1]) is int else (s.args[1], s.args[0])
            if not (s.op == "sub" and type(s.args[0]) is int):  # c - x is no offset of x
                atom, offset = _value(x, definition, lengths)
                return atom, offset + (c if s.op == "add" else -c)
        shape = definition.get(s.args[0]) if s.op == "getindex" else None
        if shape is not None and shape.op == "getattr" and shape.args[1] == "shape" \
                and type(s.args[1]) is int:
            known = lengths.get(shape.args[0])
            if known not in (None, _TOP) and known[s.args[1]] is not None:
                return known[s.args[1]]
    return v, 0


def _lengths(fn, definition) -> dict:
    """Array value -> its length symbol per dimension (None where unknown), found optimistically:
    a block argument takes the lengths all its incoming values agree on."""
    blocks = fn.block_map()
    incoming = {}
    for b in fn.blocks:
        for br in b.branches:
            if br.target is not None:
                for param, value in zip(blocks[br.target].args, br.args, strict=True):
                    incoming.setdefault(param, []).append(value)
    lengths = {a: tuple(((a, d), 0) for d in range(a.type.ndim))
               for a in fn.args if isinstance(a.type, ArrayT)}
    order = [blocks[bid] for bid in reverse_postorder(fn)]
    found = {v: _TOP for b in order for v in [*b.args, *(s.var for s in b.stmts)]
             if isinstance(getattr(v, "type", None), ArrayT)}
    found.update(lengths)
    changed = True
    while changed:
        changed = False
        for b in order:
            for v in [*b.args, *(s.var for s in b.stmts)]:
                if v not in found or v in lengths:
                    continue
                new = (_meet([found.get(x) for x in incoming.get(v, [])]) if v in b.args
                       else _made(definition[v], found, definition))
                if new != found[v]:
                    found[v], changed = new, True
    return {v: n for v, n in found.items() if n is not _TOP and n is not None}


def _meet(values):
    known = [v for v in values if v is not _TOP]
    if not known:
        return _TOP
    return known[0] if all(v == known[0] for v in known) else None


def _made(s, found, definition):
    if s.op == "copy" and isinstance(s.args[0], Var):
        return found.get(s.args[0])
    if s.op in _MADE and s.var.type.ndim > 0:
        shape = s.args[0]
        sizes = definition[shape].args if (isinstance(shape, Var) and shape in definition
                                           and definition[shape].op == "tuple") else [shape]
        if len(sizes) != s.var.type.ndim:
            return None
        return tuple(_value(n, definition, found) if isinstance(n, Var) and n.type == INT
                     or type(n) is int else None for n in sizes)
    return None


def _counter_bounds(fn, definition, lengths) -> dict:
    """Loop header -> (counter, symbol of its largest value in the body, the body), for loops
    whose header leaves unless `counter < m`, the counter entering at 0 or more and growing."""
    blocks = fn.block_map()
    facts = {}
    for h, body in natural_loops(fn).items():
        header = blocks[h]
        if len(header.branches) != 2 or header.branches[0].cond is None \
                or header.branches[0].target in body or header.branches[1].target not in body:
            continue
        test = definition.get(header.branches[0].cond)
        if test is None or test.op != "lt" or test.args[0] not in header.args:
            continue
        k, m = test.args
        position = header.args.index(k)
        if not all(_grows(br.args[position], k, definition) for b in fn.blocks
                   for br in b.branches if br.target == h):
            continue
        s = definition.get(m)
        if s is not None and s.op == "range_len" and type(s.args[0]) is int and s.args[2] == 1:
            atom, offset = _value(s.args[1], definition, lengths)
            facts[h] = (k, (atom, offset - s.args[0] - 1), body)
        elif isinstance(m, Var) and m.type == INT:
            atom, offset = _value(m, definition, lengths)
            facts[h] = (k, (atom, offset - 1), body)
    return facts


def _grows(value, k, definition) -> bool:
    """Whether a value entering the header as counter k keeps it at 0 or more: a constant >= 0,
    or k plus a constant >= 0."""
    if type(value) is int:
        return value >= 0
    s = definition.get(value)
    return (s is not None and s.op == "add" and k in s.args
            and any(type(a) is int and a >= 0 for a in s.args))

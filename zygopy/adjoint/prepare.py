"""The adjoint's first stage: the primal made ready to be reversed, in place.

- every array write reads first what it overwrites (the reverse pass puts it back);
- a loop entered from one edge outside and left along its back edge counts its trips, so that
  its reverse runs that many times, with no record per trip;
- every other block with several incoming edges receives the number of the edge taken, `%from`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.cfg import dominators, natural_loop
from ..ir.infer import type_of_arg
from ..ir.ir import Branch, Function, Stmt
from ..ir.primitives import has_index_array, result_type
from ..ir.types import INT, ArrayT


@dataclass
class Prepared:
    fn: Function
    trips: dict  # loop header id -> (trip counter Var, entry source id, back-edge source id)
    loop_body: dict  # loop header id -> ids of the blocks of the counted loop
    exit_blocks: dict  # id of a block made for a loop exit -> its loop's header id
    incoming: dict  # block id -> [(source block, branch)], in the order edges are numbered
    edge_var: dict  # block id -> its `%from` argument


def prepare(fn: Function) -> Prepared:
    save_overwritten(fn)
    trips, loop_body, exit_blocks = count_trips(fn)
    incoming = {b.id: [] for b in fn.blocks}
    for b in fn.blocks:
        for br in b.branches:
            if br.target is not None:
                incoming[br.target].append((b, br))
    return Prepared(fn, trips, loop_body, exit_blocks, incoming,
                    record_edges(fn, incoming, trips))


def save_overwritten(fn):
    """Before each `a[index] = v`, read what it overwrites (a copy for a slice); the reverse pass
    puts it back. The saved value rides along as a fourth operand of the write."""
    for b in fn.blocks:
        stmts = []
        for s in b.stmts:
            if s.op == "setindex" and isinstance(s.args[0].type, ArrayT):
                a, index = s.args[:2]
                old = fn.new_var(result_type("getindex", [a.type, type_of_arg(index)], [a, index]))
                gather = has_index_array(type_of_arg(index))  # gives a copy, not a view
                stmts.append(Stmt(old, "gather" if gather else "getindex", [a, index], s.line))
                if isinstance(old.type, ArrayT) and not gather:
                    saved = fn.new_var(old.type)
                    stmts.append(Stmt(saved, "copy", [old], s.line))
                    old = saved
                s.args = s.args[:3] + [old]
            stmts.append(s)
        b.stmts = stmts


def count_trips(fn):
    """Loop headers entered from one edge outside and one back edge count their trips instead.

    The header takes a trip counter `%trips` (0 on entry, +1 on the back edge); it is entered from
    a block that leads nowhere else (a preheader, made where needed); each exit of the
    loop gets a block of its own whose reverse loads the count into a counter slot. The reverse
    header then goes around the back edge while the counter is positive: one number per run of
    the loop instead of one recorded edge per iteration. -> (trips, loop_body, exit_blocks), as
    in Prepared.
    """
    trips, loop_body, exit_blocks = {}, {}, {}
    dom = dominators(fn)
    preds = fn.predecessors()
    for h in list(fn.blocks):
        if len(preds[h.id]) != 2:
            continue
        back = [p for p in preds[h.id] if h.id in dom.get(p, ())]
        if len(back) != 1 or back[0] == h.id or preds[h.id].count(back[0]) != 1:
            continue
        entry = next(p for p in preds[h.id] if p != back[0])
        blocks = fn.block_map()
        if any(br.target != h.id for br in blocks[entry].branches):
            entry = _preheader(fn, blocks[entry], h.id).id
            blocks = fn.block_map()
        counter = _counting(fn, h, blocks[entry], blocks[back[0]])
        if counter is None:
            counter = fn.new_var(INT)
            counter.name = "trips"
            h.args.append(counter)
            for br in blocks[entry].branches:
                if br.target == h.id:
                    br.args.append(0)
            latch = blocks[back[0]]
            nxt = fn.new_var(INT)
            latch.stmts.append(Stmt(nxt, "add", [counter, 1]))
            for br in latch.branches:
                if br.target == h.id:
                    br.args.append(nxt)
        body = natural_loop(fn, h.id, back[0])
        for u in [b for b in fn.blocks if b.id in body]:
            for br in u.branches:
                if br.target is not None and br.target not in body:
                    split = fn.new_block()
                    split.branches = [Branch(br.target, br.args)]
                    br.target, br.args = split.id, []
                    exit_blocks[split.id] = h.id
        trips[h.id] = (counter, entry, back[0])
        loop_body[h.id] = body
        preds = fn.predecessors()
        dom = dominators(fn)
    return trips, loop_body, exit_blocks


def _preheader(fn, entry, h):
    """A block of its own on the edge from `entry` into loop header `h`: what runs once per run of
    the loop goes there (not into an outer loop's header, which also runs when that loop ends)."""
    pre = fn.new_block()
    into = next(br for br in entry.branches if br.target == h)
    pre.branches = [Branch(h, into.args)]
    into.target, into.args = pre.id, []
    return pre


def _counting(fn, h, entry, latch):
    """A header argument that counts the trips already (0 on entry, itself + 1 on the back edge:
    `for i in range(n)`), which then serves as the trip counter; or None."""
    into, back = ([br for br in b.branches if br.target == h.id] for b in (entry, latch))
    if len(into) != 1 or len(back) != 1:
        return None
    plus_one = {st.var: st.args for b in fn.blocks for st in b.stmts
                if st.op == "add" and 1 in st.args and not any(a is True for a in st.args)}
    for a, start, step in zip(h.args, into[0].args, back[0].args, strict=True):
        if (a.type == INT and start == 0 and not isinstance(start, bool)
                and any(x is a for x in plus_one.get(step, ()))):
            return a
    return None


def record_edges(fn, incoming, trips) -> dict:
    """Blocks with several incoming edges (but counted loop headers) receive the number of the
    edge taken, as `%from`. -> {block id: that argument}"""
    edge_var = {}
    for b in fn.blocks:
        edges = incoming[b.id]
        if len(edges) > 1 and b.id not in trips:
            var = fn.new_var(INT)
            var.name = "from"
            b.args.append(var)
            for k, (_, br) in enumerate(edges):
                br.args.append(k)
            edge_var[b.id] = var
    return edge_var

"""Control-flow graph facts: reachability, dominators, reverse postorder, blocks in loops."""
from __future__ import annotations

from .ir import Function


def reverse_postorder(fn: Function) -> list:
    """Reachable block ids, each before its successors except along back edges."""
    blocks = fn.block_map()
    seen, order = set(), []

    def visit(bid):
        stack = [(bid, iter(blocks[bid].successors()))]
        seen.add(bid)
        while stack:
            node, succs = stack[-1]
            for s in succs:
                if s not in seen:
                    seen.add(s)
                    stack.append((s, iter(blocks[s].successors())))
                    break
            else:
                order.append(node)
                stack.pop()

    visit(fn.entry.id)
    return order[::-1]


def dominators(fn: Function) -> dict:
    """Block id -> set of ids of the blocks that dominate it (itself included); reachable blocks
    only."""
    order = reverse_postorder(fn)
    preds = fn.predecessors()
    dom = {bid: set(order) for bid in order}
    dom[fn.entry.id] = {fn.entry.id}
    changed = True
    while changed:
        changed = False
        for bid in order[1:]:
            ps = [dom[p] for p in preds[bid] if p in dom]
            new = set.intersection(*ps) | {bid} if ps else {bid}
            if new != dom[bid]:
                dom[bid], changed = new, True
    return dom


def loop_blocks(fn: Function) -> dict:
    """Block id -> frozenset of the blocks of every loop containing it (the union of their bodies).

    A loop is a strongly connected set of blocks; a block not on any cycle maps to an empty set.
    """
    blocks = fn.block_map()
    succ = {b: blocks[b].successors() for b in blocks}
    index, low, stack, on_stack, sccs = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(v):  # Tarjan, iterative
        work = [(v, iter(succ[v]))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ[w])))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == node:
                        break
                sccs.append(comp)

    for b in blocks:
        if b not in index:
            strongconnect(b)
    result = {b: frozenset() for b in blocks}
    for comp in sccs:
        if len(comp) > 1 or any(b in succ[b] for b in comp):
            for b in comp:
                result[b] = frozenset(comp)
    return result


def natural_loop(fn: Function, header: int, latch: int) -> set:
    """The blocks of the loop closed by the back edge latch -> header (just the header where it
    branches to itself: its predecessors are then outside the loop)."""
    preds = fn.predecessors()
    body, todo = {header, latch}, [latch] if latch != header else []
    while todo:
        for p in preds[todo.pop()]:
            if p not in body:
                body.add(p)
                todo.append(p)
    return body


def natural_loops(fn: Function) -> dict:
    """Header id -> the blocks of the loops it heads (the union of their natural loops)."""
    dom = dominators(fn)
    found = {}
    for b in fn.blocks:
        for h in b.successors():
            if h in dom.get(b.id, ()):  # a back edge
                found.setdefault(h, set()).update(natural_loop(fn, h, b.id))
    return found

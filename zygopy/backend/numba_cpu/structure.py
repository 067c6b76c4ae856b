"""Structured control flow from a CFG: loops and if/elif/else instead of a dispatch loop.

Structured code is ~13% faster under Numba than a block-dispatch loop (measured on the scalar-loop
benchmark), so it is tried first. The walk follows the loop nesting: a loop header opens a
`while looping:`, a back edge is `continue`, the jump to the loop's single exit target is `break`;
a conditional opens if/elif/else whose arms run until the branch's immediate post-dominator (the
join), where emission resumes. A block reached along several paths that do not rejoin first is
written once per path (bounded). Shapes Python cannot express without goto (a loop with several
exit targets, a jump out of two loops, irreducible loops) raise `Unstructured`, and the caller
falls back to the dispatch loop.
"""
from __future__ import annotations

from ...ir.cfg import dominators, natural_loop

# Numba 0.68 mistypes or miscompiles some `while True:` loops that are left by `return` (numba
# issue #5267 gives wrong results); a loop on a variable that is always true compiles correctly.
LOOPING = "looping"
UNREACHABLE = 'raise AssertionError("unreachable")'
MAX_GROWTH = 4  # blocks written at most this many times over before giving up on structure
# a returning block is written in place of each jump to it (a `return` inside an arm or a loop)
# when it is this small or reached from inside a loop; a larger one is an ordinary join, written
# once (a pullback's last block holds the reverse of everything before a branch: written once
# per path, it multiplied the code Numba compiles)
SMALL_RETURN = 8


class Unstructured(Exception):
    pass


class Loop:
    def __init__(self, header, body, follow):
        self.header, self.body, self.follow = header, body, follow


class Structurer:
    def __init__(self, fn, writer, statement, assign_args, on_return):
        self.fn, self.w = fn, writer
        self.statement, self.assign_args, self.on_return = statement, assign_args, on_return
        self.blocks = fn.block_map()
        self.bodies = self._loops()
        in_loops = set().union(*self.bodies.values()) if self.bodies else set()
        self.terminal = {b.id for b in fn.blocks
                         if len(b.branches) == 1 and b.branches[0].is_return
                         and (len(b.stmts) <= SMALL_RETURN
                              or any(b.id in self.blocks[x].successors() for x in in_loops))}
        self.budget = MAX_GROWTH * len(fn.blocks) + 8
        self.postdom = {}

    def _loops(self):
        dom = dominators(self.fn)
        bodies = {}
        for b in self.fn.blocks:
            for t in b.successors():
                if t in dom.get(b.id, ()):  # back edge b -> t
                    bodies.setdefault(t, set()).update(natural_loop(self.fn, t, b.id))
        # every edge into a loop must enter at its header, or the loop is irreducible
        for h, body in bodies.items():
            for b in self.fn.blocks:
                if b.id not in body and any(t in body and t != h for t in b.successors()):
                    raise Unstructured("a loop with two entries")
        return bodies

    def follow_of(self, header, body):
        exits = {t for x in body for t in self.blocks[x].successors() if t not in body}
        exits -= self.terminal
        if len(exits) > 1:
            raise Unstructured("a loop with several exit targets")
        return next(iter(exits), None)

    # ---- emission --------------------------------------------------------------------------
    def emit(self):
        self.emit_from(self.fn.entry.id, None, [])

    def emit_from(self, bid, stop, ctx):
        while bid is not None and bid != stop:
            if bid in self.bodies and not (ctx and ctx[-1].header == bid):
                body = self.bodies[bid]
                loop = Loop(bid, body, self.follow_of(bid, body))
                self.w(f"while {LOOPING}:")
                self.w.indent()
                inner = ctx + [loop]
                self.emit_from(self.emit_block(bid, None, inner), None, inner)
                self.w.dedent()
                if loop.follow is None:
                    self.w(UNREACHABLE)
                    return
                bid = self.goto(loop.follow, stop, ctx)
                continue
            bid = self.emit_block(bid, stop, ctx)

    def emit_block(self, bid, stop, ctx):
        """Write one block and the branches leaving it; return where straight-line emission
        resumes."""
        self.budget -= 1
        if self.budget < 0:
            raise Unstructured("too much duplication")
        b = self.blocks[bid]
        for s in b.stmts:
            self.statement(self.w, s)
        if len(b.branches) == 1:
            return self.follow_branch(b.branches[0], stop, ctx)
        join = self.join_of(bid, ctx)
        for k, br in enumerate(b.branches):
            if br.cond is not None:
                self.w(f"{'if' if k == 0 else 'elif'} not {self.operand(br.cond)}:")
            else:
                self.w("else:")
            self.w.indent()
            mark = len(self.w.lines)
            nxt = self.follow_branch(br, join, ctx)
            if nxt is not None:
                self.emit_from(nxt, join, ctx)
            if len(self.w.lines) == mark:
                if br.cond is None:
                    self.w.lines.pop()  # an empty else
                else:
                    self.w("pass")
            self.w.dedent()
        return join

    def follow_branch(self, br, stop, ctx):
        if br.is_return:
            self.on_return(self.w, br.args[0])
            return None
        self.assign_args(self.w, self.blocks[br.target].args, br.args)
        return self.goto(br.target, stop, ctx)

    def goto(self, target, stop, ctx):
        """Write the jump to target, or return it when emission simply continues there."""
        if target == stop:
            return None
        for depth, loop in enumerate(reversed(ctx)):
            if target in (loop.header, loop.follow):
                if depth:
                    raise Unstructured("a jump out of two loops")
                self.w("continue" if target == loop.header else "break")
                return None
        if target in self.terminal:
            self.emit_block(target, None, ctx)
            return None
        if ctx and target not in ctx[-1].body:
            raise Unstructured("a jump out of a loop to somewhere other than its exit")
        return target

    # ---- joins: immediate post-dominators within the innermost loop -------------------------
    def region_succs(self, ctx):
        header = ctx[-1].header if ctx else None
        region = ctx[-1].body if ctx else set(self.blocks)
        return {x: [t for t in self.blocks[x].successors()
                    if t in region and t != header and t not in self.terminal]
                for x in region}

    def join_of(self, bid, ctx):
        key = ctx[-1].header if ctx else None
        if key not in self.postdom:
            self.postdom[key] = _immediate_postdominators(self.region_succs(ctx))
        return self.postdom[key].get(bid)

    def operand(self, v):
        return self.w.operand(v)


def _immediate_postdominators(succ):
    """ipdom of each node of a graph whose sinks lead to one virtual exit; None where it is the
    exit."""
    exit_node = object()
    preds = {x: [] for x in succ}
    preds[exit_node] = []
    rsucc = {x: [] for x in succ}  # successors in the reversed graph
    rsucc[exit_node] = [x for x, ts in succ.items() if not ts]
    for x, ts in succ.items():
        for t in ts:
            rsucc[t].append(x)
    # dominators of the reversed graph from the virtual exit (iterative, on reverse postorder)
    order, seen = [], {exit_node}
    stack = [(exit_node, iter(rsucc[exit_node]))]
    while stack:
        node, it = stack[-1]
        for t in it:
            if t not in seen:
                seen.add(t)
                stack.append((t, iter(rsucc[t])))
                break
        else:
            order.append(node)
            stack.pop()
    order.reverse()
    rpreds = {x: [] for x in order}
    for x in order:
        for t in rsucc[x]:
            if t in rpreds:
                rpreds[t].append(x)
    index = {x: i for i, x in enumerate(order)}
    idom = {exit_node: exit_node}
    changed = True
    while changed:
        changed = False
        for x in order[1:]:
            done = [p for p in rpreds[x] if p in idom]
            if not done:
                continue
            new = done[0]
            for p in done[1:]:
                a, b = new, p
                while a is not b:
                    while index[a] > index[b]:
                        a = idom[a]
                    while index[b] > index[a]:
                        b = idom[b]
                new = a
            if idom.get(x) is not new:
                idom[x], changed = new, True
    return {x: (None if d is exit_node else d) for x, d in idom.items() if x is not exit_node}

"""What zygopy allows of writes into arrays, and which arguments a function writes.

Writes are differentiated by saving what they overwrite and restoring it in the reverse pass.
That is exact as long as no *view* of an array (a slice, a transpose, a reshape) is read after a
write that could change it, and nothing is written through a view: both would let memory change
behind a value's back. Those cases get a clear error instead of a wrong gradient.
"""
from __future__ import annotations

from ..errors import UnsupportedSyntax
from ..ir.ir import Function, Var, uses
from ..ir.types import ArrayT, ListT
from .activity import VIEWS


def _is_view(s):
    if s.op == "diag" and s.var.type.ndim == 2:  # a matrix made from a vector is a new array
        return False
    # an element of a list is the array that was appended, not a view into the list
    return (s.var is not None and s.op in VIEWS and isinstance(s.var.type, ArrayT)
            and not isinstance(getattr(s.args[0], "type", None), ListT))


def check_writes(fn: Function):
    writes = [(b, s) for b in fn.blocks for s in b.stmts if s.op == "setindex"]
    if not writes:
        return
    _check_merged_arrays(fn, writes)
    views = {s.var: (b, s) for b in fn.blocks for s in b.stmts if _is_view(s)}
    for _, s in writes:
        if s.args[0] in views:
            raise UnsupportedSyntax("writing into a view of another array (a slice, .T or a "
                                    "reshape) is not supported", fn.filename, s.line,
                                    hint="index the original array in one go, e.g. a[i, j] = v, "
                                    "not a[i][j] = v")
    for view, (b, s) in views.items():
        position = b.stmts.index(s)
        last_use = max((i for i, t in enumerate(b.stmts) if view in uses(t)), default=position)
        escapes = any(view in uses(t) for blk in fn.blocks for t in (blk.branches if blk is b else
                                                                      blk.stmts + blk.branches))
        written_before_use = any(t.op == "setindex" and _may_share(t.args[0], view, views, fn)
                                 for t in b.stmts[position + 1:last_use])
        # a view used in other blocks is safe where no write in the function may reach it (a
        # column of a reduction's result, read in a loop that writes into another array)
        if escapes and not written_before_use and not any(
                _may_share(t.args[0], view, views, fn) for _, t in writes):
            continue
        if escapes or written_before_use:
            raise UnsupportedSyntax("this slice/view of an array is still in use across a write "
                                    "into an array, so it could change under it", fn.filename,
                                    s.line,
                                    hint="take a copy (a[1:].copy()) or use the view before "
                                    "writing")


def _may_share(a, b, views, fn):
    """Whether arrays a and b may share memory: views of one base, or of arrays whose origin is
    not known to be an array of its own (a block argument, an element of a list, what a custom
    rule, a unit or stop_gradient returns)."""
    def base(v):
        while v in views:
            v = views[v][1].args[0]
        return v
    definition = {s.var: s for blk in fn.blocks for s in blk.stmts if s.var is not None}
    ra, rb = base(a), base(b)
    return ra is rb or any(r not in definition and r not in fn.args
                           or r in definition and not _new_array(definition[r])
                           for r in (ra, rb))


def _new_array(s):
    """Whether statement s makes an array of its own each time it runs: not a view, nor what may
    give back one that exists already (an element of a list or a tuple, what a custom rule, a
    unit or stop_gradient returns)."""
    return s.op not in ("getindex", "custom", "stop_gradient", "unit") and not _is_view(s)


def _made_anew(fn, incoming):
    """made_anew(value, since, at): whether `value` is a new array (a copy, zeros, np.array(...),
    an arithmetic result, or a block argument passed one on each way in) made on every path from
    block `since`'s entry to block `at`. Then what a block argument of `since` holds at `at` is
    another array, even where it came from `value`: from an earlier run of its statement
    (`v = u.copy()` each trip and `u = v` at its end, where u is the last trip's v)."""
    blocks = fn.block_map()
    defined = {s.var: (b, s) for b in fn.blocks for s in b.stmts if s.var is not None}
    bound = _block_args(fn)

    def reaches(since, at, avoiding=None):
        """Whether a path from since's entry reaches block `at` without entering `avoiding`."""
        seen, todo = {since.id}, [since]
        while todo:
            b = todo.pop()
            if b is at and b is not avoiding:
                return True
            for t in b.successors() if b is not avoiding else ():
                if t not in seen:
                    seen.add(t)
                    todo.append(blocks[t])
        return False

    def made_anew(value, since, at, merging=()):
        if value in bound:
            # new where each way in from `since` passes a new array; not so for an argument of
            # since's own (bound with the one asked about), nor of fn's (passed from outside)
            made = bound[value]
            fresh = made is not since and value in incoming and value not in merging and all(
                made_anew(a, since, pred, (*merging, value))
                for pred, a in incoming[value] if reaches(since, pred))
        else:
            made, s = defined.get(value, (None, None))
            fresh = s is not None and _new_array(s)
        return fresh and not reaches(since, at, avoiding=made)
    return made_anew


def _check_merged_arrays(fn: Function, writes):
    """A block argument (`b = a` on one path, another array on another) may be the same array as a
    value that is still in use: a write into it would change that value behind its back, and its
    gradient too, which the adjoint (one gradient per value) cannot follow. Arrays that a loop
    passes round (double buffers swapped each step) are new values at the loop header: only what
    flows in and stays live matters. An array made anew since a block argument took its value
    (`v = u.copy()` on each trip, `u = v` at its end) is not the one it holds."""
    owner = {a: b for a, b in _block_args(fn).items() if isinstance(a.type, ArrayT)}
    if not owner:
        return
    live_after = _liveness(fn)
    incoming = _incoming_values(fn)
    made_anew = _made_anew(fn, incoming)

    def sources(arg):
        return _sources(arg, incoming, set(owner[arg].args))

    def held(arg, value, at):
        """Whether block argument `arg` may be the same array as `value` in block `at`."""
        return value in sources(arg) and not made_anew(value, owner[arg], at)
    for b, s in writes:
        target, live = s.args[0], live_after(b, s)
        if not isinstance(target, Var):
            continue
        # a block argument written while a value it may hold is used later, and a value written
        # while a block argument that may hold it is used later (b = a on one path, a[0] = v,
        # then b read): either way the other changes behind its back
        others = [o for o in sources(target) if o in live and held(target, o, b)] \
            if target in owner else []
        others += [m for m in live if m in owner and held(m, target, b)]
        for other in others:
            if other is not target and isinstance(other.type, ArrayT):
                what = f"{other.name!r}" if other.name else "another array"
                raise UnsupportedSyntax(f"writing into {target.name or 'an array'!r}, which may be "
                                        f"the same array as {what} (assigned to it on another "
                                        f"path or an earlier iteration), while {what} is still "
                                        "used", fn.filename, s.line,
                                        hint="take a copy where the two meet, e.g. b = a.copy()")


def _block_args(fn):
    return {a: b for b in fn.blocks for a in b.args}


def _incoming_values(fn):
    """Block argument -> (block, value) for each branch that passes a value for it."""
    blocks = fn.block_map()
    out = {}
    for b in fn.blocks:
        for br in b.branches:
            if br.target is not None:
                for a, p in zip(br.args, blocks[br.target].args, strict=True):
                    out.setdefault(p, []).append((b, a))
    return out


def _sources(arg, incoming, stop):
    """The values a block argument may hold, through other block arguments but not those in `stop`
    (the header's own arguments, which it redefines all together)."""
    seen, todo, out = {arg}, [arg], []
    while todo:
        for _, v in incoming.get(todo.pop(), []):
            if not isinstance(v, Var) or v in seen:
                continue
            seen.add(v)
            if v in stop:
                continue
            out.append(v)
            if v in incoming:
                todo.append(v)
    return out


def _liveness(fn):
    """live_after(block, stmt): the values used after the statement on some path."""
    live_in = {b.id: set() for b in fn.blocks}

    def flow(b, live):
        for br in reversed(b.branches):
            live |= set(uses(br))
        for t in reversed(b.stmts):
            live.discard(t.var)
            live |= set(uses(t))
        return live - set(b.args)

    def live_out(b):
        return set().union(*(live_in[t] for t in b.successors()))
    changed = True
    while changed:
        changed = False
        for b in reversed(fn.blocks):
            new = flow(b, live_out(b))
            if new != live_in[b.id]:
                live_in[b.id], changed = new, True

    def live_after(b, s):
        live = live_out(b)
        for br in b.branches:
            live |= set(uses(br))
        for t in reversed(b.stmts[b.stmts.index(s) + 1:]):
            live.discard(t.var)
            live |= set(uses(t))
        return live
    return live_after


def written_arguments(fn: Function) -> list:
    """Indices of the arguments the function may write into, directly or through a loop variable."""
    targets = written_values(fn)
    return [i for i, a in enumerate(fn.args) if a in targets]


def written_values(fn: Function) -> set:
    """The arrays the function may write into: those written, the arrays they are views of, and
    the values passed to a block argument that is written."""
    targets = {s.args[0] for b in fn.blocks for s in b.stmts if s.op == "setindex"}
    blocks = fn.block_map()
    changed = True
    while changed:
        changed = False
        for b in fn.blocks:
            for s in b.stmts:
                if _is_view(s) and s.var in targets and s.args[0] not in targets:
                    targets.add(s.args[0])
                    changed = True
            for br in b.branches:
                if br.target is None:
                    continue
                for a, p in zip(br.args, blocks[br.target].args, strict=True):
                    if p in targets and isinstance(a, Var) and a not in targets:
                        targets.add(a)
                        changed = True
    return targets

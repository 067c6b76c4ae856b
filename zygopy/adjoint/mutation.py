"""What zygopy allows of writes into arrays, and which arguments a function writes.

Writes are differentiated by saving what they overwrite and restoring it in the reverse pass.
That is exact as long as no *view* of an array (a slice, a transpose, a reshape) is read after a
write that could change it, and nothing is written through a view: both would let memory change
behind a value's back. Those cases get a clear error instead of a wrong gradient.
"""
from __future__ import annotations

from ..errors import UnsupportedSyntax
from ..ir.ir import Function, Var, uses
from ..ir.types import ArrayT
from .activity import VIEWS


def _is_view(s):
    return s.var is not None and s.op in VIEWS and isinstance(s.var.type, ArrayT)


def check_writes(fn: Function):
    writes = [(b, s) for b in fn.blocks for s in b.stmts if s.op == "setindex"]
    if not writes:
        return
    views = {s.var: (b, s) for b in fn.blocks for s in b.stmts if _is_view(s)}
    for b, s in writes:
        if s.args[0] in views:
            raise UnsupportedSyntax("writing into a view of another array (a slice, .T or a reshape) is not "
                                    "supported", fn.filename, s.line,
                                    hint="index the original array in one go, e.g. a[i, j] = v, not a[i][j] = v")
    for view, (b, s) in views.items():
        position = b.stmts.index(s)
        last_use = max((i for i, t in enumerate(b.stmts) if view in uses(t)), default=position)
        escapes = any(view in uses(t) for blk in fn.blocks for t in (blk.branches if blk is b else
                                                                      blk.stmts + blk.branches))
        written_before_use = any(t.op == "setindex" for t in b.stmts[position + 1:last_use])
        if escapes or written_before_use:
            raise UnsupportedSyntax("this slice/view of an array is still in use across a write into an array, "
                                    "so it could change under it", fn.filename, s.line,
                                    hint="take a copy (a[1:].copy()) or use the view before writing")


def written_arguments(fn: Function) -> list:
    """Indices of the arguments the function may write into, directly or through a loop variable."""
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
                for a, p in zip(br.args, blocks[br.target].args):
                    if p in targets and isinstance(a, Var) and a not in targets:
                        targets.add(a)
                        changed = True
    return [i for i, a in enumerate(fn.args) if a in targets]

"""Type inference over the IR: a forward data-flow fixpoint on the lattice of `types`.

Argument types come from the call; each primitive's type rule gives its result; a block argument
takes the join of what every predecessor passes (bool < int64 < float64, as Numba unifies them).

Some values are known from types alone (an array's ndim, a tuple's length) and so are the pure
operations on them (`x.ndim == 2`): a branch on such a value is followed one way only, as sparse
conditional constant propagation does, so the arm not taken is neither typed nor kept and each
arm need only make sense for the types that reach it. Where no return is left (a rank check whose
arm raises), every path raises: compile_ir says so (errors.RaisesOnEveryPath).
"""
from __future__ import annotations

from ..errors import UnsupportedType
from .cfg import reverse_postorder
from .ir import RAISED, Function, Slot, Var
from .passes.cleanup import remove_unreachable
from .passes.fold import NEVER_FOLD, fold_branches
from .primitives import PRIMITIVES, result_type
from .types import NONE, AbsentT, DtypeT, TupleT, join, strengths, typeof


def type_of_arg(a):
    if isinstance(a, (Var, Slot)):
        return a.type
    return typeof(a) or NONE


def infer_types(fn: Function, arg_types) -> Function:
    decided = _infer(fn, arg_types)
    if decided:
        _prune(fn, decided)
    return fn


def returns_a_value(fn: Function) -> bool:
    """Whether some path returns: a value that is typed (a path that raised passes on nothing)."""
    return any(br.is_return and br.args[0] is not RAISED and type_of_arg(br.args[0]) is not None
               for b in fn.blocks for br in b.branches)


def _infer(fn, arg_types):
    """Types every statement the entry reaches. -> the values types decide, by variable"""
    for b in fn.blocks:
        for v in b.args + [s.var for s in b.stmts if s.var is not None]:
            v.type = None
    # a custom rule's forward may be called with more or fewer values than it has parameters:
    # extra types are ignored, and parameters left without one stay untyped (compile_ir says so)
    for a, t in zip(fn.args, arg_types, strict=False):
        a.type = t
    blocks = fn.block_map()
    order = reverse_postorder(fn)
    decided, reached = {}, {fn.entry.id}
    changed = True
    while changed:
        changed = False
        for bid in order:
            if bid not in reached:
                continue
            b = blocks[bid]
            for s in b.stmts:
                ts = [type_of_arg(a) for a in s.args]
                # an absent first item (types.AbsentT) is typed by the items it is joined with
                if any(t is None or isinstance(t, AbsentT) for t in ts):
                    continue
                try:  # statements kept for their effect (a[i] = v) are checked too
                    t = result_type(s.op, ts, known_dtypes(s.args, ts))
                except TypeError as e:
                    raise UnsupportedType(str(e), fn.filename, s.line) from None
                if s.var is not None and _changed(t, s.var.type):
                    s.var.type, changed = t, True
                if s.var is not None and s.var not in decided:
                    value = _decided(s, ts, decided)
                    if value is not UNDECIDED:
                        decided[s.var], changed = value, True
            for br in b.branches:
                cond = UNDECIDED if br.cond is None else _value(br.cond, decided)
                if cond is not UNDECIDED and cond:  # `br T unless c` with c true: never taken
                    continue
                if not br.is_return:
                    changed |= _reach(br, blocks, reached, fn, b)
                if br.cond is None or cond is not UNDECIDED:  # always taken: no further branch
                    break
    return decided


def _reach(br, blocks, reached, fn, b):
    """Follows a branch: its target is reached, and its arguments' types join the target's
    parameters'. -> whether anything changed"""
    changed = br.target not in reached
    reached.add(br.target)
    for param, a in zip(blocks[br.target].args, br.args, strict=True):
        t = type_of_arg(a)
        if t is None or a is RAISED:  # from a path that raised: nothing arrives
            continue
        try:
            new = join(param.type, t)
        except TypeError:
            name = f"{param.name!r} " if param.name else ""
            raise UnsupportedType(f"the value {name}is {param.type} on one path and {t} on "
                                  "another", fn.filename, _line_of(b, fn)) from None
        if _changed(new, param.type):
            param.type, changed = new, True
    return changed


UNDECIDED = object()


def _decided(s, ts, decided):
    """The value of statement s if the types of its operands decide it, else UNDECIDED."""
    if s.op in ("ndim", "getattr") and tuple(s.args[1:]) in ((), ("ndim",)):
        return getattr(ts[0], "ndim", 0)  # np.ndim of a number is 0
    if s.op == "len" and isinstance(ts[0], TupleT):
        return len(ts[0].elts)
    if s.op == "isnone":
        return ts[0] == NONE
    values = [_value(a, decided) for a in s.args]
    if any(v is UNDECIDED for v in values) or s.op in NEVER_FOLD or not PRIMITIVES[s.op].pure \
            or not any(isinstance(a, Var) for a in s.args):  # all constant: fold_constants's
        return UNDECIDED
    try:
        return PRIMITIVES[s.op].impl(*values)
    except Exception:  # left to run time
        return UNDECIDED


def _value(a, decided):
    if isinstance(a, Var):
        return decided.get(a, UNDECIDED)
    return UNDECIDED if isinstance(a, Slot) else a


def _prune(fn, decided):
    """Branches on decided values become plain jumps or go; the blocks no longer reached go."""
    for b in fn.blocks:
        for br in b.branches:
            if br.cond is not None and _value(br.cond, decided) is not UNDECIDED:
                br.cond = bool(_value(br.cond, decided))
    fold_branches(fn)
    remove_unreachable(fn)


def returned_type(fn: Function):
    """The type of what fn returns."""
    return type_of_arg(next(br.args[0] for b in fn.blocks for br in b.branches if br.is_return))


def known_dtypes(args, ts):
    """The operands, with the name of its dtype for each `x.dtype` (DtypeT)."""
    return [t.dtype if isinstance(t, DtypeT) else a for a, t in zip(args, ts, strict=True)]


def _changed(new, old):
    return new != old or strengths(new) != strengths(old)  # equality ignores strength


def _line_of(block, fn):
    for s in reversed(block.stmts):
        if s.line:
            return s.line
    return getattr(fn, "line", None)

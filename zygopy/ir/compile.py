"""From a Python function and argument types to optimised, typed, verified IR."""
from __future__ import annotations

from ..errors import RaisesOnEveryPath, UnsupportedSyntax
from ..units import NotAUnit, bind_units
from ..units import enabled as units_enabled
from .frontend import Undef, to_ir
from .infer import infer_types, known_dtypes, returns_a_value, type_of_arg
from .ir import Function
from .passes.augment import lower_augmented
from .passes.indexing import lower_advanced_indexing
from .passes.invariants import hoist_counter_rows
from .passes.lists import resolve_lists
from .passes.lower import lower_compound
from .passes.pipeline import optimize
from .passes.renumber import renumber
from .passes.scalarize import scalarize_tuple_args
from .verify import verify


def compile_ir(pyfn, arg_types, structures=None, capture=True, units=False,
               allocating=True) -> Function:
    """IR for pyfn; arg_types are those of the entry arguments (the leaves of structured ones),
    to which the types of the hidden ones are added (to_ir's `capture`). With `units`, methods
    called on structured values are compiled on their own where they fit (units.py).
    `allocating`: the code may make arrays of its own (not a CUDA kernel's body)."""
    inlined = frozenset()
    while True:
        try:
            return _compile_ir(pyfn, arg_types, structures, capture,
                               inlined if units and units_enabled() else None, allocating)
        except NotAUnit as e:  # built again with that method inlined
            if e.unit in inlined or not units:
                raise
            inlined |= {e.unit}


def _compile_ir(pyfn, arg_types, structures, capture, units, allocating) -> Function:
    fn = optimize(to_ir(pyfn, structures, capture, units))
    arg_types = [*arg_types, *(c.type for c in fn.captured if c.runtime)]
    _check_assigned(fn)
    infer_types(fn, arg_types)
    if not returns_a_value(fn):
        raise RaisesOnEveryPath(fn, pyfn)
    _dtypes_as_constants(fn)
    if resolve_lists(fn):
        infer_types(fn, arg_types)
    lower_augmented(fn)
    if any(s.op in ("nested_gradient", "nested_jvp") for b in fn.blocks for s in b.stmts):
        from ..adjoint.sweeps import lower_nested
        lower_nested(fn, capture)  # which may add hidden arguments, typed
        arg_types = [a.type for a in fn.args]
        infer_types(fn, arg_types)
    if lower_advanced_indexing(fn):
        infer_types(fn, arg_types)
    if lower_compound(fn):
        infer_types(fn, arg_types)
        if lower_advanced_indexing(fn):  # what the rewrites index with (np.sort's indices)
            infer_types(fn, arg_types)
    while scalarize_tuple_args(fn):
        infer_types(fn, arg_types)
    optimize(fn)  # types make more folds possible (truth of a bool, tuples taken apart, ...)
    infer_types(fn, arg_types)
    if allocating and hoist_counter_rows(fn):
        optimize(fn)
        infer_types(fn, arg_types)
    _check_typed(fn)
    bind_units(fn)
    return verify(renumber(fn))


def _dtypes_as_constants(fn: Function):
    """`x.dtype` operands become the dtype's name, as if written np.float32 (what the rules, the
    evaluator and the backends take); the `.dtype` reads are then dead code."""
    for b in fn.blocks:
        for s in b.stmts:
            s.args = known_dtypes(s.args, [type_of_arg(a) for a in s.args])


def _check_assigned(fn: Function):
    for b in fn.blocks:
        for s in b.stmts:
            for a in s.args:
                if isinstance(a, Undef):
                    raise _unassigned(fn, a, s.line)
        for br in b.branches:
            for a in br.args + [br.cond]:
                if isinstance(a, Undef):
                    raise _unassigned(fn, a, a.line or _first_line(b) or fn.line)


def _unassigned(fn, undef, line):
    return UnsupportedSyntax(f"the variable {undef.name!r} may be used before it is assigned",
                             fn.filename, line,
                             hint="assign it before the loop or branch, on every path")


def _first_line(b):
    return next((s.line for s in b.stmts if s.line), None)


def _check_typed(fn: Function):
    for b in fn.blocks:
        for v in b.args + [s.var for s in b.stmts if s.var is not None]:
            if v.type is None:
                raise UnsupportedSyntax(f"could not infer the type of {v.name or 'a value'!r}",
                                        fn.filename, _first_line(b) or fn.line)

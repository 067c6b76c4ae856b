"""Compilation units in generated code (zygopy/units.py): each UnitSpec is a module of its own,
cached on disk under a name derived from its source, whose `primal`, `forward` and `pullback`
the modules calling it import. Numba compiles a unit once per process (and loads it from its disk
cache after that), and links its machine code into each caller."""
from __future__ import annotations

import functools
import threading

from ...units import called_units

_MODULES: dict = {}  # (UnitSpec, for the common case) -> (its module's source and name)
_WRITING = threading.Lock()
ENTRIES = {"unit": "primal", "unit_forward": "forward", "unit_pullback": "pullback"}


def unit_module(spec, common=False) -> tuple:
    """(source, module name) of the unit's module: primal(args) -> value; forward(args) ->
    (value, *tape); pullback(tape, dy) -> the gradients of the float arguments; compiled for the
    common case or every case (runtime.zy_general). A unit calls no unit (zygopy/units.py), so
    its module imports none."""
    from .jit import module_name
    from .source import for_case
    with _WRITING:
        made = _MODULES.get((spec, common))
        if made is None:
            source = for_case(common, _functions(spec))
            made = _MODULES[spec, common] = (source, module_name(source))
    return made


@functools.cache
def _functions(spec) -> tuple:
    """The sources of the unit's functions, written once for both of its modules."""
    from .source import forward_source, primal_source, reverse_source, rule_sources
    adj = spec.adjoint
    return (rule_sources(spec.primal_ir, adj.forward, adj.reverse),
            primal_source(spec.primal_ir, "primal"),
            forward_source(adj, "forward", packed=True),
            reverse_source(adj, "pullback", packed=True))


def _alias(spec) -> str:
    """The name a caller gives the unit's module (either): the method's, and the digest of its
    general source, which is the same from one process to the next."""
    digest = unit_module(spec)[1].rsplit("_", 1)[1]
    name = spec.unit.fn.__name__.strip("_")
    return f"{name if name.isidentifier() else 'lambda'}_{digest[:16]}"  # "<lambda>" is no name


def unit_imports(*fns, common=False) -> str:
    """The lines binding the modules of the units the functions call."""
    return "\n".join(f"{_alias(spec)} = import_generated({unit_module(spec, common)[1]!r})"
                     for spec in called_units(*fns))


def unit_call(s, args) -> str:
    return f"{_alias(s.args[0])}.{ENTRIES[s.op]}({', '.join(args[1:])})"


def load_units(*fns, common=False):
    """Loads the modules of the units the functions call, so that the module calling them finds
    them."""
    from .jit import load_module
    for spec in called_units(*fns):
        load_module(unit_module(spec, common)[0])

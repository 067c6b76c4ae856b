"""Compilation units in generated code (zygopy/units.py): each UnitSpec is a module of its own,
cached on disk under a name derived from its source, whose `primal`, `forward` and `pullback`
the modules calling it import. Numba compiles a unit once per process (and loads it from its disk
cache after that), and links its machine code into each caller."""
from __future__ import annotations

import threading

from ...units import called_units

_SOURCES: dict = {}  # UnitSpec -> its module's source
_WRITING = threading.RLock()  # a unit's source holds the names of the units it calls
ENTRIES = {"unit": "primal", "unit_forward": "forward", "unit_pullback": "pullback"}


def unit_source(spec) -> str:
    """primal(args) -> value; forward(args) -> (value, *tape); pullback(tape, dy) -> the
    gradients of the float arguments."""
    from .source import JIT, forward_source, name, primal_source, reverse_source, rule_sources
    with _WRITING:
        source = _SOURCES.get(spec)
        if source is None:
            adj = spec.adjoint
            fns = (spec.primal_ir, adj.forward, adj.reverse)
            params = ", ".join(name(a) for a in adj.forward.args)
            tape = "".join(f"t[{i + 1}], " for i in range(len(adj.tape)))
            source = _SOURCES[spec] = "\n\n".join([
                unit_imports(*fns),
                rule_sources(*fns),
                primal_source(spec.primal_ir, "primal"),
                forward_source(adj, "taped_forward"),
                reverse_source(adj, "taped_pullback"),
                f"{JIT}\ndef forward({params}):\n"
                f"    value, _, tape = taped_forward({params})\n"
                "    return (value,) + tape\n",
                f"{JIT}\ndef pullback(t, dy):\n    return taped_pullback(dy, {tape})\n",
            ])
    return source


def unit_module(spec) -> str:
    """The name a caller gives the unit's module: the method's, and the digest of its source,
    which is the same from one process to the next."""
    from .jit import module_name
    digest = module_name(unit_source(spec)).rsplit("_", 1)[1]
    return f"{spec.unit.fn.__name__.strip('_')}_{digest[:16]}"


def unit_imports(*fns) -> str:
    """The lines binding the modules of the units the functions call."""
    from .jit import module_name
    return "\n".join(f"{unit_module(spec)} = import_generated("
                     f"{module_name(unit_source(spec))!r})"
                     for spec in called_units(*fns, nested=False))


def unit_call(s, args) -> str:
    return f"{unit_module(s.args[0])}.{ENTRIES[s.op]}({', '.join(args[1:])})"


def load_units(*fns):
    """Loads the modules of the units the functions call, callees first, so that the module
    calling them finds them."""
    from .jit import load_module
    for spec in called_units(*fns):
        load_module(unit_source(spec))

"""Compilation units: a method called on a structured value (a layer's `__call__`) is
compiled on its own, once per argument types, as a forward that returns its tape with its value
and a pullback that takes that tape. Every function that calls it calls the same compiled code, so
a model of three Dense layers compiles Dense once, and a second model made of Dense layers
compiles nothing for them (Zygote's design: a pullback per call).

In the IR a call is one statement, `%y = unit(Dense.__call__, leaves...)`; the adjoint splits it
into `unit_forward` (value and tape) and `unit_pullback` (adjoint/reverse.py). A call is inlined
instead where the method does not fit, which is decided twice:
- while parsing (`compiles_alone`): the method has no loop, writes into no array, reads
  nothing at run time from outside and calls no unit itself (Numba links a callee's code into
  each caller and optimises it again there, so a level of units costs more compile time than
  it saves: measured on an MLP, 22 s against 15 s with the Chain inlined); every argument is a
  run-time value or a structured one;
- once types are known (ir/compile.py): the call is not inside a loop of its caller, its
  arguments are numbers or arrays, its result a float or a float array, and its typed IR (with
  nested gradients lowered) reads nothing at run time from outside. Where that fails, `NotAUnit`
  makes compile_ir build the caller again with this method inlined.
"""
from __future__ import annotations

import os
import threading
import types
from dataclasses import dataclass, field

from .adjoint.rules import rules_version
from .custom import rule_captures
from .errors import RaisesOnEveryPath, ZygopyError
from .ir.captured import current_values
from .ir.cfg import loop_blocks
from .ir.evaluate import Machine
from .ir.infer import returned_type, type_of_arg
from .ir.primitives import PRIMITIVES
from .ir.types import ArrayT, Scalar, TupleT, is_float, strengths


def enabled() -> bool:
    """ZYGOPY_UNITS=0 inlines every call, as zygopy did before it had units."""
    return os.environ.get("ZYGOPY_UNITS", "1") != "0"


_ALONE: dict = {}  # Unit -> whether its body compiles on its own
_SPECS: dict = {}  # (Unit, argument types) -> UnitSpec
_BUILDING = threading.Lock()


class NotAUnit(Exception):
    """Raised while compiling a caller: this call is to be inlined."""

    def __init__(self, unit):
        super().__init__(repr(unit))
        self.unit = unit


@dataclass(frozen=True)
class Unit:
    """A method and the shape of its structured arguments (trees.Node per parameter, or None)."""
    fn: types.FunctionType
    nodes: tuple
    # the (Node, value) per parameter it was first met with: its static attributes are in `nodes`
    structures: tuple = field(compare=False, hash=False, repr=False)

    def __repr__(self):
        return self.fn.__qualname__

    def specialize(self, arg_types, wrt=None) -> UnitSpec:
        """The unit compiled for these argument types, differentiated with respect to the float
        arguments among `wrt` (every float argument when None)."""
        floats = tuple(i for i, t in enumerate(arg_types) if is_float(t))
        wrt = floats if wrt is None else tuple(i for i in floats if i in wrt)
        key = (self, tuple(arg_types), tuple(map(strengths, arg_types)), wrt)
        spec = _SPECS.get(key)
        if spec is None or not spec.current():
            with _BUILDING:
                spec = _SPECS.get(key)
                if spec is None or not spec.current():
                    spec = _SPECS[key] = UnitSpec(self, list(arg_types), list(wrt))
        return spec


def compiles_alone(unit) -> bool:
    """Whether the method's body may be compiled on its own: no loop, no write into an array or a
    list, no value read at run time from outside (a hidden argument), no unit called."""
    alone = _ALONE.get(unit)
    if alone is None:
        from .ir.frontend import to_ir
        _ALONE[unit] = False  # while its body is parsed: a method calling itself is inlined
        try:
            fn = to_ir(unit.fn, list(unit.structures), units=frozenset())
        except ZygopyError:  # inlined, where the error is reported at the call
            alone = False
        else:
            ops = {s.op for b in fn.blocks for s in b.stmts}
            alone = (not any(loop_blocks(fn).values())
                     and not any(c.runtime for c in fn.captured)
                     and not any(PRIMITIVES[op].writes for op in ops) and "unit" not in ops)
        _ALONE[unit] = alone
    return alone


def _number_or_array(t):
    return isinstance(t, (Scalar, ArrayT))


class UnitSpec:
    """A unit compiled for argument types: its typed IR, and its adjoint on demand, differentiated
    with respect to the float arguments `wrt` (those whose gradient the caller uses: a model's
    first layer computes none for the data it is given)."""

    def __init__(self, unit, arg_types, wrt):
        from .ir.compile import compile_ir
        if not all(map(_number_or_array, arg_types)):
            raise NotAUnit(unit)
        self.unit, self.arg_types = unit, arg_types
        # a unit calls no unit (compiles_alone): whatever it calls is inlined
        try:
            self.primal_ir = compile_ir(unit.fn, arg_types, list(unit.structures))
        except RaisesOnEveryPath:  # inlined, the caller raises as Python would
            raise NotAUnit(unit) from None
        self.result_type = returned_type(self.primal_ir)
        if (not _number_or_array(self.result_type) or not self.result_type.is_float
                or any(c.runtime for c in self.primal_ir.captured)):
            raise NotAUnit(unit)
        self.wrt = wrt
        self._adjoint = None
        self._result_dims = {}  # arguments' unit dims -> the result's
        self.rules = rules_version()

    def __repr__(self):
        return repr(self.unit)

    def specialize(self, arg_types):
        return self.unit.specialize(arg_types)

    def differentiated(self, active) -> UnitSpec:
        """This unit for the same types, differentiated with respect to the arguments `active`
        (positions) only."""
        return self.unit.specialize(self.arg_types, tuple(active))

    def result_dims(self, arg_dims):
        """Which dimensions of its result are 1 (ir/unit_dims.py), given its arguments': its code is
        the same for any, the code calling it knows more."""
        if arg_dims not in self._result_dims:
            from .ir.unit_dims import returned_dims
            self._result_dims[arg_dims] = returned_dims(self.primal_ir, arg_dims)
        return self._result_dims[arg_dims]

    def current(self) -> bool:
        """Whether every value its code folded in (a global constant), and every derivative rule,
        is as it was."""
        return self.rules == rules_version() and current_values(self.captured()) is not None

    def captured(self):
        """What its code reads from outside, folded in (with the custom rules it calls)."""
        fns = [self.primal_ir] + ([self._adjoint.forward, self._adjoint.reverse]
                                  if self._adjoint else [])
        return [*self.primal_ir.captured, *rule_captures(*fns)]

    @property
    def adjoint(self):
        if self._adjoint is None:
            from .adjoint.reverse import adjoint
            from .ir.compile import compile_ir
            ir = compile_ir(self.unit.fn, self.arg_types, list(self.unit.structures))
            adj = adjoint(ir, self.wrt, any_output=True)
            assert not adj.stacks, "a unit has no loop, so nothing to stack"
            self._adjoint = adj
        return self._adjoint

    @property
    def forward_type(self):
        """`unit_forward`'s result: the value, then the tape."""
        return TupleT((self.result_type, *(v.type for v in self.adjoint.tape)))

    @property
    def pullback_type(self):
        return returned_type(self.adjoint.reverse)

    # the evaluator's implementations of the three statements
    def evaluate(self, *args):
        return Machine().run(self.primal_ir, list(args))[0]

    def forward(self, *args):
        value, env = Machine().run(self.adjoint.forward, list(args))
        return (value, *(env.get(v, 0) for v in self.adjoint.tape))

    def pullback(self, tape, dy):
        return Machine().run(self.adjoint.reverse, [dy, *tape[1:]])[0]


UNIT_OPS = ("unit", "unit_forward", "unit_pullback")


def called_units(*fns) -> list:
    """The UnitSpecs the IR functions call, each once."""
    out = []
    for fn in fns:
        for b in fn.blocks:
            for s in b.stmts:
                if s.op in UNIT_OPS and isinstance(s.args[0], UnitSpec) and s.args[0] not in out:
                    out.append(s.args[0])
    return out


def unit_captures(*fns) -> list:
    """What the units the IR functions call read from outside, folded into their code: compiled
    code that calls them is compiled again when one of these changes."""
    return [c for spec in called_units(*fns) for c in spec.captured()]


def bind_units(fn):
    """Once fn is typed: each `unit` statement calls the UnitSpec for its argument types; a call
    inside a loop, or with arguments that are not numbers or arrays, raises NotAUnit."""
    in_loop = {b for b, loops in loop_blocks(fn).items() if loops}
    for b in fn.blocks:
        for s in b.stmts:
            if s.op == "unit":
                if b.id in in_loop:
                    raise NotAUnit(s.args[0].unit if isinstance(s.args[0], UnitSpec)
                                   else s.args[0])
                s.args[0] = s.args[0].specialize([type_of_arg(a) for a in s.args[1:]])

"""What a backend compiles: a function's typed IR for given argument types, with the IR derived
from it (the adjoint for a gradient, the tangent for forward mode). Built from the IR and the
adjoint pass alone: nothing here knows which backend will run it (backend/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass

from .adjoint.mutation import written_arguments
from .adjoint.reverse import Adjoint, adjoint, own_results
from .adjoint.sweeps import jacobian_columns
from .adjoint.tangent import tangent, tangent_arguments
from .custom import rule_captures
from .errors import UnsupportedSyntax
from .ir.compile import compile_ir
from .ir.ir import Function
from .units import unit_captures


@dataclass
class Program:
    primal_ir: Function  # the function's own IR: errors are located by rerunning it
    captured: list  # its hidden arguments, the values it reads from outside (ir/captured.py)
    written: list  # indices of the arguments it writes into: a run works on copies of those
    where: tuple  # (file, line, name) of the user's function, for errors
    dims: list  # per argument of the compiled code, which dimensions are 1 (or None: unknown)


@dataclass
class GradientProgram(Program):
    """Entry points: value_and_gradient, forward (value and tape), pullback (tape, dy)."""
    adjoint: Adjoint
    seeded: int | None  # an argument whose unit seeds `rows` runs the gradient for

    @property
    def writes(self) -> bool:
        """Whether the function writes into an array: its reverse pass then uses up its tape."""
        return any(st.op == "setindex" for b in self.primal_ir.blocks for st in b.stmts)


@dataclass
class TangentProgram(Program):
    """Entry point: the tangent IR, taking the leaves, a tangent per leaf of `wrt` (none with
    `columns`), then the hidden values; it returns (value, tangent)."""
    tangent_ir: Function
    wrt: list


def where(pyfn) -> tuple:
    name = pyfn.__name__ if pyfn.__name__.isidentifier() else "lambda"  # names in the source
    return pyfn.__code__.co_filename, pyfn.__code__.co_firstlineno, name


def gradient_program(pyfn, arg_types, wrt, structures=None, unit_dims=None, make_ir=None,
                     seeded=None) -> GradientProgram:
    """`arg_types` are those of the flat leaves; `wrt` indexes leaves; `structures` as for
    to_ir; `unit_dims` says which dimensions of each array argument are 1
    (Signature.unit_dims). `make_ir()`, if given, builds the typed IR to differentiate instead
    of pyfn's own (a tangent, for reverse over forward): a fresh one each call."""
    make_ir = make_ir or (lambda: compile_ir(pyfn, arg_types, structures, units=True))
    primal_ir = make_ir()
    hidden_dims = [c.unit_dims for c in primal_ir.captured if c.runtime]
    dims = [*(unit_dims or [None] * len(arg_types)), *hidden_dims]
    adj = adjoint(make_ir(), wrt, dims)
    # what the custom rules and units it calls read from outside (folded into their code) counts too
    fns = (primal_ir, adj.forward, adj.reverse)
    captured = [*primal_ir.captured, *rule_captures(*fns), *unit_captures(*fns)]
    return GradientProgram(primal_ir, captured, _written(primal_ir, len(arg_types)),
                           where(pyfn), dims, adj, seeded)


def tangent_program(pyfn, arg_types, wrt, structures=None, unit_dims=None,
                    columns=False) -> TangentProgram:
    """With `columns`, the tangent IR takes no tangents and returns the value and every column
    of the Jacobian (adjoint/sweeps.py)."""
    primal_ir = compile_ir(pyfn, arg_types, structures)
    tangent_ir = tangent(compile_ir(pyfn, arg_types, structures), wrt, unit_dims)
    if columns:
        tangent_ir = jacobian_columns(tangent_ir, wrt)
    own_results(tangent_ir)  # jvp's value and tangent of `return x` are not the caller's x and dx
    tangent_wrt = tangent_arguments(primal_ir, wrt)
    # a tangent is shaped like its argument (in the columns' sweep it has an axis more)
    dims = [*(unit_dims or [None] * len(arg_types))]
    dims += [None if columns else dims[i] for i in tangent_wrt]
    captured = [*primal_ir.captured, *rule_captures(tangent_ir)]
    return TangentProgram(primal_ir, captured, _written(primal_ir, len(arg_types)),
                          where(pyfn), dims, tangent_ir, tangent_wrt)


def _written(primal_ir, leaves) -> list:
    """The arguments the function writes into, where a run works on copies. An array it reads
    from outside (a hidden argument, after the leaves) must not be one: Python would change it
    for good, and the copy would lose the change."""
    written = written_arguments(primal_ir)
    for i in written:
        if i >= leaves:
            name = primal_ir.arg_names[i]
            raise UnsupportedSyntax(f"the function writes into the array {name!r}, which it "
                                    f"reads from outside (a global or closure variable): zygopy "
                                    f"computes on a copy, so the change would be lost",
                                    primal_ir.filename, primal_ir.line,
                                    hint=f"pass {name} as an argument, or write into a copy "
                                    f"({name}.copy()) made in the function")
    return written

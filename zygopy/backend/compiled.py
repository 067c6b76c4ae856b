"""One compiled specialisation of a function's gradient: fused value-and-gradient, and a split
forward/pullback pair whose pullback can run any number of times."""
from __future__ import annotations

import numpy as np
from numba.core.errors import NumbaError

from ..adjoint.reverse import adjoint
from ..errors import ZygopyError
from ..adjoint.mutation import written_arguments
from ..ir.compile import compile_ir
from ..ir.evaluate import failing_statement
from .jit import load_module
from .source import forward_source, fused_source, primal_source, reverse_source, rule_sources, scalar_stacks

INITIAL_CAPACITY = 1024


class Tape:
    """What a forward call recorded: stacks with their fill levels and the values the pullback reads."""
    __slots__ = ("stacks", "tops", "values")

    def __init__(self, stacks, tops, values):
        self.stacks, self.tops, self.values = stacks, tops, values


class CompiledGradient:
    def __init__(self, pyfn, arg_types, wrt, structures=None, unit_dims=None):
        """`arg_types` are those of the flat leaves; `wrt` indexes leaves; `structures` as for to_ir;
        `unit_dims` says which dimensions of each array argument are 1 (Signature.unit_dims)."""
        self.primal_ir = compile_ir(pyfn, arg_types, structures)
        self.adjoint = adjoint(compile_ir(pyfn, arg_types, structures), wrt, unit_dims)
        name = pyfn.__name__
        self.source = "\n\n".join([
            rule_sources(self.primal_ir, self.adjoint.forward, self.adjoint.reverse),
            primal_source(self.primal_ir, f"{name}_primal"),
            forward_source(self.adjoint, f"{name}_forward"),
            reverse_source(self.adjoint, f"{name}_pullback"),
            fused_source(self.adjoint, f"{name}_value_and_gradient", f"{name}_forward", f"{name}_pullback"),
        ])
        self.where = (pyfn.__code__.co_filename, pyfn.__code__.co_firstlineno, name)
        module = load_module(self.source)
        self.primal = getattr(module, f"{name}_primal")
        self._fused = getattr(module, f"{name}_value_and_gradient")
        self._forward = getattr(module, f"{name}_forward")
        self._reverse = getattr(module, f"{name}_pullback")
        self.written = written_arguments(self.primal_ir)
        self.writes = any(st.op == "setindex" for b in self.primal_ir.blocks for st in b.stmts)
        self.dtypes = [k.dtype for k in scalar_stacks(self.adjoint)]
        self.capacity = [INITIAL_CAPACITY] * len(self.dtypes)
        self._buffers = None
        self._last_args = None

    def _alloc(self):
        return [np.empty(c, dtype=d) for c, d in zip(self.capacity, self.dtypes)]

    def _fits(self, tops):
        fits = all(t <= c for t, c in zip(tops, self.capacity))
        if not fits:  # rerun once with exactly the room the run needed
            self.capacity = [max(t, c) for t, c in zip(tops, self.capacity)]
        return fits

    def own(self, args):
        """The arguments, with private copies of the arrays the function writes into."""
        if not self.written:
            return args
        return tuple(a.copy() if i in self.written else a for i, a in enumerate(args))

    def value_and_gradient(self, args, dy=1.0):
        self._last_args = args
        args = self.own(args)
        while True:
            if self._buffers is None:
                self._buffers = self._alloc()
            value, grads, tops = self._run(self._fused, *args, dy, *self._buffers)
            if self._fits(tops):
                return value, grads
            self._buffers = None

    def forward(self, args):
        self._last_args = args
        args = self.own(args)
        while True:
            stacks = self._alloc()
            value, tops, values = self._run(self._forward, *args, *stacks)
            if self._fits(tops):
                return value, Tape(stacks, tops, values)

    def pullback(self, tape, dy):
        return self._run(self._reverse, dy, *tape.values, *tape.stacks, *tape.tops)

    def _run(self, compiled_fn, *args):
        try:
            return compiled_fn(*args)
        except NumbaError as e:
            filename, line, name = self.where
            raise ZygopyError(f"internal error: Numba could not compile the code generated for {name!r}; "
                              f"please report it with this message\n{e}", filename, line) from None
        except (ValueError, IndexError, ZeroDivisionError, AssertionError) as e:
            raise self._located(e) from None

    def _located(self, error):
        """An error raised by compiled code (a shape mismatch, an index out of range), named at the
        user's line by rerunning the primal in the reference evaluator."""
        filename, line, name = self.where
        found = failing_statement(self.primal_ir, self._last_args) if self._last_args is not None else None
        if found is None:
            return ZygopyError(f"{type(error).__name__} while running {name!r}: {error}", filename, line)
        stmt, e = found
        shapes = [str(np.shape(a)) for a in getattr(e, "zygopy_operands", ()) if isinstance(a, np.ndarray)]
        detail = f" (operand shapes {', '.join(shapes)})" if shapes else ""
        return ZygopyError(f"{type(e).__name__}: {e}{detail}", self.primal_ir.filename, stmt.line)

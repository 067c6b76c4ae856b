"""Checkpointing: a function whose pullback runs its forward again instead of keeping a tape.

    @zygopy.checkpoint
    def segment(x, s, k):              # k steps of a long loop
        for i in range(k):
            s = math.sin(s + x) * 0.9
        return s

    def f(x, n, k):                    # n = m * k steps, as m segments
        s = 0.0
        for j in range(n // k):
            s = segment(x, s, k)
        return s

Differentiated code that calls `segment` records only what the call takes and gives (a few
numbers per segment); in the reverse pass each segment's forward runs again, recording into a tape
of its own that lives for that segment only, then its reverse. A loop of n steps written as
sqrt(n) segments of sqrt(n) steps then keeps about 2 sqrt(n) entries instead of n (Griewank's
two-level checkpointing; JAX's `checkpoint`, Zygote's `checkpointed`), for one more forward sweep.

Called outside differentiated code, a checkpointed function is the plain function. Its arguments
are numbers and arrays; it returns a float or a float array, and writes into none of its
arguments (its forward runs twice, and the second must see the same inputs).
"""
from __future__ import annotations

import hashlib

from .custom import CustomRule
from .errors import UnsupportedType


class Checkpoint(CustomRule):
    needs_output = False  # nothing of the call but its inputs is kept for the reverse pass
    checks_results = False  # its pullback is zygopy's gradient of the function

    def __init__(self, fn):
        super().__init__(fn)
        self.backward = self._pullback

    @property
    def specialization(self):
        """How `custom.specialize` compiles a call of the checkpointed function."""
        return CheckpointSpecialization

    def _pullback(self, dy, y, *inputs):
        """The evaluator's pullback: the function's gradient at its inputs, recomputed."""
        from .custom import specialize
        from .ir.evaluate import evaluate_gradient
        from .ir.types import typeof
        spec = specialize(self, [typeof(x) for x in inputs])
        return tuple(spec.per_input(evaluate_gradient(spec.adjoint, list(inputs), dy)[1]))

    def __repr__(self):
        return f"checkpoint({self.where})"


def checkpoint(fn) -> Checkpoint:
    """Decorator: differentiated code that calls `fn` records its inputs only, and its pullback
    runs `fn`'s forward again (see the module's doc)."""
    return Checkpoint(fn)


class CheckpointSpecialization:
    """A checkpointed function compiled for argument types: its IR, which the forward calls, and
    its adjoint, which the pullback runs whole (forward with a tape of its own, then reverse)."""

    def __init__(self, rule, arg_types):
        from .adjoint.mutation import written_arguments
        from .ir.compile import compile_ir
        from .ir.infer import returned_type
        from .ir.types import ArrayT, Scalar, is_float
        self.rule, self.arg_types = rule, list(arg_types)
        code = rule.forward.__code__
        for t in self.arg_types:
            if not isinstance(t, (Scalar, ArrayT)):
                raise UnsupportedType(f"the checkpointed function {rule.__name__!r} takes numbers "
                                      f"and arrays; it was given a {t}", code.co_filename,
                                      code.co_firstlineno, hint="pass the leaves of structures")
        # a checkpointed function is called with its arguments only: it takes no hidden ones
        self.forward_ir = compile_ir(rule.forward, self.arg_types, capture=False)
        self.result_type = returned_type(self.forward_ir)
        results = getattr(self.result_type, "elts", (self.result_type,))
        if not all(map(is_float, results)):
            raise UnsupportedType(f"the checkpointed function {rule.__name__!r} returns "
                                  f"{self.result_type}; it must return floats or float arrays "
                                  "(or a tuple of them)",
                                  code.co_filename, code.co_firstlineno)
        written = written_arguments(self.forward_ir)
        if written:
            raise UnsupportedType(f"the checkpointed function {rule.__name__!r} writes into its "
                                  f"argument {rule.forward.__code__.co_varnames[written[0]]!r}; "
                                  "its forward runs again in the reverse pass, which needs the "
                                  "inputs as they were", code.co_filename, code.co_firstlineno,
                                  hint="write into a copy (x = x.copy())")
        self.wrt = [i for i, t in enumerate(self.arg_types) if is_float(t)]
        self.gradient_types = [t if i in self.wrt else None for i, t in enumerate(arg_types)]
        digest = hashlib.sha1(repr((rule.uid, tuple(map(str, arg_types)))).encode()).hexdigest()
        self.name = f"zy_checkpoint_{rule.forward.__name__}_{digest[:12]}"
        self._adjoint = None

    @property
    def adjoint(self):
        if self._adjoint is None:
            from .adjoint.reverse import adjoint
            from .ir.compile import compile_ir
            ir = compile_ir(self.rule.forward, self.arg_types, capture=False)
            self._adjoint = adjoint(ir, self.wrt, any_output=True)
        return self._adjoint

    def per_input(self, grads, none=None) -> list:
        """The adjoint's gradients (one per float input) spread over all inputs, `none` for the
        others."""
        given = dict(zip(self.wrt, grads, strict=True))
        return [given.get(i, none) for i in range(len(self.arg_types))]

    def called(self, gradient: bool) -> list:
        """The IR its forward (or its pullback) runs, whose custom rules are compiled too."""
        return [self.adjoint.forward, self.adjoint.reverse] if gradient else [self.forward_ir]

    def captured(self):
        """What its code reads from outside, folded in."""
        fns = [self.forward_ir] + ([self._adjoint.forward] if self._adjoint else [])
        return [c for fn in fns for c in fn.captured]

    def source(self, gradient: bool) -> str:
        from .backend.numba_cpu.checkpoints import checkpoint_source
        return checkpoint_source(self, gradient)

"""A kernel called inside a function zygopy differentiates: one `custom` operation whose forward
is the CPU forward kernel and whose pullback is the backward kernel, both called from the
function's compiled code through small generated wrappers (which allocate the outputs and the
gradients, and rerun a backward whose threads needed more stack)."""
from __future__ import annotations

import hashlib

import numpy as np

from ...errors import UnsupportedType
from ...ir.infer import returned_type
from ...ir.types import INT, ArrayT, TupleT, is_float
from ..numba_cpu.source import JIT
from .launch import INITIAL_CAPACITY
from .source import backward_kernel, forward_kernel


class KernelSpecialization:
    """What `custom.specialize` gives for a kernel: the result and gradient types, and the
    source of the wrappers the generated code calls."""

    def __init__(self, kernel, arg_types):
        from ...adjoint.kernel_body import kernel_adjoint
        from ...ir.compile import compile_ir
        self.kernel, self.arg_types = kernel, list(arg_types)
        where = kernel.body.__code__
        if not all(isinstance(t, ArrayT) or t == INT or is_float(t) for t in arg_types):
            raise UnsupportedType(f"the kernel {kernel.body.__name__!r} takes arrays and numbers",
                                  where.co_filename, where.co_firstlineno)
        floats = [t.dtype for t in arg_types if isinstance(t, ArrayT) and t.is_float]
        self.dtype = np.result_type(*floats).name if floats else "float64"
        self.shape_ir = (compile_ir(kernel.shape, self.arg_types, capture=False)
                         if kernel.shape is not None else None)
        self.launch_ir = (compile_ir(kernel.launch, self.arg_types, capture=False)
                          if kernel.launch is not None else None)
        self.ranks = self._ranks()
        out_types = [ArrayT(self.dtype, r) for r in self.ranks]
        self.ka = kernel_adjoint(kernel.body, [INT, *out_types, *self.arg_types])
        self.result_type = out_types[0] if len(out_types) == 1 else TupleT(tuple(out_types))
        n_out = len(out_types)
        self.gradient_types = [t if 1 + n_out + k in self.ka.wrt else None
                               for k, t in enumerate(self.arg_types)]
        digest = hashlib.sha1(repr((kernel.uid, tuple(map(str, arg_types)))).encode())
        self.name = f"zy_kernel_{kernel.body.__name__}_{digest.hexdigest()[:12]}"

    def called(self, gradient: bool) -> list:
        """A kernel is compiled its own way, and calls no custom rule."""
        return []

    def captured(self):
        """What the body and the shape and launch functions read from outside (folded)."""
        fns = [self.ka.body.fn, self.shape_ir, self.launch_ir]
        return [c for fn in fns if fn is not None for c in fn.captured]

    def _ranks(self):
        """The outputs' ranks: from the shape function's result type, or the first input's."""
        if self.shape_ir is None:
            first = next((t for t in self.arg_types if isinstance(t, ArrayT)), None)
            return [first.ndim] * self.kernel.outputs
        t = returned_type(self.shape_ir)
        if t == INT:
            return [1]
        if isinstance(t, TupleT) and all(e == INT for e in t.elts):
            return [len(t.elts)]
        if isinstance(t, TupleT) and all(isinstance(e, TupleT) for e in t.elts):
            return [len(e.elts) for e in t.elts]
        where = self.kernel.body.__code__
        raise UnsupportedType(f"the shape of the kernel {self.kernel.body.__name__!r}'s outputs "
                              f"is {t}", where.co_filename, where.co_firstlineno,
                              hint="return an int, a tuple of ints, or a tuple of such tuples")

    def source(self, gradient: bool) -> str:
        """The forward wrapper `name(*inputs)`, or the pullback `name_grad(g, y, *inputs)`."""
        from ..numba_cpu.source import primal_source
        parts = []
        if self.shape_ir is not None:
            parts.append(primal_source(self.shape_ir, f"{self.name}_shape"))
        if self.launch_ir is not None:
            parts.append(primal_source(self.launch_ir, f"{self.name}_launch"))
        kname = f"{self.name}_{'backward' if gradient else 'forward'}"
        if gradient:
            parts += [backward_kernel(self.ka, kname, "cpu", parallel=False),
                      self._pullback(kname)]
        else:
            parts += [forward_kernel(self.ka, kname, "cpu", parallel=False), self._forward(kname)]
        return "\n\n".join(parts)

    # ---- the wrappers --------------------------------------------------------------------
    def _params(self):
        return [f"x{k}" for k in range(len(self.arg_types))]

    def _held(self):
        """The inputs as the kernels take them: a float in an array of one element."""
        return [f"np.array([{x}])" if self._is_float_number(k) else x
                for k, x in enumerate(self._params())]

    def _is_float_number(self, k):
        return not isinstance(self.arg_types[k], ArrayT) and is_float(self.arg_types[k])

    def _shapes(self):
        """Source of each output's shape."""
        xs = self._params()
        if self.shape_ir is None:
            first = next(k for k, t in enumerate(self.arg_types) if isinstance(t, ArrayT))
            return [f"{xs[first]}.shape"] * len(self.ranks)
        call = f"{self.name}_shape({', '.join(xs)})"
        t = returned_type(self.shape_ir)
        if t == INT:
            return [f"({call},)"]
        if all(e == INT for e in t.elts):
            return [call]
        return [f"{call}[{k}]" for k in range(len(self.ranks))]

    def _threads(self, first_output):
        if self.launch_ir is None:
            return f"{first_output}.shape[0]"
        return f"{self.name}_launch({', '.join(self._params())})"

    def _forward(self, kname):
        xs, n_out = self._params(), len(self.ranks)
        shared = {k - 1 for k in self.ka.shared_outputs}
        lines = [JIT, f"def {self.name}({', '.join(xs)}):"]
        outs = []
        for k, shape in enumerate(self._shapes()):
            lines.append(f"    out{k} = np.zeros({shape}, np.{self.dtype})")
            outs.append(f"out{k}")
        lines.append(f"    n = {self._threads('out0')}")
        lines.append("    chunks = 1  # the caller's compiled code runs the threads in turn")
        passed = []
        for k in range(n_out):
            if k in shared:
                lines.append(f"    out{k}_chunks = np.zeros((chunks,) + out{k}.shape, "
                             f"np.{self.dtype})")
                passed.append(f"out{k}_chunks")
            else:
                passed.append(f"out{k}")
        lines.append("    fault = np.zeros(1, np.int64)")
        lines.append(f"    {kname}(n, chunks, fault, {', '.join(passed + self._held())})")
        lines += _raise_on_fault("    ")
        for k in shared:
            lines.append(f"    out{k} = out{k}_chunks.sum(axis=0)")
        result = outs[0] if n_out == 1 else "(" + "".join(o + ", " for o in outs) + ")"
        lines.append(f"    return {result}")
        return "\n".join(lines) + "\n"

    def _pullback(self, kname):
        xs, n_out = self._params(), len(self.ranks)
        stacks = self.ka.adjoint.stacks
        gs = ["g"] if n_out == 1 else [f"g[{k}]" for k in range(n_out)]
        offset = 1 + n_out
        reached = self._reached()
        shared = set(self.ka.shared_gradients)
        lines = [JIT,
                 f"def {self.name}_grad(g, y, {', '.join(xs)}):"]
        lines.append(f"    n = {self._threads(gs[0])}")
        lines.append("    chunks = 1  # the caller's compiled code runs the threads in turn")
        lines.append(f"    caps = np.full({max(len(stacks), 1)}, {INITIAL_CAPACITY})")
        lines.append("    while True:")
        passed = []
        held = self._held()
        for k in reached:
            x = held[k - offset]
            lines.append(f"        d{k} = np.zeros({x}.shape, {x}.dtype)")
            if k in shared:
                lines.append(f"        d{k}_chunks = np.zeros((chunks,) + {x}.shape, {x}.dtype)")
            passed.append(f"d{k}_chunks" if k in shared else f"d{k}")
        lines.append(f"        need = np.zeros((chunks, {max(len(stacks), 1)}), np.int64)")
        caps = [f"caps[{j}]" for j in range(len(stacks))]
        lines.append("        fault = np.zeros(1, np.int64)")
        lines.append(f"        {kname}(n, chunks, need, fault, "
                     f"{', '.join(caps + gs + held + gs + passed)})")
        lines += _raise_on_fault("        ")
        lines.append("        grown = False")
        lines.append("        for c in range(chunks):")
        lines.append(f"            for j in range({len(stacks)}):")
        lines.append("                if need[c, j] > caps[j]:")
        lines.append("                    caps[j] = need[c, j]")
        lines.append("                    grown = True")
        lines.append("        if not grown:")
        lines.append("            break")
        for k in reached:
            if k in shared:
                lines.append(f"    d{k} = d{k}_chunks.sum(axis=0)")
        grads = []
        for k, t in enumerate(self.arg_types):
            j = offset + k
            if j in reached:
                grads.append(f"d{j}[0]" if self._is_float_number(k) else f"d{j}")
            elif t is not None and j in self.ka.wrt:
                grads.append("0.0" if self._is_float_number(k) else
                             f"np.zeros({xs[k]}.shape, {xs[k]}.dtype)")
            else:
                grads.append("None")
        lines.append(f"    return ({''.join(g + ', ' for g in grads)})")
        return "\n".join(lines) + "\n"

    def _reached(self):
        from .launch import _reached
        return [k for k in self.ka.wrt if _reached(self.ka, k)]


def _raise_on_fault(indent):
    """An index out of range raises IndexError, which the caller locates by rerunning the
    function in the reference evaluator (where the kernel names its own line)."""
    return [f"{indent}if fault[0] != 0:",
            f"{indent}    raise IndexError(\"a kernel indexed an array out of range\")"]


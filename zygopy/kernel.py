"""Per-element kernels: the body one thread runs for one index, compiled forward and backward.

    @zygopy.kernel
    def scaled_tanh(i, out, x, a):          # thread index, outputs, then inputs
        out[i] = a[0] * math.tanh(x[i])

    y = scaled_tanh(x, a)                   # one thread per element of the output's first axis
    dx, da = scaled_tanh.vjp(dy, x, a)      # gradients of the inputs given the output's

The body reads its inputs, may loop (run-time trip counts, loop-carried scalars), and writes
its outputs with `out[idx] = v` at an index of its own (one containing `i`) or adds into them
with `out[idx] += v` anywhere. Outputs are created as zeros, shaped by `shape(*inputs)` (one
shape, or a list with one per output; by default the first input's shape), and the kernel runs
`launch(*inputs)` threads (by default the first output's length). The backward is generated:
per thread, the reverse of its body, adding into the input gradients atomically only where
threads may meet. NumPy arrays run on the CPU (parallel loops), arrays exposing
`__cuda_array_interface__` on the GPU (numba-cuda). Inside a function zygopy differentiates,
a kernel is one operation whose derivative is its backward kernel.
"""
from __future__ import annotations

import ast
import hashlib

import numpy as np

from .custom import CustomRule
from .errors import UnsupportedType
from .ir.captured import current_values
from .ir.types import INT, typeof

# float inputs, which the body reads from one-element arrays and whose gradients come back as floats
NUMBERS = (float, np.floating)


class Kernel(CustomRule):
    checks_results = False  # its backward is generated from its body

    def __init__(self, body, shape=None, launch=None):
        super().__init__(body)
        self.body, self.shape, self.launch = body, shape, launch
        self.outputs = _count_outputs(body)
        code = body.__code__
        self.input_names = code.co_varnames[1 + self.outputs:code.co_argcount]
        self._compiled = {}
        # as a custom rule (a call inside differentiated code): what the reference evaluator runs
        self.forward, self.backward = self.__call__, self._pullback

    @property
    def specialization(self):
        """How `custom.specialize` compiles a call of the kernel."""
        from .backend.cuda.calls import KernelSpecialization
        return KernelSpecialization

    # ---- running -------------------------------------------------------------------------
    def __call__(self, *inputs):
        outs = self._run_forward(inputs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def vjp(self, gradient, *inputs):
        """Gradients of the inputs (None for those that get none: ints, int arrays), given the
        output's gradient (a tuple of them for several outputs)."""
        gouts = list(gradient) if self.outputs > 1 else [gradient]
        shapes = self._shapes(inputs)
        given = [tuple(getattr(g, "shape", ())) for g in gouts]
        if given != [tuple(shape) for shape in shapes]:
            raise UnsupportedType(f"the kernel {self.body.__name__!r} makes outputs of shapes "
                                  f"{', '.join(map(str, shapes))}; vjp was given gradients of "
                                  f"shapes {', '.join(map(str, given))}", *_where(self.body),
                                  hint="give one gradient per output, of its shape (a tuple of "
                                  "them for several outputs)")
        gpu = _on_gpu(inputs)
        gouts = [_like_inputs(g, gpu) for g in gouts]
        compiled = self.compiled(gouts, inputs)
        grads = compiled.backward(self._threads(inputs, gouts), gouts, _held(inputs, gpu),
                                  _zeros_like(gpu))
        return tuple(_element(g) if isinstance(x, NUMBERS) and g is not None else g
                     for x, g in zip(inputs, grads, strict=True))

    def _pullback(self, g, y, *inputs):
        return self.vjp(g, *inputs)

    def _run_forward(self, inputs):
        gpu = _on_gpu(inputs)
        dtype = _float_dtype(inputs)
        outs = [_zeros(shape, dtype, gpu) for shape in self._shapes(inputs)]
        compiled = self.compiled(outs, inputs)
        return compiled.forward(self._threads(inputs, outs), outs, _held(inputs, gpu))

    def _shapes(self, inputs):
        names = self.input_names
        if len(inputs) != len(names):
            raise UnsupportedType(f"the kernel {self.body.__name__!r} takes {len(names)} "
                                  f"input{'s' * (len(names) != 1)} ({', '.join(names)}), given "
                                  f"{len(inputs)}",
                                  *_where(self.body), hint="pass the inputs only: the thread "
                                  "index and the outputs are the kernel's to make")
        if self.shape is None:
            first = next((x for x in inputs if hasattr(x, "shape")), None)
            if first is None:
                raise UnsupportedType(f"the kernel {self.body.__name__!r} has no array input to "
                                      "shape its output like", *_where(self.body),
                                      hint="give its shape: @zygopy.kernel(shape=lambda ...)")
            return [tuple(first.shape)] * self.outputs
        shapes = self.shape(*inputs)
        shapes = [shapes] if _is_shape(shapes) else list(shapes)
        if len(shapes) != self.outputs:
            raise UnsupportedType(f"shape() of the kernel {self.body.__name__!r} gave "
                                  f"{len(shapes)} shapes for {self.outputs} outputs",
                                  *_where(self.body))
        return [(int(s),) if isinstance(s, (int, np.integer)) else tuple(map(int, s))
                for s in shapes]

    def _threads(self, inputs, outs):
        return int(self.launch(*inputs)) if self.launch is not None else int(outs[0].shape[0])

    # ---- compiling -----------------------------------------------------------------------
    def compiled(self, outs, inputs, target=None):
        """The compiled kernels for these outputs and inputs (their types, and where they live
        unless `target` says)."""
        from .adjoint.kernel_body import kernel_adjoint
        from .backend.cuda.launch import CompiledKernel
        types = [INT, *(_type_of(o) for o in outs), *(_type_of(x) for x in inputs)]
        target = target or ("cuda" if _on_gpu([*outs, *inputs]) else "cpu")
        key = (tuple(types), target)
        found = self._compiled.get(key)
        # a value the body reads from outside is folded into its code: compiled again if changed
        if found is None or current_values(found.ka.body.fn.captured) is None:
            digest = hashlib.sha1(repr((self.uid, key)).encode()).hexdigest()[:12]
            ka = kernel_adjoint(self.body, types)
            found = self._compiled[key] = CompiledKernel(ka, f"{self.body.__name__}_{digest}",
                                                         target)
        return found

    def __repr__(self):
        return f"kernel({self.where})"


def kernel(body=None, *, shape=None, launch=None):
    """Decorator: `@kernel` or `@kernel(shape=..., launch=...)` (see the module's doc)."""
    if body is None:
        return lambda f: Kernel(f, shape, launch)
    return Kernel(body, shape, launch)


def code_ptx(k: Kernel, *inputs, cc=(9, 0)) -> dict:
    """{"forward": PTX, "backward": PTX} of the kernel for these inputs, compiled for compute
    capability `cc` with numba-cuda (no GPU needed)."""
    from .backend.cuda.ptx import kernel_ptx
    return kernel_ptx(k, inputs, cc)


def _count_outputs(body):
    """How many parameters after the index the body assigns elements of (it writes outputs
    only)."""
    from .ir.frontend import function_ast
    node = function_ast(body)[0]
    params = [a.arg for a in node.args.args[1:]]
    written = set()
    for n in ast.walk(node):
        targets = n.targets if isinstance(n, ast.Assign) else (
            [n.target] if isinstance(n, ast.AugAssign) else [])
        while targets:
            t = targets.pop()
            if isinstance(t, (ast.Tuple, ast.List)):  # o1[i], o2[i] = ...
                targets += t.elts
            elif isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                written.add(t.value.id)
    n = 0
    while n < len(params) and params[n] in written:
        n += 1
    return max(n, 1)


def _is_shape(s):
    def is_int(n):
        return isinstance(n, (int, np.integer))
    return is_int(s) or all(map(is_int, s))


def _where(fn):
    return fn.__code__.co_filename, fn.__code__.co_firstlineno


def _on_gpu(values):
    from .backend.cuda.launch import on_gpu
    return on_gpu(values)


def _type_of(v):
    from .backend.cuda.launch import is_device_array
    if is_device_array(v):  # typed as the NumPy array it holds would be (ints as int64)
        v = np.empty((0,) * len(v.shape), v.dtype)
    t = typeof(v)
    if t is None:
        raise UnsupportedType(f"a kernel takes arrays and numbers; got {type(v).__name__}")
    return t


def _held(inputs, gpu):
    """The inputs as the compiled kernels take them: a float in an array of one element
    (adjoint/kernel_body.py reads it from there)."""
    return [_like_inputs(np.array([x]), gpu) if isinstance(x, NUMBERS) else x for x in inputs]


def _element(g):
    """The float in a one-element gradient array, on the CPU or the GPU."""
    return float((g.copy_to_host() if hasattr(g, "copy_to_host") else g)[0])


def _float_dtype(inputs):
    kinds = [np.dtype(x.dtype) for x in inputs if hasattr(x, "dtype")
             and np.dtype(x.dtype).kind == "f"]
    return np.result_type(*kinds) if kinds else np.dtype(np.float64)


def _zeros(shape, dtype, gpu):
    if gpu:
        from .backend.cuda import device
        return device.zeros(shape, dtype)
    return np.zeros(shape, dtype)


def _zeros_like(gpu):
    return lambda x: _zeros(x.shape, x.dtype, gpu)


def _like_inputs(g, gpu):
    """An output gradient where the inputs live."""
    if gpu and isinstance(g, np.ndarray):
        from numba import cuda
        return cuda.to_device(g)
    return np.asarray(g) if not gpu else g

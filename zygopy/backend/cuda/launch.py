"""Running a kernel's forward and backward on the CPU (prange) or a CUDA device, chosen by where
its arrays live: NumPy arrays on the CPU, arrays exposing `__cuda_array_interface__` on the GPU."""
from __future__ import annotations

import numpy as np

from ...errors import ZygopyError
from ..numba_cpu.jit import load_module
from .source import CPU_HEADER, CUDA_HEADER, backward_kernel, forward_kernel

INITIAL_CAPACITY = 64  # per-thread stack entries a backward kernel starts with


def on_gpu(values) -> bool:
    return any(is_device_array(v) for v in values)


def is_device_array(v) -> bool:
    """An array in GPU memory: one exposing `__cuda_array_interface__` (Numba's, CuPy's), or a
    device array of Numba's CUDA simulator, which exposes none."""
    return not isinstance(v, np.ndarray) and (hasattr(v, "__cuda_array_interface__")
                                              or hasattr(v, "copy_to_host"))


class CompiledKernel:
    """A kernel's forward and backward for one target and argument types."""

    def __init__(self, ka, kname: str, target: str):
        self.ka, self.kname, self.target = ka, kname, target
        self.stacks = [np.dtype(k.dtype) for k in ka.adjoint.stacks]
        self.capacity = [INITIAL_CAPACITY] * len(self.stacks)
        self._modules = None

    def sources(self):
        """(forward source, backward source), each a module of its own."""
        header = CUDA_HEADER if self.target == "cuda" else CPU_HEADER
        return (header + "\n\n" + forward_kernel(self.ka, f"{self.kname}_forward", self.target),
                header + "\n\n" + backward_kernel(self.ka, f"{self.kname}_backward",
                                                  self.target))

    def _kernels(self):
        if self._modules is None:
            fwd, bwd = self.sources()
            self._modules = (getattr(load_module(fwd), f"{self.kname}_forward"),
                             getattr(load_module(bwd), f"{self.kname}_backward"))
        return self._modules

    # ---- forward -------------------------------------------------------------------------
    def forward(self, n, outputs, inputs):
        """Runs the forward into `outputs` (zeros, which it fills or adds into)."""
        kernel = self._kernels()[0]
        shared = {k - 1 for k in self.ka.shared_outputs}
        if self.target == "cuda":
            from . import device
            fault = device.zeros(1, np.int64)
            args = [device.copies(o, n) if k in shared else o for k, o in enumerate(outputs)]
            device.launch(kernel, n, n, fault, *args, *inputs)
            self._check(fault.copy_to_host())
            for k in shared:
                device.add_copies(args[k], outputs[k])
            return outputs
        chunks = _chunks(n)
        args = [np.zeros((chunks, *o.shape), o.dtype) if k in shared else o
                for k, o in enumerate(outputs)]
        fault = np.zeros(chunks, np.int64)
        kernel(n, chunks, fault, *args, *inputs)
        self._check(fault)
        for k in shared:
            outputs[k][...] = args[k].sum(axis=0)
        return outputs

    # ---- backward ------------------------------------------------------------------------
    def backward(self, n, gouts, inputs, zeros):
        """Gradients of the inputs (arrays that get them, from `zeros(like)`), given those of the
        outputs. The outputs' gradients stand in for the outputs, which the backward never
        reads."""
        offset = 1 + len(gouts)
        positions = range(offset, offset + len(inputs))
        while True:
            grads = [zeros(x) if k in self.ka.wrt else None
                     for k, x in zip(positions, inputs, strict=True)]
            passed = [grads[k - offset] for k in self.gradient_positions()]
            need = self._backward_once(n, gouts, inputs, passed)
            if need is None:
                return grads
            self.capacity = [max(a, int(b)) for a, b in zip(self.capacity, need, strict=True)]

    def _backward_once(self, n, gouts, inputs, passed):
        """None, or the stack sizes a thread needed and did not have."""
        kernel = self._kernels()[1]
        shared = {_slot_position(self.ka, k) for k in self.ka.shared_gradients}
        if self.target == "cuda":
            from . import device
            need = device.zeros(max(len(self.stacks), 1), np.int64)
            fault = device.zeros(1, np.int64)
            stacks = device.stacks(self.stacks, self.capacity, n, self.ka.body.fn)
            args = [device.copies(g, n) if j in shared else g for j, g in enumerate(passed)]
            device.launch(kernel, n, n, need, fault, *stacks, *gouts, *inputs, *gouts, *args)
            self._check(fault.copy_to_host())
            need = need.copy_to_host()[:len(self.stacks)]
            if need.any():
                return list(need)
            for j in shared:
                device.add_copies(args[j], passed[j])
            return None
        chunks = _chunks(n)
        args = [np.zeros((chunks, *g.shape), g.dtype) if j in shared else g
                for j, g in enumerate(passed)]
        need = np.zeros((chunks, max(len(self.stacks), 1)), np.int64)
        fault = np.zeros(chunks, np.int64)
        kernel(n, chunks, need, fault, *self.capacity, *gouts, *inputs, *gouts, *args)
        self._check(fault)
        for j in shared:
            passed[j][...] += args[j].sum(axis=0)
        need = need.max(axis=0)[:len(self.stacks)]
        return list(need) if need.any() else None

    def _check(self, fault):
        """Raises where a thread indexed out of range (the line it recorded)."""
        if fault.any():
            fn = self.ka.body.fn
            raise OutOfRange(f"the kernel {fn.name!r} indexes an array out of range",
                              fn.filename, int(fault.max()),
                              hint="check the kernel's index expressions against the shapes "
                              "and number of threads (shape=, launch=)")

    def gradient_positions(self):
        """The body's arguments whose gradients the backward kernel takes, in order."""
        return [k for k in self.ka.wrt if _reached(self.ka, k)]


def _reached(ka, k):
    """Whether the reverse adds into the gradient of argument k (some input gets none)."""
    from .source import _slot_of
    return _slot_of(ka.adjoint.reverse, ka.adjoint.forward.args[k]) is not None


def _slot_position(ka, k):
    """The position of argument k's gradient among those the backward kernel takes."""
    return [j for j in ka.wrt if _reached(ka, j)].index(k)


def _chunks(n):
    import numba
    return max(1, min(n, numba.get_num_threads()))


class OutOfRange(ZygopyError, IndexError):
    """A kernel's thread indexed an array out of range."""

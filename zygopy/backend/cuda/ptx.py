"""PTX of a kernel's forward and backward, compiled by numba-cuda without a GPU."""
from __future__ import annotations

import numpy as np

from ..numba_cpu.jit import load_module


def kernel_ptx(k, inputs, cc=(9, 0)) -> dict:
    """{"forward": PTX, "backward": PTX} of kernel `k` for inputs like these (host arrays will
    do: only their types matter)."""
    from numba import cuda, types

    dtype = np.result_type(*[np.dtype(x.dtype) for x in inputs if hasattr(x, "dtype")
                             and np.dtype(x.dtype).kind == "f"] or [np.float64])
    outs = [np.zeros(s, dtype) for s in k._shapes(inputs)]
    compiled = k.compiled(outs, inputs, target="cuda")
    inputs = [np.array([x]) if isinstance(x, float) else x for x in inputs]  # held in arrays
    fwd, bwd = compiled.sources()
    n, need = types.int64, types.int64[::1]  # need and fault are arrays of int64
    arrays = [_numba_type(a) for a in [*outs, *inputs]]
    grads = [_numba_type(inputs[j - 1 - len(outs)]) for j in compiled.gradient_positions()]
    out = {}
    for part, src, sig in [("forward", fwd, (n, need, *arrays)),
                           ("backward", bwd, (n, need, need, *arrays, *arrays[:len(outs)],
                                              *grads))]:
        kernel = getattr(load_module(src), f"{compiled.kname}_{part}")
        out[part] = cuda.compile_ptx(kernel.py_func, sig, cc=cc)[0]
    return out


def _numba_type(a):
    from numba import typeof
    t = typeof(a) if isinstance(a, np.ndarray) else typeof(np.asarray(a))
    return t

"""PTX of a kernel's forward and backward, compiled by numba-cuda without a GPU."""
from __future__ import annotations

import numpy as np

from ..numba_cpu.jit import load_module


def kernel_ptx(k, inputs, cc=(9, 0)) -> dict:
    """{"forward": PTX, "backward": PTX} of kernel `k` for inputs like these (host arrays will
    do: only their types matter)."""
    import numba
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
    # an array several threads add into is passed as copies of it (launch.py)
    ka = compiled.ka
    written = [_copies(t) if j + 1 in ka.shared_outputs else t
               for j, t in enumerate(arrays[:len(outs)])]
    grads = [_copies(t) if j in ka.shared_gradients else t
             for j, t in zip(compiled.gradient_positions(), grads, strict=True)]
    stacks = [numba.from_dtype(d)[:, ::1] for d in compiled.stacks]
    out = {}
    for part, src, sig in [("forward", fwd, (n, need, *written, *arrays[len(outs):])),
                           ("backward", bwd, (n, need, need, *stacks, *arrays, *arrays[:len(outs)],
                                              *grads))]:
        kernel = getattr(load_module(src), f"{compiled.kname}_{part}")
        out[part] = cuda.compile_ptx(kernel.py_func, sig, cc=cc)[0]
    return out


def _numba_type(a):
    from numba import typeof
    t = typeof(a) if isinstance(a, np.ndarray) else typeof(np.asarray(a))
    return t


def _copies(t):
    return t.copy(ndim=t.ndim + 1, layout="C")

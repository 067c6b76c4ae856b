"""The optimisers' elementwise updates as compiled loops: one pass over each array, state
updated in place, the step left in the gradient's buffer (which `update` then subtracts) or, for
a rule used alone, subtracted from the parameter in the same pass."""
import math

from numba import njit

from ..backend.numba_cpu.mathlib import CACHED

# NumPy's rules for a division by zero (inf or nan, not an exception): Python's need a check per
# element, which keeps LLVM from vectorising the loops (Adam ran 3.5x slower)
JIT = dict(cache=CACHED, nogil=True, error_model="numpy")


# Each kernel takes its scalars as one array `c` of the arrays' dtype (optimisers._constants): a
# float32 model updates in float32, as PyTorch's and JAX's do, with twice the lanes per vector
# instruction of float64 (Adam's pass over a 128x128 weight: 16.3 us in float64, 5.2 us)

@njit(**JIT)
def momentum(v, g, c):
    eta, rho = c[0], c[1]
    v, g = v.reshape(-1), g.reshape(-1)
    for i in range(g.size):
        v[i] = rho * v[i] + eta * g[i]
        g[i] = v[i]


@njit(**JIT)
def nesterov(v, g, c):
    eta, rho, one_plus_rho = c[0], c[1], c[2]
    v, g = v.reshape(-1), g.reshape(-1)
    for i in range(g.size):
        old = v[i]
        v[i] = rho * v[i] - eta * g[i]
        g[i] = -(one_plus_rho * v[i] - rho * old)


@njit(**JIT)
def rmsprop(acc, g, c):
    eta, rho, one_minus_rho, eps = c[0], c[1], c[2], c[3]
    acc, g = acc.reshape(-1), g.reshape(-1)
    for i in range(g.size):
        acc[i] = rho * acc[i] + one_minus_rho * g[i] * g[i]
        g[i] = eta * g[i] / (math.sqrt(acc[i]) + eps)


@njit(inline="always")
def _adam_step(m, v, g, i, c):
    """Element i's step, its moments updated; c = (lr, b1, 1 - b1, b2, 1 - b2, eps), where lr and
    eps carry the bias corrections (Kingma and Ba's efficient form)."""
    m[i] = c[1] * m[i] + c[2] * g[i]
    v[i] = c[3] * v[i] + c[4] * g[i] * g[i]
    return c[0] * m[i] / (math.sqrt(v[i]) + c[5])


@njit(**JIT)
def adam(m, v, g, c):
    m, v, g = m.reshape(-1), v.reshape(-1), g.reshape(-1)
    for i in range(g.size):
        g[i] = _adam_step(m, v, g, i, c)


@njit(**JIT)
def adam_apply(x, m, v, g, c):
    """adam's step subtracted from x as it is computed, g left as it is: one pass, no copy."""
    x, m, v, g = x.reshape(-1), m.reshape(-1), v.reshape(-1), g.reshape(-1)
    for i in range(g.size):
        x[i] -= _adam_step(m, v, g, i, c)

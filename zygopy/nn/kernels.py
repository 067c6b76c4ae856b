"""The optimisers' elementwise updates as compiled loops: one pass over each array, state
updated in place, the step left in the gradient's buffer (which `update` then subtracts) or, for
a rule used alone, subtracted from the parameter in the same pass."""
import math

from numba import njit

from ..backend.numba_cpu.mathlib import CACHED

# NumPy's rules for a division by zero (inf or nan, not an exception): Python's need a check per
# element, which keeps LLVM from vectorising the loops (Adam ran 3.5x slower)
JIT = dict(cache=CACHED, nogil=True, error_model="numpy")


@njit(**JIT)
def momentum(v, g, eta, rho):
    v, g = v.reshape(-1), g.reshape(-1)
    for i in range(g.size):
        v[i] = rho * v[i] + eta * g[i]
        g[i] = v[i]


@njit(**JIT)
def nesterov(v, g, eta, rho):
    v, g = v.reshape(-1), g.reshape(-1)
    for i in range(g.size):
        old = v[i]
        v[i] = rho * v[i] - eta * g[i]
        g[i] = -((1.0 + rho) * v[i] - rho * old)


@njit(**JIT)
def rmsprop(acc, g, eta, rho, eps):
    acc, g = acc.reshape(-1), g.reshape(-1)
    for i in range(g.size):
        acc[i] = rho * acc[i] + (1.0 - rho) * g[i] * g[i]
        g[i] = eta * g[i] / (math.sqrt(acc[i]) + eps)


@njit(inline="always")
def _adam_step(m, v, g, i, lr, b1, b2, eps):
    """Element i's step, its moments updated; lr and eps carry the bias corrections (Kingma and
    Ba's efficient form)."""
    m[i] = b1 * m[i] + (1.0 - b1) * g[i]
    v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i]
    return lr * m[i] / (math.sqrt(v[i]) + eps)


@njit(**JIT)
def adam(m, v, g, lr, b1, b2, eps):
    m, v, g = m.reshape(-1), v.reshape(-1), g.reshape(-1)
    for i in range(g.size):
        g[i] = _adam_step(m, v, g, i, lr, b1, b2, eps)


@njit(**JIT)
def adam_apply(x, m, v, g, lr, b1, b2, eps):
    """adam's step subtracted from x as it is computed, g left as it is: one pass, no copy."""
    x, m, v, g = x.reshape(-1), m.reshape(-1), v.reshape(-1), g.reshape(-1)
    for i in range(g.size):
        x[i] -= _adam_step(m, v, g, i, lr, b1, b2, eps)

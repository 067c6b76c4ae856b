"""Functions with array and structured results, for forward mode and Jacobians.

Plain Python + NumPy (nothing here imports zygopy): tests/test_forward_mode.py compares zygopy's
jvp and jacobian of each with central finite differences of these very functions. Each is
registered with `@case(...)` and a seeded input generator per argument (tests/corpus_arrays.py's
A, Away, F; other values are passed as they are). Inputs keep away from kinks (|x| > 0.2 where
a branch tests x > 0) so that a finite difference measures the derivative.
"""
from dataclasses import dataclass

import numpy as np

from .corpus_arrays import A, Away, Case, F

CASES = []


@dataclass
class Tuple:
    """A tuple of the values its specs draw."""
    parts: tuple

    def draw(self, rng):
        return tuple(p.draw(rng) for p in self.parts)


def case(*specs):
    def register(fn):
        CASES.append(Case(fn, specs))
        return fn
    return register


# a recurrence over a run-time number of steps, each written into the result
@case(A((4,)), 7)
def recurrence(x, n):
    out = np.empty(n)
    s = 0.0
    for i in range(n):
        s = 0.5 * s + np.sin(x[i % x.shape[0]]) * x[0]
        out[i] = s
    return out


# a branch per element, written into a copy of the argument
@case(Away((5,)))
def branch_per_element(x):
    y = x.copy()
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            y[i] = x[i] * x[i]
        else:
            y[i] = -0.5 * x[i] + np.exp(x[i])
    return y


@case(A((3, 4)), A((4,)))
def matvec_tanh(m, x):
    return m @ np.tanh(x)


@case(A((6,)))
def softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


@case(A((5,)))
def cumulative(x):
    return np.cumsum(x * x) + x[::-1]


# a structured argument: a tuple of a matrix and a vector
@case(Tuple((A((2, 3)), A((2,)))), A((3,)))
def layer(params, x):
    w, b = params
    return np.tanh(w @ x + b)


# explicit Euler steps of a damped oscillator, the state array updated in place
@case(A((2,)), F(0.5, 1.5), 25)
def euler_state(y0, k, n):
    y = y0.copy()
    dt = 0.05
    for _ in range(n):
        v = y[1]
        y[1] = y[1] - dt * (k * y[0] + 0.1 * v)
        y[0] = y[0] + dt * v
    return y


# more inputs than outputs: reverse mode rows
@case(A((4, 5)))
def row_norms(m):
    return np.sqrt(np.sum(m * m, axis=1) + 1.0)


# fewer inputs than outputs: forward mode columns
@case(A((3,)))
def outer_flat(x):
    return np.outer(np.sin(x), x).ravel()


# a while loop with a data-dependent trip count, on a vector
@case(A((3,), 0.5, 1.5))
def fixed_point(x):
    y = np.ones(3)
    k = 0
    while k < 100 and np.max(np.abs(y - np.cos(y) * x)) > 1e-13:
        y = np.cos(y) * x
        k += 1
    return y * y


# fewer inputs than outputs (forward mode columns), writing into its argument: each column's
# sweep starts from the argument as it was
@case(A((3,)))
def scaled_in_place(x):
    x *= 2.0
    return np.outer(np.sin(x), x).ravel()

"""Found by the gradient fuzzer (seed 92, program 307): the evaluator gave a float argument the
gradient np.int64(0) where no contribution reached it (its slot's int 0 times a NumPy bool), and
the int 0 where nothing multiplied it; compiled code gives 0.0. The evaluator also answers a
gradient's first calls while Numba compiles, so users saw it. Every path now gives a float,
checked against the analytic gradient: x0 only counts where w[1] <= 0 and w[0] >= 0.5."""
import numpy as np
import pytest

import zygopy
from zygopy.ir.evaluate import evaluate_gradient


def f(x0, w):
    v1 = (w[0] >= 0.5) * x0  # a NumPy bool times x0
    if w[1] > 0.0:
        v1 = w[1]  # the product above reaches nothing
    return v1


@pytest.mark.parametrize("w, expected", [(np.array([0.7, 1.0]), 0.0),
                                         (np.array([0.7, -1.0]), 1.0),
                                         (np.array([0.2, -1.0]), 0.0)])
def test_a_float_arguments_gradient_is_a_float(w, expected):
    _, evaluated = evaluate_gradient(zygopy.code_adjoint(f, 0.3, w), [0.3, w.copy()])
    compiled = zygopy.gradient(f, 0.3, w.copy())
    for g in (evaluated[0], compiled[0]):
        assert isinstance(g, float) and g == expected, (g, type(g))  # np.float64 is one

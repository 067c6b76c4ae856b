"""Divisions of derivative code by one number share its reciprocal (ir/passes/reciprocals.py); the
primal's divisions stay divisions, so values are Python's to the bit.

Gradients are compared with their analytic form at rtol 1e-14 (x * (1 / b) and x / b differ by an
ulp or two), and, through loops, with central differences in float64 (h = 1e-6: truncation
~1e-12, rounding ~1e-10 for these O(1) functions, so rtol 1e-6 leaves a margin of ~1000).
"""
import math

import numpy as np

import zygopy

from .nn_support import finite_differences


def ratio(a, b):
    z = a / b
    return z * z + math.sin(a / b)


def mixture_like(x, mu, log_sigma):
    total = 0.0
    for j in range(x.shape[0]):
        for k in range(mu.shape[0]):
            z = (x[j] - mu[k]) / math.exp(log_sigma[k])
            total += math.exp(-0.5 * z * z) / math.exp(log_sigma[k])
    return total


def test_the_reverse_divides_once_and_the_primal_as_written():
    a, b = 0.7, 1.3
    forward, reverse = str(zygopy.code_adjoint(ratio, a, b)).split("reverse:")
    assert forward.count(" / ") == 1, forward  # a / b, computed once for both uses
    assert reverse.count(" / ") == 1 and "= 1.0 / " in reverse, reverse
    value, (ga, gb) = zygopy.withgradient(ratio, a, b)
    assert value == ratio(a, b)
    z = a / b
    outer = 2 * z + math.cos(z)
    np.testing.assert_allclose([ga, gb], [outer / b, -outer * z / b], rtol=1e-14)


def test_gradients_through_loops_that_divide():
    rng = np.random.default_rng(5)
    args = [rng.standard_normal(6), rng.standard_normal(3), rng.normal(0, 0.3, 3)]
    reverse = str(zygopy.code_adjoint(mixture_like, *args, wrt=(1, 2))).split("reverse:")[1]
    assert "= 1.0 / " in reverse, reverse
    value, grads = zygopy.withgradient(mixture_like, *args)
    assert value == mixture_like(*args)
    for k in range(3):
        fd = finite_differences(mixture_like, args, k)[""]
        np.testing.assert_allclose(grads[k], fd, rtol=1e-6, atol=1e-9)

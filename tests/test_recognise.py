"""The sigmoid written out, 1 / (1 + exp(-x)) of a float array, is the sigmoid primitive
(ir/passes/recognise.py): the pullback keeps its result alone, and neither its value nor its
gradient overflows.

Values are compared with NumPy's formula at rtol 1e-14 (the primitive and the formula round
differently by a few ulps); gradients with central differences in float64 (h = 1e-6: truncation
~1e-12, rounding ~1e-10 for these O(1) functions, so rtol 1e-6 leaves a margin of ~1000) and, far
out, with the analytic y (1 - y).
"""
import math

import numpy as np
import pytest

import zygopy

from .nn_support import finite_differences

rng = np.random.default_rng(3)


def written_out(x, w):
    return np.sum(w * (1.0 / (1.0 + np.exp(-x))) + 1 / (np.exp(-(2.0 * x)) + 1))


def exp_used_again(x):
    e = np.exp(-x)
    return np.sum(1.0 / (1.0 + e) + e)


def not_one(x):
    return np.sum(2.0 / (1.0 + np.exp(-x)))


def no_negation(x):
    return np.sum(1.0 / (1.0 + np.exp(x)))


def of_a_number(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_the_sigmoid_written_out_is_the_primitive():
    x, w = rng.standard_normal(7), rng.standard_normal(7)
    ir = str(zygopy.code_ir(written_out, x, w))
    assert ir.count("sigmoid(") == 2 and "exp(" not in ir, ir
    forward = str(zygopy.code_adjoint(written_out, x, w, wrt=0)).split("reverse:")[0]
    assert "exp(" not in forward, forward
    value, (gx, gw) = zygopy.withgradient(written_out, x, w)
    np.testing.assert_allclose(value, written_out(x, w), rtol=1e-14)
    for k, got in ((0, gx), (1, gw)):
        fd = finite_differences(written_out, [x, w], k)[""]
        np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)


def stable_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def test_far_out_neither_value_nor_gradient_overflows():
    """exp(800) is inf: the formula's value is still right (1 / inf = 0) but its derivative,
    inf / inf, is not. The primitive's are 0 and 1, and y (1 - y)."""
    x, w = np.array([-800.0, -40.0, 0.0, 40.0, 800.0]), np.ones(5)
    with np.errstate(over="ignore"):
        expected = written_out(x, w)
    value, (gx, _) = zygopy.withgradient(written_out, x, w)
    np.testing.assert_allclose(value, expected, rtol=1e-14)
    y, y2 = stable_sigmoid(x), stable_sigmoid(2 * x)
    assert np.all(np.isfinite(gx))
    np.testing.assert_allclose(gx, y * (1 - y) + 2 * y2 * (1 - y2), rtol=1e-12, atol=1e-15)


def test_float32_stays_float32():
    x, w = rng.standard_normal(9).astype(np.float32), rng.standard_normal(9).astype(np.float32)
    value, (gx, gw) = zygopy.withgradient(written_out, x, w)
    assert gx.dtype == gw.dtype == np.float32
    np.testing.assert_allclose(value, written_out(x, w), rtol=1e-5)


@pytest.mark.parametrize("f", [exp_used_again, not_one, no_negation])
def test_other_forms_are_left_as_written(f):
    """An exp read elsewhere too is computed anyway (the sigmoid would not save it); a numerator
    other than 1 or no negation is not a sigmoid."""
    x = rng.standard_normal(6)
    assert "exp(" in str(zygopy.code_ir(f, x)) and "sigmoid" not in str(zygopy.code_ir(f, x))
    got = zygopy.gradient(f, x)[0]
    np.testing.assert_allclose(got, finite_differences(f, [x], 0)[""], rtol=1e-6, atol=1e-8)


def test_a_number_keeps_the_formula():
    """On numbers math.exp raises OverflowError where the primitive would not: left as written."""
    ir = str(zygopy.code_ir(of_a_number, 0.3))
    assert "exp(" in ir and "sigmoid" not in ir, ir
    y = of_a_number(0.3)
    assert zygopy.gradient(of_a_number, 0.3)[0] == pytest.approx(y * (1 - y), rel=1e-12)

"""The softmax written out, e / sum(e, axis, keepdims=True) with e = exp(x - max(x, axis,
keepdims=True)), is the softmax primitive, and m + log(sum(exp(x - m), axis)) with that maximum m
the logsumexp primitive, the log-softmax x - logsumexp(x) (ir/passes/recognise.py): the reverse
pass reads their results (and logsumexp's operand), and sends nothing through the maximum.

Values are compared with NumPy's formula at rtol 1e-13 (zygopy's exp and NumPy's round
differently by an ulp, and the sum adds up in another order); gradients, tangents and
Hessian-vector products with central differences in float64 (h = 1e-6: truncation ~1e-12,
rounding ~1e-10 for these O(1) functions, so rtol 1e-6 leaves a margin of ~1000).
"""
import numpy as np
import pytest

import zygopy
from zygopy.ir.evaluate import evaluate_gradient

from .nn_support import finite_differences

rng = np.random.default_rng(5)


def rows(x, w):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return np.sum(w * (e / np.sum(e, axis=1, keepdims=True)))


def columns(x, w):
    e = np.exp(x - np.max(x, axis=0, keepdims=True))
    return np.sum(w * (e / np.sum(e, axis=0, keepdims=True)))


def last_of_three(x, w):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.sum(w * (e / e.sum(axis=-1, keepdims=True)))


def middle_of_three(x, w):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return np.sum(w * np.log(e / np.sum(e, axis=1, keepdims=True)))


def exp_used_again(x, w):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return np.sum(w * (e / np.sum(e, axis=1, keepdims=True))) + np.sum(e)


def axes_differ(x, w):
    e = np.exp(x - np.max(x, axis=0, keepdims=True))
    return np.sum(w * (e / np.sum(e, axis=1, keepdims=True)))


def nn_softmax(x, w):
    return np.sum(w * zygopy.nn.softmax(x, axis=-1))


def long_rows(x, w):  # rows of 40: the kernel runs along them (shorter ones are transposed)
    return rows(x, w)


def logsumexp_kept(x, w):
    m = np.max(x, axis=1, keepdims=True)
    return np.sum(w[:, :1] * (m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))))


def logsumexp_squeezed(x, w):
    """As in a softmax cross-entropy: the maximum added back as m[:, 0]."""
    m = np.max(x, axis=1, keepdims=True)
    return np.sum(w[:, 0] * (np.log(np.sum(np.exp(x - m), axis=1)) + m[:, 0]))


def logsumexp_of_columns(x, w):
    m = np.max(x, axis=0, keepdims=True)
    return np.sum(w[0] * (np.log(np.sum(np.exp(x - m), axis=0)) + m[0, :]))


def nn_logsoftmax(x, w):
    return np.sum(w * zygopy.nn.logsoftmax(x, axis=-1))


def logsoftmax_of_three(x, w):
    s = x - np.max(x, axis=1, keepdims=True)
    return np.sum(w * (s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))))


SHAPES = {rows: (5, 7), columns: (5, 7), last_of_three: (2, 3, 6), middle_of_three: (2, 5, 3),
          nn_softmax: (4, 9), long_rows: (3, 40), logsumexp_kept: (5, 7),
          logsumexp_squeezed: (6, 10), logsumexp_of_columns: (4, 6), nn_logsoftmax: (5, 40),
          logsoftmax_of_three: (2, 5, 3)}
PRIMITIVE = {f: "logsumexp" if "log" in f.__name__ else "softmax" for f in SHAPES}


def args_for(f):
    shape = SHAPES.get(f, (4, 6))
    return [3.0 * rng.standard_normal(shape), rng.standard_normal(shape)]


@pytest.mark.parametrize("f", list(SHAPES))
def test_the_formula_written_out_is_the_primitive(f):
    x, w = args_for(f)
    ir = str(zygopy.code_ir(f, x, w))
    assert f"{PRIMITIVE[f]}(" in ir and "= exp(" not in ir and "amax(" not in ir, ir
    value, (gx, gw) = zygopy.withgradient(f, x, w)
    np.testing.assert_allclose(value, f(x, w), rtol=1e-13)
    for k, got in ((0, gx), (1, gw)):
        fd = finite_differences(f, [x, w], k)[""]
        np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)
    evaluated = evaluate_gradient(zygopy.code_adjoint(f, x, w), [x, w])[1]
    np.testing.assert_allclose(evaluated[0], gx, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("f", [rows, middle_of_three, logsumexp_squeezed, logsoftmax_of_three])
def test_tangents_and_hessian_vector_products(f):
    """Forward mode (the tangent rule) and reverse over forward (hvp) through the primitive."""
    x, w = args_for(f)
    v = rng.standard_normal(x.shape)
    _, tangent = zygopy.jvp(f, (x, w), (v, None))
    h = 1e-6
    expected = (f(x + h * v, w) - f(x - h * v, w)) / (2 * h)
    assert tangent == pytest.approx(expected, rel=1e-6, abs=1e-8)
    hv = zygopy.hvp(f, x, v, w)
    grad = lambda y: zygopy.gradient(f, y, w)[0]  # noqa: E731
    np.testing.assert_allclose(hv, (grad(x + h * v) - grad(x - h * v)) / (2 * h),
                               rtol=1e-5, atol=1e-7)


def test_large_inputs_stay_finite():
    """Values of 800 would overflow exp; less their maximum they do not."""
    x, w = np.array([[800.0, 799.0, -800.0], [0.0, 1.0, 2.0]]), rng.standard_normal((2, 3))
    value, (gx, _) = zygopy.withgradient(rows, x, w)
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(value, np.sum(w * p), rtol=1e-13)
    np.testing.assert_allclose(gx, p * (w - np.sum(w * p, axis=1, keepdims=True)), rtol=1e-12,
                               atol=1e-300)


def test_rows_with_nan_and_infinities_as_numpy():
    """The kernels' greatest element per row ignores a NaN (llvm.maxnum, several at once); the
    NaN's exp makes its row NaN all the same, as NumPy's formula does. Rows long enough for the
    kernel's row loops (64), with a NaN, an infinity and minus infinities, and large values."""
    from zygopy.backend.numba_cpu.runtime import zy_logsumexp_middle, zy_softmax_middle
    x = rng.standard_normal((5, 64))
    x[0, 7] = np.nan
    x[1, 63] = np.inf
    x[2, :60] = -np.inf
    x[3] = np.linspace(700.0, 800.0, 64)
    x[4, 0] = np.nan
    with np.errstate(invalid="ignore"):
        m = np.max(x, axis=1, keepdims=True)
        e = np.exp(x - m)
        softmax, lse = e / np.sum(e, axis=1, keepdims=True), np.log(np.sum(e, axis=1)) + m[:, 0]
    x3 = x.reshape((5, 64, 1))
    np.testing.assert_allclose(zy_softmax_middle(x3).reshape(x.shape), softmax, rtol=1e-13)
    np.testing.assert_allclose(zy_logsumexp_middle(x3).reshape(5), lse, rtol=1e-13)


@pytest.mark.parametrize("f", [rows, long_rows, logsumexp_squeezed, nn_logsoftmax])
def test_float32_stays_float32(f):
    x, w = (a.astype(np.float32) for a in args_for(f))
    value, (gx, gw) = zygopy.withgradient(f, x, w)
    assert gx.dtype == gw.dtype == np.float32
    np.testing.assert_allclose(value, f(x.astype(np.float64), w.astype(np.float64)), rtol=1e-5)


@pytest.mark.parametrize("f", [exp_used_again, axes_differ])
def test_other_forms_are_left_as_written(f):
    """An exp read elsewhere too is computed anyway; a maximum and a sum along different axes
    are not a softmax."""
    x, w = args_for(f)
    ir = str(zygopy.code_ir(f, x, w))
    assert "= exp(" in ir and "softmax" not in ir and "logsumexp" not in ir, ir
    got = zygopy.gradient(f, x, w)[0]
    np.testing.assert_allclose(got, finite_differences(f, [x, w], 0)[""], rtol=1e-6, atol=1e-8)


def scaled_rows(x, w):
    """Attention's softmax(Q K^T / sqrt(d)): the kernel divides each element as it reads it."""
    return np.sum(w * nn_softmax_of(x / np.sqrt(x.shape[1]), 1))


def scaled_columns(x, w):  # along the columns of a (40, 3) array: the kernel's third loop
    return np.sum(w * nn_softmax_of(x / 2.5, 0))


def quotient_read_again(x, w):
    s = x / 2.0
    return np.sum(w * nn_softmax_of(s, 1)) + np.sum(s * s)


def nn_softmax_of(x, axis):
    return zygopy.nn.softmax(x, axis=axis)


@pytest.mark.parametrize("f, shape", [(scaled_rows, (6, 40)), (scaled_rows, (6, 5)),
                                      (scaled_columns, (40, 3)), (quotient_read_again, (5, 7))])
def test_softmax_of_a_quotient(f, shape):
    """softmax(x / c): the quotient array is made only where something else reads it; rows long
    and short (transposed), and columns; values as NumPy's formula gives them (rtol 1e-13, as
    above), gradients against central differences (rtol 1e-6, as above)."""
    x, w = 3.0 * rng.standard_normal(shape), rng.standard_normal(shape)
    value, (gx, gw) = zygopy.withgradient(f, x, w)
    np.testing.assert_allclose(value, f(x, w), rtol=1e-13)
    np.testing.assert_allclose(gx, finite_differences(f, [x, w], 0)[""], rtol=1e-6, atol=1e-8)
    made = " / " in zygopy.code_python(f, x, w).split("_forward(")[1].split("_pullback(")[0]
    assert made == (f is quotient_read_again)

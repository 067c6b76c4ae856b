"""A matrix times a vector runs in loops of zygopy's own (runtime.zy_dot): on either side, on
a matrix of rows or of columns (a transpose), in float64 and float32; the reverse of `X @ w` is
`X.T @ g`. A transposed matrix times a matrix of few columns over a long inner dimension (a
weight's gradient) is computed as the transpose of the product the other way round. Values
against NumPy's np.dot, gradients against central differences.

Central differences in float64, h = 1e-6 max(1, |x|) (tests/nn_support.py): the functions are
smooth and O(1)-O(10) at the points drawn, so truncation and rounding stay below 1e-8, while a
product taken along the wrong axis is off by O(1)."""
import numpy as np
import pytest
from numba import njit

import zygopy
from tests.nn_support import finite_differences
from zygopy.backend.numba_cpu.runtime import FEW_COLUMNS, LONG_INNER, zy_dot


def logistic_loss(X, w, v):
    z = X @ w
    return np.sum(np.log1p(np.exp(-np.abs(z)))) + np.sum(np.tanh(v @ X))


@njit
def _dot(a, b):
    return zy_dot(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_products_on_either_side_of_rows_and_columns(dtype):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(37, 11)).astype(dtype)
    x, y = rng.normal(size=11).astype(dtype), rng.normal(size=37).astype(dtype)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for a, b in [(X, x), (y, X), (X.T, y), (x, X.T), (np.asfortranarray(X), x)]:
        got = _dot(a, b)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, np.dot(a, b), rtol=rtol, atol=rtol)
    with pytest.raises(ValueError, match="incompatible array sizes"):
        _dot(X, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("inner, columns", [(300, 3), (LONG_INNER, 3), (5000, FEW_COLUMNS),
                                            (5000, FEW_COLUMNS + 1)])
def test_a_transposed_matrix_times_a_matrix(dtype, inner, columns):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(inner, 7)).astype(dtype)
    G = rng.normal(size=(inner, columns)).astype(dtype)
    got = _dot(X.T, G)
    assert got.dtype == dtype and got.flags.c_contiguous
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(got, X.T @ G, rtol=rtol, atol=rtol * np.sqrt(inner))
    with pytest.raises(ValueError, match="incompatible array sizes|shapes"):
        _dot(X.T, G[1:])


@pytest.mark.parametrize("transposed", [False, True])
def test_gradient_of_products_with_a_vector(transposed):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(9, 4))
    X = np.ascontiguousarray(X.T).T if transposed else X  # columns contiguous
    args = [X, rng.normal(size=4), rng.normal(size=9)]
    value, grads = zygopy.withgradient(logistic_loss, *args)
    assert value == pytest.approx(logistic_loss(*args), rel=1e-12)
    for k, g in enumerate(grads):
        np.testing.assert_allclose(g, finite_differences(logistic_loss, args, k)[""],
                                   rtol=1e-6, atol=1e-8)


def test_sizes_that_do_not_match_are_reported_at_the_product():
    for _ in range(2):  # interpreted while compiling, then compiled
        with pytest.raises(zygopy.ZygopyError, match="ValueError") as e:
            zygopy.gradient(logistic_loss, np.ones((3, 4)), np.ones(5), np.ones(3))
        assert "z = X @ w" in str(e.value)

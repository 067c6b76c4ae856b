"""What compiled code is specialised on: dtypes, ranks, structure and which dimensions are 1;
never on sizes, nor on shapes that happen to be equal. Gradients are checked against analytic
derivatives (these functions are polynomials, so the derivatives are exact up to rounding)."""
import numpy as np
import pytest

import zygopy
from zygopy.api import compiled


def mse(W, b, x, y):
    return np.mean((x @ W + b - y) ** 2)


def mse_grads(W, b, x, y):
    r = 2.0 * (x @ W + b - y) / y.size
    return x.T @ r, r.sum(axis=0)


def weighted(a, b):
    return np.sum(a * b * a)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_a_smaller_last_batch_compiles_nothing(rng):
    # labels of shape (10, 10) match the weight matrix's shape at batch 10, and not at batch 7
    W, b = rng.normal(size=(10, 10)), rng.normal(size=10)
    for batch in (10, 7, 13):
        x, y = rng.normal(size=(batch, 10)), rng.normal(size=(batch, 10))
        assert compiled(mse, (W, b, x, y)) is compiled(mse, (W, b, rng.normal(size=(10, 10)),
                                                             rng.normal(size=(10, 10))))
        got = zygopy.gradient(mse, W, b, x, y)
        for g, want in zip(got, mse_grads(W, b, x, y), strict=False):
            np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shape_b", [(3, 4), (1, 4), (3, 1), (4,), (1, 1)])
def test_broadcasting_follows_the_dimensions_that_are_1(shape_b, rng):
    a = rng.normal(size=(3, 4))
    b = rng.normal(size=shape_b)
    ga, gb = zygopy.gradient(weighted, a, b)
    np.testing.assert_allclose(ga, 2.0 * a * b, rtol=1e-12)
    full = np.broadcast_to(a * a, np.broadcast_shapes(a.shape, b.shape))
    axes = tuple(range(full.ndim - b.ndim)) + tuple(
        full.ndim - b.ndim + k for k, n in enumerate(b.shape) if n == 1)
    np.testing.assert_allclose(gb, full.sum(axis=axes).reshape(b.shape), rtol=1e-12)


def test_equal_shapes_in_one_call_unequal_in_the_next(rng):
    # compiled where both are (3, 4): the same code, used for (3, 4) against (5, 4), must refuse
    # them with a zygopy error as NumPy does, not return a gradient of the wrong shape
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    zygopy.gradient(weighted, a, b)
    with pytest.raises(zygopy.ZygopyError):
        zygopy.gradient(weighted, a, rng.normal(size=(5, 4)))

"""Two gradients were one array: for np.sum(x + y) the pullback returned the same spread seed as
the gradient of x and of y, so scaling one in place (g *= lr) changed the other. Each gradient is
now an array of its own, on the compiled paths and in the evaluator; the values are the analytic
ones (all ones)."""
import numpy as np
import pytest

import zygopy
from zygopy.ir.evaluate import evaluate_gradient


def total(x, y):
    return np.sum(x + y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradients_do_not_share_memory(dtype):
    x, y = np.arange(3, dtype=dtype), np.ones(3, dtype)
    _, back = zygopy.pullback(total, x, y)
    runs = [zygopy.gradient(total, x, y), back(1.0),
            evaluate_gradient(zygopy.code_adjoint(total, x, y), [x, y])[1]]
    for gx, gy in runs:
        assert not np.shares_memory(gx, gy)
        gx *= 3.0
        np.testing.assert_array_equal(gy, np.ones(3))

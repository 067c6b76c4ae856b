"""The pullback's seed-linear elementwise start computed in the forward with a unit seed
(zygopy/adjoint/preaccumulate.py): where it is done and where it is not, and gradients that match
central differences on the compiled paths and in the evaluator either way.

Central differences in float64 with h = 1e-6 max(1, |x|) (tests/nn_support.py): for these O(1)
functions of a few elements truncation and rounding stay below 1e-9, so rtol 1e-6, atol 1e-8,
while a partial taken with the wrong seed or a dropped term is off by O(1).
"""
import numpy as np
import pytest

import zygopy
from zygopy.ir.evaluate import evaluate_gradient

from .nn_support import finite_differences

rng = np.random.default_rng(11)


def smooth(a, b):
    """exp and tanh: their partials are cheaper to store than to rebuild in the pullback."""
    return np.sum(np.exp(a) * b + np.tanh(a * b))


def mse(x, w, y):
    """The pullback only scales the seed: nothing worth moving."""
    return np.mean((x @ w - y) ** 2)


def after_a_loop(a, n):
    """The sum's operands are a loop's results, not the forward entry's values."""
    for _ in range(n):
        a = np.sin(a) + 0.5 * a
    return np.sum(np.exp(a) * a)


def broadcast(a, b):
    """Partials of a matrix, reduced to a's and b's shapes by the pullback."""
    return np.sum(np.log1p(np.exp(a[:, None] * b)))


def mean_of(a, b):
    """A mean's seed: divided by the count before it is spread."""
    return np.mean(np.cos(a) * np.exp(b))


CASES = {
    smooth: (rng.standard_normal(6), rng.standard_normal(6)),
    mse: (rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(5)),
    after_a_loop: (rng.standard_normal(4), 3),
    broadcast: (rng.standard_normal(3), rng.standard_normal(4)),
    mean_of: (rng.standard_normal(5), rng.standard_normal(5)),
}
MOVED = {smooth, mean_of}  # where the forward computes the partials (mse: one input, two partials)


def floats(args):
    return [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]


def copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_where_it_is_done(f):
    adj = zygopy.code_adjoint(f, *CASES[f], wrt=floats(CASES[f]))
    unit_seed = any(st.op == "astype" and st.args[0] == 1.0
                    for b in adj.forward.blocks for st in b.stmts)
    assert unit_seed == (f in MOVED), adj


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_gradients(f):
    args, wrt = CASES[f], floats(CASES[f])
    grads = zygopy.gradient(f, *copies(args), wrt=wrt)
    _, back = zygopy.pullback(f, *copies(args), wrt=wrt)
    scaled = back(-1.5)
    adj = zygopy.code_adjoint(f, *args, wrt=wrt)
    _, evaluated = evaluate_gradient(adj, copies(args))
    for k, e in zip(wrt, evaluated, strict=True):  # the API's: one per argument
        g, s, fd = grads[k], scaled[k], finite_differences(f, copies(args), k)[""]
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(e, fd, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(s, -1.5 * g, rtol=1e-13, atol=1e-15)


def test_float32():
    """The unit seed has the loss's dtype: float32 partials, within float32 rounding of the
    float64 gradient."""
    a, b = CASES[smooth]
    g32 = zygopy.gradient(smooth, a.astype(np.float32), b.astype(np.float32))
    g64 = zygopy.gradient(smooth, a, b)
    for x, y in zip(g32, g64, strict=True):
        assert x.dtype == np.float32
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)

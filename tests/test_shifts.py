"""The shift of a log-sum-exp gets no gradient (adjoint/shifts.py): where the sum qualifies, the
loop that found the largest term records nothing and is not reversed; where it does not (the
shift changes between terms, the sum starts elsewhere than 0, a term or the log is read
elsewhere), the shift keeps its gradient. Every case checked against central differences on the
evaluator and the compiled code."""
import math

import numpy as np
import pytest

import zygopy

from .regressions.reference import check_gradients

PATHS = ["eval", "fused", "split"]
rng = np.random.default_rng(11)


def mixture(x, mu, logits):
    """A mixture's log-likelihood written for stability: a log-sum-exp per point, and one over the
    weights, each shifted by its largest term."""
    top = -math.inf
    for k in range(logits.shape[0]):
        top = max(top, logits[k])
    norm = 0.0
    for k in range(logits.shape[0]):
        norm += math.exp(logits[k] - top)
    log_norm = top + math.log(norm)
    total = 0.0
    for j in range(x.shape[0]):
        best = -math.inf
        for k in range(mu.shape[0]):
            best = max(best, logits[k] - 0.5 * (x[j] - mu[k]) ** 2)
        s = 0.0
        for k in range(mu.shape[0]):
            s += math.exp(logits[k] - 0.5 * (x[j] - mu[k]) ** 2 - best)
        total += best + math.log(s) - log_norm
    return total


def pair(a, b):
    """Straight-line: the shift is the larger of two terms."""
    m = max(a, b)
    return math.log(math.exp(a - m) + math.exp(b - m)) + m


def shift_per_term(x):
    """The shift changes from term to term: exp(x[k] - x[k]) = 1, so the result is x[-1] +
    log(n), whose gradient is all in the last element, through the shift alone."""
    m = 0.0
    s = 0.0
    for k in range(x.shape[0]):
        m = x[k]
        s += math.exp(x[k] - m)
    return m + math.log(s)


def carried_across(x):
    """One sum over the rows, each row's terms shifted by its own first element: the shift that
    the last line reads is the last row's."""
    s = 0.0
    j = 0
    while True:
        m = x[j, 0]
        for k in range(x.shape[1]):
            s += math.exp(x[j, k] - m)
        j += 1
        if j == x.shape[0]:
            break
    return m + math.log(s)


def starts_at_one(x):
    """m + log(1 + sum(exp(x - m))) depends on m."""
    m = np.max(x)
    s = 1.0
    for k in range(x.shape[0]):
        s += math.exp(x[k] - m)
    return m + math.log(s)


def term_read_twice(x):
    m = np.max(x)
    s = 0.0
    w = 0.0
    for k in range(x.shape[0]):
        e = math.exp(x[k] - m)
        s += e
        w += e * k
    return m + math.log(s) + w


def log_read_twice(x):
    m = np.max(x)
    s = 0.0
    for k in range(x.shape[0]):
        s += math.exp(x[k] - m)
    lg = math.log(s)
    return (m + lg) * lg


def tape(f, *args):
    return str(zygopy.code_adjoint(f, *args)).split("forward:")[0]


X, MU, LOGITS = rng.normal(size=7), rng.normal(size=3), rng.normal(size=3)


@pytest.mark.parametrize("path", PATHS)
def test_mixture(path):
    # the loops finding the largest terms (lines of `max`) record nothing: only the two sums and
    # the loop over the points do
    assert tape(mixture, X, MU, LOGITS).count("per trip") == 3
    check_gradients(mixture, (X, MU, LOGITS), path, wrt=(0, 1, 2))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("a, b", [(0.3, -1.2), (-2.0, 0.7)])
def test_pair(path, a, b):
    check_gradients(pair, (a, b), path, wrt=(0, 1))
    # d/da log(e^a + e^b) = e^a / (e^a + e^b), with no share through the max
    g = zygopy.gradient(pair, a, b)
    assert g[0] == pytest.approx(1 / (1 + math.exp(b - a)), rel=1e-14)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("f", [shift_per_term, starts_at_one, term_read_twice, log_read_twice])
def test_shift_keeps_its_gradient_where_the_sum_does_not_cancel_it(path, f):
    check_gradients(f, (rng.normal(size=5),), path, wrt=(0,))


@pytest.mark.parametrize("path", PATHS)
def test_sum_carried_across_shifts(path):
    check_gradients(carried_across, (rng.normal(size=(3, 4)),), path, wrt=(0,))


def test_shift_per_term_gradient_goes_through_the_shift():
    x = rng.normal(size=4)
    assert np.array_equal(zygopy.gradient(shift_per_term, x)[0], [0, 0, 0, 1.0])


def mixture_of_mu(mu, x, logits):
    return mixture(x, mu, logits)


def test_hessian_vector_product():
    """Forward mode over the gradient: the gradient does not depend on the shift either, so its
    tangent through the shift, cut too, was zero. Against central differences of the gradient
    (h = 1e-5: truncation ~1e-10, rounding ~1e-11 for these O(1) values)."""
    v = rng.normal(size=MU.shape)
    hv = zygopy.hvp(mixture_of_mu, MU, v, X, LOGITS)
    grad = lambda mu: zygopy.gradient(mixture_of_mu, mu, X, LOGITS)[0]  # noqa: E731
    h = 1e-5
    np.testing.assert_allclose(hv, (grad(MU + h * v) - grad(MU - h * v)) / (2 * h), rtol=1e-6,
                               atol=1e-8)

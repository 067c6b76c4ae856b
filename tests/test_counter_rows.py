"""A costly value an inner loop computes from its counter alone is computed once for every value
of the counter, before the outer loop (ir/passes/invariants.py): the IR shows the array, the
compiled primal and gradient agree with plain Python and with central differences, and what the
pass must not move stays where it was.

Central differences in float64, h = 1e-6 max(1, |x|) (tests/nn_support.py): these functions are
smooth at the points drawn and O(1)-O(100) in size, so truncation and rounding stay below 1e-8
relative, while a wrong gradient is off by O(1)."""
import math

import numpy as np
import pytest

import zygopy
from tests.nn_support import finite_differences
from zygopy.backend import tiered


def mixture_like(x, mu, log_sigma):
    total = 0.0
    for j in range(x.shape[0]):
        for k in range(mu.shape[0]):
            z = (x[j] - mu[k]) / math.exp(log_sigma[k])
            total += math.log(1.0 + z * z) + 0.5 * log_sigma[k]
    return total


def by_len(x, w):
    """The inner bound computed in the outer loop, as len()."""
    total = 0.0
    for j in range(len(x)):
        for k in range(len(w)):
            total += math.sin(x[j] * math.log(2.0 + w[k] ** 2))
    return total


def written_in_the_loop(x, w):
    total = 0.0
    for j in range(x.shape[0]):
        for k in range(w.shape[0]):
            total += x[j] * math.exp(w[k])
        w[0] = w[0] * 0.5  # the outer loop changes w: exp(w[k]) is not fixed in it
    return total


def counter_from_one(x, w):
    total = 0.0
    for j in range(x.shape[0]):
        for k in range(1, w.shape[0]):
            total += x[j] / math.exp(w[k])
    return total


def past_the_end(x, w, m):
    total = 0.0
    for j in range(x.shape[0]):
        for k in range(m):
            total += x[j] * math.exp(w[k])
    return total


def _args(seed=0, n=6, m=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), rng.normal(size=m), rng.normal(scale=0.3, size=m)


def _array_exps(fn, *args) -> list:
    """The IR lines taking exp of an array."""
    return [line for line in str(zygopy.code_ir(fn, *args)).splitlines()
            if "exp(" in line and ":: array(float64, 1d)" in line]


def test_the_exponential_is_computed_once_per_counter_value():
    assert len(_array_exps(mixture_like, *_args())) == 1
    assert "log(" in str(zygopy.code_ir(by_len, *_args()[:2])).split("br 2")[0]  # the entry's
    for fn in (written_in_the_loop, counter_from_one):
        assert _array_exps(fn, *_args()[:2]) == [], fn.__name__


def test_the_gradient_records_no_value_computed_from_the_counter_rows():
    """z = (x[j] - mu[k]) / exps[k] reads elements of arrays nothing writes (exps is computed
    once, before the loops): the reverse computes it again rather than the forward recording it
    per trip, and the loop records no number at all."""
    source = zygopy.code_python(mixture_like, *_args(), wrt=(1, 2))
    forward = source[source.index("def mixture_like_value_and_gradient"):]
    forward = forward[:forward.index("    value = ")]
    assert "zy_put(stack_float64" not in forward, forward


@pytest.mark.parametrize("interpret", [False, True])
def test_values_and_gradients_are_the_plain_functions(monkeypatch, interpret):
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
    args = list(_args())
    value, grads = zygopy.withgradient(mixture_like, *args)
    assert value == pytest.approx(mixture_like(*args), rel=1e-12)
    for k, g in enumerate(grads):
        np.testing.assert_allclose(g, finite_differences(mixture_like, args, k)[""],
                                   rtol=1e-6, atol=1e-8)
    for fn in (by_len, written_in_the_loop, counter_from_one):
        x, w = _args(1)[:2]
        value, grads = zygopy.withgradient(fn, x, w)
        assert value == pytest.approx(fn(x, w.copy()), rel=1e-12)
        for k, g in enumerate(grads):
            fd = finite_differences(lambda a, b, f=fn: f(a, b.copy()), [x, w], k)[""]
            np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_loops_that_do_not_run_and_a_counter_past_the_end():
    x, w, _ = _args()
    empty = np.zeros(0)
    assert zygopy.withgradient(past_the_end, empty, w, 10)[0] == 0.0
    assert zygopy.gradient(mixture_like, empty, w, w)[1].tolist() == [0.0] * 3
    with pytest.raises(IndexError):
        past_the_end(x, w, 4)
    with pytest.raises(zygopy.ZygopyError, match="IndexError"):
        zygopy.gradient(past_the_end, x, w, 4)


def mixture_by_sigma(log_sigma, x, mu):
    return mixture_like(x, mu, log_sigma)


def test_forward_mode_and_second_derivatives_through_the_moved_values():
    """jvp against a central difference of f, the Hessian against central differences of the
    gradient (h = 1e-6: truncation ~1e-11 and rounding ~1e-9 on entries of about 5)."""
    x, mu, log_sigma = _args()
    d = np.array([0.3, -1.2, 0.7])
    h = 1e-6
    _, tangent = zygopy.jvp(mixture_like, (x, mu, log_sigma),
                            (np.zeros_like(x), np.zeros_like(mu), d))
    fd = (mixture_like(x, mu, log_sigma + h * d) - mixture_like(x, mu, log_sigma - h * d)) / (2 * h)
    assert tangent == pytest.approx(fd, rel=1e-7)
    hessian = zygopy.hessian(mixture_by_sigma, log_sigma, x, mu)
    rows = [(zygopy.gradient(mixture_by_sigma, log_sigma + h * e, x, mu)[0]
             - zygopy.gradient(mixture_by_sigma, log_sigma - h * e, x, mu)[0]) / (2 * h)
            for e in np.eye(3)]
    np.testing.assert_allclose(hessian, np.array(rows), rtol=1e-6, atol=1e-7)

"""Code compiled for the common case (runtime.zy_general): a size of 1 that broadcasts, or a
gradient summed back to a smaller shape, where the loops assumed neither, makes the compiled
program compile the code for every case and run the call again on it, from the caller's
arguments (the arrays it writes into are copies), and every later call too.

Gradients against central differences in float64 (h = 1e-6 max(1, |x|), rtol 1e-6, atol 1e-8:
truncation and rounding stay ~1e-10 for these O(1..10) sums, while a value broadcast or summed
back wrongly is off by O(1)); values against the plain function."""
import numpy as np
import pytest

import zygopy
from zygopy.api import compiled

from .nn_support import finite_differences

rng = np.random.default_rng(5)


def shifted(x, m):
    """x[:m] against x: the rows broadcast where m is 1, which the code cannot know."""
    return np.sum((x[:m] * 2.0 + x) ** 2)


def doubled_in_place(x, m):
    """The same after a write into x: a second run must start from the caller's x."""
    x *= 2.0
    return np.sum((x[:m] * 2.0 + np.tanh(x)) ** 2)


def shifted_too(x, m):
    """shifted, compiled apart."""
    return np.sum((x[:m] * 2.0 + x) ** 2)


def doubled_too(x, m):
    """doubled_in_place, compiled apart."""
    x *= 2.0
    return np.sum((x[:m] * 2.0 + np.tanh(x)) ** 2)


def check(f, x, m):
    before = x.copy()
    value, (g, _) = zygopy.withgradient(f, x, m)
    np.testing.assert_array_equal(x, before)  # the caller's array is not written into
    np.testing.assert_allclose(value, f(x.copy(), m), rtol=1e-12)
    np.testing.assert_allclose(g, finite_differences(lambda a, k: f(a.copy(), k), [x, m], 0)[""],
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", [shifted, doubled_in_place])
def test_common_case_then_a_broadcast_row(f):
    x = rng.standard_normal((4, 3))
    check(f, x, 4)
    program = compiled(f, (x, 4))
    assert program.common  # nothing broadcast: the code for the common case ran
    check(f, x, 1)
    assert compiled(f, (x, 1)) is program and not program.common
    check(f, x, 4)  # the general code, from now on


def test_a_first_call_that_broadcasts():
    x = rng.standard_normal((5, 2))
    check(doubled_in_place, x, 1)
    assert not compiled(doubled_in_place, (x, 1)).common


def test_pullback_and_primal_and_jvp():
    """The split forward and pullback, the primal alone and forward mode, each compiled for the
    common case first."""
    x = rng.standard_normal((4, 3))
    value, back = zygopy.pullback(shifted_too, x, 1)
    assert not compiled(shifted_too, (x, 1)).common
    expected = finite_differences(shifted_too, [x, 1], 0)[""]
    np.testing.assert_allclose(back(1.0)[0], expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(back(2.5)[0], 2.5 * expected, rtol=1e-6, atol=1e-8)
    y = rng.standard_normal((4, 3))
    program = compiled(doubled_too, (y, 1))
    assert program.common
    before = y.copy()
    assert program.primal(y, 1) == pytest.approx(doubled_too(y.copy(), 1), rel=1e-12)
    assert not program.common
    np.testing.assert_array_equal(y, before)
    t = rng.standard_normal((4, 3))
    _, tangent = zygopy.jvp(shifted, (y, 1), (t, None))
    h = 1e-6
    fd = (shifted(y + h * t, 1) - shifted(y - h * t, 1)) / (2 * h)
    assert tangent == pytest.approx(fd, rel=1e-6)


def shifted_in_threads(x, m):
    """shifted, compiled apart."""
    return np.sum((x[:m] * 2.0 + np.sin(x)) ** 2)


def test_threads_despecialise_together():
    """Eight threads, released together, half of them meeting a broadcast row in the code for
    the common case: one compiles the general code, the others wait for it or run again on it;
    every gradient agrees with central differences."""
    from .test_threads import in_threads
    xs = [rng.standard_normal((4, 3)) for _ in range(8)]
    zygopy.gradient(shifted_in_threads, xs[0], 4)  # the common code, compiled
    assert compiled(shifted_in_threads, (xs[0], 4)).common
    got = in_threads(lambda i: zygopy.gradient(shifted_in_threads, xs[i], 1 + 3 * (i % 2))[0])
    assert not compiled(shifted_in_threads, (xs[0], 1)).common
    for i, g in enumerate(got):
        expected = finite_differences(shifted_in_threads, [xs[i], 1 + 3 * (i % 2)], 0)[""]
        np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)

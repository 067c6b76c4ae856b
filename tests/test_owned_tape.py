"""A pullback that scales the tape's arrays in place where its caller owns the tape
(zygopy/backend/numba_cpu/owned_tape.py): value_and_gradient and a checkpoint's pullback may; a
pullback the user holds, which can run again, may not; nor may any pullback write into an array
the user passed.

Central differences in float64 with h = 1e-6 max(1, |x|) (tests/nn_support.py): for these O(1)
functions of a few elements truncation and rounding stay below 1e-9, so rtol 1e-6, atol 1e-8,
while a gradient scaled twice or not at all is off by O(1).
"""
import numpy as np

import zygopy

from .nn_support import finite_differences

rng = np.random.default_rng(5)
A, B = rng.standard_normal(7), rng.standard_normal(7)


def smooth(a, b):
    """Preaccumulated: the forward stores three partials, the pullback scales them by dy."""
    return np.sum(np.exp(a) * b + np.tanh(a * b) + np.sin(a) * 0.5)


@zygopy.checkpoint
def smooth_segment(a, b):
    return np.sum(np.exp(a) * b + np.tanh(a * b) + np.sin(a) * 0.5)


def through_a_checkpoint(a, b):
    """The segment's pullback runs with dy = cos(...), not 1."""
    return np.sin(smooth_segment(a, b))


@zygopy.checkpoint
def dot_segment(a, w):
    return np.dot(a, w)


def dot_scaled(a, w):
    """The segment's pullback scales the arguments themselves: dy * w and dy * a."""
    return np.sin(dot_segment(a, w))


def pullback_of(source: str, fn: str) -> str:
    start = source.index(f"def {fn}(dy")
    return source[start:source.index("\n\n\n", start)]


def test_the_partials_are_scaled_through_zy_scaled():
    source = zygopy.code_python(smooth, A, B)
    assert pullback_of(source, "smooth_pullback").count("zy_scaled(") == 2
    # value_and_gradient holds the pullback's body, on a tape it owns
    fused = source[source.index("def smooth_value_and_gradient("):]
    assert "owned = True" in fused and fused.count("zy_scaled(") == 2


def test_gradient_where_the_tape_is_owned():
    for f in (smooth, through_a_checkpoint, dot_scaled):
        a, b = A.copy(), B.copy()
        grads = zygopy.gradient(f, a, b)
        again = zygopy.gradient(f, a, b)
        np.testing.assert_array_equal(a, A)
        np.testing.assert_array_equal(b, B)
        for k, g in enumerate(grads):
            assert not np.shares_memory(g, a) and not np.shares_memory(g, b)
            fd = finite_differences(f, [A.copy(), B.copy()], k)[""]
            np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
            np.testing.assert_array_equal(again[k], g)


def test_value_and_gradient_scales_the_partials_by_dy():
    """The API's calls seed with 1, for which the partials are returned as the forward left
    them; a seed of -1.5 scales them in place."""
    c = zygopy.api.compiled(smooth, (A, B))
    value, grads = c.value_and_gradient([A.copy(), B.copy()], -1.5)
    for k, g in enumerate(grads):
        fd = finite_differences(smooth, [A.copy(), B.copy()], k)[""]
        np.testing.assert_allclose(g, -1.5 * fd, rtol=1e-6, atol=1e-8)


def test_a_pullback_the_user_holds_leaves_its_tape_alone():
    _, back = zygopy.pullback(smooth, A.copy(), B.copy())
    first, second = back(-1.5), back(-1.5)
    unit = back(1.0)
    for g1, g2, g in zip(first, second, unit, strict=True):
        np.testing.assert_array_equal(g1, g2)
        np.testing.assert_allclose(g1, -1.5 * g, rtol=1e-15)
        assert not np.shares_memory(g, unit[0]) or g is unit[0]
    assert not np.shares_memory(unit[0], unit[1])

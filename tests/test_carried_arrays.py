"""Arrays a loop passes round with their places permuted (`u, v = v, u`) are swapped back by the
reverse pass instead of recorded at every trip (adjoint/tape.py). Gradients against central
differences of the Python function (float64, h = 1e-6; these functions are O(1) with O(1) third
derivatives, so truncation ~1e-12 and rounding ~1e-10: rtol 1e-6 leaves a margin of 10^4, while
a buffer swapped back wrongly changes the gradient at O(1)); the tape, against what it held."""
import numpy as np
import pytest

import zygopy
from zygopy.backend import tiered


def swap_two(u0, c, steps):
    u = u0.copy()
    v = u0.copy()
    n = u.shape[0]
    for _ in range(steps):
        for i in range(1, n - 1):
            v[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1]) - 0.01 * u[i] ** 3
        u, v = v, u
    return np.sum(u * u) + 0.5 * np.sum(v)


def rotate_three(u0, c, steps):
    a = u0.copy()
    b = u0 * 0.5
    w = u0 * 0.25
    n = a.shape[0]
    for _ in range(steps):
        for i in range(n):
            w[i] = np.sin(a[i] + c * b[i])
        a, b, w = b, w, a
    return np.sum(a * b) + np.sum(w ** 2)


def copied_not_permuted(u0, c, steps):
    """The back edge passes a fresh copy to one block argument: no permutation to undo."""
    u = u0.copy()
    v = u0.copy()
    for t in range(steps):
        for i in range(u.shape[0]):
            v[i] = np.sin(u[i]) * c + 0.1 * t
        u, v = v, v.copy()
    return np.sum(u * u)


def swapped_in_an_outer_loop(u0, c, outer, steps):
    """The permuting loop runs again for each outer trip: its slots start from each run's end."""
    total = 0.0
    for k in range(outer):
        u = u0 * (1.0 + 0.1 * k)
        v = u0.copy()
        for _ in range(steps):
            for i in range(1, u.shape[0] - 1):
                v[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1])
            u, v = v, u
        total += np.sum(u * v)
    return total


def swapped_in_nested_loops(u0, c, steps):
    """The inner loop's exit is the outer loop's back edge, and both loops pass the buffers."""
    u = u0.copy()
    v = u0 * 0.5
    t = 0
    while t < steps:
        t += 1
        for _ in range(3):
            for i in range(u.shape[0]):
                v[i] = np.sin(u[i]) * c + v[i] * 0.5
            u, v = v, u
    return np.sum(u * v)


CASES = [(swap_two, (5,)), (swap_two, (4,)), (swap_two, (0,)), (rotate_three, (7,)),
         (copied_not_permuted, (3,)), (swapped_in_an_outer_loop, (3, 4)),
         (swapped_in_nested_loops, (2,))]


def central(f, u0, c, rest, direction, which):
    h = 1e-6
    if which == 0:
        return (f(u0 + h * direction, c, *rest) - f(u0 - h * direction, c, *rest)) / (2 * h)
    return (f(u0, c + h, *rest) - f(u0, c - h, *rest)) / (2 * h)


@pytest.mark.parametrize("interpreted", [False, True], ids=["compiled", "evaluator"])
@pytest.mark.parametrize("f, rest", CASES, ids=[f"{f.__name__}-{r}" for f, r in CASES])
def test_gradients_through_permuted_buffers(f, rest, interpreted, monkeypatch):
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpreted)
    u0 = np.sin(np.linspace(0.2, 2.5, 12))
    c = 0.3
    du, dc = zygopy.gradient(f, u0, c, *rest)[:2]
    e = np.random.default_rng(3).standard_normal(u0.shape)
    assert np.dot(du, e) == pytest.approx(central(f, u0, c, rest, e, 0), rel=1e-6, abs=1e-9)
    assert dc == pytest.approx(central(f, u0, c, rest, e, 1), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("f, carried", [(swap_two, True), (rotate_three, True),
                                        (copied_not_permuted, False)])
def test_a_permutation_records_no_array_per_trip(f, carried):
    u0 = np.ones(8)
    tape = str(zygopy.code_adjoint(f, u0, 0.3, 5)).split("forward:")[0]
    assert ("array reference" not in tape) == carried

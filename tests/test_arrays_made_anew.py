"""An array made anew on every trip of a loop (v = u.copy(), np.zeros_like(u), np.array(u), 0.9 * u)
and written into while the last trip's array, which a loop variable holds (`u = v` at the end),
is read: the two are never the same array, so the write is accepted (adjoint/mutation.py). Where
an array may be the last trip's after all (made on one path only, or once before the loop), the
write changes a value still in use, and it stays refused.

References, float64 and independent of zygopy: each element of the gradient, and the gradient
and the jvp along a direction e drawn from N(0, 1), against (f(u + h e) - f(u - h e)) / 2h with
h = 1e-6; the Hessian against the mixed central difference (f(u + h a + h b) - f(u + h a - h b)
- f(u - h a + h b) + f(u - h a - h b)) / 4h^2 with h = 1e-4, a and b unit vectors. Here
|f| <= 60 and its derivatives are O(1) to O(100): truncation ~h^2 |f'''| / 6 is ~1e-10
(~h^2 |f''''| / 6 ~1e-7 for the Hessian) and rounding ~eps |f| / h ~1e-8 (eps |f| / h^2 ~1e-6),
so rel 1e-6, abs 1e-7 (rel 1e-4, abs 1e-5 for the Hessian); the errors measured are under 2% of
these, while a gradient that missed a write or followed the wrong array is off at O(1e-2).
"""
import numpy as np
import pytest

import zygopy
from zygopy.backend import tiered


def copied(u, n):
    u = u.copy()
    for _ in range(n):
        v = u.copy()
        for i in range(1, u.shape[0] - 1):
            v[i] += 0.1 * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u = v
    return np.sum(u * u * u)


def copied_in_while_loops(u, n):
    u = u.copy()
    t = 0
    while t < n:
        v = u.copy()
        i = 1
        while i < u.shape[0] - 1:
            v[i] += 0.1 * (u[i - 1] - 2.0 * u[i] + u[i + 1])
            i += 1
        u = v
        t += 1
    return np.sum(u * u * u)


def zeros_filled(u, n):
    for _ in range(n):
        v = np.zeros_like(u)
        for i in range(1, u.shape[0] - 1):
            v[i] = u[i] + 0.1 * np.sin(u[i - 1] - u[i + 1])
        u = v
    return np.sum(u * u * u)


def empty_filled(u, n):
    for _ in range(n):
        v = np.empty_like(u)
        v[0] = u[0]
        v[-1] = u[-1]
        for i in range(1, u.shape[0] - 1):
            v[i] = u[i] + 0.1 * np.sin(u[i - 1] - u[i + 1])
        u = v
    return np.sum(u * u * u)


def array_of(u, n):
    for _ in range(n):
        v = np.array(u)
        for i in range(1, u.shape[0] - 1):
            v[i] = u[i] * np.cos(u[i - 1])
        u = v
    return np.sum(u * u * u)


def scaled(u, n):
    for _ in range(n):
        v = 0.9 * u
        for i in range(1, u.shape[0] - 1):
            v[i] += 0.1 * u[i - 1] * u[i + 1]
        u = v
    return np.sum(u * u * u)


def copied_in_nested_loops(u, n):
    u = u.copy()
    for _ in range(n):
        w = u * 1.0
        for _ in range(2):
            v = w.copy()
            for i in range(1, u.shape[0] - 1):
                v[i] += 0.1 * (w[i - 1] - 2.0 * w[i] + w[i + 1]) + 0.01 * u[i]
            w = v
        u = w
    return np.sum(u * u * u)


def made_on_both_paths(u, n):
    for t in range(n):
        if t % 2 == 0:
            v = u.copy()
        else:
            v = np.zeros_like(u)
        for i in range(1, u.shape[0] - 1):
            v[i] += u[i] + 0.1 * np.sin(u[i - 1] - u[i + 1])
        u = v
    return np.sum(u * u * u)


def last_trip_written(u, n):
    """The other way round: the write is into the last trip's array, while this trip's is used."""
    prev = u.copy()
    for _ in range(n):
        cur = np.zeros_like(u)
        prev[0] = prev[0] * 0.5
        for i in range(u.shape[0]):
            cur[i] = np.sin(prev[i]) + prev[0]
        prev = cur
    return np.sum(prev * prev)


MADE_ANEW = [copied, copied_in_while_loops, zeros_filled, empty_filled, array_of, scaled,
             copied_in_nested_loops, made_on_both_paths, last_trip_written]
U0 = np.linspace(0.1, 1.0, 6)
E = np.random.default_rng(5).standard_normal(U0.shape)


def along(f, e, h=1e-6):
    return (f(U0 + h * e, 3) - f(U0 - h * e, 3)) / (2 * h)


@pytest.mark.parametrize("interpreted", [False, True], ids=["compiled", "evaluator"])
@pytest.mark.parametrize("f", MADE_ANEW, ids=lambda f: f.__name__)
def test_an_array_made_anew_each_trip_is_written_while_the_last_is_read(f, interpreted,
                                                                       monkeypatch):
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpreted)
    value, (du, dn) = zygopy.withgradient(f, U0.copy(), 3)
    assert value == pytest.approx(f(U0.copy(), 3), rel=1e-12) and dn is None
    assert np.dot(du, E) == pytest.approx(along(f, E), rel=1e-6, abs=1e-7)
    for j in range(U0.size):  # every element, not only a mix of them
        assert du[j] == pytest.approx(along(f, np.eye(U0.size)[j]), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("f", [f for f in MADE_ANEW if f is not array_of],  # np.array(u): no
                         ids=lambda f: f.__name__)                         # tangent rule yet
def test_jvp_and_hessian_through_an_array_made_anew(f, monkeypatch):
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", f is not copied)  # one compiled, to be sure
    value, tangent = zygopy.jvp(f, (U0.copy(), 3), (E, None))
    assert tangent == pytest.approx(along(f, E), rel=1e-6, abs=1e-7)
    hess, h, unit = zygopy.hessian(f, U0.copy(), 3), 1e-4, np.eye(U0.size)
    for j in range(U0.size):
        for k in range(U0.size):
            a, b = h * unit[j], h * unit[k]
            mixed = (f(U0 + a + b, 3) - f(U0 + a - b, 3) - f(U0 - a + b, 3)
                     + f(U0 - a - b, 3)) / (4 * h * h)
            assert hess[j, k] == pytest.approx(mixed, rel=1e-4, abs=1e-5)


# ---- may be the last trip's array: refused ------------------------------------------------------

def copied_on_one_path(u, n):  # v is u itself on odd trips
    u = u.copy()
    for t in range(n):
        if t % 2 == 0:
            v = u.copy()
        else:
            v = u
        for i in range(1, u.shape[0] - 1):
            v[i] += 0.1 * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u = v
    return np.sum(u * u * u)


def copied_on_one_path_of_a_while_loop(u, n):  # v is u itself on the first trip
    u = u.copy()
    t = 0
    while t < n:
        v = u
        if t > 0:
            v = u.copy()
        for i in range(1, u.shape[0] - 1):
            v[i] += 0.1 * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u = v
        t += 1
    return np.sum(u * u * u)


def copied_on_some_trips(u, n):  # on odd trips v is the last trip's v, which u is too
    v = u.copy()
    u = u.copy()
    for t in range(n):
        if t % 2 == 0:
            v = u.copy()
        for i in range(1, u.shape[0] - 1):
            v[i] += 0.1 * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u = v
    return np.sum(u * u * u)


def made_once_before_the_loop(u, n):  # from the second trip on, u is v
    v = np.zeros_like(u)
    for _ in range(n):
        for i in range(1, u.shape[0] - 1):
            v[i] = u[i] + 0.1 * np.sin(u[i - 1] - u[i + 1])
        u = v
    return np.sum(u * u * u)


def made_once_per_outer_trip(u, n):  # on the inner loop's second trip, u is v
    u = u.copy()
    for _ in range(n):
        v = u.copy()
        for _ in range(2):
            for i in range(1, u.shape[0] - 1):
                v[i] += 0.1 * (u[i - 1] - 2.0 * u[i] + u[i + 1])
            u = v
    return np.sum(u * u * u)


def last_trip_written_made_on_some_trips(u, n):  # on odd trips cur is prev
    prev = u.copy()
    cur = u.copy()
    for t in range(n):
        if t % 2 == 0:
            cur = np.zeros_like(u)
        prev[0] = prev[0] * 0.5
        for i in range(u.shape[0]):
            cur[i] = np.sin(prev[i]) + prev[0]
        prev = cur
    return np.sum(prev * prev)


MAY_ALIAS = [(copied_on_one_path, "v[i] +="), (copied_on_one_path_of_a_while_loop, "v[i] +="),
             (copied_on_some_trips, "v[i] +="), (made_once_before_the_loop, "v[i] ="),
             (made_once_per_outer_trip, "v[i] +="),
             (last_trip_written_made_on_some_trips, "prev[0] =")]
DERIVATIVES = {"gradient": lambda f: zygopy.gradient(f, U0.copy(), 3),
               "jvp": lambda f: zygopy.jvp(f, (U0.copy(), 3), (E, None)),
               "hessian": lambda f: zygopy.hessian(f, U0.copy(), 3)}


@pytest.mark.parametrize("derivative", DERIVATIVES)
@pytest.mark.parametrize("f, line", MAY_ALIAS, ids=[f.__name__ for f, _ in MAY_ALIAS])
def test_an_array_that_may_be_the_last_trips_is_still_refused(f, line, derivative):
    with pytest.raises(zygopy.UnsupportedSyntax, match="may be the same array as") as info:
        DERIVATIVES[derivative](f)
    assert info.value.filename == __file__ and line in str(info.value)

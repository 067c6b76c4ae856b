"""zygopy.checkpoint: gradients through checkpointed segments against central differences of the
plain Python function (float64, h = 1e-6: truncation ~h^2 |f'''| ~ 1e-12 and rounding
~eps |f| / h ~ 1e-10 for these O(1) functions, so rtol 1e-6 leaves a wide margin while a dropped
or doubled segment is off by O(1)); the tape kept while the loop runs; the evaluator's route; and
the errors for what a checkpointed function may not do."""
import math

import numpy as np
import pytest

import zygopy
from zygopy.api import compiled
from zygopy.backend import tiered

H = 1e-6


@zygopy.checkpoint
def decay(x, s, k):
    for _ in range(k):
        s = math.sin(s + x) * 0.9
    return s


def segmented(x, n, k):
    s = 0.0
    for _ in range(n // k):
        s = decay(x, s, k)
    return s


def unsegmented(x, n):
    s = 0.0
    for _ in range(n):
        s = math.sin(s + x) * 0.9
    return s


@zygopy.checkpoint
def heat_steps(u0, c, k):
    u = u0.copy()
    v = u0.copy()
    n = u.shape[0]
    for _ in range(k):
        for i in range(1, n - 1):
            v[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1]) - 0.01 * u[i] ** 3
        u, v = v, u
    return u


def heat(u, c, steps, k):
    for _ in range(steps // k):
        u = heat_steps(u, c, k)
    return np.sum(u * u)


@zygopy.checkpoint
def pendulums(x, v, k, dt):
    for _ in range(k):
        v = v - dt * np.sin(x)
        x = x + dt * v
    return x, v


def swing(x, v, k, m):
    for _ in range(m):
        x, v = pendulums(x, v, k, 0.01)
    return np.sum(x * x) + np.sum(v)


def central(f, args, i, direction=1.0):
    """Central difference of f along `direction` in argument i."""
    up, down = list(args), list(args)
    up[i] = args[i] + H * direction
    down[i] = args[i] - H * direction
    return (f(*up) - f(*down)) / (2 * H)


@pytest.fixture(params=["compiled", "evaluator"])
def route(request, monkeypatch):
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", request.param == "evaluator")
    return request.param


def test_scalar_loop_in_segments(route):
    n = 1000 if route == "evaluator" else 100_000
    for k in (10, 300):  # 300 does not divide n: n // k segments of k steps
        dx = zygopy.gradient(segmented, 0.3, n, k)[0]
        steps = (n // k) * k
        assert dx == pytest.approx(central(unsegmented, (0.3, steps), 0), rel=1e-6)


def test_array_loop_in_segments(route):
    rng = np.random.default_rng(0)
    u0, c = np.sin(np.linspace(0.0, 3.0, 40)), 0.2
    du, dc = zygopy.gradient(heat, u0, c, 60, 20)[:2]
    direction = rng.standard_normal(u0.shape)
    assert np.dot(du, direction) == pytest.approx(central(heat, (u0, c, 60, 20), 0, direction),
                                                  rel=1e-6)
    assert dc == pytest.approx(central(heat, (u0, c, 60, 20), 1), rel=1e-6)


def test_segments_returning_a_tuple(route):
    x0 = np.linspace(0.0, 1.0, 5)
    v0 = np.cos(x0)
    dx, dv = zygopy.gradient(swing, x0, v0, 10, 30)[:2]
    for i, grad in ((0, dx), (1, dv)):
        for j in range(5):
            e = np.zeros(5)
            e[j] = 1.0
            assert grad[j] == pytest.approx(central(swing, (x0, v0, 10, 30), i, e), rel=1e-6)


def test_the_tape_holds_segment_boundaries_only():
    """The loop's own tape grows with the number of segments, not of steps; each segment's tape
    lives only while its pullback runs."""
    n, k = 200_000, 1000
    plain = compiled(unsegmented, (0.3, n)).forward((0.3, n))[1]
    assert sum(plain.tops) >= n  # a float per step
    ck = compiled(segmented, (0.3, n, k)).forward((0.3, n, k))[1]
    assert sum(ck.tops) == n // k  # a segment's input


def test_split_pullback_runs_twice():
    y, back = zygopy.pullback(segmented, 0.3, 5000, 100)
    assert y == pytest.approx(unsegmented(0.3, 5000), rel=1e-12)
    first, second = back(1.0)[0], back(2.0)[0]
    assert first == pytest.approx(central(unsegmented, (0.3, 5000), 0), rel=1e-6)
    assert second == pytest.approx(2 * first, rel=1e-12)


def test_called_outside_differentiated_code_is_the_function():
    assert decay(0.3, 0.0, 5) == unsegmented(0.3, 5)


def test_differentiated_itself_is_the_function():
    dx, ds = zygopy.gradient(decay, 0.3, 0.2, 50)[:2]
    assert dx == pytest.approx(central(decay, (0.3, 0.2, 50), 0), rel=1e-6)
    assert ds == pytest.approx(central(decay, (0.3, 0.2, 50), 1), rel=1e-6)


def test_a_custom_rule_is_differentiated_where_it_is_called():
    with pytest.raises(zygopy.ZygopyError, match="is a custom rule") as e:
        zygopy.gradient(scaled_pair, 1.5)
    assert "def f(x): return scaled_pair(x)" in str(e.value)


@zygopy.checkpoint
def writes_its_input(u, k):
    for _ in range(k):
        u[0] = u[0] * 0.5
    return u[0]


def uses_writes_its_input(u):
    return writes_its_input(u, 3)


@zygopy.checkpoint
def returns_an_int(x, k):
    return k


def uses_returns_an_int(x):
    return x * returns_an_int(x, 3)


def tuple_through_a_branch(x):
    if x > 0:
        t = scaled_pair(x)
    else:
        t = (x, x)
    return t[0] * t[1]


@pytest.mark.parametrize("f, message", [
    (uses_writes_its_input, "writes into its argument 'u'"),
    (uses_returns_an_int, "must return floats or float arrays"),
])
def test_what_may_not_be_differentiated(f, message):
    with pytest.raises(zygopy.ZygopyError, match=message) as e:
        zygopy.gradient(f, np.ones(3) if f is uses_writes_its_input else 0.5)
    assert "test_checkpoint.py" in str(e.value)


@zygopy.custom_rule
def scaled_pair(x):
    return 2.0 * x, 3.0 * x


@scaled_pair.pullback
def _(g, y, x):
    return (2.0 * g[0] + 3.0 * g[1],)


def pair_product(x):
    a, b = scaled_pair(x)
    return a * b


def pair_in_a_loop(x, n):
    for _ in range(n):
        a, b = scaled_pair(x)
        x = 0.1 * a + 0.2 * b
    return x


def indexed_pair(x):
    t = scaled_pair(x)
    return t[0] * t[-1]


def test_custom_rule_returning_a_tuple(route):
    """Each part of the returned tuple carries its gradient back (6 x^2 and 0.8^n x)."""
    assert zygopy.gradient(pair_product, 1.5)[0] == pytest.approx(12.0 * 1.5, rel=1e-14)
    assert zygopy.gradient(pair_in_a_loop, 1.5, 3)[0] == pytest.approx(0.8 ** 3, rel=1e-14)
    assert zygopy.gradient(indexed_pair, 1.5)[0] == pytest.approx(12.0 * 1.5, rel=1e-14)
    assert zygopy.gradient(tuple_through_a_branch, 1.5)[0] == pytest.approx(12.0 * 1.5,
                                                                             rel=1e-14)
    assert zygopy.gradient(tuple_through_a_branch, -1.5)[0] == pytest.approx(-3.0, rel=1e-14)


@scaled_pair.tangent
def _(y, x, dx):
    return 2.0 * dx, 3.0 * dx


def test_forward_mode_through_a_rule_returning_a_tuple():
    """jvp takes the tangent rule's tuple (d/dx 6 x^2 = 12 x); hessian would differentiate that
    rule, which takes the whole tuple: a clear error, not a zero."""
    assert zygopy.jvp(pair_product, (1.5,), (1.0,)) == pytest.approx((13.5, 18.0), rel=1e-14)
    with pytest.raises(zygopy.ZygopyError, match="used whole") as e:
        zygopy.hessian(pair_product, 1.5)
    assert "test_checkpoint.py" in str(e.value)


@zygopy.checkpoint
def checked_segment(x, s):
    if s > 100.0:
        raise ValueError(f"checked_segment: s = {s} is too large")
    return s + math.sin(x * s)


def checked_steps(x, s):
    return checked_segment(x, checked_segment(x, s))


def test_an_exception_in_a_segment_is_the_users(route):
    """Compiled, the segment's ValueError came back as "the function raised an exception, which
    the reference evaluator did not reproduce": the evaluator runs a segment as Python, and its
    exception was not taken for the user's. A later call gets the right gradient."""
    with pytest.raises(ValueError, match="s = 200.0 is too large"):
        zygopy.gradient(checked_steps, 0.3, 200.0)
    dx, ds = zygopy.gradient(checked_steps, 0.3, 2.0)
    assert dx == pytest.approx(central(checked_steps, (0.3, 2.0), 0), rel=1e-6)
    assert ds == pytest.approx(central(checked_steps, (0.3, 2.0), 1), rel=1e-6)


@zygopy.custom_rule
def doubled(x):
    return x * 2.0


@doubled.pullback
def _(g, y, x):
    return (2.0 * g,)


@doubled.tangent
def _(y, x, dx):
    return np.array([dx, dx])  # wrong: the output is a number


@zygopy.custom_rule
def sum_of_squares(x):
    return np.sum(x * x)


@sum_of_squares.pullback
def _(g, y, x):
    return (g,)  # wrong: a number for a (2,) input


@zygopy.custom_rule
def squares(x):
    return x * x


@squares.pullback
def _(g, y, x):
    return (2.0 * x[:1] * g[:1],)  # wrong: of shape (1,) for a (2,) input


@squares.tangent
def _(y, x, dx):
    return 2.0 * x[1:] * dx[1:]  # wrong: of shape (1,) for a (2,) output


def _rule_line(marker):
    """The line of the decorator `@marker` in this file, where the rule's function starts."""
    with open(__file__) as f:
        return next(i for i, text in enumerate(f, 1) if text.strip() == f"@{marker}")


def test_what_a_custom_rule_returns_is_checked(route):
    """A tangent of another rank than the output, a gradient of another rank or shape than its
    input went on silently: jvp gave the number doubled(x) * x an array tangent, [1.5, 1.5], and
    gradient a 0-d gradient, array(2.0), for the (2,) input; each is now refused at the rule's
    function, ranks while compiling, shapes when the rule returns."""
    with pytest.raises(zygopy.UnsupportedType, match=r"the tangent rule of the custom rule "
                       r"'doubled' returns, as the tangent of its output, an array of 1 "
                       r"dimension for a number") as e:
        zygopy.jvp(lambda x: doubled(x) * x, (0.5,), (1.0,))
    assert (e.value.filename, e.value.line) == (__file__, _rule_line("doubled.tangent"))
    x = np.array([1.0, 2.0])
    with pytest.raises(zygopy.UnsupportedType, match=r"the pullback of the custom rule "
                       r"'sum_of_squares' returns, as the gradient of its argument 0 \('x'\), a "
                       r"number for an array of 1 dimension") as e:
        zygopy.gradient(lambda x: sum_of_squares(x) * 2.0, x)
    assert e.value.line == _rule_line("sum_of_squares.pullback")
    with pytest.raises(zygopy.ZygopyError, match=r"the pullback of the custom rule 'squares' "
                       r"returns, as the gradient of its argument 0 \('x'\), an array of shape "
                       r"\(1,\) for one of shape \(2,\)") as e:
        zygopy.gradient(lambda x: np.sum(squares(x)), x)
    assert (e.value.filename, e.value.line) == (__file__, _rule_line("squares.pullback"))
    with pytest.raises(zygopy.ZygopyError, match=r"the tangent rule of the custom rule 'squares' "
                       r"returns, as the tangent of its output, an array of shape \(1,\) for one "
                       r"of shape \(2,\)") as e:
        zygopy.jvp(lambda x: np.sum(squares(x)), (x,), (np.ones(2),))
    assert e.value.line == _rule_line("squares.tangent")

"""zygopy.gradient called inside a function that is itself differentiated (or run by jvp, hvp):
the inner gradient is inlined forward mode (adjoint/sweeps.py). Every result is checked against
float64 central differences of the plain functions, which call zygopy.gradient from Python."""
import math

import numpy as np
import pytest

import zygopy
from zygopy.backend import tiered

from .test_array_gradients import finite_difference

SCALE = 1.0


def energy(x, y):
    return x * x * y + math.sin(x * y) * SCALE


def penalty(x, y):
    gx, gy = zygopy.gradient(energy, x, y)
    return gx * gx + gy * gy + x


def field(w, x):
    s = 0.0
    for i in range(len(w)):
        s = s + math.tanh(w[i] * x[i]) * w[i]
    return s


def gradient_norm(w, x):
    gw, gx = zygopy.gradient(field, w, x)
    return np.sum(gw * gw) + np.sum(gx) * 0.5


def bilinear(a, m, n):
    s = 0.0
    for _ in range(n):  # an int argument: no gradient (None), a trip count
        s = s + np.sum(np.tanh(a @ m) * a)
    return s


def matrix_penalty(a, m):
    ga, gm, _ = zygopy.gradient(bilinear, a, m, 2)  # None for the int
    return np.sum(ga * ga) + np.sum(np.sin(gm))


@pytest.fixture(params=["compiled", "interpreted"])
def route(request, monkeypatch):
    if request.param == "interpreted":
        monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    return request.param


def assert_gradient_matches(f, args, rtol=1e-6, atol=1e-8):
    grads = zygopy.gradient(f, *args)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, finite_difference(f, args, i), rtol=rtol, atol=atol)


def test_gradient_of_a_gradient_norm_of_numbers(route):
    assert_gradient_matches(penalty, (0.7, 1.3))
    assert_gradient_matches(penalty, (-1.1, 0.4))


def test_gradient_of_a_gradient_norm_of_arrays(route):
    rng = np.random.default_rng(3)
    assert_gradient_matches(gradient_norm, (rng.standard_normal(5), rng.standard_normal(5)))


# interpreted only: compiled, its forward-mode columns over a matrix cost Numba over a minute;
# the compiled nested gradient is tested on the cases of numbers and vectors above
@pytest.mark.parametrize("route", ["interpreted"], indirect=True)
def test_gradient_through_a_matrix_gradient_with_an_int_argument(route):
    rng = np.random.default_rng(4)
    a, m = rng.standard_normal((3, 4)) * 0.5, rng.standard_normal((4, 4)) * 0.5
    assert_gradient_matches(matrix_penalty, (a, m))


def test_the_inner_gradient_is_the_plain_gradient(route):
    rng = np.random.default_rng(5)
    w, x = rng.standard_normal(4), rng.standard_normal(4)
    expected = zygopy.gradient(field, w, x)

    def inner(w, x):
        return zygopy.gradient(field, w, x)[0]
    value = zygopy.jvp(inner, (w, x), (np.zeros(4), np.zeros(4)))[0]
    np.testing.assert_allclose(value, expected[0], rtol=1e-12)


def test_hvp_of_a_function_with_a_gradient_inside(route):
    v = 0.3
    along = zygopy.hvp(penalty, 0.7, v, 1.3)

    def gradient_at(x):
        return zygopy.gradient(penalty, x, 1.3)[0]
    h = 1e-5
    np.testing.assert_allclose(along, v * (gradient_at(0.7 + h) - gradient_at(0.7 - h)) / (2 * h),
                               rtol=1e-6)


def test_a_global_read_by_the_inner_function_is_read_at_each_call(monkeypatch):
    assert_gradient_matches(penalty, (0.7, 1.3))
    monkeypatch.setitem(globals(), "SCALE", 10.0)
    assert_gradient_matches(penalty, (0.7, 1.3))


def returns_a_vector(x):
    return np.sin(x)


def _keywords(x):
    return zygopy.gradient(energy, x, 2.0, wrt=0)[0]


def _local_lambda(x):
    g = lambda u: u * u  # noqa: E731
    return zygopy.gradient(g, x)[0]


def _array_valued(x):
    return np.sum(zygopy.gradient(returns_a_vector, x)[0])


def _structure(x):
    return zygopy.gradient(field, (x, x), x)[0]


def _tangents_not_written_out(x):
    tangents = (x, x)
    return zygopy.jvp(field, (x, x), tangents)[1]


def _tangent_of_the_wrong_kind(x):
    return zygopy.jvp(field, (x, x), (1.0, x))[1]


@pytest.mark.parametrize("f,error,match", [
    (_keywords, zygopy.UnsupportedSyntax, "arguments only"),
    (_local_lambda, zygopy.UnsupportedSyntax, "plain Python function"),
    (_array_valued, zygopy.UnsupportedType, "returning a float"),
    (_structure, zygopy.UnsupportedType, "numbers and float arrays"),
    (_tangents_not_written_out, zygopy.UnsupportedSyntax, "tuple of as many tangents"),
    (_tangent_of_the_wrong_kind, zygopy.UnsupportedType, "a tangent of type float64"),
])
def test_what_a_gradient_inside_refuses(f, error, match):
    with pytest.raises(error, match=match) as e:
        zygopy.gradient(f, np.ones(3) * 0.5)
    assert e.value.filename == __file__


def inner_energy(w):
    return np.sum(np.tanh(w) ** 2)


def _hvp_inside(w):
    return np.sum(zygopy.hvp(inner_energy, w, w))


def _hessian_inside(w):
    return np.sum(zygopy.hessian(inner_energy, w))


def _jacobian_inside(w):
    return np.sum(zygopy.jacobian(inner_energy, w)[0])


def _grad_not_called_at_once(w):
    g = zygopy.grad(inner_energy)
    return np.sum(g(w))


MADE_BEFORE = zygopy.grad(inner_energy)


def _a_function_grad_made(w):
    return np.sum(MADE_BEFORE(w))


@pytest.mark.parametrize("f,match", [
    (_hvp_inside, r"zygopy\.hvp inside a differentiated function is not supported"),
    (_hessian_inside, r"zygopy\.hessian inside a differentiated function is not supported"),
    (_jacobian_inside, r"zygopy\.jacobian inside a differentiated function is not supported"),
    (_grad_not_called_at_once, r"zygopy\.grad inside a differentiated function"),
    (_a_function_grad_made, r"MADE_BEFORE, a function zygopy\.grad made, inside"),
])
@pytest.mark.parametrize("transform", ["gradient", "jvp"])
def test_other_zygopy_functions_inside_are_refused_at_the_users_line(f, match, transform):
    """Inlined as plain functions, they were refused at a line of zygopy's api.py ('*args and
    **kwargs parameters are not supported')."""
    w = np.array([0.3, -0.5, 0.8])
    with pytest.raises(zygopy.UnsupportedSyntax, match=match) as e:
        if transform == "gradient":
            zygopy.gradient(f, w)
        else:
            zygopy.jvp(f, (w,), (w,))
    assert e.value.filename == __file__
    assert e.value.line == f.__code__.co_firstlineno + 1


def _hvp_as_the_hint_writes_it(w):
    return np.sum(zygopy.jvp(_gradient_of_inner_energy, (w,), (w,))[1])


def _gradient_of_inner_energy(w):
    return zygopy.gradient(inner_energy, w)[0]


def test_hvp_written_as_the_hint_says(route):
    """The refusal's hint for hvp: the tangent of a function returning the gradient."""
    w = np.array([0.3, -0.5, 0.8])
    np.testing.assert_allclose(_hvp_as_the_hint_writes_it(w),
                               np.sum(zygopy.hvp(inner_energy, w, w)), rtol=1e-12)
    assert_gradient_matches(_hvp_as_the_hint_writes_it, (w,))


def slope(x, y):
    return zygopy.grad(energy)(x, y) * zygopy.grad(energy, argnums=(0, 1))(x, y)[1]


def test_jax_style_grad_inside(route):
    assert_gradient_matches(slope, (0.7, 1.3))


def directional(x, y):
    value, slope = zygopy.jvp(energy, (x, y), (0.6, None))
    return value * slope


def directional_of_arrays(w, x):
    value, slope = zygopy.jvp(field, (w, x), (x, w * 0.5))
    return value + slope ** 2


def test_gradient_of_a_function_that_calls_jvp(route):
    assert_gradient_matches(directional, (0.7, 1.3))
    rng = np.random.default_rng(6)
    assert_gradient_matches(directional_of_arrays, (rng.standard_normal(4), rng.standard_normal(4)))


def doubled_energy(x):
    x *= 2.0  # zygopy.gradient works on a copy: the caller's x is not changed
    return np.sum(x * x * x)


def gradient_of_a_writer(x):
    g = zygopy.gradient(doubled_energy, x)[0]
    return np.sum(g * x) + np.sum(x)


def tangent_of_a_writer(x):
    _, t = zygopy.jvp(doubled_energy, (x,), (np.ones_like(x),))
    return t + np.sum(x * x)


@pytest.mark.parametrize("f", [gradient_of_a_writer, tangent_of_a_writer])
def test_inner_function_writing_into_its_argument(f, route):
    """Each inner sweep works on a copy of what it writes into: the sweeps wrote into the outer
    function's own x, so the later sweeps and the rest of it saw x doubled."""
    assert_gradient_matches(f, (np.array([0.4, -0.7, 1.1]),))


def power(x, n):
    return x ** n


def branch_on_a_nested_none(x, n):
    gx, gn = zygopy.gradient(power, x, n)
    if gn is None:  # None for the int n, but only types say so
        return gx
    return -1.0


def branch_on_a_nested_gradient_not_none(x, y):
    gx, gy = zygopy.gradient(power, x, y)
    if gy is not None:
        return gx + gy
    return -1.0


def nested_none_as_a_value(x, n):
    gx, gn = zygopy.gradient(power, x, n)
    flag = gn is None
    return gx * flag


def nested_none_after_a_branch(x, n):
    gx, gn = zygopy.gradient(power, x, n)
    s = 0.0
    if x > 0.0:  # gn then reaches the test through a block argument
        s = x
    pair = (gx, gn)
    if pair[1] is None:
        return s + gx * gx
    return s + gx


def raise_on_a_nested_none(x, n):
    gx, gn = zygopy.gradient(power, x, n)
    if gn is None:
        raise ValueError("n got no gradient")
    return gx * gn


@pytest.mark.parametrize("f, args", [(branch_on_a_nested_none, (2.0, 3)),
                                     (branch_on_a_nested_gradient_not_none, (2.0, 3.0)),
                                     (nested_none_as_a_value, (1.5, 4)),
                                     (nested_none_after_a_branch, (0.7, 3))],
                         ids=["is None", "is not None", "as a value", "after a branch"])
def test_is_none_of_a_nested_gradient_is_decided_by_its_type(route, f, args):
    """Whether a nested gradient's part is None (an int argument's) is known once types are. It
    was decided before them, as for any run-time value (never None): the branch for a number ran
    (-1.0 for Python's 12.0, silently). Compared with central differences of Python running f."""
    grads = zygopy.gradient(f, *args)
    for i, a in enumerate(args):
        if isinstance(a, int):
            assert grads[i] is None
        else:
            np.testing.assert_allclose(grads[i], finite_difference(f, args, i), rtol=1e-6)


def test_a_nested_none_that_raises_raises_as_in_python(route):
    """Every path left raises: the user's exception, as Python gives (it was an error typing the
    arm Python never runs, `gx * gn` of None)."""
    with pytest.raises(ValueError, match="n got no gradient"):
        zygopy.gradient(raise_on_a_nested_none, 2.0, 3)

"""The public API: call forms, argument handling, the compile cache, inspection, and errors.

Expected values are analytic derivatives or finite differences, never zygopy's own output.
"""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import zygopy
import zygopy.adjoint.rules as rules
import zygopy.api


def fd(f, args, i, h=1e-6):
    up, down = list(args), list(args)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2 * h)


# ---- functions under test (module level, so that zygopy can read their source) ---------------

def poly(x, y):
    return x * x * y + 3.0 * y


def three(x, y, z):
    return x * math.sin(y) + z * z * y


def with_int(x, n):
    s = 0.0
    for i in range(n):
        s += x ** 2 * (i + 1)
    return s


def with_flag(x, flag, n):
    if flag:
        return x * n
    return x * x


def scaled(x, scale=2.0):
    return scale * x * x


def helper_default(x, k=3):
    return x ** k


def two_outputs(x, y):
    return x * y, math.sin(x) + y * y


def constant_in_x(x, y):
    return 2.0 * y + 1.0


def constant_everywhere(x):
    return 4.25


def returns_tuple(x):
    return x, 2.0 * x


def returns_int(x, n):
    return n + 1


def float_to_int(x):
    return int(x) + 0


def loop_carried(x, n):
    r = 1.0
    for _ in range(n):
        r = r * x + math.sin(r)
    return r


def uses_gamma(x):
    return math.gamma(x)


def uses_sin_for_norule(x):
    y = x * 2.0
    return math.sin(y) + y


def uses_sin_for_register(x):
    return math.sin(x) * 3.0


def uses_sin_for_custom(x):
    return math.sin(x) + x


def for_llvm(x, n):
    r = 1.0
    for _ in range(n):
        r = r * x + math.cos(r)
    return r


def for_llvm_cached(x, n):
    r = 0.5
    for _ in range(n):
        r = r * x + math.sin(r)
    return r


square = lambda x: x * x  # noqa: E731
two_on_a_line = (lambda x: x * 3.0, lambda x: np.sin(x) * x)  # noqa: E731
activation = lambda z: np.maximum(z, 0.0) * 2.0  # noqa: E731


def calls_a_lambda(x):
    return np.sum(activation(x) + square(x))


def apply_to(f, v):
    return f(v)


def lambdas_inside(x, w):
    scale = 2.0
    act = lambda z, k=1.0: np.tanh(z * w) * scale * k  # noqa: E731
    s = 0.0
    for i in range(3):
        # late binding, as in Python: each call sees scale and i as they are at the call
        s = s + np.sum(act(x)) + apply_to(lambda v: np.sum(v * v) * i, x)  # noqa: B023
        scale = scale + 1.0
    return s + act(x[0], k=3.0)


def lambda_used_as_a_value(x):
    f = lambda v: v  # noqa: E731
    return x * f


def recursive_lambda(x):
    f = lambda v: f(v)  # noqa: E731
    return f(x)


class Scaled:
    def __init__(self, w):
        self.w = w

    def loss(self, x, *, gain=1.0):
        return self.w * x * gain


def cached_fn(x, y):
    return x / y + y


def helper_keywords(v, *, gain=2.0, shift=1.0):
    return v * gain + shift * v * v


def keyword_model(x, y=2.0, *, scale=3.0, power=2):
    return scale * x ** power * y + helper_keywords(x, shift=0.5) + helper_keywords(y, gain=scale)


def positional_only(x, /, y):
    return x * x * y


def fd_keyword(f, args, kwargs, name, h=1e-6):
    up, down = dict(kwargs), dict(kwargs)
    up[name] += h
    down[name] -= h
    return (f(*args, **up) - f(*args, **down)) / (2 * h)


# ---- call forms ------------------------------------------------------------------------

def test_gradient_matches_analytic():
    x, y = 1.5, -0.75
    assert zygopy.gradient(poly, x, y) == pytest.approx((2 * x * y, x * x + 3.0), rel=1e-14)


def test_decorator_form():
    @zygopy.gradient
    def grad_poly(x, y):
        return x * x * y + 3.0 * y

    # the decorated function returns the gradients of the original one
    assert grad_poly(1.5, -0.75) == pytest.approx((2 * 1.5 * -0.75, 1.5 ** 2 + 3.0), rel=1e-14)
    assert grad_poly(2.0, 1.0) == pytest.approx((4.0, 7.0), rel=1e-14)
    assert grad_poly.__name__ == "grad_poly"


def test_withgradient_value_equals_call():
    for args in ((0.3, 1.7), (-2.0, 0.25)):
        value, grads = zygopy.withgradient(three, *args, 0.5)
        assert value == pytest.approx(three(*args, 0.5), rel=1e-15)
        for i in range(3):
            assert grads[i] == pytest.approx(fd(three, (*args, 0.5), i), rel=1e-7, abs=1e-9)


def test_wrt_selects_arguments():
    args = (0.7, 1.2, -0.4)
    full = zygopy.gradient(three, *args)
    only = zygopy.gradient(three, *args, wrt=(0, 2))
    assert only[1] is None
    assert only[0] == pytest.approx(math.sin(1.2), rel=1e-14)
    assert only[2] == pytest.approx(2 * -0.4 * 1.2, rel=1e-14)
    assert (only[0], only[2]) == pytest.approx((full[0], full[2]), rel=1e-14)
    single = zygopy.gradient(three, *args, wrt=1)
    assert single[0] is None and single[2] is None
    assert single[1] == pytest.approx(0.7 * math.cos(1.2) + 0.16, rel=1e-14)
    # the same selection through pullback and withgradient
    _, back = zygopy.pullback(three, *args, wrt=(2,))
    assert back(1.0)[:2] == (None, None)
    assert back(1.0)[2] == pytest.approx(2 * -0.4 * 1.2, rel=1e-14)
    assert zygopy.withgradient(three, *args, wrt=[1])[1][1] == pytest.approx(single[1], rel=1e-15)


def test_wrt_pointing_at_int_is_an_error():
    with pytest.raises(zygopy.UnsupportedType, match="argument 1"):
        zygopy.gradient(with_int, 1.5, 4, wrt=1)
    with pytest.raises(zygopy.UnsupportedType, match="argument 2"):
        zygopy.pullback(with_flag, 1.5, True, 3, wrt=(0, 2))


def test_wrt_naming_all_arguments_including_an_int_is_an_error():
    with pytest.raises(zygopy.UnsupportedType, match="argument 1"):
        zygopy.gradient(with_int, 1.5, 4, wrt=(0, 1))


def test_wrt_as_a_numpy_integer():
    single = zygopy.gradient(three, 0.7, 1.2, -0.4, wrt=np.int64(1))
    assert single[1] == pytest.approx(0.7 * math.cos(1.2) + 0.16, rel=1e-14)
    assert zygopy.gradient(three, 0.7, 1.2, -0.4, wrt=(np.int64(2),))[2] == pytest.approx(
        2 * -0.4 * 1.2, rel=1e-14)
    with pytest.raises(zygopy.UnsupportedType, match="wrt=1.5"):
        zygopy.gradient(three, 0.7, 1.2, -0.4, wrt=1.5)


def test_wrt_out_of_range_is_an_error():
    with pytest.raises(zygopy.UnsupportedType, match="wrt"):
        zygopy.gradient(poly, 1.0, 2.0, wrt=2)
    with pytest.raises(zygopy.UnsupportedType, match="wrt"):
        zygopy.gradient(poly, 1.0, 2.0, wrt=(-1,))


def test_ints_and_bools_get_none():
    g = zygopy.gradient(with_int, 1.5, 4)
    assert g[1] is None
    assert g[0] == pytest.approx(2 * 1.5 * (1 + 2 + 3 + 4), rel=1e-14)
    assert zygopy.gradient(with_flag, 1.5, True, 3) == pytest.approx((3.0, None, None))
    g = zygopy.gradient(with_flag, 1.5, False, 3)
    assert g[1] is None and g[2] is None and g[0] == pytest.approx(3.0, rel=1e-15)


def test_default_arguments_filled_in():
    value, g = zygopy.withgradient(scaled, 1.5)
    assert value == pytest.approx(2.0 * 1.5 ** 2, rel=1e-15)
    assert g[0] == pytest.approx(2.0 * 2 * 1.5, rel=1e-15)
    if len(g) > 1:  # the default, filled in, is a float argument too
        assert g[1] == pytest.approx(1.5 ** 2, rel=1e-15)
    # given explicitly, the default is overridden
    assert zygopy.gradient(scaled, 1.5, 0.5)[0] == pytest.approx(0.5 * 2 * 1.5, rel=1e-15)
    # an int default
    assert zygopy.gradient(helper_default, 2.0)[0] == pytest.approx(3 * 2.0 ** 2, rel=1e-14)
    assert zygopy.gradient(helper_default, 2.0, 5)[0] == pytest.approx(5 * 2.0 ** 4, rel=1e-14)


def test_keyword_arguments_are_passed_not_differentiated():
    for kwargs in ({}, {"scale": 0.5}, {"scale": 1.25, "power": 3}):
        value, g = zygopy.withgradient(keyword_model, 1.5, **kwargs)
        assert value == pytest.approx(keyword_model(1.5, **kwargs), rel=1e-15)
        assert len(g) == 1  # only the positional argument
        expected = fd(lambda x, kw=kwargs: keyword_model(x, **kw), (1.5,), 0)
        assert g[0] == pytest.approx(expected, rel=1e-7)
    # a default overridden by keyword, a keyword-only one left at its default
    g = zygopy.gradient(keyword_model, 0.7, y=-1.5)
    assert g == pytest.approx((fd(lambda x: keyword_model(x, y=-1.5), (0.7,), 0),), rel=1e-7)


def test_keyword_arguments_named_in_wrt_come_back_in_a_dict():
    args, kwargs = (0.8, 1.3), {"scale": 0.6, "power": 3}
    g = zygopy.gradient(keyword_model, *args, wrt=(0, "scale"), **kwargs)
    assert len(g) == 3 and g[1] is None and set(g[2]) == {"scale"}
    assert g[0] == pytest.approx(fd(lambda x: keyword_model(x, 1.3, **kwargs), (0.8,), 0),
                                 rel=1e-7)
    assert g[2]["scale"] == pytest.approx(fd_keyword(keyword_model, args, kwargs, "scale"),
                                          rel=1e-7)
    assert g[2]["scale"] == pytest.approx(0.8 ** 3 * 1.3 + 1.3, rel=1e-14)
    # an int keyword named in wrt has nothing to differentiate
    with pytest.raises(zygopy.UnsupportedType, match="'power'"):
        zygopy.gradient(keyword_model, *args, wrt="power", **kwargs)
    # the same through pullback and jacobian
    _, back = zygopy.pullback(keyword_model, 0.8, wrt=("y",), scale=0.6)
    first, by_name = back(2.0)
    assert first is None
    assert by_name == pytest.approx(
        {"y": 2.0 * fd(lambda y: keyword_model(0.8, y, scale=0.6), (2.0,), 0)}, rel=1e-7)
    assert zygopy.jacobian(two_outputs, 0.6, y=-1.3, wrt="y")[1]["y"] == \
        pytest.approx([0.6, -2.6], rel=1e-14)


def test_positional_only_parameters_and_bound_methods_with_keywords():
    gx, by_name = zygopy.gradient(positional_only, 2.0, y=3.0, wrt=(0, "y"))
    assert (gx, by_name["y"]) == pytest.approx((12.0, 4.0), rel=1e-14)
    gx, by_name = zygopy.gradient(Scaled(2.5).loss, 3.0, gain=2.0, wrt=(0, "gain"))
    assert (gx, by_name["gain"]) == pytest.approx((2.0 * 2.5, 2.5 * 3.0), rel=1e-14)
    with pytest.raises(zygopy.UnsupportedType, match="unexpected keyword argument 'x'"):
        zygopy.gradient(positional_only, 2.0, x=3.0)


def test_keyword_argument_errors():
    with pytest.raises(zygopy.UnsupportedType, match="unexpected keyword argument 'gain'"):
        zygopy.gradient(keyword_model, 1.0, gain=2.0)
    with pytest.raises(zygopy.UnsupportedType, match="repeated keyword argument 'y'"):
        zygopy.gradient(keyword_model, 1.0, 2.0, y=2.0)
    with pytest.raises(zygopy.UnsupportedType, match="'y' missing"):
        zygopy.gradient(positional_only, 1.0)
    with pytest.raises(zygopy.UnsupportedType, match="wrt"):
        zygopy.gradient(keyword_model, 1.0, wrt="nothing")


def test_lambdas_with_source_in_a_file():
    assert zygopy.gradient(lambda x: x * x, 3.0) == pytest.approx((6.0,), rel=1e-15)
    assert zygopy.gradient(square, -1.5) == pytest.approx((-3.0,), rel=1e-15)
    # two lambdas on one line are told apart by their columns
    first, second = two_on_a_line
    assert zygopy.gradient(first, 0.4) == pytest.approx((3.0,), rel=1e-15)
    assert zygopy.gradient(second, 0.4) == \
        pytest.approx((math.cos(0.4) * 0.4 + math.sin(0.4),), rel=1e-14)
    # a lambda spread over lines, taking an array
    g = zygopy.gradient(lambda w,
                        x: np.sum(np.tanh(w @ x)),
                        np.eye(2) * 0.5, np.array([0.3, -0.2]))
    assert g[0] == pytest.approx(np.outer(1 - np.tanh([0.15, -0.1]) ** 2, [0.3, -0.2]),
                                 rel=1e-14)
    assert zygopy.grad(lambda a, b: a * b ** 2, argnums=1)(2.0, 3.0) == pytest.approx(12.0)


def test_lambdas_called_inside_a_differentiated_function():
    x = np.array([-1.0, 0.5, 2.0])
    assert zygopy.gradient(calls_a_lambda, x)[0] == \
        pytest.approx(np.where(x > 0, 2.0, 0.0) + 2 * x, rel=1e-15)


def test_lambdas_written_inside_a_differentiated_function():
    x, w = np.array([0.1, -0.2]), 0.7
    gx, gw = zygopy.gradient(lambdas_inside, x, w)
    h = 1e-6
    assert gw == pytest.approx((lambdas_inside(x, w + h) - lambdas_inside(x, w - h)) / (2 * h),
                               rel=1e-7)
    for k, e in enumerate(np.eye(2)):
        expected = (lambdas_inside(x + h * e, w) - lambdas_inside(x - h * e, w)) / (2 * h)
        assert gx[k] == pytest.approx(expected, rel=1e-7)
    with pytest.raises(zygopy.UnsupportedType, match="a lambda can only be called") as info:
        zygopy.gradient(lambda_used_as_a_value, 1.0)
    assert info.value.line == lambda_used_as_a_value.__code__.co_firstlineno + 2
    with pytest.raises(zygopy.UnsupportedSyntax, match="recursion"):
        zygopy.gradient(recursive_lambda, 1.0)


def test_pullback_linear_in_dy_and_repeatable():
    args = (0.9, 5)
    value, back = zygopy.pullback(loop_carried, *args)
    assert value == pytest.approx(loop_carried(*args), rel=1e-14)
    one = back(1.0)
    two = back(2.0)
    again = back(1.0)
    assert one[1] is None and two[1] is None
    assert two[0] == pytest.approx(2.0 * one[0], rel=1e-14)
    assert again == one
    assert back(-0.5)[0] == pytest.approx(-0.5 * one[0], rel=1e-14)
    assert one[0] == pytest.approx(fd(loop_carried, args, 0), rel=1e-7)
    # the default dy is 1.0
    assert back() == one


def doubled_and_sine(x):
    return x * 2.0, np.sin(x)


def test_a_cotangent_is_checked_against_the_result():
    """back(dy) takes the result's structure: a number for an array result was broadcast, an
    array of another shape failed inside Numba, an array for a number was Numba's internal
    error, and a float32 number made float32 gradients of float64 arguments."""
    x = np.array([0.1, 0.2])
    _, back = zygopy.pullback(doubled_and_sine, x)
    for dy in [(1.0, 0.0), (np.ones(3), np.ones(3)), (np.ones(2),)]:
        with pytest.raises(zygopy.UnsupportedType, match="back\\(\\) was given"):
            back(dy)
    (g,) = back((np.ones(2), np.array([0.0, 2.0])))
    np.testing.assert_allclose(g, [2.0, 2.0 + 2.0 * np.cos(0.2)], rtol=1e-15)
    _, back = zygopy.pullback(loop_carried, 0.9, 5)
    with pytest.raises(zygopy.UnsupportedType, match="a number"):
        back(np.ones(2))
    (g32, _), (g64, _) = back(np.float32(2.0)), back(2.0)
    assert type(g32) is type(g64) and g32 == g64


def sine_scaled_in_place(x, w):
    x *= 2.0  # zygopy works on a copy: the caller's x stays as it was
    return np.sin(x) * w


def test_pullback_of_an_array_result_is_its_vector_jacobian_product():
    """As JAX's vjp: back(dy) = dyᵀ J, for each dy given (it was refused as NotScalar)."""
    x, w = np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0])
    value, back = zygopy.vjp(sine_scaled_in_place, x, w)
    np.testing.assert_allclose(value, np.sin(2 * x) * w, rtol=1e-15)
    for dy in (np.array([1.0, -1.0, 0.5]), np.array([0.0, 2.0, 0.0])):
        gx, gw = back(dy)
        np.testing.assert_allclose(gx, 2.0 * np.cos(2 * x) * w * dy, rtol=1e-14)
        np.testing.assert_allclose(gw, np.sin(2 * x) * dy, rtol=1e-14)
    np.testing.assert_array_equal(x, [0.1, 0.2, 0.3])
    with pytest.raises(zygopy.UnsupportedType, match="an array of shape \\(3,\\)"):
        back(1.0)


def test_jacobian_of_a_tuple_holding_arrays_is_refused():
    """Each element was seeded with 1.0, which for an array meant the sums of its rows."""
    with pytest.raises(zygopy.UnsupportedType, match="tuple holding arrays"):
        zygopy.jacobian(doubled_and_sine, np.array([0.1, 0.2]))


def test_jacobian_of_tuple_result():
    x, y = 0.6, -1.3
    jx, jy = zygopy.jacobian(two_outputs, x, y)
    assert isinstance(jx, np.ndarray) and jx.shape == (2,)
    assert isinstance(jy, np.ndarray) and jy.shape == (2,)
    for out in range(2):
        def component(a, b, out=out):
            return two_outputs(a, b)[out]
        assert jx[out] == pytest.approx(fd(component, (x, y), 0), rel=1e-7, abs=1e-9)
        assert jy[out] == pytest.approx(fd(component, (x, y), 1), rel=1e-7, abs=1e-9)
    assert jx == pytest.approx([y, math.cos(x)], rel=1e-14)
    assert jy == pytest.approx([x, 2 * y], rel=1e-14)


VECTOR_VALUED = True


def vector_or_sum(x):
    if VECTOR_VALUED:
        return x * x
    return np.sum(x * x * x)


def test_jacobian_after_a_global_made_the_result_a_scalar(monkeypatch):
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(zygopy.jacobian(vector_or_sum, x)[0], np.diag(2.0 * x))
    monkeypatch.setitem(globals(), "VECTOR_VALUED", False)
    (j,) = zygopy.jacobian(vector_or_sum, x)
    np.testing.assert_allclose(j, [3.0 * x * x], rtol=1e-14)  # one row: the gradient


@pytest.mark.parametrize("arg, words", [(2 ** 63, "int 9223372036854775808, beyond the 64 bits"),
                                        (np.float16(2.0), "float16"),
                                        (np.longdouble(2.0), "longdouble")])
def test_numbers_compiled_code_cannot_hold_are_refused(arg, words):
    """They gave "internal error" (or a raw OverflowError) from Numba."""
    with pytest.raises(zygopy.UnsupportedType, match=words):
        zygopy.gradient(three, 0.5, 1.5, arg)


def test_gradient_of_constant_is_zero():
    g = zygopy.gradient(constant_in_x, 3.0, 4.0)
    assert g == (0.0, 2.0)
    assert isinstance(g[0], float)
    assert zygopy.gradient(constant_everywhere, 1.0) == (0.0,)
    _, back = zygopy.pullback(constant_in_x, 3.0, 4.0)
    assert back(1.0) == (0.0, 2.0)


def test_grad_has_jax_meaning():
    x, y = 1.5, -0.75
    # grad(f) is a function returning the gradient of argument 0 itself, not a tuple
    assert zygopy.grad(poly)(x, y) == pytest.approx(2 * x * y, rel=1e-14)
    assert zygopy.grad(poly, argnums=1)(x, y) == pytest.approx(x * x + 3.0, rel=1e-14)
    both = zygopy.grad(poly, argnums=(0, 1))(x, y)
    assert isinstance(both, tuple) and both == pytest.approx((2 * x * y, x * x + 3.0), rel=1e-14)
    assert zygopy.grad(loop_carried)(0.9, 5) == pytest.approx(fd(loop_carried, (0.9, 5), 0),
                                                               rel=1e-7)
    value, g = zygopy.value_and_grad(poly, argnums=1)(x, y)
    assert value == pytest.approx(poly(x, y), rel=1e-15)
    assert g == pytest.approx(x * x + 3.0, rel=1e-14)
    value, gs = zygopy.value_and_grad(three, argnums=(2, 0))(0.3, 1.7, 0.5)
    assert gs == pytest.approx((fd(three, (0.3, 1.7, 0.5), 2), fd(three, (0.3, 1.7, 0.5), 0)),
                               rel=1e-7)
    # keyword arguments are passed through, not differentiated
    assert zygopy.grad(scaled)(1.5, scale=0.5) == pytest.approx(0.5 * 2 * 1.5, rel=1e-14)


def test_grad_argnums_errors():
    with pytest.raises(zygopy.UnsupportedType, match="return a function, as in JAX"):
        zygopy.grad(poly, 1.0)
    with pytest.raises(zygopy.UnsupportedType, match="argnums"):
        zygopy.grad(poly, argnums=(0, -1))
    with pytest.raises(zygopy.UnsupportedType, match="given 2"):
        zygopy.grad(poly, argnums=2)(1.0, 2.0)
    with pytest.raises(zygopy.UnsupportedType, match="argument 1"):
        zygopy.grad(with_int, argnums=1)(1.0, 3)


# ---- inspection -----------------------------------------------------------------------

def test_code_adjoint_shows_forward_and_reverse_with_stacks():
    adj = zygopy.code_adjoint(loop_carried, 0.9, 5)
    text = str(adj)
    assert "forward:" in text and "reverse:" in text
    # r is needed by the reverse of each iteration (sin'(r), and x * r): it must be stacked
    assert "push!(float64" in text and "pop!(float64" in text
    assert "sin(" in text and "cos(" in text  # the primal and the rule's derivative


def test_code_adjoint_straight_line_needs_no_stack():
    text = str(zygopy.code_adjoint(poly, 1.0, 2.0))
    assert "reverse:" in text
    assert "push!" not in text and "pop!" not in text


def test_code_python():
    src = zygopy.code_python(loop_carried, 0.9, 5)
    assert "def " in src and "math.sin" in src and "math.cos" in src
    compile(src, "<zygopy generated>", "exec")  # it is valid Python


def test_code_llvm(tmp_path, monkeypatch):
    # a fresh disk cache, so that Numba compiles here rather than loading cached machine code
    monkeypatch.setenv("ZYGOPY_CACHE_DIR", str(tmp_path))
    llvm = zygopy.code_llvm(for_llvm, 0.9, 5)
    assert isinstance(llvm, str) and "define" in llvm
    assert "for_llvm" in llvm


LLVM_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import zygopy, test_api
print("DEFINE" if "define" in zygopy.code_llvm(test_api.for_llvm_cached, 0.9, 5) else "EMPTY")
"""


def test_code_llvm_in_a_second_process(tmp_path, monkeypatch):
    monkeypatch.setenv("ZYGOPY_CACHE_DIR", str(tmp_path))
    # compiled here, and cached on disk
    assert "define" in zygopy.code_llvm(for_llvm_cached, 0.9, 5)
    script = LLVM_SCRIPT.format(tests=os.path.dirname(__file__))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    output = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert output == "DEFINE", output  # the second process loads the disk cache


def test_compile_cache():
    a = zygopy.api.compiled(cached_fn, (1.0, 2.0))
    assert zygopy.api.compiled(cached_fn, (1.0, 2.0)) is a
    assert zygopy.api.compiled(cached_fn, (-3.0, 0.5)) is a  # other values, same types
    g1 = zygopy.gradient(cached_fn, 1.0, 2.0)
    g2 = zygopy.gradient(cached_fn, 1.0, 2.0)
    assert g1 == g2 == pytest.approx((0.5, -0.25 + 1.0), rel=1e-15)
    assert zygopy.api.compiled(cached_fn, (1.0, 2.0)) is a
    assert zygopy.code_adjoint(cached_fn, 1.0, 2.0) is a.adjoint
    # a different wrt is a different compilation
    assert zygopy.api.compiled(cached_fn, (1.0, 2.0), wrt=(0,)) is not a


# ---- errors ---------------------------------------------------------------------------

def test_tuple_result_is_not_scalar():
    with pytest.raises(zygopy.NotScalar):
        zygopy.gradient(returns_tuple, 1.0)


def test_int_result_is_not_scalar():
    with pytest.raises(zygopy.NotScalar):
        zygopy.gradient(returns_int, 1.0, 3)
    with pytest.raises(zygopy.NotScalar):
        zygopy.gradient(float_to_int, 1.0)


def test_str_argument():
    with pytest.raises(zygopy.UnsupportedType, match="str"):
        zygopy.gradient(poly, 1.0, "2.0")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_argument(bad):
    with pytest.raises(zygopy.UnsupportedType, match="finite"):
        zygopy.gradient(poly, 1.0, bad)
    with pytest.raises(zygopy.UnsupportedType):
        zygopy.pullback(poly, bad, 1.0)


def test_wrong_argument_count():
    with pytest.raises(zygopy.UnsupportedType, match="takes 2 arguments but 1"):
        zygopy.gradient(poly, 1.0)
    with pytest.raises(zygopy.UnsupportedType, match="takes 2 arguments but 3"):
        zygopy.gradient(poly, 1.0, 2.0, 3.0)
    with pytest.raises(zygopy.UnsupportedType):
        zygopy.gradient(scaled, 1.0, 2.0, 3.0)


def test_errors_are_zygopy_errors():
    for cls in (zygopy.NotScalar, zygopy.UnsupportedType, zygopy.NoRule, zygopy.UnsupportedSyntax):
        assert issubclass(cls, zygopy.ZygopyError)


def test_unknown_function_is_unsupported_syntax():
    with pytest.raises(zygopy.UnsupportedSyntax, match="gamma") as info:
        zygopy.gradient(uses_gamma, 2.5)
    assert info.value.filename == __file__
    assert info.value.line == uses_gamma.__code__.co_firstlineno + 1


def test_missing_rule_is_no_rule(monkeypatch):
    monkeypatch.delitem(rules.RULES, "sin")
    with pytest.raises(zygopy.NoRule) as info:
        zygopy.gradient(uses_sin_for_norule, 0.3)
    err = info.value
    message = str(err)
    assert "'sin'" in message
    assert err.filename == __file__ and __file__ in message
    sin_line = uses_sin_for_norule.__code__.co_firstlineno + 2
    assert err.line == sin_line and f"line {sin_line}" in message
    assert "register_rule" in message
    assert "math.sin(y)" in message  # the offending source line is quoted
    # nothing broken was cached: with the rule back, the same function differentiates
    monkeypatch.undo()
    assert zygopy.gradient(uses_sin_for_norule, 0.3)[0] == pytest.approx(2 * math.cos(0.6) + 2.0,
                                                                         rel=1e-14)


def test_register_rule_adds_a_rule(monkeypatch):
    monkeypatch.delitem(rules.RULES, "sin")
    with pytest.raises(zygopy.NoRule):
        zygopy.gradient(uses_sin_for_register, 0.4)

    @zygopy.register_rule("sin")
    def sin_rule(g, y, x):
        return (g * rules.cos(x),)

    assert rules.RULES["sin"] is sin_rule
    assert zygopy.gradient(uses_sin_for_register, 0.4)[0] == pytest.approx(3.0 * math.cos(0.4),
                                                                           rel=1e-14)


def test_registered_rule_is_the_one_used(monkeypatch):
    # a deliberately wrong rule shows that the registered rule, not a built-in, is applied
    monkeypatch.delitem(rules.RULES, "sin")
    zygopy.register_rule("sin")(lambda g, y, x: (g * 10.0,))
    assert zygopy.gradient(uses_sin_for_custom, 0.4)[0] == pytest.approx(11.0, rel=1e-15)


# ---- the fast path of repeated calls with plain arguments (api._FAST, api._LAST) --------------

def mixed(x, n, flag):
    return np.sum(x * x) * n + (1.0 if flag else 2.0) * np.sum(x)


def test_repeated_calls_that_change_argument_kinds_get_their_own_code():
    """Each call is checked against its analytic gradient, alternating kinds a fast path keyed
    on too little would confuse: int and bool, ranks, unit dimensions, dtypes, wrt."""
    calls = [(np.array([0.5, 1.5]), 3, True), (np.array([0.5, 1.5]), True, True),
             (np.array([[0.5], [2.0]]), 2, False), (np.array([[0.5, 2.0]]), 2, False),
             (np.array([0.5, 1.5], np.float32), 3, False), (np.array([0.5]), 3, True)]
    for _ in range(2):  # the second round takes the fast path
        for x, n, flag in calls:
            expected = 2 * np.asarray(x) * n + (1.0 if flag else 2.0)
            gx, gn, gflag = zygopy.gradient(mixed, x, n, flag)
            np.testing.assert_allclose(gx, expected, rtol=1e-6)
            assert gx.shape == x.shape and gx.dtype == x.dtype and gn is None and gflag is None
            np.testing.assert_allclose(zygopy.grad(mixed)(x, n, flag), expected, rtol=1e-6)


class Activated:
    def __init__(self, w, scale, act):
        self.w, self.scale, self.act = w, scale, act


def scaled_loss(w, b, n, x, model):
    return np.sum(model.act(w * x + b) * model.scale * model.w) * n


def from_dict(p, x, model):
    return scaled_loss(p["w"], p["b"], p["n"], x, model)


def from_sequence(p, x, model):
    w, b, n = p
    return scaled_loss(w, b, n, x, model)


def test_repeated_calls_with_structures_get_their_own_code():
    """Structured arguments take the fast path from their second call; each call against its
    analytic gradient, alternating what a key of too little would confuse: a dict's keys, a tuple
    and a list, a leaf's kind inside a structure, a static attribute (the activation), wrt."""
    x = np.array([0.3, -0.7])
    w, b = np.array([0.5, 1.5]), np.array([0.1, -0.2])

    def expected(p, model):
        pw, pb, n = (p["w"], p["b"], p["n"]) if isinstance(p, dict) else p
        z = pw * x + pb
        slope = 1.0 - np.tanh(z) ** 2 if model.act is np.tanh else np.exp(z)
        g_h = model.w * model.scale * n
        return g_h * slope * x, g_h * slope, model.act(z) * model.scale * n

    calls = [({"w": w, "b": b, "n": 2}, Activated(np.array([1.0, 2.0]), 0.5, np.tanh)),
             ({"w": w, "b": b, "n": 2.0}, Activated(np.array([1.0, 2.0]), 0.5, np.tanh)),
             ((w, b, 3), Activated(np.array([1.0, 2.0]), 0.5, np.exp)),
             ((w, b, 3), Activated(np.array([1.0, 2.0]), 0.5, np.tanh)),
             ([w, b, 3], Activated(np.array([1.0, 2.0]), 0.5, np.exp)),
             ([w, b, 3], Activated(np.array([[1.0, 2.0]]), 2, np.tanh))]
    for _ in range(2):  # the second round takes the fast path
        for p, model in calls:
            gw, gb, gmodel_w = expected(p, model)
            f = from_dict if isinstance(p, dict) else from_sequence
            gp, gx, gmodel = zygopy.gradient(f, p, x, model)
            parts = [gp[k] for k in ("w", "b", "n")] if isinstance(p, dict) else gp
            assert type(gp) is type(p) and isinstance(gmodel, Activated) and gx is not None
            np.testing.assert_allclose(parts[0], gw.reshape(w.shape), rtol=1e-12)
            np.testing.assert_allclose(parts[1], gb.reshape(b.shape), rtol=1e-12)
            np.testing.assert_allclose(gmodel.w, gmodel_w.reshape(model.w.shape), rtol=1e-12)
            n = p["n"] if isinstance(p, dict) else p[2]
            assert (parts[2] is None) == isinstance(n, int) and gmodel.act is None
            if isinstance(model.scale, int):
                assert gmodel.scale is None
            # only the model: the others are None, not structures of None
            assert zygopy.gradient(f, p, x, model, wrt=2)[:2] == (None, None)


def test_a_replaced_rule_reaches_the_fast_path(monkeypatch):
    for _ in range(2):
        assert zygopy.gradient(poly, 2.0, 3.0)[0] == 12.0
    monkeypatch.setattr(rules, "_version", rules._version + 1)
    monkeypatch.setitem(rules.RULES, "mul", lambda g, y, a, b: (g * b * 2.0, g * a * 2.0))
    assert zygopy.gradient(poly, 2.0, 3.0)[0] == 48.0  # 2y into x * x, doubled on each operand: 8xy


def test_the_last_calls_code_takes_only_what_its_key_would(monkeypatch):
    """The code written to read a function's last arguments (api._LAST) refuses what the fast
    path's key tells apart: an infinite float, an int for a float, another dtype, a dimension of
    1, another structure; each answer equals the full path's."""
    def loss(x, p):
        return np.sum(x * p["w"]) * p["s"]

    w = np.array([0.5, 1.5])
    calls = [(np.array([1.0, 2.0]), {"w": w, "s": 2.0}), (np.array([1.0, 2.0]), {"w": w, "s": 2}),
             (np.array([1.0, 2.0]), {"w": w, "s": math.inf}),
             (np.array([1.0, 2.0], np.float32), {"w": w.astype(np.float32), "s": 2.0}),
             (np.array([[1.0], [2.0]]), {"w": w, "s": 2.0}),
             (np.array([1.0, 2.0]), {"w": w, "s": 2.0, "t": 1.0})]
    for x, p in calls:
        for _ in range(3):  # the last two through the code written for the call
            got = zygopy.gradient(loss, x, p)
        with monkeypatch.context() as m:
            m.setattr(zygopy.api, "_FAST", {})
            m.setattr(zygopy.api, "_LAST", {})
            full = zygopy.gradient(loss, x, p)
        np.testing.assert_array_equal(got[0], full[0])
        assert got[0].dtype == full[0].dtype and got[0].shape == x.shape
        # d/dx sum(x w) s = w s, summed over what x is broadcast along
        full_shape = np.broadcast_shapes(x.shape, p["w"].shape)
        analytic = np.sum(np.broadcast_to(p["w"] * p["s"], full_shape), axis=tuple(
            j for j, d in enumerate(x.shape) if d == 1 and full_shape[j] != 1), keepdims=True)
        np.testing.assert_allclose(got[0], analytic.reshape(x.shape), rtol=1e-6)
        assert got[1].keys() == full[1].keys()
        for k in p:
            np.testing.assert_array_equal(got[1][k], full[1][k])


def tanh_loss(w, x, k):
    return np.sum(np.tanh(w * x) * k)


def test_a_lambda_made_again_at_each_step_compiles_once():
    """A lambda written in a training loop is a new function at each step: each one was built
    again (6.6 ms a call) and kept in the caches for good. One made alike an earlier one (same
    code, globals, closure cells and defaults) shares its compiled code; one with other defaults
    does not. Against the analytic gradient."""
    w, x = np.array([0.3, -0.2, 0.5]), np.array([1.0, 2.0, 3.0])

    def want(k):
        return (1.0 - np.tanh(w * x) ** 2) * x * k

    entries = None
    for step in range(20):
        k = 1.0 + step  # read by the lambda from its closure cell, at the call
        (g,) = zygopy.gradient(lambda w: tanh_loss(w, x, k), w)  # noqa: B023 (late binding)
        np.testing.assert_allclose(g, want(k), rtol=1e-12)
        entries = len(zygopy.api._CACHE) if entries is None else entries
    assert len(zygopy.api._CACHE) == entries
    for k in (2.0, 5.0):
        (g,) = zygopy.gradient(lambda w, k=k: tanh_loss(w, x, k), w)
        np.testing.assert_allclose(g, want(k), rtol=1e-12)

"""zygopy's own exp, expm1, log, log1p, tanh, sigmoid, sin and cos (backend/numba_cpu/mathlib.py):
their errors in ulp against long-double references over the whole range and where each is delicate,
libm's values at the special values, and fused loops that call them (falling back to libm's sin
and cos for arguments beyond their range) against NumPy and central differences."""
import math

import numpy as np
import pytest
from numba import njit

import zygopy
from zygopy.backend.numba_cpu import mathlib
from zygopy.backend.numba_cpu.fusion import FLOAT32_KERNELS, LIMITED_RANGE

from .test_fusion import broadcast_paths

pytestmark = pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63,
                                reason="long double is no wider than double here")

TINY = np.finfo(np.float64).tiny
rng = np.random.default_rng(11)


def _on_arrays(kernel):
    @njit(error_model="numpy")
    def each(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = kernel(x[i])
        return out
    return each


def logs(lo, hi, n):
    """n positive numbers spread evenly over the exponents lo..hi (powers of 10)."""
    return 10.0 ** rng.uniform(lo, hi, n)


def uniform(lo, hi, n=200_000):
    return rng.uniform(lo, hi, n)


# kernel, NumPy's function (its long-double version is the reference), ulp bound, arguments
CASES = {
    "exp": (mathlib.zy_exp, np.exp, 0.6, [uniform(-745, 710), uniform(-3, 3), uniform(-1e-3, 1e-3),
                                          -logs(-300, 0, 10_000), [-745.1, -708.4, 709.78]]),
    "expm1": (mathlib.zy_expm1, np.expm1, 1.1, [uniform(-45, 710), uniform(-1, 1),
                                                logs(-300, 0, 50_000), -logs(-300, 0, 50_000),
                                                [-0.6931, 0.6931, -0.34657, 0.34657]]),
    "log": (mathlib.zy_log, np.log, 0.9, [np.exp(uniform(-744, 709)), uniform(0.5, 2),
                                          1 + uniform(-1e-6, 1e-6), logs(-323, -308, 10_000)]),
    "log1p": (mathlib.zy_log1p, np.log1p, 0.9, [uniform(-1, 2), np.exp(uniform(-744, 709)),
                                                logs(-320, 0, 50_000), -logs(-320, 0, 50_000),
                                                -1 + logs(-16, 0, 50_000)]),
    "tanh": (mathlib.zy_tanh, np.tanh, 0.7, [uniform(-25, 25), uniform(-1, 1),
                                             logs(-300, 0, 50_000), -logs(-300, 0, 50_000)]),
    "sigmoid": (mathlib.zy_logistic, lambda x: 1 / (1 + np.exp(-x)), 2.2,
                [uniform(-745, 40), uniform(-3, 3), logs(-300, 0, 50_000), -logs(-300, 0, 50_000)]),
    "sin": (mathlib.zy_sin, np.sin, 0.9, [uniform(-1e6, 1e6), uniform(-10, 10),
                                          logs(-300, 0, 50_000), np.pi / 2 * np.arange(1, 20_000)]),
    "cos": (mathlib.zy_cos, np.cos, 0.9, [uniform(-1e6, 1e6), uniform(-10, 10),
                                          logs(-300, 0, 50_000), np.pi / 2 * np.arange(1, 20_000)]),
}
SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-310, TINY, 1.0, -1.0, 709.79,
           710.0, -745.2, -746.0, 1e300, -1e300, 40.0, -40.0, 19.1, 2.0, 0.5]


@pytest.mark.parametrize("name", CASES)
def test_error_in_ulp(name):
    """Within the bound stated in mathlib's docstring wherever the result is a normal number;
    a subnormal result to within its spacing."""
    kernel, reference, bound, parts = CASES[name]
    x = np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])
    if name in LIMITED_RANGE:
        x = x[np.abs(x) <= mathlib.FAST_TRIG]
    with np.errstate(all="ignore"):
        got = _on_arrays(kernel)(x)
        exact = reference(x.astype(np.longdouble))
        rounded = exact.astype(np.float64)
    normal = np.isfinite(rounded) & (np.abs(rounded) >= TINY)
    spacing = np.spacing(np.abs(rounded[normal])).astype(np.longdouble)
    errors = np.abs(got[normal].astype(np.longdouble) - exact[normal]) / spacing
    worst = int(np.argmax(errors))
    assert errors.max() <= bound, f"{errors.max():.3f} ulp at {x[normal][worst]!r}"
    tiny = np.isfinite(rounded) & ~normal
    assert np.all(np.abs(got[tiny] - rounded[tiny]) <= 5e-324), x[tiny]
    assert np.array_equal(got[~np.isfinite(rounded)], rounded[~np.isfinite(rounded)],
                          equal_nan=True)


@pytest.mark.parametrize("name", CASES)
def test_special_values_are_libms(name):
    kernel, reference = CASES[name][:2]
    x = np.array(SPECIAL)
    if name in LIMITED_RANGE:
        x = x[np.abs(x) <= mathlib.FAST_TRIG]
    with np.errstate(all="ignore"):
        want = reference(x)
        got = _on_arrays(kernel)(x)
    close = np.isclose(got, want, rtol=4e-16, atol=0, equal_nan=True) | (got == want)
    assert close.all(), list(zip(x[~close], got[~close], want[~close], strict=True))
    assert np.array_equal(np.signbit(got[got == 0]), np.signbit(want[got == 0]))  # -0.0 stays


FLOAT32 = {"exp": np.exp, "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x))}


@pytest.mark.parametrize("name", FLOAT32)
def test_float32_kernels(name):
    """The kernels for float32 results, rounded to float32: within 0.75 ulp of the long-double
    value wherever it is a normal float32, the nearest subnormal or zero below, and NumPy's
    float32 function's value at the special values."""
    kernel = getattr(mathlib, FLOAT32_KERNELS[name])
    reference = FLOAT32[name]
    x = np.concatenate([rng.uniform(-110, 95, 200_000), rng.uniform(-3, 3, 200_000),
                        10.0 ** rng.uniform(-45, 1, 50_000), -(10.0 ** rng.uniform(-45, 1, 50_000)),
                        SPECIAL])
    with np.errstate(over="ignore"):
        x = x.astype(np.float32)

    @njit(error_model="numpy")
    def rounded(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = np.float32(kernel(x[i]))
        return out
    got = rounded(x)
    with np.errstate(all="ignore"):
        exact = reference(x.astype(np.longdouble))
        want = exact.astype(np.float32)
        numpy32 = reference(x)
    normal = np.isfinite(want) & (np.abs(want) >= np.finfo(np.float32).tiny)
    errors = np.abs(got[normal].astype(np.longdouble) - exact[normal]) / np.spacing(
        np.abs(want[normal])).astype(np.longdouble)
    assert errors.max() <= 0.75, f"{errors.max():.3f} ulp at {x[normal][np.argmax(errors)]!r}"
    tiny = np.isfinite(want) & ~normal
    assert np.all(np.abs(got[tiny] - want[tiny]) <= np.finfo(np.float32).smallest_subnormal)
    special = ~np.isfinite(numpy32) | ~np.isfinite(x)
    assert np.array_equal(got[special], numpy32[special], equal_nan=True)
    assert np.array_equal(np.signbit(got[x == 0]), np.signbit(numpy32[x == 0]))  # -0.0 stays


def test_far_arguments_are_flagged():
    x = np.array([0.0, 1.0, -mathlib.FAST_TRIG, mathlib.FAST_TRIG, np.nextafter(1e6, 2e6), -1e300,
                  np.inf, np.nan])
    flags = [mathlib.zy_far(v) for v in x]
    assert flags == [0, 0, 0, 0, 1, 1, 1, 1]


def waves(a, b):
    return np.sum(np.sin(a) * np.cos(b) + np.exp(-a * a) * np.tanh(b) + np.log1p(b * b))


def waves_by_numpy(a, b):
    return math.fsum(np.sin(a) * np.cos(b) + np.exp(-a * a) * np.tanh(b) + np.log1p(b * b))


@pytest.mark.parametrize("far", [0.0, 1e22, np.inf], ids=["in range", "far", "inf"])
def test_fused_loop_value_and_gradient(far):
    """The fused loop's value against NumPy's and its gradient against the analytic one, with
    arguments within the kernels' range, and with one beyond it, which makes the loop run again
    with libm's sin and cos (an infinite one makes nans, as NumPy does)."""
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    a[7] = far or a[7]
    source = zygopy.code_python(waves, a, b)
    assert "zy_sin(" in source and "zy_radd(" in source and "np.sin(" in source
    with np.errstate(invalid="ignore"):
        value, (ga, gb) = zygopy.withgradient(waves, a, b)
        ea, tb = np.exp(-a * a), np.tanh(b)
        want_a = np.cos(a) * np.cos(b) - 2 * a * ea * tb
        want_b = -np.sin(a) * np.sin(b) + ea * (1 - tb * tb) + 2 * b / (1 + b * b)
        np.testing.assert_allclose(value, waves_by_numpy(a, b), rtol=1e-13)
    np.testing.assert_allclose(ga, want_a, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gb, want_b, rtol=1e-13, atol=1e-15)


def with_power(a):
    return np.sum(np.exp(a) * a ** 1.5)


def with_square(a):
    return np.sum(np.exp(a) * a ** 2)


@pytest.mark.parametrize("f, power, vectorised", [(with_power, 1.5, False),
                                                  (with_square, 2, True)])
def test_loops_calling_libm_keep_it(f, power, vectorised):
    """A loop that calls a libm function zygopy has no kernel for (pow, unless the power is 2 or
    another int, which Numba multiplies out) is not vectorised: its exp stays libm's, which is
    faster one element at a time."""
    a = rng.uniform(0.5, 2.0, 16)
    source = zygopy.code_python(f, a)
    assert ("zy_exp(" in source) == ("zy_radd(" in source) == vectorised != ("np.exp(" in source)
    value, (grad,) = zygopy.withgradient(f, a)
    np.testing.assert_allclose(value, np.sum(np.exp(a) * a ** power), rtol=1e-13)
    np.testing.assert_allclose(grad, np.exp(a) * (a ** power + power * a ** (power - 1)),
                               rtol=1e-13)


def log_mixture(x, m):
    return np.sum(np.log(np.sum(np.exp(-(x[:, None] - m[None, :]) ** 2), axis=1)))


@pytest.mark.parametrize("components", [3, 9])
def test_short_inner_loops_call_libm(components):
    """A nest whose innermost dimension is shorter than a vector calls libm's exp (one element
    at a time it is faster), a longer one zygopy's: both give the value and the analytic
    gradient."""
    x, m = rng.standard_normal(40), rng.standard_normal(components)
    source = zygopy.code_python(log_mixture, x, m)
    assert "too short to vectorise" in source and "zy_exp(" in source and "np.exp(" in source
    value, (gx, gm) = zygopy.withgradient(log_mixture, x, m)
    d = x[:, None] - m[None, :]
    e = np.exp(-d * d)
    share = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(value, np.sum(np.log(e.sum(axis=1))), rtol=1e-13)
    np.testing.assert_allclose(gx, np.sum(-2 * d * share, axis=1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gm, np.sum(2 * d * share, axis=0), rtol=1e-12, atol=1e-14)


def gate(z, c):
    n = c.shape[1]
    return np.sum(np.exp(-z[:, :n]) * np.tanh(c))


def test_strided_views_are_copied_for_the_kernels():
    """LLVM does not vectorise a loop reading z[:, :n], whose rows are not contiguous: where
    nothing is broadcast, the loop reads a contiguous copy of it and calls zygopy's exp and tanh;
    otherwise it reads the view and calls libm's. Both give the analytic gradient."""
    z, c = rng.standard_normal((6, 12)), rng.standard_normal((6, 5))
    source = zygopy.code_python(gate, z, c)
    forward = source[source.index("def gate_forward"):source.index("def gate_pullback")]
    fast, slow = broadcast_paths(forward)
    assert "= np.ascontiguousarray(" in fast and "zy_exp(" in fast, forward
    assert "np.ascontiguousarray(" not in slow and "np.exp(" in slow, forward
    value, (gz, gc) = zygopy.withgradient(gate, z, c)
    e, t = np.exp(-z[:, :5]), np.tanh(c)
    np.testing.assert_allclose(value, np.sum(e * t), rtol=1e-13)
    np.testing.assert_allclose(gz[:, :5], -e * t, rtol=1e-13)
    np.testing.assert_array_equal(gz[:, 5:], 0.0)
    np.testing.assert_allclose(gc, e * (1 - t * t), rtol=1e-13)

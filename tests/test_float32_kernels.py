"""Elementwise functions with a float32 kernel of zygopy's own (backend/numba_cpu/runtime.py):
checked against float64 NumPy rounded to float32, over the whole range and at the special values,
and seen in the generated code of float32 functions only."""
import numba
import numpy as np
import pytest

import zygopy
from zygopy.backend.numba_cpu.runtime import zy_tanh32

tanh32 = numba.njit(lambda x: zy_tanh32(x))  # a helper generated code calls, not Python


def ulp_errors(got, exact):
    """|got - exact| in units of float32's spacing at exact (float64)."""
    spacing = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


def test_tanh32_is_correctly_rounded():
    """Within half an ulp of the float64 tanh everywhere (glibc's tanhf: up to 2 ulp), at small
    arguments (where e - 1 cancels), around the cut-offs at 1e-6 and 10, and far beyond them."""
    grid = np.linspace(-12, 12, 400_001, dtype=np.float32)
    logs = (np.float32(10.0) ** np.linspace(-40, 1.5, 200_001)).astype(np.float32)
    cuts = np.float32([1e-6, 10.0])
    around = np.concatenate([np.nextafter(cuts, 0), cuts, np.nextafter(cuts, np.inf)])
    x = np.concatenate([grid, logs, -logs, around, -around, np.float32([3e38, -3e38])])
    exact = np.tanh(x.astype(np.float64))
    got = tanh32(x)
    assert got.dtype == np.float32
    assert ulp_errors(got, exact).max() <= 0.5 + 1e-6


def test_tanh32_special_values():
    x = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45])
    with np.errstate(invalid="ignore"):  # the nan's, raised inside the kernel
        got = tanh32(x)
    np.testing.assert_array_equal(got[:4], [0.0, -0.0, 1.0, -1.0])
    assert np.signbit(got[1]) and np.isnan(got[4])
    np.testing.assert_array_equal(got[5:], x[5:])  # a subnormal is its own tanh


def tanh_loss(x, w):
    return np.sum(np.tanh(x * w) * x)


def tanh_matmul(x, w):
    return np.sum(np.tanh(x) @ w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_code_calls_it(dtype):
    """Fused loops call zygopy's tanh kernel (mathlib.zy_tanh, or zy_tanh_f32 for a float32
    result), a float32 tanh on a whole array calls zy_tanh32, a float64 one NumPy's. The value and
    gradient agree with NumPy in float64."""
    rng = np.random.default_rng(3)
    x, w = rng.uniform(-2, 2, 50).astype(dtype), rng.uniform(-2, 2, 50).astype(dtype)
    fused = zygopy.code_python(tanh_loss, x, w)
    kernel = "zy_tanh_f32(" if dtype == np.float32 else "zy_tanh("
    assert kernel in fused and "np.tanh(" not in fused
    whole = zygopy.code_python(tanh_matmul, x.reshape(5, 10), w[:10])
    assert ("zy_tanh32(" in whole) == (dtype == np.float32) != ("np.tanh(" in whole)
    value, (gx, gw) = zygopy.withgradient(tanh_loss, x, w)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    t = np.tanh(x64 * w64)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(value, np.sum(t * x64), rtol=rtol)
    np.testing.assert_allclose(gx, t + x64 * w64 * (1 - t * t), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gw, x64 * x64 * (1 - t * t), rtol=rtol, atol=rtol)

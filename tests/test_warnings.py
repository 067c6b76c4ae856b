"""Numba's performance warnings are about generated code the user cannot change: compiling a
gradient does not pass them on. The gradient is checked against the analytic one."""
import warnings

import numpy as np
import pytest
from numba.core.errors import NumbaPerformanceWarning

import zygopy


def recurrence(W, h, x):
    for t in range(x.shape[0]):
        h = np.tanh(h @ W + x[t])  # the reverse multiplies by transposes: non-contiguous operands
    return np.sum(h)


def test_compiling_passes_on_no_performance_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("ZYGOPY_CACHE_DIR", str(tmp_path))  # compiled here, not loaded
    rng = np.random.default_rng(3)
    W, h, x = rng.normal(size=(3, 3)), rng.normal(size=(2, 3)), rng.normal(size=(1, 2, 3))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        dW, dh, dx = zygopy.gradient(recurrence, W, h, x)
    assert not [w for w in seen if issubclass(w.category, NumbaPerformanceWarning)]
    y = np.tanh(h @ W + x[0])
    g = 1.0 - y * y
    np.testing.assert_allclose(dW, h.T @ g, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dh, g @ W.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx[0], g, rtol=1e-12, atol=1e-14)
    assert pytest.approx(np.sum(y)) == recurrence(W, h, x)

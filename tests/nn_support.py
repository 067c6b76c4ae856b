"""Helpers the tests share: gradients from the reference evaluator (no Numba compile: the adjoint
IR run on NumPy), on both routes, and central finite differences over every array of a model."""
import numpy as np
import pytest

from zygopy import withgradient
from zygopy.backend import tiered
from zygopy.nn.saving import ModelFileError, load, named_arrays


def interpreted_gradient(f, *args):
    """zygopy.withgradient(f, *args), computed by the evaluator from the same adjoint IR."""
    old, tiered.INTERPRET_ONLY = tiered.INTERPRET_ONLY, True
    try:
        return withgradient(f, *args)
    finally:
        tiered.INTERPRET_ONLY = old


def both_routes(monkeypatch, f, *args, **kwargs):
    """f's withgradient interpreted, then compiled."""
    results = []
    for interpret in (True, False):
        monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
        monkeypatch.setenv("ZYGOPY_INTERPRET_WHILE_COMPILING", "1" if interpret else "0")
        results.append(withgradient(f, *args, **kwargs))
    return results


def finite_differences(f, args, k):
    """{name: array} central differences of f(*args) with respect to every array in args[k]
    (a model, or an array), one element at a time, in float64."""
    target = args[k]
    arrays = {"": target} if isinstance(target, np.ndarray) else named_arrays(target)
    out = {}
    for name, a in arrays.items():
        g = np.zeros(a.shape)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            h = 1e-6 * max(1.0, abs(old))
            a[idx] = old + h
            up = float(f(*args))
            a[idx] = old - h
            down = float(f(*args))
            a[idx] = old
            g[idx] = (up - down) / (2 * h)
        out[name] = g
    return out


def assert_matches_finite_differences(f, args, k, grads, rtol=1e-6, atol=1e-8):
    """Tolerances: float64, h = 1e-6 relative; the functions tested here are smooth at the points
    drawn and |f| = O(1), so truncation (h^2) and rounding (eps/h ~ 2e-10) errors stay far below
    atol, while a wrong rule is off by O(1)."""
    expected = finite_differences(f, args, k)
    got = {"": grads} if isinstance(grads, np.ndarray) else named_arrays(grads)
    assert set(got) == set(expected), f"gradient arrays {sorted(got)} for {sorted(expected)}"
    for name, e in expected.items():
        np.testing.assert_allclose(got[name], e, rtol=rtol, atol=atol, err_msg=name or "array")



def expect_rejected(path, model, match=None):
    """Loading `path` into `model` raises ModelFileError (matching `match`) and leaves the model
    as it was."""
    before = {k: v.copy() for k, v in named_arrays(model).items()}
    with pytest.raises(ModelFileError, match=match):
        load(path, model)
    for k, v in named_arrays(model).items():
        np.testing.assert_array_equal(v, before[k])

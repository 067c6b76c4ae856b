"""Gradients of `%` and fmod on arrays, arrays with scalars, and float32. Their rules used
math.floor and int(), which work on scalars only, so Numba could not compile an array gradient."""
import math

import numpy as np
import pytest

from .reference import PATHS, check_gradients


def mod(a, b):
    return np.sum(a % b)


def fmod(a, b):
    return np.sum(np.fmod(a, b))


def scalar_remainders(x, y):
    return x % y + math.fmod(x, y) * x


A = np.array([1.3, -2.5, 3.7])
B = np.array([0.7, 0.9, -1.1])
OPERANDS = {"arrays": (A, B), "array and scalar": (A, 0.6), "scalar and array": (1.7, B)}


def _far_from_jumps(a, b):
    """Every a / b at least 0.1 from an integer, where % and fmod jump. Between the jumps both are
    linear in a and in b, so central differences (steps of 1e-4 relative, moving a / b by under
    1e-3 here) are exact up to rounding, and the shared tolerance of check_gradients (three times
    the spread of two step sizes, plus 1e-6 relative) is ample; a jump inside a step would be off
    by the size of the jump over the step, about 1e3."""
    q = np.asarray(a) / np.asarray(b)
    return bool(np.all(np.abs(q - np.round(q)) >= 0.1))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("operands", OPERANDS)
@pytest.mark.parametrize("f", [mod, fmod])
def test_float64(f, operands, path):
    args = OPERANDS[operands]
    assert _far_from_jumps(*args)
    check_gradients(f, args, path, (0, 1))


@pytest.mark.parametrize("path", PATHS)
def test_scalars(path):
    assert _far_from_jumps(1.3, 0.7)
    check_gradients(scalar_remainders, (1.3, 0.7), path, (0, 1))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("f, quotient", [(mod, np.floor), (fmod, np.trunc)])
def test_float32(f, quotient, path):
    # analytic: a % b = a - floor(a / b) b, fmod(a, b) = a - trunc(a / b) b, so the gradient of
    # the sum is 1 for each element of a and -quotient for each of b; the quotients are small
    # integers away from a jump, exact in float64, and float32 arithmetic gets them to within a
    # few units in the last place (float32's is 1.2e-7)
    a, b = A.astype(np.float32), B.astype(np.float32)
    value, (da, db) = PATHS[path](f, (a.copy(), b.copy()), (0, 1))
    assert value == pytest.approx(float(f(a, b)), rel=1e-6)
    q = quotient(a.astype(np.float64) / b.astype(np.float64))
    assert da.dtype == np.float32 and db.dtype == np.float32
    assert np.array_equal(da, np.ones(3))
    assert np.allclose(db, -q, rtol=1e-6, atol=0)

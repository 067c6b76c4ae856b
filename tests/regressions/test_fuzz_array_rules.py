"""Array bugs found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 1 ...`) on its first
array programs, each shrunk by hand to its core and checked on every path.

- program 24: `np.max` of an array holding two copies of one value gave the derivative twice, since
  the rule sent the whole gradient to every element equal to the maximum. The elements equal to the
  extremum now share it equally (as JAX does), so copies that move together add up to one derivative.
- programs 11 and 67: the evaluator's `sign` (in the rule of `abs`) subtracted NumPy bools and raised
  for an element read from an array, a NumPy scalar.
- program 67: the evaluator wrote into the caller's arrays (a crash left them changed for the next
  call); it now works on copies, as the compiled paths do.
"""
import numpy as np
import pytest

import zygopy
from zygopy.ir.evaluate import evaluate_gradient

from .reference import PATHS, check_gradients


def tied_maximum(a):
    b = a.copy()
    b[1] = a[0]
    return np.max(b) + np.min(b[1:])


def tied_rows(w, s):
    b = np.concatenate((w, w), axis=1)  # every row's maximum appears twice
    return np.sum(np.max(b, axis=1) * s) + np.min(b)


def abs_of_element(a, x):
    return abs(a[0] * x) + abs(a[1] - x)


def writes_its_argument(a):
    a[0] = 2.0 * a[1]
    return np.sum(a * a)


@pytest.mark.parametrize("path", PATHS)
def test_tied_maximum(path):
    check_gradients(tied_maximum, (np.array([0.9, -0.3, 0.2]),), path, (0,))


@pytest.mark.parametrize("path", PATHS)
def test_tied_rows(path):
    check_gradients(tied_rows, (np.array([[1.0, 3.0], [0.5, -2.0]]), np.array([1.0, 2.0])), path, (0, 1))


def test_tied_maximum_shares_the_gradient():
    # analytic: d max(a) / da for a = (1, 1, 0), whose first two elements tie, is (1/2, 1/2, 0)
    grads = zygopy.gradient(maximum, np.array([1.0, 1.0, 0.0]))
    assert np.array_equal(grads[0], [0.5, 0.5, 0.0])


def maximum(a):
    return np.max(a)


@pytest.mark.parametrize("path", PATHS)
def test_abs_of_element(path):
    check_gradients(abs_of_element, (np.array([0.7, -1.2]), 0.4), path, (0, 1))


def test_evaluator_leaves_the_callers_array():
    a = np.array([1.0, 3.0])
    value, grads = evaluate_gradient(zygopy.code_adjoint(writes_its_argument, a), (a,))
    assert np.array_equal(a, [1.0, 3.0])
    assert value == 45.0 and np.array_equal(grads[0], [0.0, 30.0])  # 4 a1^2 + a1^2: d/da1 = 10 a1


def element_written_from_a_float(x, a):
    a[0] = x
    return np.mean(a)


@pytest.mark.parametrize("path", PATHS)
def test_element_written_from_a_float(path):
    # program 134: the evaluator returned the float's gradient as a 0-d array (np.copy of an element)
    check_gradients(element_written_from_a_float, (0.5, np.array([-0.8, -1.1, -1.6])), path, (0, 1))

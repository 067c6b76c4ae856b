"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 1 ...`, program 3359),
then shrunk by tools/fuzz/shrink.py.

The eval path raises at f(0.5,): ZeroDivisionError: 0.0 cannot be raised to a negative power
"""
import math

import pytest

import zygopy
from zygopy.ir.evaluate import evaluate_gradient

from .reference import central_difference


def f(x0):
    v1 = False * x0
    return v1 ** 0.0

ARGS = (0.5,)
WRT = (0,)  # the arguments differentiated (the others get None)


def gradients(args):
    """Value and gradients from the adjoint IR run by the reference evaluator (no Numba)."""
    adj = zygopy.code_adjoint(f, *args)
    value, grads = evaluate_gradient(adj, args)
    return value, [None if g is None else float(g) for g in grads]


def test_eval_crash_bcaf0f():
    value, grads = gradients(ARGS)
    expected = f(*ARGS)
    assert value == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert len(grads) == len(ARGS)
    for i, x in enumerate(ARGS):
        if i in WRT:
            ref, spread = central_difference(f, ARGS, i)
            tol = 3 * spread + 1e-6 * abs(ref) + 1e-7 * max(1.0, abs(expected))
            assert abs(grads[i] - ref) <= tol, (i, grads[i], ref)
        else:
            assert grads[i] is None

"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 1 --count 10000 ...`, program 9060,
value mismatch on the fused and split paths at (1.1644761949562827, 3.2606265387774664, 26): zygopy
-2.2370981320639867e-09, plain Python 2.2370981320639867e-09), then shrunk by tools/fuzz/shrink.py to `f`.

Bug: the generated Numba source writes a negative constant base without parentheses, so `(-1.0) ** n`
becomes `-1.0 ** n`, which Python (and Numba) parse as `-(1.0 ** n)`: the compiled paths got the value
and the gradient wrong by a sign whenever the power is even. The adjoint IR and its evaluator were right.
Fixed at the root: the backend's `const` parenthesises every negative literal it writes.
"""
import math

import pytest

import zygopy
from zygopy.ir.evaluate import evaluate_gradient

from .reference import central_difference


def f(n):
    return (-1.0) ** n


def g(x, n):
    return (-1.5) ** n * x


def split(fn, args):
    """Value and gradients from the compiled split path: pullback, then back(1.0) twice."""
    value, back = zygopy.pullback(fn, *args)
    first, second = back(1.0), back(1.0)
    assert first == second, (first, second)
    return value, list(first)


def fused(fn, args):
    value, grads = zygopy.withgradient(fn, *args)
    return value, list(grads)


def test_evaluator_is_right():
    assert evaluate_gradient(zygopy.code_adjoint(f, 0), (0,))[0] == 1.0
    value, grads = evaluate_gradient(zygopy.code_adjoint(g, 0.5, 2), (0.5, 2))
    assert value == 1.125 and grads[0] == 2.25


@pytest.mark.parametrize("path", [split, fused])

def test_shrunk_program_value(path):
    value, grads = path(f, (0,))
    assert value == f(0) == 1.0  # zygopy gives -1.0
    assert grads == [None]


@pytest.mark.parametrize("path", [split, fused])

def test_gradient_through_negative_base_power(path):
    args = (0.5, 2)
    value, grads = path(g, args)
    assert value == pytest.approx(g(*args), rel=1e-12)  # 1.125; zygopy gives -1.125
    ref, spread = central_difference(g, args, 0)
    assert abs(grads[0] - ref) <= 3 * spread + 1e-9  # 2.25; zygopy gives -2.25
    assert grads[1] is None

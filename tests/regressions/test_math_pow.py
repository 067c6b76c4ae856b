"""math.pow always returns a float, ints in or not: math.pow(10, 20) is 1e+20, where 10 ** 20
overflows int64 (compiled, it gave 7.77e18)."""
import math

import pytest

import zygopy
from zygopy.ir.types import FLOAT

from .reference import PATHS, check_gradients


def constant_power(x):
    return x * math.pow(10, 20)


def int_argument_power(x, n):
    return x * math.pow(n, 30) + math.pow(x, n)


@pytest.mark.parametrize("path", PATHS)
def test_constant_power(path):
    check_gradients(constant_power, (2.0,), path, (0,))


@pytest.mark.parametrize("path", PATHS)
def test_int_argument_power(path):
    check_gradients(int_argument_power, (1.5, 10), path, (0,))


def test_values_and_gradients_are_floats():
    # analytic: d/dx (x n^30 + x^n) = n^30 + n x^(n-1)
    assert zygopy.withgradient(constant_power, 2.0) == (2e20, (1e20,))
    value, (dx, dn) = zygopy.withgradient(int_argument_power, 1.5, 10)
    assert value == pytest.approx(1.5e30 + 1.5 ** 10, rel=1e-15)
    assert dx == pytest.approx(1e30 + 10 * 1.5 ** 9, rel=1e-15) and dn is None


def test_typed_float():
    ir = zygopy.code_ir(int_argument_power, 1.5, 10)
    powers = [s.var for b in ir.blocks for s in b.stmts if s.op == "pow"]
    assert len(powers) == 2 and all(v.type == FLOAT for v in powers)

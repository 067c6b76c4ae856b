"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 1 ...`, program 3359),
then shrunk by tools/fuzz/shrink.py.

The eval path raises at f(0.5,): ZeroDivisionError: 0.0 cannot be raised to a negative power
"""
import math

import pytest

from .reference import PATHS, check_gradients


def f(x0):
    v1 = False * x0
    return v1 ** 0.0


ARGS = (0.5,)
WRT = (0,)  # the arguments differentiated (the others get None on the eval_wrt path)


@pytest.mark.parametrize("path", PATHS)
def test_eval_crash_bcaf0f(path):
    check_gradients(f, ARGS, path, WRT)

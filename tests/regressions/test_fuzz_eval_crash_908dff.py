"""Found by the gradient fuzzer
(`python tools/fuzz_gradients.py --seed 221 ...`, program 32), then shrunk by
tools/fuzz/shrink.py.

The reverse pass sized a gradient with a shape it computed only after the allocation (np.sin of a
value the loop passes on, summed on the way out of the loop: it shares that value's shape, which
the loop's forward does not keep, so the shape was read from the sum's operand at the end of the
block). The eval path raised at f(array([ 0.2,  0.3,  0.4, -0.7]), array([[-0. , -0.2, -0.8, -0. ],
[-0.5,  0.4,  0.1, -0.5],
       [ 0.3,  0.2,  0.7, -0.8],
       [-0.3,  0.2, -1. ,  0. ]])):
KeyError: %19
"""
import math

import numpy as np
import pytest

from .reference import PATHS, check_gradients


def f(a0, w):
    for k1 in range(0, 0, 1):
        if w[0, 0] <= 1.0:
            a0 = np.sin(a0)
        else:
            return np.sum(np.sin(a0))
    return 1.0


ARGS = (np.array([0.2, 0.3, 0.4, -0.7]), np.array([[-0.0, -0.2, -0.8, -0.0], [-0.5, 0.4, 0.1, -0.5], [0.3, 0.2, 0.7, -0.8], [-0.3, 0.2, -1.0, 0.0]]),)
WRT = (0, 1)  # the arguments differentiated (the others get None on the eval_wrt path)


@pytest.mark.parametrize("path", PATHS)
def test_eval_crash_908dff(path):
    check_gradients(f, ARGS, path, WRT if path == "eval_wrt" else (0, 1))

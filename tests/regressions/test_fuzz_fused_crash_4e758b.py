"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 9 ...`, program 104),
then shrunk by tools/fuzz/shrink.py.

The fused path raises at f(0.5, 0.5, 0): ZygopyError: File "/tmp/zygopy-shrink-
gy2ncgz9/cand_60a7d19e7e_280.py", line 10: internal error: Numba could not compile the code
generated for 'f'; please report it with this message Failed in nopython mode pipeline (step: inline
inlinable functions) Calling a closure with *args is unsupported.  File "../../tmp/zygopy-shrink-
gy2ncgz9/cache/zygopy_generated_b0c48f4ab7a16bd215aac2ca.py", line 353: def
f_value_and_gradient(x0_1, x1_2, n_3, dy):
"""
import math

import pytest

from .reference import PATHS, check_gradients


def helper(a, b):
    if b > 0.0:
        return math.tanh(b)
    return 0.0 / math.cos(b)


def f(x0, x1, n):
    v1 = 1.0 <= x1 and 1.0 or 1.0
    if n == 0:
        if 1.0 >= x1:
            if x0 >= 0.0:
                return max(n, math.sin(helper(1.0, 1.0 - x1)))
            elif 0.0 < x1 < 0.0:
                v1 = math.cos(1.0 * x1)
        return 0.0 / math.sin(min(v1, 1.0, 0.0))
    return math.cos(math.atan2(0.0, math.cos(x1)) * helper(1.0, x0))


ARGS = (0.5, 0.5, 0)
WRT = (0, 1)  # the arguments differentiated (the others get None on the eval_wrt path)


@pytest.mark.parametrize("path", PATHS)
def test_fused_crash_4e758b(path):
    check_gradients(f, ARGS, path, WRT)

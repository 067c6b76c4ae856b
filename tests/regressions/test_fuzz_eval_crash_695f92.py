"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 191 ...`, program 147),
then shrunk by tools/fuzz/shrink.py.

The eval path raised at f(0.5,): IndexError: pop from empty list. The tape took the header of the
`while i4` loop for a block run once per trip of the `for` loop around it (one record reserved per
trip), because that loop's body had been measured before counting the inner loops' trips split
blocks off inside it; the header runs several times per trip, each record overwriting the last.
The evaluator's stack ran out; the compiled paths happened to read back the right edges here.
"""
from .reference import PATHS, check_gradients


def f(x0):
    a0 = [1.0, 1.0]
    for j3 in range(len(a0)):
        i4 = 0
        while i4 < 1:
            i4 += 1
            while x0 < 1.0:
                if x0 >= 0:
                    break
    return 1.0


def g(x0, n):
    """The same shape with a gradient: each trip of the inner loop scales s."""
    s = 1.0
    for _ in range(n):
        i = 0
        while i < 2:
            i += 1
            while s < 10.0:
                s = s * x0 + 0.5
                if s > 0:
                    break
    return s


def test_eval_crash_695f92():
    for path in PATHS:
        check_gradients(f, (0.5,), path, (0,))
        check_gradients(g, (0.7, 3), path, (0,))

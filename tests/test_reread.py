"""Elements read again in the reverse pass instead of recorded (adjoint/tape.py, reread), and loop
indices counted down rather than recorded: the tape of a loop body shrinks to what its writes
overwrite, and the gradients stay those of central differences wherever a write comes between a
read and its use, on every route."""
import math

import numpy as np
import pytest

import zygopy

from .regressions.reference import PATHS, central_difference


def heat(u0, c, steps):
    u = u0.copy()
    v = u0.copy()
    n = u.shape[0]
    for _ in range(steps):
        for i in range(1, n - 1):
            v[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1]) - 0.01 * u[i] ** 3
        u, v = v, u
    return np.sum(u * u)


def read_write_read(a0, c):
    """The same element read before its write and after it: the two reads see different
    values, and only the first is in the state the reverse has restored at the end."""
    a = a0.copy()
    s = 0.0
    for _ in range(3):
        for i in range(a.shape[0]):
            x = a[i]
            a[i] = c * x + math.sin(x)
            y = a[i]
            s += x * y + y * y * c
    return s


def neighbour_written(a0, c):
    """A read of a[i + 1] after a[i] was written: its window ends before the write's undo."""
    a = a0.copy()
    s = 0.0
    for _ in range(2):
        for i in range(a.shape[0] - 1):
            a[i] = a[i] * c + a[i + 1]
            s += a[i + 1] * a[i] - c * a[i + 1] ** 2
    return s


def used_after_write(a0, c):
    """A value computed from a read and used after a later write into the same array."""
    a = a0.copy()
    b = a0 * 0.5
    s = 0.0
    for i in range(a.shape[0]):
        x = a[i] * c - b[i]
        a[i] = x * x
        b[i] = c * a[i]
        s += x * b[i] + a[i]
    return s


def swapped(u0, w0, c):
    """Double buffers swapped each step, a read of each in the same body."""
    u, w = u0.copy(), w0.copy()
    for _ in range(3):
        for i in range(u.shape[0]):
            w[i] = c * u[i] * w[i] + u[i] ** 2
        u, w = w, u
    return np.sum(u) + np.sum(w * w)


rng = np.random.default_rng(7)
CASES = {
    "heat": (heat, (rng.uniform(0, 1, 9), 0.2, 4)),
    "read_write_read": (read_write_read, (rng.uniform(-1, 1, 5), 0.7)),
    "neighbour_written": (neighbour_written, (rng.uniform(-1, 1, 6), 0.6)),
    "used_after_write": (used_after_write, (rng.uniform(-1, 1, 5), 0.9)),
    "swapped": (swapped, (rng.uniform(-1, 1, 5), rng.uniform(-1, 1, 5), 0.8)),
}


# the compiled paths for two cases (each compiles for seconds): what they add is the emitted code
ROUTES = [(case, path) for case in CASES for path in PATHS
          if path.startswith("eval") or case in ("heat", "swapped")]


@pytest.mark.parametrize("case, path", ROUTES)
def test_gradients_match_central_differences(case, path):
    f, args = CASES[case]
    _, grads = PATHS[path](f, args, None)
    for i, a in enumerate(args):
        if isinstance(a, int):
            continue
        ref, spread = central_difference(f, args, i)
        # Richardson-extrapolated differences: their spread bounds their own error
        assert np.allclose(grads[i], ref, rtol=1e-7, atol=1e-7 + 10 * np.max(spread)), (i, grads[i],
                                                                                      ref)


def test_heat_records_what_its_write_overwrites():
    """Per trip of the stencil's inner loop the tape holds the overwritten element alone: the
    neighbours and the Laplacian are read again, and the index is the trip the reverse counts
    down; as a hand-written adjoint keeps one state per element and step."""
    tape = zygopy.code_adjoint(heat, np.ones(9), 0.2, 4).__str__().split("forward:")[0]
    line = heat.__code__.co_firstlineno + 5
    inner = next(text for text in tape.splitlines() if f"line {line}:" in text)
    assert inner.endswith("1 float64 (8 bytes) per trip")

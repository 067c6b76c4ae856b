"""Element accesses proved within bounds (ir/bounds.py) compile unchecked; everything else keeps
its check, so an index out of range is still an IndexError at the user's line, never a read of
stray memory. Gradients against central differences (float64, h = 1e-6, O(1) values: error
~1e-9)."""
import re

import numpy as np
import pytest

import zygopy
from zygopy.errors import ZygopyError
from zygopy.ir.bounds import accesses_in_bounds


def stencil(u0, c, steps):
    u = u0.copy()
    v = np.zeros(u0.shape[0])
    n = u.shape[0]
    for _ in range(steps):
        for i in range(1, n - 1):
            v[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u, v = v, u
    return np.sum(u * u)


def past_the_end(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i + 1]
    return s


def before_the_start(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i - 1]  # x[-1] is the last element, as in Python
    return s


def other_length(x, y):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    return s


def regrown(x, m):
    a = np.zeros(m)
    s = 0.0
    for k in range(3):
        for i in range(m):
            s += a[i] + x[i % 2] * k
        a = np.zeros(m + k)  # another length each trip: a's length is not known
    return s


def proved(f, *args):
    """How many of the element accesses in f's IR are proved, and how many there are."""
    fn = zygopy.api.compiled(f, args).primal_ir
    accesses = [s for b in fn.blocks for s in b.stmts if s.op in ("getindex", "setindex")
                and isinstance(s.args[0].type, zygopy.ir.types.ArrayT)]
    return len(accesses_in_bounds(fn)), len(accesses)


def test_what_is_proved():
    x = np.linspace(0.1, 0.9, 6)
    assert proved(stencil, x, 0.1, 3) == (4, 4)  # u[i - 1], u[i], u[i + 1] and v[i]
    assert proved(past_the_end, x) == (1, 2)  # not x[i + 1]
    assert proved(before_the_start, x) == (1, 2)  # not x[i - 1]
    assert proved(other_length, x, x) == (1, 2)  # not y[i]
    assert proved(regrown, x, 4)[0] == 0


def test_proved_accesses_compile_unchecked():
    source = zygopy.code_python(stencil, np.linspace(0.1, 0.9, 6), 0.1, 3)
    primal = source.split("def stencil_primal")[1].split("\ndef ")[0]
    assert "zy_at(u" in primal and "zy_put(v" in primal
    # no checked u[i], u[i - 1], v[i] ... (the final sum is a fused loop of its own)
    assert not re.search(r"\b[uv]_\d+\[(i_|v)\d+\]", primal), primal


@pytest.mark.parametrize("f, args", [(past_the_end, (np.ones(4),)),
                                     (other_length, (np.ones(4), np.ones(3)))])
def test_accesses_not_proved_still_raise(f, args):
    with pytest.raises(IndexError):
        f(*args)
    with pytest.raises(ZygopyError, match="IndexError"):
        zygopy.gradient(f, *args)


@pytest.mark.parametrize("f, args", [(stencil, (np.linspace(0.1, 0.9, 7), 0.3, 4)),
                                     (before_the_start, (np.linspace(-0.5, 0.8, 5),)),
                                     (other_length, (np.linspace(-0.5, 0.8, 5), np.ones(6)))])
def test_gradients(f, args):
    g = zygopy.gradient(f, *args, wrt=0)[0]
    x, h = args[0], 1e-6
    for i in range(x.shape[0]):
        e = np.zeros_like(x)
        e[i] = h
        fd = (f(x + e, *args[1:]) - f(x - e, *args[1:])) / (2 * h)
        assert g[i] == pytest.approx(fd, rel=1e-6, abs=1e-8)

"""Reverse loops entered with an exactly zero gradient are skipped (adjoint/idle_loops.py): the
k-means cost (`nearest`) reverses the distance to the nearest centre only, and its loop over the
centres stops once its gradient has gone to the nearest one. Checked against central
differences and analytic gradients on the evaluator and the compiled code, with gradients that
are zero, partly zero and NaN entering the loop."""
import math

import numpy as np
import pytest

import zygopy
from zygopy.ir.evaluate import evaluate_gradient

from .regressions.reference import check_gradients
from .test_reread import nearest  # k-means' cost


def sums(x):
    """Two gradients enter its reverse loop: it runs unless both are zero."""
    a = 0.0
    b = 0.0
    for i in range(x.shape[0]):
        a += x[i]
        b += x[i] * x[i]
    return a, b


def product(x):
    """Its reverse loop reads what the forward recorded per trip, as many per trip: tested in
    every trip, and a skip drops the records of the trips left."""
    p = 1.0
    for i in range(x.shape[0]):
        p = p * x[i]
    return min(p, 2.0)


def carried(x, a, pick):
    """The loop's gradient flows out of it, to x * x: zero if skipped (pick = 0)."""
    v = x * x
    for e in a:
        v = v * 0.5 + e
    return v if pick else x


def guards(f, *args):
    """The reverse blocks testing whether a loop's entering gradient is zero (`6'z:`)."""
    reverse = str(zygopy.code_adjoint(f, *args)).split("reverse:")[1]
    return [line for line in reverse.splitlines() if line.endswith("z:")]


rng = np.random.default_rng(3)
X, C = rng.uniform(-1, 1, (6, 3)), rng.uniform(-1, 1, (4, 3))


def chains(x, y):
    """Per point, an inner loop keeps the least link of a chain (its reverse stops at the link
    chosen, dropping the records of the links before it); the outer loop records values of its
    own, which the reverse still reads after each stop."""
    s = 0.0
    for j in range(x.shape[0]):
        best = math.inf
        for k in range(y.shape[0]):
            best = min(best, (x[j] - y[k]) ** 2 * (1.0 + y[k] * y[k]))
        s = s * math.cos(best) + best
    return s


def test_kmeans_skips_the_distances_of_the_centres_not_chosen():
    # the loop over i (its distance lost or won), and the loop over the centres, tested per trip
    assert len(guards(nearest, X, C, 0.3)) == 2
    assert len(guards(product, np.ones(3))) == 1


@pytest.mark.parametrize("path", ["eval", "fused", "split"])
def test_a_loop_stopped_early_leaves_the_records_of_the_loop_around_it(path):
    x, y = rng.uniform(-1, 1, 7), rng.uniform(-1, 1, 5)
    assert len(guards(chains, x, y)) == 1
    check_gradients(chains, (x, y), path, wrt=(0, 1))


@pytest.mark.parametrize("path", ["eval", "fused", "split"])
def test_kmeans_gradient(path):
    check_gradients(nearest, (X, C, 0.3), path, wrt=(0, 1, 2))


@pytest.mark.parametrize("compiled", [False, True], ids=["eval", "compiled"])
def test_loop_runs_unless_every_entering_gradient_is_zero(compiled):
    x = rng.uniform(-1, 1, 5)
    assert len(guards(sums, x)) == 1
    if compiled:
        _, back = zygopy.pullback(sums, x)
    else:
        adjoint = zygopy.code_adjoint(sums, x)

        def back(dy):
            return evaluate_gradient(adjoint, (x,), dy)[1]
    for da, db in [(1.0, 0.0), (0.0, 1.0), (0.5, -2.0), (0.0, 0.0)]:
        # d/dx (da * sum(x) + db * sum(x^2)) = da + 2 db x
        assert np.allclose(back((da, db))[0], da + 2 * db * x, rtol=1e-14, atol=0)
    assert np.isnan(back((math.nan, 0.0))[0]).all()  # NaN * 0 is NaN: not skipped


@pytest.mark.parametrize("path", ["eval", "fused"])
@pytest.mark.parametrize("x", [[2.0, 3.0, 1.5], [0.5, 1.2, 0.9]], ids=["idle", "running"])
def test_loop_with_a_record_skips_what_is_idle(path, x):
    """min chose 2.0, so zero enters the loop: it is skipped, its records dropped, and the
    gradient is zero; or min chose the product, and every trip runs."""
    check_gradients(product, (np.array(x),), path, wrt=(0,))


@pytest.mark.parametrize("path", ["eval", "fused", "split"])
@pytest.mark.parametrize("pick", [0, 1])
def test_gradient_flowing_out_of_a_skipped_loop(path, pick):
    a = rng.uniform(-1, 1, 4)
    assert len(guards(carried, 0.7, a, pick)) == 1
    check_gradients(carried, (0.7, a, pick), path, wrt=(0, 1))


def _branch_then_loops(a, b):
    if b > 2.0:
        b, a = (math.sinh(math.cos(b)) if b < (2.0 - b) else (0.25 * b)), b
        a = 1.62
    return math.erf(a) * math.expm1(math.sin(a))


def branch_then_loops(x0, a0, n):
    v1 = _branch_then_loops(np.prod(1.5 + np.sin(a0)), a0[(n + 1) % len(a0)])
    i2 = 0
    while True:
        i2 += 1
        if i2 > n + 1:
            break
        v1 += 0.45 * math.sin((x0 + 0.85))
    for _ in range(n + 1):
        v1 *= 0.72
        x0 *= 0.62
    return v1 + x0 * a0[-1] + np.sum(np.sin(a0))


@pytest.mark.parametrize("path", ["eval", "fused", "split"])
def test_values_joining_the_paths_round_an_idle_loop_are_numbered_apart(path):
    """The block after an idle loop joins its two paths with values of the reverse's own; they
    kept the numbers they were made with, one of them a tape value's (expm1 of the helper's
    sine), and the compiled pullback read the loop's result in its place (fuzz seed 411,
    program 48)."""
    args = (0.3, np.array([0.4, -1.1, 0.7]), 1)
    adj = zygopy.code_adjoint(branch_then_loops, *args)
    forward = {v.id for b in adj.forward.blocks for v in b.args + [s.var for s in b.stmts]
               if v is not None}
    joined = {v.id for b in adj.reverse.blocks[1:] for v in b.args}
    assert joined and not joined & forward
    for n in (0, 1, 3):
        check_gradients(branch_then_loops, (args[0], args[1], n), path, wrt={0, 1})

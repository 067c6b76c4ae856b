"""Sums fused with the elementwise expressions they read (backend/numba_cpu/fusion.py): the compiled
code runs them as loops, and their values, gradients and tangents are those of NumPy's arrays.

Values are compared with NumPy at rtol 1e-12 (the loop adds in another order than NumPy's
pairwise sum: a few ulps over at most a few hundred terms of size O(1)). Gradients and tangents are
compared with central differences in float64, h = 1e-6 max(1, |x|): truncation ~1e-12 and
rounding ~1e-10 for these O(1..100) functions, so rtol 1e-6, atol 1e-8 leave a margin of ~100x,
while a wrong element (a broadcast summed twice, a shape taken from the wrong sum) is off by O(1).
"""
import re

import numpy as np
import pytest

import zygopy
from zygopy import nn

from .nn_support import assert_matches_finite_differences, finite_differences

rng = np.random.default_rng(7)


def rows_shared(a, b):
    """Two sums along axis 1 reading one exp(...): one loop nest for both."""
    e = np.exp(-0.5 * (a - b) * (a - b))
    return np.sum(np.log(np.sum(e, axis=1))) + np.sum(np.sum(e * a, axis=1) ** 2)


def shapes_differ(x, p, q):
    """exp(x) read by sums over (4, 3) and (1, 3): at run time each needs its own loop."""
    e = np.exp(x)
    return np.sum(e * p) + 2.0 * np.sum(e * q)


def stored_chain(x, p):
    """A chain the tape keeps whole, summed over (4, 3) from x of (1, 3): where the shapes differ
    at run time, each value's loop reads the values stored before it rather than computing
    them again."""
    a = np.exp(x)
    b = np.sin(a)
    c = b * b + a
    return np.sum(c * p) + np.sum(a * b)


def narrow_at_run_time(x, p):
    """exp of x's first row, (1, 3) at run time though the code cannot know it, kept for the
    pullback and read with p of (4, 3): one loop nest, the row stored where its own index is."""
    a = np.exp(x[:1])
    b = np.sin(a) * p
    return np.sum(b * b + a)


def mean_tuple_axes(a, w):
    return np.sum(np.mean(np.tanh(a * w), axis=(0, 2)) ** 2)


def keepdims_negative_axis(a):
    s = np.sum(a * a, axis=-1, keepdims=True)
    return np.sum(np.sqrt(s + 1.0))


def masked(x, labels):
    leaky = np.where(x > 0, x, 0.1 * x)
    return np.sum((labels == 1) * leaky * x)


def empty(x, z):
    return np.sum(z * x) + np.sum(x * x)


def chain(a, b, c):
    """benchmarks/arrays.py's chain: its pullback's three gradients share values (the seed, exp(a),
    tanh(c)), computed in one loop."""
    return np.sum(np.exp(a) * b + np.tanh(c) * a - b * c + np.sin(a) * 0.5 - np.sqrt(b * b + 1.0))


def mixed_ranks(a, b):
    """Values of a row vector (rank 1) inside a sum over a matrix (rank 2); the pullback's region
    for the vector has its own loop."""
    e = np.exp(b)
    return np.sum(np.tanh(a) * e + e * e)


def scaled_by_its_sum(x):
    """A sum read by the other sum of the same exp(x): they cannot share a loop."""
    e = np.exp(x)
    return np.sum(e * np.sum(e))


def softmax_rows(s, v):
    """A softmax along rows shifted by the row maxima, as users write it: the softmax primitive
    (ir/passes/recognise.py)."""
    e = np.exp(s - np.max(s, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)
    return np.sum((p @ v) ** 2)


def cross_entropy(w, x, b, y):
    """Softmax cross-entropy of x @ w + b against one-hot rows y, through logsumexp
    (ir/passes/recognise.py): the gradient of b is a sum over the rows."""
    z = x @ w + b
    m = np.max(z, axis=1, keepdims=True)
    return np.mean(np.log(np.sum(np.exp(z - m), axis=1)) + m[:, 0] - np.sum(y * z, axis=1))


CASES = [
    (cross_entropy, (rng.standard_normal((4, 3)), rng.standard_normal((5, 4)),
                     rng.standard_normal(3), np.eye(3)[[0, 2, 1, 1, 0]])),
    (softmax_rows, (rng.standard_normal((5, 6)), rng.standard_normal((6, 3)))),
    (rows_shared, (rng.standard_normal((6, 3)), rng.standard_normal(3))),
    (shapes_differ, (rng.standard_normal((1, 3)), rng.standard_normal((4, 3)),
                     rng.standard_normal((1, 3)))),
    (stored_chain, (rng.standard_normal((1, 3)), rng.standard_normal((4, 3)))),
    (narrow_at_run_time, (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)))),
    (mean_tuple_axes, (rng.standard_normal((2, 3, 4)), rng.standard_normal(4))),
    (keepdims_negative_axis, (rng.standard_normal((3, 5)),)),
    (masked, (np.array([0.5, -1.2, 2.0, -0.3, 1.1]), np.array([1, 0, 1, 1, 0]))),
    (empty, (rng.standard_normal(4), np.zeros((0, 4)))),
    (chain, (rng.standard_normal(7), rng.standard_normal(7), rng.standard_normal(7))),
    (mixed_ranks, (rng.standard_normal((3, 4)), rng.standard_normal(4))),
    (scaled_by_its_sum, (rng.standard_normal(5),)),
]
IDS = [f.__name__ for f, _ in CASES]


def copies(args):
    return [a.copy() for a in args]


@pytest.mark.parametrize("f, args", CASES[:-1], ids=IDS[:-1])
def test_sums_are_loops(f, args):
    """The compiled primal has no NumPy sum left: each became a loop nest."""
    source = zygopy.code_python(f, *args, wrt=0)
    primal = source[source.index(f"def {f.__name__}_primal"):]
    primal = primal[:primal.index("\n@njit")]
    assert "zy_broadcast_shapes" in primal and "np.sum(" not in primal, primal


@pytest.mark.parametrize("f, args", CASES, ids=IDS)
def test_value_and_gradient(f, args):
    """The compiled primal's value (where the sums fuse most: the forward keeps what its
    pullback reads), then the gradient's."""
    primal = zygopy.api.compiled(f, copies(args), 0).primal
    np.testing.assert_allclose(primal(*copies(args)), f(*copies(args)), rtol=1e-12)
    value, grads = zygopy.withgradient(f, *copies(args), wrt=0)
    np.testing.assert_allclose(value, f(*copies(args)), rtol=1e-12)
    fd = finite_differences(f, copies(args), 0)[""]
    np.testing.assert_allclose(grads[0], fd, rtol=1e-6, atol=1e-8)


def kernel_nest(source):
    """The loop nest calling zygopy's kernels: after the nest calling libm's for an innermost
    dimension too short to vectorise, before the nest again with libm's sin and cos for
    arguments beyond their range."""
    source = source.split("if far_")[0]
    if "too short to vectorise" in source:
        source = source.split("too short to vectorise", 1)[1].split("else:", 1)[1]
    return source


def test_softmax_runs_in_loops_both_ways():
    """The forward's softmax is one kernel's loops over each row. The reverse, y (g - sum(g y))
    along the rows, sums its rows in the loop that computes g y (the (5, 1) sums are known to
    broadcast: ir/unit_dims.py): no NumPy sums, no sum_to, no mask of the maxima."""
    args = (rng.standard_normal((5, 6)), rng.standard_normal((6, 3)))
    source = zygopy.code_python(softmax_rows, *copies(args))
    forward = source[source.index("def softmax_rows_forward"):
                     source.index("def softmax_rows_pullback")]
    assert "zy_softmax_middle(" in forward and "exp(" not in forward, forward
    pullback = source[source.index("def softmax_rows_pullback"):
                      source.index("def softmax_rows_value_and")]
    for numpy_code in ("zy_sum_to", "np.sum(", "int64", " == "):
        assert numpy_code not in pullback, pullback
    assert pullback.count("zy_radd(") == 1, pullback  # the row sums of g y
    grads = zygopy.gradient(softmax_rows, *copies(args))
    for k in range(2):
        fd = finite_differences(softmax_rows, copies(args), k)[""]
        np.testing.assert_allclose(grads[k], fd, rtol=1e-6, atol=1e-8)


def tilted_cross_entropy(w, x, b, y):
    """cross_entropy with its row maxima counted 1.1 times: no longer logsumexp (whose maxima
    would cancel out), so the maxima have a gradient, from two statements."""
    z = x @ w + b
    m = np.max(z, axis=1, keepdims=True)
    return np.mean(np.log(np.sum(np.exp(z - m), axis=1)) + 1.1 * m[:, 0] - np.sum(y * z, axis=1))


def test_a_slot_no_leaf_shares_does_not_split_a_region():
    """The gradient of the row maxima is accumulated in place among the pullback's elementwise
    statements; no array the loop reads can be that slot's (an argument never is), so the
    accumulation runs before the loop and the row sums' gradients, spread along the rows, are
    read in it: no NumPy sum, no broadcast copy."""
    _, args = CASES[0]
    source = zygopy.code_python(tilted_cross_entropy, *copies(args), wrt=2)
    pullback = source[source.index("def tilted_cross_entropy_pullback"):
                      source.index("def tilted_cross_entropy_value_and")]
    assert "+= v" in pullback, pullback
    for numpy_code in ("np.sum(", "np.broadcast_to("):
        assert numpy_code not in pullback, pullback
    got = zygopy.gradient(tilted_cross_entropy, *copies(args), wrt=2)[2]
    fd = finite_differences(tilted_cross_entropy, copies(args), 2)[""]
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)


def along_rows(x, y):
    """Row sums without keepdims: their gradients are spread along the rows (new axes)."""
    return np.sum(np.log(np.sum(np.exp(x) * (y * y + 0.5), axis=1)) * np.sum(x * x, axis=1))


def down_columns(x, y):
    return np.sum(np.sin(np.sum(x * y, axis=0)) * np.sum(np.exp(x), axis=0))


def middle_of_three(x, y):
    return np.sum(np.tanh(np.sum(x * y, axis=1)) ** 2)


@pytest.mark.parametrize("f, shapes", [
    (along_rows, ((4, 3), (4, 3))), (along_rows, ((4, 3), (1, 3))), (along_rows, ((4, 3), (4, 1))),
    (along_rows, ((1, 3), (4, 3))), (down_columns, ((4, 3), (4, 3))),
    (down_columns, ((4, 3), (1, 3))), (down_columns, ((4, 1), (4, 3))),
    (middle_of_three, ((2, 4, 3), (2, 4, 3))), (middle_of_three, ((2, 4, 3), (4, 1))),
], ids=lambda p: p.__name__ if callable(p) else "-".join("x".join(map(str, s)) for s in p))
def test_spread_gradients_are_read_in_the_loop(f, shapes):
    """The gradient of a sum without keepdims, spread back along the reduced axes, is read in
    the loop that uses it at the other axes' indices (no broadcast copy), whichever operands
    broadcast; against central differences."""
    args = [rng.standard_normal(s) for s in shapes]
    wrt = (0, 1)
    source = zygopy.code_python(f, *copies(args), wrt=wrt)
    pullback = source[source.index(f"def {f.__name__}_pullback"):
                      source.index(f"def {f.__name__}_value_and")]
    assert "np.broadcast_to(" not in pullback, pullback
    got = zygopy.gradient(f, *copies(args), wrt=wrt)
    for i in wrt:
        fd = finite_differences(f, copies(args), i)[""]
        np.testing.assert_allclose(got[i], fd, rtol=1e-6, atol=1e-8)


def gates(z, n):
    """Two views of z whose widths may be 1 (n and 4 - n are known only at run time): the
    reverse sums the gradient of i * f back to each one's shape."""
    i = np.tanh(z[:, :n])
    f = np.sin(z[:, n:])
    return np.sum(i * f * f)


@pytest.mark.parametrize("n", [2, 1, 3])
def test_gradients_summed_back_in_a_loop(n):
    """The pullback computes the elementwise product's gradients in one loop where the shapes
    they are summed back to are the loop's (n = 2), and statement by statement, summing back,
    where one was broadcast (n = 1, 3: a column against three)."""
    z = rng.standard_normal((3, 4))
    source = zygopy.code_python(gates, z.copy(), n)
    pullback = source[source.index("def gates_pullback"):source.index("def gates_value_and")]
    nest, unfused = pullback.split("# nothing summed back")[1].split("\n    else:\n")[:2]
    assert "for i_" in nest and "zy_sum_to" not in nest, pullback
    assert "zy_sum_to" in unfused, pullback
    got = zygopy.gradient(gates, z.copy(), n)[0]
    fd = finite_differences(gates, [z.copy(), n], 0)[""]
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)


def recurrent(z, n):
    """h carried round a loop, multiplied by a view of z whose width may be 1: the reverse of a
    trip accumulates gradients into their slots among its elementwise statements."""
    h = z[:, :n] * 1.0
    for _ in range(3):
        h = np.tanh(h) * z[:, n:] + h
    return np.sum(h * h)


@pytest.mark.parametrize("n", [2, 1])
def test_slot_writes_do_not_split_a_loop(n):
    """A gradient added into a slot that no value of the loop may share (z's, h's) is added
    before or after the loop, not among it: the reverse of a trip computes the gradients of the
    product (one of them added into z's slot) and of tanh in one loop (tanh's result has its
    operand's shape: nothing to sum back between them), not statement by statement."""
    z = rng.standard_normal((3, 4))
    source = zygopy.code_python(recurrent, z.copy(), n)
    pullback = source[source.index("def recurrent_pullback"):
                      source.index("def recurrent_value_and")]
    trip = pullback[pullback.index("while "):]
    assert trip.count("# nothing summed back") == 1 and "zy_sum_to(v" in trip, pullback
    got = zygopy.gradient(recurrent, z.copy(), n)[0]
    fd = finite_differences(recurrent, [z.copy(), n], 0)[""]
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)


def test_loops_for_differing_shapes_compute_each_value_once():
    """The loop nests written for shapes that differ at run time compute each value once: code
    that grows with the region, not with its square."""
    args = (rng.standard_normal((1, 3)), rng.standard_normal((4, 3)))
    source = zygopy.code_python(stored_chain, *copies(args))
    forward = source[source.index("def stored_chain_forward"):
                     source.index("def stored_chain_pullback")]
    fallback = forward[forward.index("# shapes that differ"):]
    assert fallback.count("zy_exp(") == 1 and fallback.count("zy_sin(") == 1, forward


def test_values_broadcast_to_the_loop_share_its_nest():
    """Stored values whose shapes broadcast to a sum's run in the sum's loop nest, with no second
    nest for shapes that differ; the (1, 3) row is stored at row 0 (a broken index would fail
    test_value_and_gradient's case)."""
    args = (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)))
    source = zygopy.code_python(narrow_at_run_time, *copies(args))
    forward = source[source.index("def narrow_at_run_time_forward"):
                     source.index("def narrow_at_run_time_pullback")]
    # one nest for any shapes: storing at i, through the kernels, where at run time nothing is
    # broadcast; at broadcast indices, calling libm's functions, where something is
    assert "shapes that differ" not in forward, forward
    fast, slow = broadcast_paths(forward)
    assert "zy_exp(" in fast and " * k_" not in fast
    assert slow.count("for i_") == 2 and "np.exp(" in slow and " * k_a_" in slow


def broadcast_paths(source):
    """The nest for nothing broadcast at run time, and the one for something broadcast."""
    lines = source.splitlines()
    start = next(k for k, line in enumerate(lines) if line.endswith("# nothing broadcast"))
    indent = lines[start].index("if")
    other = next(k for k in range(start + 1, len(lines)) if lines[k] == " " * indent + "else:")
    end = next((k for k in range(other + 1, len(lines))
                if lines[k].strip() and len(lines[k]) - len(lines[k].lstrip()) <= indent),
               len(lines))
    return "\n".join(lines[start + 1:other]), "\n".join(lines[other + 1:end])


def sum_of_sines(x, a):
    return np.sum(np.sin(x * a))


def test_fused_nests_vectorise_without_an_overlap_test():
    """A nest that sums and stores (the forward: the value and x * a; the pullback: d/dx and
    d/da) says that it stores only into arrays it allocated, so LLVM vectorises it without
    testing at run time whether they overlap what it reads. Behind that test, arrays lying close
    together took the scalar loop, and its sum rounded otherwise: a gradient's last bit changed
    from call to call."""
    llvm = zygopy.code_llvm(sum_of_sines, 0.7, np.ones(8))
    assert "vector.body" in llvm and "vector.memcheck" not in llvm
    a = rng.standard_normal(8)
    gx, ga = zygopy.gradient(sum_of_sines, 0.7, a)
    terms = np.cos(0.7 * a) * a  # summed in another order: rounding of order 8 ulp of the terms
    assert np.isclose(gx, np.sum(terms), rtol=0, atol=1e-14 * np.sum(np.abs(terms)))
    assert np.allclose(ga, np.cos(0.7 * a) * 0.7, rtol=1e-14, atol=0)


def test_gradient_of_an_elementwise_chain_is_one_loop():
    """The chain's value and its partial derivatives with respect to all three arguments come from
    one loop in the forward (adjoint/preaccumulate.py: the pullback's work done there with a unit
    seed); the pullback only scales them by its seed. Each gradient matches central differences,
    and a pullback called with 2.5 gives 2.5 times them."""
    args = [rng.standard_normal(6) for _ in range(3)]
    source = zygopy.code_python(chain, *copies(args))
    forward = source[source.index("def chain_forward"):source.index("def chain_pullback")]
    fast = kernel_nest(forward)
    assert fast.count("for ") == 1 and fast.count("zy_put_in(") == 3, forward
    assert "zy_radd(" in fast and "else:" not in forward, forward  # the shapes are one
    pullback = source[source.index("def chain_pullback"):source.index("def chain_value_and")]
    assert "for " not in pullback and "np.cos" not in pullback, pullback
    grads = zygopy.gradient(chain, *copies(args))
    for k in range(3):
        fd = finite_differences(chain, copies(args), k)[""]
        np.testing.assert_allclose(grads[k], fd, rtol=1e-6, atol=1e-8)
    _, back = zygopy.pullback(chain, *copies(args))
    for g, scaled in zip(grads, back(2.5), strict=True):
        np.testing.assert_allclose(scaled, 2.5 * g, rtol=1e-14)


@pytest.mark.parametrize("f, args", CASES, ids=IDS)
def test_tangent(f, args):
    v = rng.standard_normal(args[0].shape)
    value, t = zygopy.jvp(f, copies(args), (v,) + (None,) * (len(args) - 1))
    np.testing.assert_allclose(value, f(*copies(args)), rtol=1e-12)
    h = 1e-6
    up, down = copies(args), copies(args)
    up[0] = up[0] + h * v
    down[0] = down[0] - h * v
    np.testing.assert_allclose(t, (f(*up) - f(*down)) / (2 * h), rtol=1e-6, atol=1e-8)


def test_mismatched_shapes_are_a_clear_error():
    """np.broadcast_shapes refuses them in the loop's preamble, reported at the user's line."""
    with pytest.raises(zygopy.ZygopyError, match="shape"):
        zygopy.gradient(rows_shared, np.ones((2, 3)), np.ones(4))


def float32_loss(x, t):
    """A float32 mean of squares and a row-wise log-sum-exp: float32 values, summed in float64."""
    z = x * 0.5 + 1.0
    return np.mean((z - t) ** 2) + np.sum(np.log(np.sum(np.exp(z), axis=1)))


def test_float32():
    """The fused float32 loss is within float32 rounding of the float64 one, and so is its float32
    gradient (rtol 1e-5: each element's few operations round to ~1e-7, the sums add in float64)."""
    x, t = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    source = zygopy.code_python(float32_loss, x.astype(np.float32), t.astype(np.float32), wrt=0)
    primal = source[source.index("def float32_loss_primal"):source.index("\n@njit")]
    assert "np.sum(" not in primal and "np.mean(" not in primal, primal
    value, (g32, _) = zygopy.withgradient(float32_loss, x.astype(np.float32),
                                           t.astype(np.float32), wrt=0)
    expected, (g64, _) = zygopy.withgradient(float32_loss, x, t, wrt=0)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g64, finite_differences(float32_loss, [x, t], 0)[""], rtol=1e-6)


class Squash:
    """A layer: a unit, compiled once for any shapes of its arrays, so the caller does not know
    which dimensions of its result are 1."""

    def __init__(self, w, b):
        self.w, self.b = w, b

    def __call__(self, x):
        return x * self.w + self.b


def squash_loss(layer, x):
    return np.sum(np.tanh(layer(x)) * x)


@pytest.mark.parametrize("rows", [4, 1])
def test_a_nest_that_may_broadcast_reads_at_i_where_nothing_does(rows):
    """The caller's loop reads the unit's result at i * k (k = 0 along a dimension of 1), which
    LLVM does not vectorise, unless no such dimension is 1 at run time: then at i, through the
    kernels. Gradients with one row (the second path) and several (the first) against central
    differences."""
    layer = Squash(rng.standard_normal(3), rng.standard_normal(3))
    x = rng.standard_normal((rows, 3))
    grads = zygopy.gradient(squash_loss, layer, x)
    source = zygopy.code_python(squash_loss, layer, x)
    forward = source[source.index("def squash_loss_forward"):source.index("def squash_loss_pull")]
    fast, slow = broadcast_paths(forward)
    assert "zy_tanh(" in fast and " * k_" not in fast and " * k_" in slow
    for k in range(2):
        fd = finite_differences(squash_loss, [layer, x.copy()], k)
        got = {"": grads[k]} if k else {"w": grads[0].w, "b": grads[0].b}
        for key, expected in fd.items():
            np.testing.assert_allclose(got[key], expected, rtol=1e-6, atol=1e-8)


def lstm_loss(model, x):
    return np.sum(model(x) ** 2)


def test_an_lstm_cells_gates_run_in_one_loop():
    """The forward reads the shape of each gate for its tape; read from the gate's operand (the
    same shape), it does not split the loop that computes the gates: every sigmoid runs through
    the vectorised kernel in it, none as a whole-array call. The gradient against central
    differences."""
    model = nn.Chain(nn.LSTM(3, 4, rng=np.random.default_rng(2), dtype=np.float64), nn.last)
    x = rng.standard_normal((5, 2, 3))
    source = zygopy.code_python(lstm_loss, model, x)
    fused = source[source.index("def lstm_loss_value_and_gradient"):]
    assert "= zy_sigmoid(v" not in fused and fused.count("zy_logistic(") >= 3, fused
    grads = zygopy.gradient(lstm_loss, model, x)[0]
    assert_matches_finite_differences(lstm_loss, [model, x], 0, grads)


def gate(x):
    """A sigmoid in a form not recognised as the primitive (exp(-1.0 * x), not exp(-x)): its exp
    and the sum are kept for the pullback too."""
    return 1.0 / (1.0 + np.exp(-1.0 * x))


def cell_steps(x, w, n):
    """An LSTM written out: four gates from slices of z, then the cell and its output, over the
    steps of x. Every gate and product is kept for the pullback: fifteen arrays a step if one
    loop computed them all."""
    h, c = np.zeros((x.shape[1], n)), np.zeros((x.shape[1], n))
    for t in range(x.shape[0]):
        z = x[t] + h @ w
        i, f = gate(z[:, :n]), gate(z[:, n:2 * n])
        g, o = np.tanh(z[:, 2 * n:3 * n]), gate(z[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
    return np.sum(h)


def test_a_loop_storing_many_arrays_is_vectorised():
    """A step's fifteen arrays come from one loop nest, which LLVM vectorises with no run-time
    overlap test: its accesses say that it stores only into the arrays it allocates
    (unchecked.py). Tested pairwise at run time, 15 stored and 5 read arrays would need 180
    tests, past the 128 LLVM's vectoriser makes before it leaves a loop scalar. The gradient is
    that of central differences."""
    n = 8
    x, w = rng.standard_normal((3, 2, 4 * n)), 0.5 * rng.standard_normal((n, 4 * n)) / n
    args = lambda: [x.copy(), w.copy(), n]  # noqa: E731
    source = zygopy.code_python(cell_steps, *args())
    fused = source[source.index("def cell_steps_value_and_gradient"):]
    stored = [len(set(re.findall(r"zy_put_in\((\w+),", kernel_nest(part.split("zy_general")[0]))))
              for part in fused.split("# nothing broadcast")[1:]]
    assert max(stored) == 15, (stored, fused)
    llvm = zygopy.code_llvm(cell_steps, *args())
    blocks = re.split(r"\n(?=[\w.]+:)", llvm)
    vector_stores = [len(re.findall(r"store <\d+ x double>", block))
                     for block in blocks if block.startswith("vector.body")]
    assert max(vector_stores) == 15 and "vector.memcheck" not in llvm, vector_stores
    got = zygopy.gradient(cell_steps, *args())
    for wrt in (0, 1):
        fd = finite_differences(cell_steps, args(), wrt)[""]
        np.testing.assert_allclose(got[wrt], fd, rtol=1e-6, atol=1e-8)


BROADCASTS = [((3,),), ((2, 3), (3,)), ((3, 1), (4,)), ((), (4, 1, 5)), ((1, 0), (2, 1)),
              ((0,), (1,)), ((2, 1, 3), (1, 4, 1), (3,)), ((3,), (4,)), ((2, 3), (3, 2)),
              ((0,), (3,))]


@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
def test_loop_shapes_broadcast_as_numpy_does(shapes):
    """A fused nest's shape (runtime.zy_broadcast_shapes, straight-line code per arity) is NumPy's
    np.broadcast_shapes, and shapes that do not broadcast raise NumPy's ValueError."""
    from numba import njit

    from zygopy.backend.numba_cpu.runtime import zy_broadcast_shapes
    broadcast = njit([lambda a: zy_broadcast_shapes(a.shape),
                      lambda a, b: zy_broadcast_shapes(a.shape, b.shape),
                      lambda a, b, c: zy_broadcast_shapes(a.shape, b.shape, c.shape),
                      ][len(shapes) - 1])
    arrays = tuple(np.zeros(s) for s in shapes)
    try:
        want = np.broadcast_shapes(*shapes)
    except ValueError:
        with pytest.raises(ValueError, match="cannot be broadcast"):
            broadcast(*arrays)
    else:
        assert broadcast(*arrays) == want

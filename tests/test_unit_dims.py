"""Which dimensions can be 1 (ir/unit_dims.py), followed through views, matrix products, new
arrays' shapes and loops, so that the reverse pass sums no gradient back to a shape it already
has: inside a loop that saves storing the operands for their shapes too.

Gradients are compared with central differences in float64, h = 1e-6 max(1, |x|): truncation
~1e-12 and rounding ~1e-10 for these O(1..100) sums of squares, so rtol 1e-6, atol 1e-8 leave a
margin of ~100x, while a gradient summed to the wrong shape or broadcast wrongly is off by O(1)
(or raises).
"""
import numpy as np
import pytest

import zygopy
from zygopy.ir.evaluate import evaluate_gradient

from .nn_support import finite_differences

rng = np.random.default_rng(11)


def shifted_products(x, w):
    """A convolution along one axis, as benchmarks/models.py's Conv writes it: views by integers
    and whole slices, a matrix product, an array sized from x's shape, written in place."""
    n, h, _ = x.shape
    out = np.zeros((n, h - 1, w.shape[2]))
    for i in range(h - 1):
        for d in range(2):
            out[:, i, :] += x[:, i + d, :] @ w[d]
    return np.sum(out ** 2)


def carried(x, v):
    """A value a loop passes on, from x (no dimension 1) to y * v + y (the same shape)."""
    y = x * 1.0
    for _ in range(3):
        y = np.tanh(y * v + y)
    return np.sum(y ** 2)


def row_in_a_loop(x, b):
    """A row b[k:k+1] (1 by 4 at run time, which the code cannot know) added to y each trip: its
    gradient is summed back to one row."""
    y = x * 1.0
    for k in range(3):
        y = y + b[k:k + 1, :] * y
    return np.sum(y ** 2)


def shrinking(x, m):
    """A value a loop passes on whose first dimension becomes m: 1 here, so it broadcasts."""
    y = x * 1.0
    for _ in range(2):
        y = y[:m] * 2.0 + x
    return np.sum(y ** 2)


def centred(x, w):
    """x less its column means, kept as a row (1, 3): the reverse sums the row's gradient over
    axis 0, known from keepdims, rather than to its shape at run time."""
    return np.sum((x - np.mean(x, axis=0, keepdims=True)).astype(np.float64) ** 2 * w)


def flattened(x, y):
    """x reshaped to its rows: known not to be 1 from x's shape and a constant 4."""
    return np.sum((x.reshape(x.shape[0], 4) * y) ** 2)


def flattened_rest(x, y):
    """x reshaped to (rows, -1): the -1 is 1 here, so the result broadcasts against y."""
    return np.sum((x.reshape(x.shape[0], -1) * y) ** 2)


CASES = [
    (centred, (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)))),
    (shifted_products, (rng.standard_normal((3, 5, 2)), rng.standard_normal((2, 2, 4)))),
    (shifted_products, (rng.standard_normal((3, 5, 1)), rng.standard_normal((2, 1, 4)))),
    (carried, (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)))),
    (flattened, (rng.standard_normal((3, 2, 2)), rng.standard_normal((3, 4)))),
    (row_in_a_loop, (rng.standard_normal((5, 4)), rng.standard_normal((3, 4)))),
    (shrinking, (rng.standard_normal((4, 3)), 1)),
    (flattened_rest, (rng.standard_normal((3, 1)), rng.standard_normal((3, 4)))),
]
IDS = ["centred", "conv", "conv_one_channel", "carried", "flattened", "row_in_a_loop", "shrinking",
       "flattened_rest"]


def copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


@pytest.mark.parametrize("f, args", CASES, ids=IDS)
def test_gradient(f, args):
    arrays = tuple(k for k, a in enumerate(args) if isinstance(a, np.ndarray))
    value, grads = zygopy.withgradient(f, *copies(args), wrt=arrays)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)
    for k in arrays:
        fd = finite_differences(f, copies(args), k)[""]
        np.testing.assert_allclose(grads[k], fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f, args", CASES[:5], ids=IDS[:5])
def test_nothing_summed_back(f, args):
    """No operand of these can be broadcast, in or out of the loop: the reverse pass sums nothing
    back, and the loop stores no array only for its shape."""
    source = zygopy.code_python(f, *args, wrt=0)
    assert "zy_sum_to" not in source, source


def test_a_row_is_summed_back():
    """b[k:k+1, :] may be one row: its gradient is summed back to its shape."""
    assert "zy_sum_to" in zygopy.code_python(row_in_a_loop, *CASES[5][1], wrt=1)


def scaled(a, y):
    return np.sum(np.sin(a * y))


def test_a_zero_d_operand_gets_a_zero_d_gradient():
    """A 0-d array broadcast against a row: its gradient, the row's sum, is a 0-d array as the
    argument is (the derivative is sum(cos(a y) y))."""
    a, y = np.array(0.7), np.array([1.0, 2.0, 3.0])
    got = zygopy.gradient(scaled, a, y, wrt=0)[0]
    assert isinstance(got, np.ndarray) and got.shape == (), repr(got)
    np.testing.assert_allclose(got, np.sum(np.cos(0.7 * y) * y), rtol=1e-13)


def biased(x, w, b):
    """x @ w (no dimension 1) plus a bias row: its tangent along b alone is a row, spread to the
    result's shape before it is summed."""
    return np.sum(x @ w + b) + np.sum(np.tanh(x @ w + b) ** 2)


def test_tangent_along_a_broadcast_operand():
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    t = rng.standard_normal(4)
    _, got = zygopy.jvp(biased, (x, w, b), (None, None, t))
    h = 1e-6
    expected = (biased(x, w, b + h * t) - biased(x, w, b - h * t)) / (2 * h)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def cross_entropy(z, y):
    """The row maxima's gradient accumulates in a slot of their (n, 1) shape, which the loop
    that spreads it over the rows reads at column 0."""
    m = np.max(z, axis=1, keepdims=True)
    return np.mean(np.log(np.sum(np.exp(z - m), axis=1)) + m[:, 0] - np.sum(y * z, axis=1))


def test_a_gradient_slot_keeps_its_values_dims():
    """What is read from a gradient's slot has the shape of its value, dims included: the code
    for the common case runs (no run-time test of the (n, 1) gradient's width to fail), and the
    gradient is right."""
    z, y = rng.standard_normal((6, 4)), np.eye(4)[[0, 3, 1, 1, 2, 0]]
    got = zygopy.gradient(cross_entropy, z.copy(), y, wrt=0)[0]
    assert zygopy.api.compiled(cross_entropy, (z, y), 0).common
    np.testing.assert_allclose(got, finite_differences(cross_entropy, [z.copy(), y], 0)[""],
                               rtol=1e-6, atol=1e-8)


def sigmoid_in_a_loop(z, n):
    """h's width n may be 1 (the code cannot know): each operation with h as its only array
    keeps h's shape, so its gradient is not summed back and the tape keeps no operand only for
    its shape; the sum with z[:, n:] may broadcast h and is summed back, to shapes the tape
    records as sizes. (A sigmoid in a form not recognised as the primitive: exp(-1.0 * h).)"""
    h = z[:, :n] * 1.0
    for _ in range(3):
        h = 1.0 / (1.0 + np.exp(-1.0 * h)) + z[:, n:]
    return np.sum(h * h)


@pytest.mark.parametrize("n", [1, 2])
def test_an_operation_on_one_array_keeps_its_shape(n):
    z = rng.standard_normal((3, 4))
    adj = zygopy.code_adjoint(sigmoid_in_a_loop, z, n)
    tape = str(adj).split("forward:")[0]
    # (7 array references while the operands of -1.0 * h, exp and 1 + ... were kept for their
    # shapes; the two the sum's gradient is summed back to are recorded as their sizes)
    assert "4 int64 (32 bytes) + 5 array reference(s) per trip" in tape, tape
    fd = finite_differences(sigmoid_in_a_loop, [z.copy(), n], 0)[""]
    for got in (zygopy.gradient(sigmoid_in_a_loop, z.copy(), n)[0],
                evaluate_gradient(adj, (z.copy(), n))[1][0]):
        np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)

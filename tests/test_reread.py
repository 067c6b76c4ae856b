"""Elements read again in the reverse pass instead of recorded (adjoint/tape.py, reread), loop
indices counted down and trip counts computed again rather than recorded, comparisons recorded
rather than what they compare: the tape of a loop body shrinks to what its writes overwrite, and
the gradients stay those of central differences wherever a write comes between a read and its
use, on every route."""
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


def forces(x0, k):
    """A force array only added into and read linearly (`v[i] + dt * f[i]`), a velocity only read
    linearly: the reverse needs neither's values, so neither's writes save anything; the
    positions, whose differences the spring forces multiply by k, are saved."""
    x, v, f = x0.copy(), np.zeros(x0.shape[0]), np.zeros(x0.shape[0])
    for _ in range(3):
        for i in range(x.shape[0]):
            f[i] = -0.1 * v[i]
        for i in range(x.shape[0] - 1):
            d = x[i + 1] - x[i] - 1.0
            f[i] += k * d
            f[i + 1] -= k * d
        for i in range(x.shape[0]):
            v[i] = v[i] + 0.1 * f[i]
            x[i] = x[i] + 0.1 * v[i]
    return np.sum(x * x) + 0.5 * np.sum(f)


def slice_sums(x, w):
    """An output added into slice by slice, through a view of it that only an addition reads (a
    convolution's output): the reverse never reads its values."""
    out = np.zeros((x.shape[0], 3))
    for j in range(3):
        for k in range(x.shape[1]):
            out[:, j] += x[:, k] * w[k, j]
    return np.sum(np.tanh(out))


def slice_products(x, w):
    """The same, multiplying: the reverse reads the view's values, so each write saves them."""
    out = np.ones((x.shape[0], 3))
    for j in range(3):
        for k in range(x.shape[1]):
            out[:, j] *= x[:, k] * w[k, j]
    return np.sum(np.tanh(out))


def shifted_products(x, w):
    """x[i + j] read with a sum of two trip counters, which the reverse counts down anyway."""
    s = 0.0
    for i in range(x.shape[0] - 2):
        for j in range(3):
            s += math.sin(x[i + j] * w[j])
    return s


def squared_in_place(a0, c):
    """Each write's overwritten value is what the rule of the next write reads: saved."""
    a = a0.copy()
    for _ in range(3):
        for i in range(a.shape[0]):
            a[i] = c * a[i] ** 2 - a[i]
    return np.sum(a)


def nearest(X, C, s):
    """k-means' cost with a scaled exponential weight: the innermost loop's differences and
    exponentials of elements of its arguments (which nothing writes) are computed again."""
    total = 0.0
    for j in range(X.shape[0]):
        best = math.inf
        for k in range(C.shape[0]):
            dist = 0.0
            for i in range(X.shape[1]):
                diff = (X[j, i] - C[k, i]) / math.exp(s)
                dist += diff * diff
            best = min(best, dist)
        total += best
    return total


def gathered_in_a_branch(a, x, flag):
    """An array made in a branch only: where the branch did not run, the reverse has no such
    array to read a shape from."""
    b = a * x
    if flag > 0:
        b = np.take(b, (2 * np.arange(len(a))) % len(a))
    return np.sum(b * b) + x * np.sum(np.exp(a)[1:])


rng = np.random.default_rng(7)
CASES = {
    "heat": (heat, (rng.uniform(0, 1, 9), 0.2, 4)),
    "read_write_read": (read_write_read, (rng.uniform(-1, 1, 5), 0.7)),
    "neighbour_written": (neighbour_written, (rng.uniform(-1, 1, 6), 0.6)),
    "used_after_write": (used_after_write, (rng.uniform(-1, 1, 5), 0.9)),
    "swapped": (swapped, (rng.uniform(-1, 1, 5), rng.uniform(-1, 1, 5), 0.8)),
    "forces": (forces, (np.arange(5.0) * 1.1 + rng.uniform(-0.1, 0.1, 5), 0.7)),
    "squared_in_place": (squared_in_place, (rng.uniform(-0.5, 0.5, 4), 0.8)),
    "shifted_products": (shifted_products, (rng.uniform(-1, 1, 6), rng.uniform(-1, 1, 3))),
    "slice_sums": (slice_sums, (rng.uniform(-1, 1, (4, 2)), rng.uniform(-1, 1, (2, 3)))),
    "slice_products": (slice_products, (rng.uniform(-1, 1, (4, 2)), rng.uniform(-1, 1, (2, 3)))),
    "nearest": (nearest, (rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, (3, 3)), 0.3)),
    "gathered": (gathered_in_a_branch, (rng.uniform(-1, 1, 5), 0.6, 1)),
    "not_gathered": (gathered_in_a_branch, (rng.uniform(-1, 1, 5), 0.6, 0)),
}


# the compiled paths for two cases (each compiles for seconds): what they add is the emitted code
ROUTES = [(case, path) for case in CASES for path in PATHS
          if path.startswith("eval") or case in ("heat", "swapped", "forces", "slice_sums",
                                                         "slice_products", "shifted_products",
                                                         "not_gathered")]


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


def loop_tapes(f, *args):
    tape = str(zygopy.code_adjoint(f, *args)).split("forward:")[0]
    return {int(line.split("line ")[1].split(":")[0]): line for line in tape.splitlines()
            if "per trip" in line}


def test_writes_the_reverse_never_reads_save_nothing():
    """forces: the force loops record nothing per trip, the update loop the position it
    overwrites alone (the velocity's write saves nothing); squared_in_place keeps its saves.
    (A value read of an array after its last write, such as np.sum(f * f) at the end, still
    keeps its writes' saves: the analysis is per array, not per read.)"""
    first = forces.__code__.co_firstlineno
    tapes = loop_tapes(forces, *CASES["forces"][1])
    assert first + 7 not in tapes and first + 9 not in tapes  # f[i] = ..., f[i] += ...
    assert tapes[first + 12].endswith("1 float64 (8 bytes) per trip")
    first = squared_in_place.__code__.co_firstlineno
    assert first + 4 in loop_tapes(squared_in_place, *CASES["squared_in_place"][1])


def test_a_view_only_an_addition_reads_saves_nothing():
    """slice_sums records nothing per trip: not the slice of out each write overwrites, which
    the reverse never reads, nor the column of x it reads (a view of an array nothing writes,
    made again in the reverse); slice_products, whose reverse reads the slice, saves a copy of
    it each trip."""
    sums, products = (zygopy.code_adjoint(f, *CASES[f.__name__][1])
                      for f in (slice_sums, slice_products))
    assert "per trip" not in str(sums)
    assert not any(s.op == "copy" for b in sums.forward.blocks for s in b.stmts)
    assert any(s.op == "copy" for b in products.forward.blocks for s in b.stmts)


def test_arithmetic_on_unwritten_elements_is_computed_again():
    first = nearest.__code__.co_firstlineno
    tapes = loop_tapes(nearest, *CASES["nearest"][1])
    assert first + 8 not in tapes, tapes  # the loop over i records nothing
    assert not loop_tapes(shifted_products, *CASES["shifted_products"][1])  # nor i + j


def test_choices_and_known_trip_counts_are_not_recorded():
    """nearest's loop over centres records which operand min chose, one bool per trip; no loop
    records its trip count, which range(X.shape[...]) gives again in the reverse."""
    line = nearest.__code__.co_firstlineno + 6
    assert loop_tapes(nearest, *CASES["nearest"][1]) == {
        line: f"  loop from line {line}: 1 bool (1 byte) per trip"}


def test_increments_pass_their_gradient_through_in_place():
    """The reverse of `f[i] += k * d` (and of `x[i] = x[i] + ...`) reads the element's gradient
    without resetting it and adding it back: in forces, only `f[i] = -0.1 * v[i]` resets one."""
    reverse = str(zygopy.code_adjoint(forces, *CASES["forces"][1])).split("reverse:")[1]
    line = forces.__code__.co_firstlineno + 7
    resets = [text for text in reverse.splitlines() if "take_at(" in text]
    assert len(resets) == 1 and resets[0].endswith(f"# line {line}"), resets
    assert sum("load_at(" in text for text in reverse.splitlines()) == 4, reverse

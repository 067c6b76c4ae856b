"""Loops stay loops: the IR of a loop is the same whatever the trip count, and has a back edge."""
import math
import operator
import re

import numpy as np
import pytest

import zygopy
from tests.nn_support import assert_matches_finite_differences, finite_differences
from zygopy.backend import tiered
from zygopy.ir.cfg import dominators, loop_blocks


def while_loop(x, n):
    r = 1.0
    while n > 0:
        r = r * x + 0.5
        n -= 1
    return r


def for_range_loop(x, n):
    s = 0.0
    for i in range(n):
        if i % 2 == 0:
            s += math.sin(x * i)
        else:
            s -= x
    return s


def nested_loops(x, n):
    s = 0.0
    for i in range(n):
        j = 0
        while j < 3:
            s = s * 0.5 + x * j - i
            j += 1
    return s


def nested_for_loops(x, n):
    s = 0.0
    for i in range(n):
        for j in range(i, n, 7):
            s += x / (1 + i + j)
    return s


def make_fixed_count(count):
    def fixed_count(x):
        s = x
        for _ in range(count):
            s = s * 0.999 + 0.001
        return s
    return fixed_count


LOOPS = [(while_loop, 1), (for_range_loop, 1), (nested_loops, 2), (nested_for_loops, 2)]
IDS = [f.__name__ for f, _ in LOOPS]


def back_edges(ir):
    """Edges b -> h where h dominates b: one per loop of structured code."""
    dom = dominators(ir)
    return [(b.id, t) for b in ir.blocks for t in b.successors() if t in dom[b.id]]


def n_stmts(ir):
    return sum(len(b.stmts) for b in ir.blocks)


@pytest.mark.parametrize("fn, loops", LOOPS, ids=IDS)
def test_same_ir_whatever_the_trip_count(fn, loops):
    small, large = zygopy.code_ir(fn, 0.9, 10), zygopy.code_ir(fn, 0.9, 10**6)
    assert str(small) == str(large)
    assert str(zygopy.code_ir(fn, 0.9, 0)) == str(small)
    assert n_stmts(small) == n_stmts(large)


@pytest.mark.parametrize("fn, loops", LOOPS, ids=IDS)
def test_loop_has_a_back_edge(fn, loops):
    ir = zygopy.code_ir(fn, 0.9, 10**6)
    assert len(back_edges(ir)) == loops
    assert any(loop_blocks(ir).values())
    # a handful of statements, not one per iteration
    assert n_stmts(ir) < 30


@pytest.mark.parametrize("fn, loops", LOOPS, ids=IDS)
def test_loop_ir_still_computes_the_function(fn, loops):
    for n in (0, 1, 10, 200):
        assert zygopy.evaluate(zygopy.code_ir(fn, 0.9, n), 0.9, n) == fn(0.9, n)


def test_constant_trip_count_is_not_unrolled():
    """A trip count known while compiling (a closure constant) still gives a loop, whose IR differs
    only in that constant."""
    small, large = make_fixed_count(11), make_fixed_count(1000003)
    ir_small, ir_large = zygopy.code_ir(small, 0.5), zygopy.code_ir(large, 0.5)
    assert len(back_edges(ir_small)) == len(back_edges(ir_large)) == 1
    assert n_stmts(ir_small) == n_stmts(ir_large)

    # the trip count as a constant operand, not inside %11 or a label
    def constant_to_n(text, count):
        return re.sub(rf"(?<![%\w.]){count}(?![\w.:])", "N", text)
    assert "N" in constant_to_n(str(ir_small), 11)
    assert constant_to_n(str(ir_small), 11) == constant_to_n(str(ir_large), 1000003)
    assert zygopy.evaluate(ir_small, 0.5) == small(0.5)


def test_loop_over_array_is_a_loop():
    def total(a):
        s = 0.0
        for v in a:
            s += v * v
        return s

    short, long = np.ones(3), np.ones(10**6)
    assert str(zygopy.code_ir(total, short)) == str(zygopy.code_ir(total, long))
    assert len(back_edges(zygopy.code_ir(total, long))) == 1


def diffuse(u, c, steps):
    n = u.shape[0]
    un = np.empty(n)
    for _ in range(steps):
        un[0] = u[0]
        un[n - 1] = u[n - 1]
        for i in range(1, n - 1):
            un[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u, un = un, u
    return np.sum(u * u)


def test_code_adjoint_reports_the_tape_per_loop_trip():
    """A trip of the stencil records the element it overwrites, and nothing else: the sum c
    multiplies (for c's gradient) is computed again from the neighbours, read again once the
    reverse has put back what later writes overwrote, and the indices from the trip the reverse
    counts down (tests/test_reread.py)."""
    text = str(zygopy.code_adjoint(diffuse, np.ones(8), 0.1, 3))
    line = diffuse.__code__.co_firstlineno + 6
    assert f"loop from line {line}: 1 float64 (8 bytes) per trip" in text


def weighted_rows(W, x):
    n, m = W.shape
    total = 0.0
    s = 0.0
    for j in range(n):
        s = 0.9 * s + math.sin(x[j])
        for c in range(m):
            total += s * W[j, c] * W[j, c]
    return total


def test_a_number_an_inner_loop_only_reads_is_recorded_once_per_run_of_it(monkeypatch):
    """s changes per row and each element of the row's loop reads it in the reverse (for W's
    gradient): recorded once per row, not once per element (attention's weight of a key, read
    for each of the values' columns, took 64x the stack), and what the reverse computes from it
    and the row's elements is computed again, not recorded."""
    W, x = np.random.default_rng(3).normal(size=(5, 4)), np.linspace(-1.0, 2.0, 5)
    text = str(zygopy.code_adjoint(weighted_rows, W, x))
    outer, inner = (weighted_rows.__code__.co_firstlineno + k for k in (4, 6))
    assert f"loop from line {outer}: 1 float64 (8 bytes) per trip" in text, text
    # s * W[j, c], which W's gradient needs, computed again from s and the element
    assert f"loop from line {inner}" not in text, text
    # central differences, float64, h = 1e-6: truncation ~1e-12, rounding ~1e-10 of |f|
    want = [finite_differences(weighted_rows, [W, x], k)[""] for k in (0, 1)]
    for interpret in (False, True):  # the compiled code, then the evaluator's
        monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
        for got, fd in zip(zygopy.gradient(weighted_rows, W, x), want, strict=True):
            np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)


def damped_steps(x, n):
    for _ in range(n):
        x = np.tanh(x) * 0.9 + x
    return np.sum(x * x)


def test_gradients_within_a_reverse_loop_body_are_values():
    """The gradient of a value made and used within one trip is added up as values, not through
    an array slot allocated, copied into and read back per trip (adjoint/forwarding.py): the
    reverse reads slots only for the loop-carried x, the trip counter and the result. The
    gradient is central differences' (float64, h = 1e-6: error ~1e-9 for these O(1) values)."""
    x = np.array([0.3, -0.8, 1.1])
    text = str(zygopy.code_adjoint(damped_steps, x, 4))
    assert text.count("take(") == 3, text
    g = zygopy.gradient(damped_steps, x, 4)[0]
    assert_matches_finite_differences(damped_steps, [x, 4], 0, g)


def clipped_powers(x, n, m):
    """Per trip of the inner loop, whose trip count is known when it starts: two floats and a
    bool (which operand `min` took) for the reverse."""
    s = 0.0
    for i in range(n):
        t = x[i % 3]
        for _ in range(m):
            t = min(math.sin(t) * t + 0.3, 1.5) * t
        s += t
    return s


@pytest.mark.parametrize("n, m", [(4, 3), (60, 40), (5, 0), (5, -2), (-3, 4)])
@pytest.mark.parametrize("interpreted", [False, True], ids=["compiled", "interpreted"])
def test_loops_with_known_trips_reserve_their_records(monkeypatch, n, m, interpreted):
    """An inner loop's trips are known when it starts, so its entry reserves room for every trip's
    records and each trip writes at its own place (adjoint/tape.py, reserve): `reserve!` once per
    run, no push that tests the stack's fill per trip. 60 x 40 trips overflow the first stacks
    (1024 places), so the entry grows them there; no trips (m <= 0) reserve nothing.
    Against central differences (float64, h = 1e-6; these values are O(1), so the error is
    ~1e-9)."""
    x = np.array([0.4, -0.7, 0.9])
    text = str(zygopy.code_adjoint(clipped_powers, x, n, m))
    # the inner loop's float64 and bool stacks, and the outer loop's int64 (its index i % 3)
    assert text.count("reserve!(") == 3 and not re.search(r"push!\((float64|bool|int64), ", text)
    if interpreted:
        monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    g = zygopy.gradient(clipped_powers, x, n, m)[0]
    assert_matches_finite_differences(clipped_powers, [x, n, m], 0, g)


def triangle(x, n):
    """The inner loop's trip count changes with the outer loop's index."""
    s = 0.0
    for i in range(n):
        t = x[i % 3]
        for _ in range(i):
            t = min(math.sin(t) * t + 0.3, 1.5) * t
        s += t
    return s


def entry_block(text):
    """The forward's first block, before any loop."""
    forward = text.split("forward:")[1]
    return forward.split("\n2:")[0]


@pytest.mark.parametrize("f, hoisted", [(clipped_powers, True), (triangle, False)])
def test_room_for_an_inner_loop_is_reserved_before_the_loop_around_it(f, hoisted):
    """Where the inner loop's trip count is the same in every trip of the loop around it, room
    for all of them is reserved once, before that loop, and not tested (nor the stack grown) per
    run of the inner loop; where it changes (range(i)), per run. The gradient against central
    differences, on both paths (as above), with trips enough to overflow the first stacks (at a
    point whose differences cross none of min's kinks: x[2] = 0.9 gives the triangle one)."""
    x = np.array([0.4, -0.7, 0.5])
    args = (x, 50, 30) if f is clipped_powers else (x, 50)
    text = str(zygopy.code_adjoint(f, *args))
    assert ("reserve!(float64" in entry_block(text)) == hoisted, text
    for interpreted in (False, True):
        tiered.INTERPRET_ONLY, saved = interpreted, tiered.INTERPRET_ONLY
        try:
            g = zygopy.gradient(f, *args)[0]
        finally:
            tiered.INTERPRET_ONLY = saved
        assert_matches_finite_differences(f, list(args), 0, g)


def test_stacks_are_reused_across_sizes():
    """A call gives its stacks back for the next (a fresh set of a few MB costs a page fault per
    4 KB): a smaller call after a larger one runs in the larger stacks, a larger one after it grows
    those it fills; each gradient still central differences' (as above)."""
    x = np.array([0.4, -0.7, 0.9])
    program = zygopy.api.compiled(clipped_powers, (x, 3, 5))
    held = []
    for n, m in [(3, 5), (50, 60), (2, 3), (70, 70)]:
        g = zygopy.gradient(clipped_powers, x, n, m)[0]
        held.append(list(program._spare[-1]))  # kept alive: compared by identity
        assert_matches_finite_differences(clipped_powers, [x, n, m], 0, g)
    # the smaller call ran in the larger's stacks; the largest grew those too small for it
    assert all(map(operator.is_, held[2], held[1])) and not all(map(operator.is_, held[3], held[2]))


def scalar_recurrence(x, n):
    s = 0.0
    for _ in range(n):
        s = math.sin(s + x) * 0.9 + 0.1 * x
    return s


def until_large(x, n):
    s = 1.0
    k = 0
    while s < 1e300 and k < n:  # trips unknown when the loop starts
        s = s * 1.0001 + 0.001 * math.sin(x * k)
        k += 1
    return 1e-3 * s + x * k


@pytest.mark.parametrize("f, grows", [(scalar_recurrence, True), (clipped_powers, True),
                                      (until_large, False)])
def test_a_larger_call_grows_its_stacks_without_running_again(f, grows, monkeypatch):
    """Where a loop's trips are known when it starts, the forward grows its stacks there: a call
    that needs far more than the first's stacks runs once. A loop that only counts its pushes
    (a while loop) overflows and runs again with room enough. Gradients against central
    differences (as above)."""
    x = np.array([0.4, -0.7, 0.9]) if f is clipped_powers else 0.3
    small, large = ((3, 5), (200, 300)) if f is clipped_powers else ((5,), (50_000,))
    zygopy.gradient(f, x, *small)
    program = zygopy.api.compiled(f, (x, *small))
    runs = []
    run = type(program)._run
    monkeypatch.setattr(type(program), "_run",
                        lambda self, *a, **k: runs.append(1) or run(self, *a, **k))
    monkeypatch.setattr(tiered, "_ready", tiered._ready | {program})  # the compiled code only
    g = zygopy.gradient(f, x, *large)[0]
    assert len(runs) == (1 if grows else 2)
    h = 1e-6
    for e in np.eye(3) if f is clipped_powers else [1.0]:
        fd = (f(x + h * e, *large) - f(x - h * e, *large)) / (2 * h)
        assert np.dot(g, e) == pytest.approx(fd, rel=1e-6, abs=1e-8)


def stencil_steps(u0, c, steps):
    u, v = u0.copy(), u0.copy()
    for _ in range(steps):
        for i in range(1, u.shape[0] - 1):
            v[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u, v = v, u
    return np.sum(u * u)


def counter_while(x, n):  # the shape of a range loop, written by hand
    k, s = 0, 0.0
    while k < n:
        s += x[k] * x[k]
        k += 1
    return s


def counter_while_float_bound(x, t):
    k, s = 0, 0.0
    while k < t:
        s += x[0] * k
        k += 1
    return s


def broken_range(x, n):
    s = 0.0
    for i in range(n):
        s += x[i] ** 2
        if s > 1.0:
            break
    return s


def stepped_range(x, n):
    s = 0.0
    for i in range(1, n, 2):
        s = s + x[i] * x[i - 1]
    return s


def index_read_after(x, n):
    i, s = 0, 0.0
    for i in range(2, n):
        s += x[i] * x[i - 2]
    return s * i


def triangle(x, n):
    s = 0.0
    for i in range(n):
        for j in range(i):
            s += x[i] * x[j]
    return s


def counted_inside_a_while(x, n):
    s, r = 0.0, 0
    while r < 3:
        for i in range(r, n):
            s += x[i] * (r + 1.0)
        r += 1
    return s


def counter_read_after(x, n):  # the counter's value after the loop is n, not n - 1
    i, s = 0, 0.0
    while i < n:
        s += x[i] * x[i]
        i += 1
    return s * (i % 2 + 1.0)


@pytest.mark.parametrize("fn, args", [
    (stencil_steps, (np.linspace(0.2, 1.0, 7), 0.1, 3)),
    (counter_while, (np.linspace(0.2, 1.0, 7), 5)),
    (counter_while_float_bound, (np.linspace(0.2, 1.0, 7), 2.5)),
    (broken_range, (np.linspace(0.2, 1.0, 7), 7)),
    (stepped_range, (np.linspace(0.2, 1.0, 7), 7)),
    (index_read_after, (np.linspace(0.2, 1.0, 7), 7)),
    (triangle, (np.linspace(0.2, 1.0, 7), 7)),
    (counted_inside_a_while, (np.linspace(0.2, 1.0, 7), 7)),
    (counted_inside_a_while, (np.linspace(0.2, 1.0, 7), 0)),
    (counter_read_after, (np.linspace(0.2, 1.0, 7), 3)),
])
def test_loops_written_as_python_for_compute_as_python(fn, args):
    """Range loops become Python `for` loops in the generated code (below); loops of other shapes
    near theirs keep what Python computes: the value, and the gradient against central
    differences."""
    value, (grad, *_) = zygopy.withgradient(fn, *args)
    assert value == pytest.approx(fn(*args), rel=1e-12)
    assert_matches_finite_differences(fn, args, 0, grad)


def test_a_range_loop_is_a_python_for_over_its_index():
    """for i in range(1, n - 1) is written as Python's `for` over i, as numba.njit compiles the
    user's own loop (a `while` on a counter k, with i = 1 + k inside, ran ~0.5% slower: LLVM
    vectorises the two differently); range(steps), whose index is the counter, stays a while."""
    source = zygopy.code_python(stencil_steps, np.linspace(0.2, 1.0, 7), 0.1, 3)
    primal = source[source.index("def stencil_steps_primal"):]
    primal = primal[:primal.index("\n\n")]
    assert re.search(r"for i_\d+ in range\(1, 1 \+ v\d+\):", primal), primal
    assert primal.count("while") == 1, primal  # range(steps), whose index is its counter

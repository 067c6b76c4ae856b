"""Loops are not unrolled: the adjoint of a loop is a loop, whatever the trip count.

Each loop is differentiated twice from scratch (the IR compiler and the adjoint pass called
directly, no cache) with its trip count a constant the compiler sees, 10 and then 10**6. The two
adjoints must print the same up to that constant and have the same number of statements, which an
unrolled loop could not; the forward and the reverse must contain a cycle. The gradients at
n = 10**6 must match closed-form derivatives.
"""
import math
import re

import pytest

import zygopy
from zygopy.adjoint.reverse import adjoint
from zygopy.ir.compile import compile_ir
from zygopy.ir.evaluate import evaluate_gradient
from zygopy.ir.printer import format_function
from zygopy.signature import signature


def while_power(x, n):
    r = 1.0
    while n > 0:
        r = r * x
        n -= 1
    return r


def for_geometric(x, n):
    s = 0.0
    for _ in range(n):
        s = s * x + 1.0  # Horner: sum of x^k for k < n
    return s


def nested_power(x, n):
    r = 1.0
    for _ in range(n):
        for _ in range(2):
            r = r * x
    return r


def break_power(x, n):
    r = 1.0
    for i in range(2 * n):
        if i >= n:
            break
        r *= x
    return r


def append_power(x, n):
    """x^n through a list: each power appended, the last one read back."""
    hs = [1.0]
    for _ in range(n):
        hs.append(hs[-1] * x)
    return hs[-1]


def generator_geometric(x, n):
    return sum(x ** k for k in range(n))  # a generator over a run-time range is a loop


def power_unrolled_by_two(x, n):
    """while_power with its loop body written out twice (for an even n)."""
    r = 1.0
    while n > 0:
        r = r * x
        r = r * x
        n -= 2
    return r


def sin_sum(x, n):
    s = 0.0
    for i in range(n):
        s += math.sin(i * x)
    return s


def d_geometric(x, n):
    # sum of k x^(k-1): the closed form below cancels badly for small n and x near 1
    if n <= 10 ** 4:
        return math.fsum(k * x ** (k - 1) for k in range(1, n))
    # d/dx (x^n - 1) / (x - 1); at n = 10**6, x - 1 = 1e-6 the numerator is ~1 and exact to ~1e-15
    return (n * x ** (n - 1) * (x - 1.0) - (x ** n - 1.0)) / (x - 1.0) ** 2


def d_sin_sum(x, n):
    """sum of i cos(i x) for i < n, differentiating the closed form of the sum of sin(i x),
    sin((n-1)x/2) sin(nx/2) / sin(x/2), by hand."""
    a, da = math.sin((n - 1) * x / 2), (n - 1) / 2 * math.cos((n - 1) * x / 2)
    b, db = math.sin(n * x / 2), n / 2 * math.cos(n * x / 2)
    c, dc = math.sin(x / 2), 0.5 * math.cos(x / 2)
    return (da * b + a * db) / c - a * b * dc / (c * c)


LOOPS = [
    # f, x near 1 so that x^n neither overflows nor underflows at n = 10**6, derivative at (x, n)
    pytest.param(while_power, 1.000001, lambda x, n: n * x ** (n - 1), id="while"),
    pytest.param(for_geometric, 1.000001, d_geometric, id="for"),
    pytest.param(nested_power, 1.0000005, lambda x, n: 2 * n * x ** (2 * n - 1), id="nested"),
    pytest.param(break_power, 1.000001, lambda x, n: n * x ** (n - 1), id="break"),
    pytest.param(append_power, 1.000001, lambda x, n: n * x ** (n - 1), id="append"),
    pytest.param(generator_geometric, 1.000001, d_geometric, id="generator"),
]


def with_trip_count(f, n):
    """f(x, n) with n a closure constant: inlined, the loop's trip count is known when compiling,
    as an unrolling pass would need."""
    def fixed(x):
        return f(x, n)
    return fixed


def fresh_adjoint(f, *args):
    """The adjoint of f for these arguments, built by the compiler passes themselves, no cache."""
    sig = signature(f, args)
    fn = compile_ir(f, list(sig.types), sig.structures(args))
    return adjoint(fn, sig.leaf_indices(range(len(args))), sig.unit_dims)


def size(adj):
    """Statements and branches of the forward and the reverse: what unrolling would multiply."""
    return sum(len(b.stmts) + len(b.branches)
               for fn in (adj.forward, adj.reverse) for b in fn.blocks)


def printed(adj, trips):
    """The adjoint as printed, with every constant k * trips written kN (range(2 * n) folds to
    2N)."""
    text = format_function(adj.forward) + "\n" + format_function(adj.reverse)

    def symbolic(m):
        k, rest = divmod(int(m.group()), trips)
        return f"{k}N" if k and not rest else m.group()
    # integer literals only: not %variables, block labels (`3:`, `br 3`, `3'`) or floats
    return re.sub(r"(?<![%\w'.])(?<!br )\d+(?![\w'.:])", symbolic, text)


def has_cycle(fn):
    succ = {b.id: [br.target for br in b.branches if br.target is not None] for b in fn.blocks}
    state = {}

    def visit(v):
        state[v] = "open"
        for w in succ.get(v, ()):
            if state.get(w) == "open" or (w not in state and visit(w)):
                return True
        state[v] = "done"
        return False
    return any(visit(b.id) for b in fn.blocks if b.id not in state)


@pytest.mark.parametrize("f, x, deriv", LOOPS)
def test_adjoint_ir_independent_of_trip_count(f, x, deriv):
    small = fresh_adjoint(with_trip_count(f, 10), x)
    big = fresh_adjoint(with_trip_count(f, 10 ** 6), x)
    assert printed(small, 10) == printed(big, 10 ** 6)
    assert "1N" in printed(big, 10 ** 6)  # the trip count is a constant in the IR
    assert size(small) == size(big)
    assert size(big) < 100  # 10**6 unrolled iterations could not be this small
    assert has_cycle(big.forward) and has_cycle(big.reverse), "the reverse of a loop must be a loop"
    text = str(big)
    # a loop-carried value the reverse needs is on a stack
    assert "push!" in text and "pop!" in text
    # the IR inspected is a correct gradient
    assert evaluate_gradient(small, (x,))[1][0] == pytest.approx(deriv(x, 10), rel=1e-12)


def test_a_copied_loop_body_is_seen():
    """What the comparison above would see of unrolling: a second copy of the loop body, same
    function, same trip count."""
    once = fresh_adjoint(with_trip_count(while_power, 10), 1.1)
    twice = fresh_adjoint(with_trip_count(power_unrolled_by_two, 10), 1.1)
    assert size(twice) > size(once)
    assert printed(twice, 10) != printed(once, 10)
    for adj in (once, twice):  # both are d/dx x^10
        assert evaluate_gradient(adj, (1.1,))[1][0] == pytest.approx(10 * 1.1 ** 9, rel=1e-12)


@pytest.mark.parametrize("f, x, deriv", LOOPS)
def test_gradient_at_a_million_trips(f, x, deriv):
    n = 10 ** 6
    expected = deriv(x, n)
    value, (g, gn) = zygopy.withgradient(f, x, n)
    assert gn is None
    assert value == pytest.approx(f(x, n), rel=1e-12)
    assert g == pytest.approx(expected, rel=1e-6)
    _, back = zygopy.pullback(f, x, n)
    assert back(1.0)[0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("f, x, deriv", LOOPS)
def test_small_trip_counts_fused_and_evaluator(f, x, deriv):
    # the same compiled gradient at several trip counts, including zero and one trip
    for n in (0, 1, 2, 10, 1000):
        expected = deriv(x, n) if n > 0 else 0.0
        assert zygopy.gradient(f, x, n)[0] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    adj = zygopy.code_adjoint(f, x, 10)
    for n in (0, 1, 7, 300):
        expected = deriv(x, n) if n > 0 else 0.0
        assert evaluate_gradient(adj, (x, n))[1][0] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_sin_sum_million_terms():
    x, n = 0.3, 10 ** 6
    g = zygopy.gradient(sin_sum, x, n)[0]
    # terms up to 1e6 cancel to ~8.5e5; the closed form's own error (rounding of n x / 2) is ~1e-10
    assert g == pytest.approx(d_sin_sum(x, n), rel=1e-8)
    small = zygopy.gradient(sin_sum, x, 50)[0]
    assert small == pytest.approx(sum(i * math.cos(i * x) for i in range(50)), rel=1e-12)

"""zygopy's gradients of the array corpus (tests/corpus_arrays.py) against central finite
differences.

Three routes to the gradient are checked, each at the corpus's seeded inputs (each case on one
compiled route or the evaluator or both, see on_route):
  fused      zygopy.withgradient / zygopy.gradient: forward and reverse in one compiled function;
  split      zygopy.pullback: a compiled forward, then back(1.0) twice (the tape must be reusable,
             and the reverse pass must undo the function's writes so that the replay is exact);
  evaluator  the adjoint IR run by the pure-Python reference interpreter (a subset of the corpus).

Finite differences are of the plain Python function, in float64, central, one element at a time,
with h = 1e-6 * max(1, |x|). Tolerance: |ad - fd| <= atol + rtol * |fd| per element, with
rtol = 1e-5 and atol = 1e-7:
  - truncation error h^2 |f'''| / 6 ~ 1.7e-13 |f'''|: negligible, the corpus's third derivatives
    are O(1..100);
  - rounding error ~ eps |f| / h = 2.2e-16 |f| / 1e-6 = 2.2e-10 |f| (a few times more for the
    rounding noise of long loops); the corpus keeps |f| below ~100, so it stays below ~3e-8 < atol;
  - a correct gradient passes with a margin of ~100x, while a wrong rule (a missing factor, a sign,
    a contribution dropped or counted twice, a wrong broadcast axis) is off by far more than 1e-5.
The corpus's inputs are chosen away from kinks; test_inputs_are_away_from_kinks checks that the
finite differences with steps h and 4h agree, so a failure here is zygopy's, not the point's.

float32 cases: zygopy runs on the float32 inputs; the reference is the float64 finite difference of
the same function at the same (float32-representable) point. rtol = 1e-3, atol = 1e-4: float32's
eps is 1.2e-7 and the corpus's float32 functions take at most a few hundred rounding steps, so a
correct float32 gradient is within ~1e-5 relative of the float64 one (100x margin), while wrong
rules are off by O(1).
"""
import inspect
import math
import re

import numpy as np
import pytest

import zygopy
from zygopy.backend import tiered
from zygopy.ir.evaluate import evaluate_gradient

from .corpus_arrays import CASES
from .nn_support import both_routes

RTOL, ATOL = 1e-5, 1e-7
RTOL32, ATOL32 = 1e-3, 1e-4

# case name -> reason, for known zygopy bugs (kept as strict xfails: they must keep failing until
# fixed)
KNOWN_FAILURES = {}
# (route, case name) -> reason, for bugs of one route only
KNOWN_ROUTE_FAILURES = {}


def is_float_leaf(a):
    return isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype.kind == "f")


def as64(args):
    """Fresh float64 copies of the arguments (the function may write into its arrays)."""
    return [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
            else (a.copy() if isinstance(a, np.ndarray) else a) for a in args]


def call(f, args):
    return float(f(*as64(args)))


def finite_difference(f, args, i, scale=1.0):
    """The central difference of f with respect to argument i, element by element, in float64."""
    a = args[i]

    def at(x):
        b = list(args)
        b[i] = x
        return call(f, b)

    if isinstance(a, float):
        h = scale * 1e-6 * max(1.0, abs(a))
        return (at(a + h) - at(a - h)) / (2.0 * h)
    x = a.astype(np.float64)
    g = np.empty(x.shape)
    for k in np.ndindex(x.shape):
        h = scale * 1e-6 * max(1.0, abs(x[k]))
        up, down = x.copy(), x.copy()
        up[k] += h
        down[k] -= h
        g[k] = (at(up) - at(down)) / (2.0 * h)
    return g


_FD_CACHE = {}


def expected_gradient(c):
    """Per argument: the finite-difference gradient, or None for ints and int arrays."""
    if c.name not in _FD_CACHE:
        args = c.args()
        _FD_CACHE[c.name] = tuple(finite_difference(c.fn, args, i) if is_float_leaf(a) else None
                                  for i, a in enumerate(args))
    return _FD_CACHE[c.name]


def check_gradients(c, args, grads, what):
    expected = expected_gradient(c)
    rtol, atol = (RTOL32, ATOL32) if c.float32 else (RTOL, ATOL)
    assert isinstance(grads, tuple) and len(grads) == len(args), f"{what}: {grads!r}"
    for i, (a, g, e) in enumerate(zip(args, grads, expected, strict=True)):
        if e is None:
            assert g is None, (f"{what}: {c.name}: argument {i} is not a float but got the "
                               f"gradient {g!r}")
            continue
        if isinstance(a, float):
            assert isinstance(g, float), (f"{what}: {c.name}: argument {i} is a float, gradient "
                                          f"{g!r}")
        else:
            assert isinstance(g, np.ndarray) and g.shape == a.shape, \
                f"{what}: {c.name}: argument {i} has shape {a.shape}, gradient {g!r}"
            assert g.dtype == a.dtype, (f"{what}: {c.name}: argument {i} is {a.dtype}, gradient "
                                        f"is {g.dtype}")
            others = [x for x in (*args, *grads[:i]) if isinstance(x, np.ndarray)]
            assert not any(np.shares_memory(g, x) for x in others), \
                f"{what}: {c.name}: the gradient of argument {i} shares memory with another array"
        g64 = np.asarray(g, dtype=np.float64)
        assert np.all(np.isfinite(g64)), f"{what}: {c.name}: d/d(arg {i}) = {g!r}"
        bad = np.abs(g64 - e) > atol + rtol * np.abs(e)
        assert not np.any(bad), (f"{what}: {c.name}: d/d(arg {i}) differs from finite differences "
                                 f"at {np.argwhere(np.atleast_1d(bad)).tolist()}:\nzygopy {g!r}\n"
                                 f"finite differences {e!r}")


def check_unchanged(args, before, what, c):
    for i, (a, b) in enumerate(zip(args, before, strict=True)):
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b), (f"{what}: {c.name} modified the caller's argument {i}: "
                                          f"{b} -> {a}")


def writes_into_arrays(c):
    """Whether the case's source writes into an array (`a[i] = v`, `a[:, j] += v`)."""
    return re.search(r"\][ ]*[-+*/]?=[^=]", inspect.getsource(c.fn)) is not None


def compiled_routes():
    """case name -> the one compiled route it takes ("fused" or "split"). Compiled: the cases the
    evaluator does not check, and every other case it does (the evaluator runs the same adjoint
    IR; compiling is the suite's cost). The routes alternate within the cases that write into
    arrays and within the others, so that the split route replays forwards whose writes the
    reverse undid. Both routes compile the same forward and reverse code."""
    checked = [c for c in CASES if c.evaluator]
    chosen = [c for c in CASES if not c.evaluator or checked.index(c) % 2 == 0]
    routes = {}
    for writes in (True, False):
        kind = [c for c in chosen if writes_into_arrays(c) == writes]
        routes.update({c.name: ("fused", "split")[k % 2] for k, c in enumerate(kind)})
    return routes


ROUTES = compiled_routes()


def on_route(route):
    return lambda c: ROUTES.get(c.name) == route


def params(route, only=lambda c: True):
    out = []
    for c in CASES:
        if not only(c):
            continue
        reason = KNOWN_FAILURES.get(c.name) or KNOWN_ROUTE_FAILURES.get((route, c.name))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(c, id=c.name, marks=marks))
    return out


@pytest.mark.parametrize("c", params("fused", on_route("fused")))
def test_fused_gradient(c):
    args = c.args()
    before = c.args()
    value, grads = zygopy.withgradient(c.fn, *args)
    rtol = 1e-5 if c.float32 else 1e-12
    assert float(value) == pytest.approx(call(c.fn, args), rel=rtol, abs=rtol)
    check_gradients(c, args, grads, "withgradient")
    check_unchanged(args, before, "withgradient", c)
    # the cached compiled gradient gives the same again through gradient()
    again = zygopy.gradient(c.fn, *args)
    for g, h in zip(grads, again, strict=True):
        assert (g is None and h is None) or np.array_equal(g, h), \
            f"gradient() then withgradient() differ: {g} {h}"
    check_unchanged(args, before, "gradient", c)


@pytest.mark.parametrize("c", params("split", on_route("split")))
def test_split_pullback(c):
    args = c.args()
    before = c.args()
    value, back = zygopy.pullback(c.fn, *args)
    rtol = 1e-5 if c.float32 else 1e-12
    assert float(value) == pytest.approx(call(c.fn, args), rel=rtol, abs=rtol)
    first = back(1.0)
    second = back(1.0)
    for i, (g1, g2) in enumerate(zip(first, second, strict=True)):
        assert (g1 is None and g2 is None) or np.array_equal(g1, g2), \
            f"pullback of {c.name} is not repeatable, argument {i}: {g1!r} then {g2!r}"
    check_gradients(c, args, first, "pullback")
    # linear in the cotangent
    doubled = back(2.0)
    for g1, g2 in zip(first, doubled, strict=True):
        if g1 is not None:
            np.testing.assert_allclose(np.asarray(g2, np.float64), 2.0 * np.asarray(g1, np.float64),
                                       rtol=1e-6 if c.float32 else 1e-12, atol=1e-12)
    check_unchanged(args, before, "pullback", c)


@pytest.mark.parametrize("c", params("evaluator", lambda c: c.evaluator))
def test_adjoint_ir_evaluator(c):
    args = c.args()
    adj = zygopy.code_adjoint(c.fn, *args)
    # the interpreter works on the arrays it is given: hand it copies
    value, grads = evaluate_gradient(adj, as64(args))
    assert float(value) == pytest.approx(call(c.fn, args), rel=1e-12, abs=1e-12)
    # one gradient per leaf (here: per argument), None for ints
    grads = tuple(grads)
    assert len(grads) == len(args), f"evaluate_gradient: {grads!r}"
    grads = tuple(None if g is None
                  else float(g) if isinstance(a, float) else np.asarray(g, dtype=a.dtype)
                  for a, g in zip(args, grads, strict=True))
    check_gradients(c, args, grads, "evaluate_gradient")


def test_writes_arguments_cases_do_write():
    """The cases marked writes_args really modify their argument when called plainly (so the
    'caller's array unchanged' checks above are meaningful)."""
    marked = [c for c in CASES if c.writes_args]
    assert marked
    for c in marked:
        args, before = c.args(), c.args()
        c.fn(*args)
        assert any(isinstance(a, np.ndarray) and not np.array_equal(a, b)
                   for a, b in zip(args, before, strict=True)), c.name


# ---- the corpus itself ------------------------------------------------------------------------

ARRAY_PRIMITIVES = {"sum", "mean", "amax", "amin", "matmul", "transpose", "reshape", "ravel",
                    "concatenate", "stack", "getindex", "setindex", "zeros", "ones", "empty",
                    "zeros_like", "empty_like", "copy", "select", "max", "min", "exp", "log",
                    "tanh", "sin", "cos", "sqrt", "abs", "pow", "add", "sub", "mul", "truediv",
                    "neg", "prod", "var", "std", "argmax", "argmin", "cumsum", "cumprod",
                    "square", "logaddexp", "gather", "arange", "outer", "solve",
                    "inv", "det", "logabsdet", "cholesky", "linspace", "full", "full_like",
                    "eye", "identity", "astype", "expand_dims", "squeeze", "swapaxes", "moveaxis",
                    "flip", "tile", "repeat", "pad", "triu", "tril", "diag", "trace",
                    "sliding_window_view"}


def test_corpus_size_and_coverage():
    assert len(CASES) >= 45
    assert len({c.name for c in CASES}) == len(CASES)
    assert sum(c.float32 for c in CASES) >= 4
    assert sum(c.evaluator for c in CASES) >= 10
    ops = set()
    for c in CASES:
        if c.name in KNOWN_FAILURES:
            continue
        ir = zygopy.code_ir(c.fn, *c.args())
        ops |= {s.op for b in ir.blocks for s in b.stmts}
    missing = ARRAY_PRIMITIVES - ops
    assert not missing, f"no corpus function uses {sorted(missing)}"


@pytest.mark.parametrize("c", [pytest.param(c, id=c.name) for c in CASES])
def test_inputs_are_away_from_kinks(c):
    """The seeded inputs are small, deterministic, give a finite scalar, and sit where finite
    differences are meaningful: steps h and 4h agree (no kink, tie or branch flip nearby)."""
    args = c.args()
    again = c.args()
    for a, b in zip(args, again, strict=True):
        assert type(a) is type(b) and np.array_equal(a, b)
        if isinstance(a, np.ndarray):
            assert a.size <= 30
    assert c.float32 == any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in args)
    value = c.fn(*as64(args))
    assert np.ndim(value) == 0 and np.isfinite(value) and abs(value) < 1e3
    for i, a in enumerate(args):
        if is_float_leaf(a):
            fine = expected_gradient(c)[i]
            coarse = finite_difference(c.fn, args, i, scale=4.0)
            np.testing.assert_allclose(coarse, fine, rtol=1e-6, atol=1e-8,
                                       err_msg=f"{c.name}, argument {i}")


def _sum_of_sum(x, y):
    return np.sum(x + y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_are_arrays_of_their_own(dtype):
    """x + y sends one array to both gradients: each comes back as an array of its own, in its
    argument's dtype."""
    x, y = np.ones(3, dtype), np.full(3, 2.0, dtype)
    _, back = zygopy.pullback(_sum_of_sum, x, y)
    for grads in (zygopy.gradient(_sum_of_sum, x, y), back(1.0)):
        assert all(g.dtype == dtype and np.array_equal(g, np.ones(3)) for g in grads)
        assert not np.shares_memory(grads[0], grads[1])


def _determinants(a, b):
    return np.sum((np.linalg.det(a) + np.linalg.slogdet(a)[1]) * b)


@pytest.mark.parametrize("interpret", [False, True], ids=["compiled", "evaluator"])
def test_determinant_gradients_are_in_the_arguments_dtype(interpret, monkeypatch):
    """Numba's det and slogdet of float32 are float64: compiled, both gradients came back
    float64 (the evaluator's were float32)."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
    a = np.array([[2.0, 1.0], [0.5, 3.0]], np.float32)
    b = np.array([1.0, 2.0, 0.5], np.float32)
    ga, gb = zygopy.gradient(_determinants, a, b)
    det, a64 = 5.5, a.astype(np.float64)
    assert ga.dtype == gb.dtype == np.float32
    np.testing.assert_allclose(ga, 3.5 * (det + 1.0) * np.linalg.inv(a64).T, rtol=1e-5)
    np.testing.assert_allclose(gb, det + np.log(det), rtol=1e-6)


def _joined_flat(a, b):
    c = np.concatenate((a, b), axis=None)
    return np.sum(np.sin(c) * np.arange(c.size))


@pytest.mark.parametrize("interpret", [False, True], ids=["compiled", "evaluator"])
def test_concatenate_with_no_axis_joins_the_arrays_flattened(interpret, monkeypatch):
    """As NumPy's, whatever the arrays' ranks; it was a TypeError from inside the gradient rule
    (axis None % ndim), or 'arrays of one rank' for a matrix and a vector."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
    a, b = np.linspace(-1.0, 1.0, 6).reshape(2, 3), np.array([0.5, 2.0])
    value, (ga, gb) = zygopy.withgradient(_joined_flat, a, b)
    weights = np.arange(8.0)
    assert value == pytest.approx(_joined_flat(a, b), rel=1e-12)
    np.testing.assert_allclose(ga, (np.cos(a.ravel()) * weights[:6]).reshape(2, 3), rtol=1e-12)
    np.testing.assert_allclose(gb, np.cos(b) * weights[6:], rtol=1e-12)


def _through_lists(m, b):
    c = b * 1.0
    c[[0, 2]] = 0.0
    c[[1, 3]] += 1.0
    return (np.sum(m[[0, 2]] ** 2) + np.sum(m[1, [1, 0]]) + np.sum(c ** 2)
            + np.sum(b[[True, False, False, True]]))


@pytest.mark.parametrize("interpret", [False, True], ids=["compiled", "evaluator"])
def test_a_literal_list_indexes_as_numpys(interpret, monkeypatch):
    """a[[0, 2]] is NumPy's a[np.array([0, 2])], read or written; a write through a list was a
    TypeError from inside the adjoint pass."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
    m, b = np.arange(6.0).reshape(3, 2), np.array([0.5, 1.0, 1.5, 2.0])
    value, (gm, gb) = zygopy.withgradient(_through_lists, m, b)
    assert value == _through_lists(m, b) == 42.0 + 5.0 + 13.0 + 2.5
    np.testing.assert_array_equal(gm, [[0.0, 2.0], [1.0, 1.0], [8.0, 10.0]])
    np.testing.assert_array_equal(gb, [1.0, 4.0, 0.0, 7.0])


def without_missing(x):
    return np.sum(np.where(np.isnan(x), 0.0, x) ** 2)


def finite_or_zero(x, c):
    return x * min(1.0 / c, 3.0) + x * max(math.log(c), -3.0) + x * (2.0 if math.isinf(c) else 1.0)


@pytest.mark.parametrize("interpret", [False, True], ids=["compiled", "evaluator"])
def test_nan_tests_and_division_by_zero_as_numpy(interpret, monkeypatch):
    """Missing values masked with np.isnan get no gradient; a float divided by zero or log(0)
    is an infinity, as in NumPy (the compiled code's error model), on both routes: the evaluator
    raised ZeroDivisionError or 'math domain error' where the compiled code gave a number."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
    x = np.array([0.5, np.nan, -1.5])
    np.testing.assert_array_equal(zygopy.gradient(without_missing, x)[0], [1.0, 0.0, -3.0])
    value, (gx, _) = zygopy.withgradient(finite_or_zero, 0.5, 0.0)
    assert (value, gx) == (0.5 * 3.0 - 0.5 * 3.0 + 0.5, 3.0 - 3.0 + 1.0)


def written_through_asarray(u, c):
    v = np.asarray(u)
    v[0] = c * u[1]
    return np.sum(u * u) + np.sum(np.asarray([c, 2.0 * c]) * v[:2])


def test_asarray_of_an_array_is_that_array(monkeypatch):
    """np.asarray(u) is u itself in NumPy: a write through it is a write into u. It was a copy,
    so u kept its first element (14.0 for NumPy's 38.0 of sum(u * u) after v[0] = 5.0,
    silently). The gradient against central differences, on both routes."""
    u, c = np.array([1.0, 2.0, 3.0]), 0.7
    expected = written_through_asarray(u.copy(), c)
    for value, (gu, gc) in both_routes(monkeypatch, written_through_asarray, u, c):
        assert value == pytest.approx(expected, rel=1e-12)
        assert np.array_equal(u, [1.0, 2.0, 3.0])  # the caller's array, as always, untouched
        np.testing.assert_allclose(gu, finite_difference(written_through_asarray, (u, c), 0),
                                   rtol=1e-7, atol=1e-9)
        assert gc == pytest.approx(finite_difference(written_through_asarray, (u, c), 1),
                                   rel=1e-7)


def written_into_a_copy(u):
    v = np.array(u)
    v[0] = 3.0 * u[1]
    return np.sum(v ** 2) + np.sum(u)


def test_array_of_an_array_is_a_copy_in_forward_mode_too():
    """np.array(u) of an array had no tangent rule (NoRule: 'list_stack'), so jvp and hessian
    refused what gradient computes; it is a copy, which both modes differentiate. Truth: the
    central difference along the direction, and the Hessian by hand: f = (3 u1)^2 + u1^2 + u2^2
    + sum(u)."""
    u, direction = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.5, 0.25])
    value, tangent = zygopy.jvp(written_into_a_copy, (u,), (direction,))
    assert value == pytest.approx(written_into_a_copy(u.copy()), rel=1e-12)
    h = 1e-6
    fd = (written_into_a_copy(u + h * direction) - written_into_a_copy(u - h * direction)) / (2 * h)
    assert tangent == pytest.approx(fd, rel=1e-7)
    np.testing.assert_allclose(zygopy.hessian(written_into_a_copy, u), np.diag([0.0, 20.0, 2.0]),
                               atol=1e-12)

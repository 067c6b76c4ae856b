"""Forward mode (jvp), Jacobians and Hessians against central finite differences.

Corpus: the scalar programs of corpus_grad.py, the array programs of corpus_arrays.py (float32
cases run on float64 copies: the point here is the transform) and the array- and tuple-valued
ones of corpus_forward.py. Most checks run the tangent IR in the reference evaluator
(ZYGOPY_INTERPRET_ONLY=1); a few compile it with Numba.

References, all in float64 and independent of the code under test:
  jvp      the central difference of f along the tangents, (f(x + h t) - f(x - h t)) / 2h with
           h = 1e-6 and t drawn from N(0, 1) per element: truncation h^2 |f'''| / 6 ~ 1e-13 and
           rounding ~ eps |f| / h ~ 2e-10 |f| (|f| <= ~100 in the corpora), so rtol = 1e-5,
           atol = 1e-6 leaves a wide margin while a wrong rule is off by O(1).
  jacobian each row (one output element) against the central differences of that output with
           respect to each input element, h = 1e-6, same tolerances.
  hvp      the central difference of the gradient (reverse mode, verified against finite
           differences by test_gradients.py and test_array_gradients.py) along v, h = 1e-5:
           truncation ~ 1e-11 |f''''|, rounding ~ eps |g| / h ~ 2e-11 |g|; rtol = 1e-5,
           atol = 1e-6. Hessians are also checked symmetric: u.(H v) = v.(H u).
A point where the differences with steps h and 2h disagree (a branch decision or a kink within
the step, e.g. where a corpus function's two arguments are equal) is skipped, not failed.
"""
import zlib

import numpy as np
import pytest

import zygopy
from zygopy.api import _compiled, bind
from zygopy.backend import tiered
from zygopy.nn import maxpool2d

from . import corpus_arrays, corpus_forward, corpus_grad
from .corpus_grad import Bool, Float, Int

RTOL, ATOL = 1e-5, 1e-6
H_JVP, H_HVP = 1e-6, 1e-5
# forward mode refuses lists of varied values (UnsupportedType)
REFUSED = {"list_rnn_states", "list_of_numbers", "list_literal_stack", "list_comprehension",
           "f32_list_states", "list_in_branches_and_loops"}


@pytest.fixture
def interpreted(monkeypatch):
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def scalar_point(fn, domains):
    rng = rng_for(fn.__name__)
    out = []
    for d in domains:
        if isinstance(d, Float):
            out.append(float(rng.uniform(d.lo, d.hi)))
        else:
            assert isinstance(d, (Int, Bool))
            out.append(d.example)
    return tuple(out)


def as64(a):
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return a.astype(np.float64)
    if isinstance(a, tuple):
        return tuple(map(as64, a))
    return a.copy() if isinstance(a, np.ndarray) else a


def is_float(a):
    return isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype.kind == "f")


def corpus():
    cases = [(fn, scalar_point(fn, domains)) for fn, domains in corpus_grad.CASES]
    cases += [(c.fn, tuple(map(as64, c.args()))) for c in corpus_arrays.CASES]
    cases += [(c.fn, c.args()) for c in corpus_forward.CASES]
    return [pytest.param(fn, args, id=fn.__name__) for fn, args in cases]


CORPUS = corpus()


def draw_like(a, rng):
    """A random tangent shaped like a (None for ints and bools)."""
    if isinstance(a, tuple):
        return tuple(draw_like(x, rng) for x in a)
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return rng.standard_normal(a.shape)
    return float(rng.standard_normal()) if isinstance(a, float) else None


def shifted(a, t, s):
    """a + s t, leaf by leaf (a copy where t is None)."""
    if isinstance(a, tuple):
        return tuple(shifted(x, None if t is None else u, s)
                     for x, u in zip(a, t or a, strict=True))
    if t is None:
        return a.copy() if isinstance(a, np.ndarray) else a
    return a + s * t


def stable_difference(g, h):
    """(g(h) - g(-h)) / 2h, skipping the test where a step of 2h disagrees."""
    def diff(step):
        return (g(step) - g(-step)) / (2 * step)
    d = diff(h)
    if not np.allclose(d, diff(2 * h), rtol=1e-4, atol=1e-6):
        pytest.skip("a branch decision or a kink lies within the finite-difference step")
    return d


def result(f, args):
    """f(*args) as a float64 array, on copies (some corpus functions write into their
    arguments)."""
    return np.asarray(f(*map(as64, args)), dtype=np.float64)


def snapshot(values):
    return [np.copy(v) if isinstance(v, np.ndarray) else v for v in values]


def assert_unchanged(before, after):
    for b, a in zip(before, after, strict=True):
        if isinstance(b, np.ndarray):
            np.testing.assert_array_equal(a, b)


# ---- jvp ----------------------------------------------------------------------------------------

@pytest.mark.usefixtures("interpreted")
@pytest.mark.parametrize("fn,args", CORPUS)
def test_jvp_matches_finite_differences(fn, args):
    if fn.__name__ in REFUSED:
        with pytest.raises(zygopy.UnsupportedType, match="lists"):
            zygopy.jvp(fn, args, [draw_like(a, rng_for("t")) for a in args])
        return
    tangents = tuple(draw_like(a, rng_for(fn.__name__)) for a in args)
    flat_args = [x for a in args for x in (a if isinstance(a, tuple) else (a,))]
    flat_tangents = [x for t in tangents for x in (t if isinstance(t, tuple) else (t,))]
    before, before_t = snapshot(flat_args), snapshot(flat_tangents)
    value, tangent = zygopy.jvp(fn, args, tangents)
    assert_unchanged(before, flat_args)  # the caller's arrays and tangents are never written
    assert_unchanged(before_t, flat_tangents)
    np.testing.assert_allclose(np.asarray(value, dtype=np.float64), result(fn, args), rtol=1e-12)
    expected = stable_difference(
        lambda s: result(fn, [shifted(a, t, s) for a, t in zip(args, tangents, strict=True)]),
        H_JVP)
    np.testing.assert_allclose(np.asarray(tangent, dtype=np.float64), expected, rtol=RTOL,
                               atol=ATOL)


# ---- Jacobians ----------------------------------------------------------------------------------

@pytest.mark.usefixtures("interpreted")
@pytest.mark.parametrize("case", corpus_forward.CASES, ids=lambda c: c.name)
def test_jacobian_rows_match_finite_differences(case):
    args = case.args()
    jac = zygopy.jacobian(case.fn, *args)
    y = result(case.fn, args)
    for k, a in enumerate(args):
        leaves = a if isinstance(a, tuple) else (a,)
        got_leaves = jac[k] if isinstance(a, tuple) else (jac[k],)
        for j, (leaf, got) in enumerate(zip(leaves, got_leaves, strict=True)):
            if not is_float(leaf):
                assert got is None
                continue
            assert got.shape == y.shape + np.shape(leaf)
            got = got.reshape(y.size, -1)
            columns = []
            for e in range(np.size(leaf)):
                t = np.zeros(np.size(leaf))
                t[e] = 1.0
                t = t.reshape(np.shape(leaf))
                tangents = [None] * len(args)
                tangents[k] = tuple(t if i == j else None for i in range(len(leaves))) \
                    if isinstance(a, tuple) else t
                columns.append(stable_difference(
                    lambda s, tangents=tangents: result(case.fn, [
                        shifted(x, u, s) for x, u in zip(args, tangents, strict=True)]),
                    H_JVP).ravel())
            expected = np.stack(columns, axis=-1)
            for row in range(y.size):
                np.testing.assert_allclose(got[row], expected[row], rtol=RTOL, atol=ATOL,
                                           err_msg=f"argument {k}, row {row}")


def test_jacobian_chooses_forward_or_reverse_by_shape():
    """corpus_forward has cases of both kinds: fewer inputs than outputs (forward, one jvp per
    input element) and more (reverse, one pullback per output element)."""
    sizes = []
    for c in corpus_forward.CASES:
        args = c.args()
        n_in = sum(np.size(x) for a in args for x in (a if isinstance(a, tuple) else (a,))
                   if is_float(x))
        sizes.append(n_in <= np.size(result(c.fn, args)))
    assert any(sizes) and not all(sizes)


@pytest.mark.usefixtures("interpreted")
def test_jacobian_of_a_tuple_of_scalars_still_works():
    jx, jy = zygopy.jacobian(corpus_grad.polar, 0.6, -1.3)
    r = np.hypot(0.6, -1.3)
    np.testing.assert_allclose(jx, [0.6 / r, 1.3 / r ** 2], rtol=1e-12)
    np.testing.assert_allclose(jy, [-1.3 / r, 0.6 / r ** 2], rtol=1e-12)


# ---- Hessians -----------------------------------------------------------------------------------

def scalar_valued(cases):
    out = []
    for p in cases:
        fn, args = p.values
        if fn.__name__ in REFUSED or not is_float(args[0]) or isinstance(args[0], tuple):
            continue
        value = fn(*map(as64, args))
        if np.ndim(value) == 0 and not isinstance(value, tuple):
            out.append(pytest.param(fn, args, id=fn.__name__))
    return out


SCALAR_VALUED = scalar_valued(CORPUS)


def gradient_along(fn, x, rest, v):
    return lambda s: np.asarray(zygopy.gradient(fn, shifted(x, v, s), *rest)[0], np.float64)


@pytest.mark.usefixtures("interpreted")
@pytest.mark.parametrize("fn,args", SCALAR_VALUED)
def test_hvp_matches_finite_differences_of_the_gradient_and_is_symmetric(fn, args):
    x, rest = args[0], args[1:]
    rng = rng_for(fn.__name__)
    u, v = draw_like(x, rng), draw_like(x, rng)
    hv = zygopy.hvp(fn, x, v, *rest)
    expected = stable_difference(gradient_along(fn, x, rest, v), H_HVP)
    np.testing.assert_allclose(hv, expected, rtol=RTOL, atol=ATOL)
    hu = zygopy.hvp(fn, x, u, *rest)
    scale = np.linalg.norm(hv) * np.linalg.norm(u) + np.linalg.norm(hu) * np.linalg.norm(v)
    assert abs(np.sum(u * hv) - np.sum(v * hu)) <= 1e-10 * max(scale, 1.0)


def _size(p):
    return np.size(p.values[1][0])


# full Hessians: every case of 2 to 12 variables, and every fourth of one variable
HESSIANS = [p for p in SCALAR_VALUED if 2 <= _size(p) <= 12]
HESSIANS += [p for p in SCALAR_VALUED if _size(p) == 1][::4]


def test_the_hessian_corpus_is_large():
    assert sum(_size(p) > 1 for p in HESSIANS) >= 30


@pytest.mark.parametrize("fn,args", HESSIANS[::6])
def test_jacobian_of_a_scalar_function_is_its_one_row(fn, args):
    """jacobian's other route (one compiled pullback per scalar result: jacobian always
    compiles), on every sixth case of the Hessian corpus (the compiled pullback itself is
    tested on the array corpus, test_array_gradients.py): its one row against central
    differences."""
    x, rest = args[0], args[1:]
    row = zygopy.jacobian(fn, x, *rest)[0]
    assert np.shape(row) == (1,) + np.shape(x)
    for j in range(np.size(x)):
        e = np.zeros(np.size(x))
        e[j] = 1.0
        e = e.reshape(np.shape(x)) if isinstance(x, np.ndarray) else 1.0
        expected = stable_difference(lambda s, e=e: result(fn, [shifted(x, e, s), *rest]), H_JVP)
        np.testing.assert_allclose(np.ravel(row)[j], expected, rtol=RTOL, atol=ATOL)


@pytest.mark.usefixtures("interpreted")
@pytest.mark.parametrize("fn,args", HESSIANS)
def test_hessian_matches_finite_differences_and_is_symmetric(fn, args):
    x, rest = args[0], args[1:]
    hess = zygopy.hessian(fn, x, *rest)
    assert np.shape(hess) == np.shape(x) + np.shape(x)
    flat = np.reshape(hess, (np.size(x), np.size(x)))
    for j in range(np.size(x)):
        e = np.zeros(np.size(x))
        e[j] = 1.0
        e = e.reshape(np.shape(x)) if isinstance(x, np.ndarray) else 1.0
        column = stable_difference(gradient_along(fn, x, rest, e), H_HVP)
        np.testing.assert_allclose(flat[:, j], np.ravel(column), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(flat, flat.T, rtol=1e-9, atol=1e-12)


# ---- loops stay loops ---------------------------------------------------------------------------

def sine_recurrence(x, n):
    s = 0.0
    for i in range(n):
        s = s + np.sin(x * s + i) * 0.5
    return s


def has_back_edge(fn):
    """Whether the IR has a loop: blocks are numbered in reverse postorder, so a branch to a block
    numbered no later than its own is a back edge."""
    return any(br.target is not None and br.target <= b.id for b in fn.blocks
               for br in b.branches)


def test_tangent_ir_does_not_depend_on_the_trip_count():
    small = zygopy.code_tangent(sine_recurrence, 0.3, 10)
    large = zygopy.code_tangent(sine_recurrence, 0.3, 10 ** 6)
    assert str(small) == str(large)
    assert has_back_edge(large)
    assert sum(len(b.stmts) for b in large.blocks) < 30  # a loop body, not 10**6 copies


def test_hessian_vector_ir_does_not_depend_on_the_trip_count():
    """Reverse over forward: the reverse pass of the tangent IR is a loop too."""
    def adjoint(n):
        c, _ = _compiled(bind(sine_recurrence, (0.3, n), {}, 0), "hvp")
        return c.adjoint

    small, large = adjoint(10), adjoint(10 ** 6)
    assert str(small) == str(large)
    assert has_back_edge(large.forward) and has_back_edge(large.reverse)


# ---- writes ---------------------------------------------------------------------------------

def view_across_another_write(a):
    """A view of a still in use across a write into another array: b cannot change a (the tangent
    IR is full of these: a view of a tangent array across the primal's write)."""
    v = a[1:]
    b = np.zeros(3)
    b[0] = a[0] * 2.0
    return np.sum(v * v) * b[0]


def view_across_its_own_write(a):
    v = a[1:]
    a[1] = 5.0
    return np.sum(v * v)


@pytest.mark.usefixtures("interpreted")
def test_a_view_may_be_used_across_a_write_into_another_array_only():
    a = np.array([0.5, -1.0, 2.0])
    g = zygopy.gradient(view_across_another_write, a)[0]
    for k in range(3):
        e = np.eye(3)[k]
        assert g[k] == pytest.approx(stable_difference(
            lambda s, e=e: view_across_another_write(a + s * e), H_JVP), rel=RTOL, abs=ATOL)
    with pytest.raises(zygopy.UnsupportedSyntax, match="still in use across a write"):
        zygopy.gradient(view_across_its_own_write, a)


# ---- custom rules -------------------------------------------------------------------------------

@zygopy.custom_rule
def smooth_step(x):
    return np.tanh(x)


@smooth_step.pullback
def _(g, y, x):
    return (g * (1.0 - y * y),)


@zygopy.custom_rule
def cube(x):
    return x * x * x


@cube.pullback
def _(g, y, x):
    return (3.0 * g * x * x,)


@cube.tangent
def _(y, x, dx):
    return 3.0 * x * x * dx


def uses_smooth_step(x):
    return smooth_step(x) * x


def uses_cube(x, n):
    s = 0.0
    for _ in range(n):
        s = s + cube(x - s * 0.1)
    return s


@pytest.mark.usefixtures("interpreted")
def test_a_custom_rule_without_a_tangent_rule_is_refused_in_forward_mode():
    with pytest.raises(zygopy.NoRule, match="smooth_step.*no tangent rule") as e:
        zygopy.jvp(uses_smooth_step, (0.3,), (1.0,))
    assert "@smooth_step.tangent" in str(e.value)


@pytest.mark.usefixtures("interpreted")
def test_a_custom_rule_with_a_tangent_rule_gives_the_jvp():
    value, tangent = zygopy.jvp(uses_cube, (0.7, 3), (1.0, None))
    assert value == pytest.approx(uses_cube(0.7, 3), rel=1e-12)
    expected = stable_difference(lambda s: uses_cube(0.7 + s, 3), H_JVP)
    assert tangent == pytest.approx(expected, rel=RTOL, abs=ATOL)
    with pytest.raises(zygopy.NoRule, match="second derivatives .* 'cube' are not supported"):
        zygopy.hessian(uses_cube, 0.7, 3)


# ---- API ----------------------------------------------------------------------------------------

def test_vjp_is_pullback():
    assert zygopy.vjp is zygopy.pullback


@pytest.mark.usefixtures("interpreted")
def test_tangents_must_match_the_arguments():
    with pytest.raises(zygopy.UnsupportedType, match="2 arguments .* and 1 tangents"):
        zygopy.jvp(corpus_forward.matvec_tanh, (np.ones((3, 4)), np.ones(4)), (np.ones(4),))
    with pytest.raises(zygopy.UnsupportedType, match=r"shape \(3,\) for an argument .* \(4,\)"):
        zygopy.jvp(corpus_forward.matvec_tanh, (np.ones((3, 4)), np.ones(4)),
                   (np.ones((3, 4)), np.ones(3)))
    with pytest.raises(zygopy.UnsupportedType, match="float"):
        zygopy.hessian(sine_recurrence, 3, 4)


def test_jvp_takes_tuples_and_tangents_of_numbers():
    """A bare value for the arguments or the tangents was taken apart by tuple(): a TypeError
    from inside zygopy ('float' object is not iterable), or an array's elements taken for a
    tangent each ('1 arguments ... and 2 tangents'); a string tangent a ValueError from float()."""
    f = corpus_forward.matvec_tanh
    for args, tangents, got in [((0.5,), 1.0, "tangents .* got a float"),
                                (0.5, (1.0,), "arguments .* got a float"),
                                ((np.ones(2),), np.ones(2), r"tangents .* got an array of shape "
                                 r"\(2,\)")]:
        with pytest.raises(zygopy.UnsupportedType, match=f"jvp takes the {got}") as e:
            zygopy.jvp(f, args, tangents)
        assert "zygopy.jvp(f, (x, y), (dx, dy))" in str(e.value)
    with pytest.raises(zygopy.UnsupportedType, match="a tangent for an argument of .* is a str"):
        zygopy.jvp(sine_recurrence, (0.5, 3), ("a", None))
    with pytest.raises(zygopy.UnsupportedType, match="a tangent for an argument of .* is a str"):
        zygopy.hvp(sine_recurrence, 0.5, "a", 3)


@pytest.mark.usefixtures("interpreted")
def test_a_none_tangent_is_a_zero_one():
    m, x, dx = np.ones((3, 4)), np.linspace(0.0, 1.0, 4), np.arange(4.0)
    value, tangent = zygopy.jvp(corpus_forward.matvec_tanh, (m, x), (None, dx))
    np.testing.assert_array_equal(
        tangent, zygopy.jvp(corpus_forward.matvec_tanh, (m, x), (np.zeros((3, 4)), dx))[1])


# ---- compiled by Numba (a handful: each costs a compilation) ------------------------------------

def rosenbrock(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def rosenbrock_hessian(x):
    """Worked out by hand."""
    n = x.shape[0]
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        h[i + 1, i + 1] += 200.0
        h[i, i + 1] -= 400.0 * x[i]
        h[i + 1, i] -= 400.0 * x[i]
    return h


def test_compiled_jvp_of_a_loop():
    value, tangent = zygopy.jvp(sine_recurrence, (0.3, 200), (1.0, None))
    assert value == pytest.approx(sine_recurrence(0.3, 200), rel=1e-12)
    expected = stable_difference(lambda s: sine_recurrence(0.3 + s, 200), H_JVP)
    assert tangent == pytest.approx(expected, rel=RTOL, abs=ATOL)


def test_compiled_hessian_of_a_loop(monkeypatch):
    x = rng_for("rosenbrock").uniform(-1.0, 1.0, 4)
    hess = zygopy.hessian(rosenbrock, x)
    np.testing.assert_allclose(hess, rosenbrock_hessian(x), rtol=1e-12, atol=1e-10)
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)  # the reference gradient: no compilation
    for j in range(4):
        column = stable_difference(gradient_along(rosenbrock, x, (), np.eye(4)[j]), H_HVP)
        np.testing.assert_allclose(hess[:, j], column, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-12)


@pytest.mark.parametrize("name", ["recurrence", "euler_state"])  # forward, then reverse mode
def test_compiled_jacobian(name, monkeypatch):
    case = next(c for c in corpus_forward.CASES if c.name == name)
    compiled = zygopy.jacobian(case.fn, *case.args())
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    interpreted = zygopy.jacobian(case.fn, *case.args())  # checked by the test above
    for a, b in zip(compiled, interpreted, strict=True):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def long_orbit(x, n):
    y = np.zeros(3)
    s = x[0]
    for i in range(n):
        s = np.sin(s * x[1] + 0.1 * x[2 + i % 2])
        y[i % 3] += s * s
    return y


def test_compiled_reverse_jacobian_grows_its_stacks(monkeypatch):
    """Reverse mode (4 inputs, 3 results), more trips than the stacks start with: the rows'
    compiled loop stops, and runs again with stacks of the size it needed."""
    x = np.array([0.4, 1.3, 0.7, -0.5])
    compiled = zygopy.jacobian(long_orbit, x, 3000)[0]
    rows = _compiled(bind(long_orbit, (x, 3000)), "vjp")[0]
    assert max(rows.capacity) >= 3000  # grown from INITIAL_CAPACITY by the rows' run
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    np.testing.assert_allclose(compiled, zygopy.jacobian(long_orbit, x, 3000)[0], rtol=1e-12)
    for j in range(4):
        column = stable_difference(lambda s, j=j: long_orbit(x + s * np.eye(4)[j], 3000), H_JVP)
        np.testing.assert_allclose(compiled[:, j], column, rtol=RTOL, atol=ATOL)


# ---- max pooling: a gather in forward mode, and second order through it ---------------------

def pooled(x, w):
    return np.sum(np.tanh(maxpool2d(x * w, 2)) ** 2)


@pytest.mark.parametrize("route", ["interpreted", "compiled"])
def test_max_pooling_in_forward_mode_and_second_order(route, monkeypatch):
    if route == "interpreted":
        monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    rng = rng_for("pooled")
    # distinct values, far enough apart that the steps below leave each tile's maximum in place
    x = rng.permutation(np.arange(2 * 4 * 5 * 2)).reshape(2, 4, 5, 2) * 0.05 - 1.0
    w = 0.8
    dx = rng.standard_normal(x.shape)
    _, tangent = zygopy.jvp(pooled, (x, w), (dx, 0.5))
    expected = stable_difference(lambda s: pooled(x + s * dx, w + s * 0.5), 1e-6)
    np.testing.assert_allclose(tangent, expected, rtol=RTOL, atol=ATOL)
    along = zygopy.hvp(pooled, x, dx, w)
    expected = stable_difference(gradient_along(pooled, x, (w,), dx), H_HVP)
    np.testing.assert_allclose(along, expected, rtol=RTOL, atol=ATOL)


# ---- second derivatives of products, where an element is zero --------------------------------

def products(z, a):
    return (np.prod(z) * 3.0 + np.sum(np.prod(a * z[:3, None], axis=1) ** 2)
            + np.sum(np.prod(a, axis=0, keepdims=True) * z[1])
            + np.sum(np.prod(np.reshape(a, (3, 2, 2)) * z[2], axis=(0, 2))))  # axes apart


def test_compiled_hvp_through_products_with_a_zero():
    rng = rng_for("products")
    z = np.array([0.5, 0.0, 1.5, -0.7])  # an exact zero: no dividing by elements
    a = rng.uniform(0.5, 1.5, (3, 4))
    for v in (rng.standard_normal(4), np.array([0.0, 1.0, 0.0, 0.0])):
        along = zygopy.hvp(products, z, v, a)  # compiled: tests turn interpretation off
        expected = stable_difference(gradient_along(products, z, (a,), v), H_HVP)
        np.testing.assert_allclose(along, expected, rtol=RTOL, atol=ATOL)


def test_the_product_second_derivative_kernel_matches_its_definition():
    from zygopy.backend.numba_cpu.runtime import zy_prod_others_grad_middle
    from zygopy.ir.array_primitives import _prod_others_grad
    rng = rng_for("pairs")
    a, g = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 3))
    a[1, 2, 0] = a[0, 4, 2] = a[0, 1, 2] = 0.0  # one zero in a group, and two
    # the definition: sum over i != k of g_i times the product of the others but i and k
    expected = np.zeros_like(a)
    for b, c, k, i in np.ndindex(2, 3, 5, 5):
        if i != k:
            others = [a[b, j, c] for j in range(5) if j not in (i, k)]
            expected[b, k, c] += g[b, i, c] * np.prod(others)
    np.testing.assert_allclose(_prod_others_grad(a, g, (1,)), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(zy_prod_others_grad_middle(a, g), expected, rtol=1e-12, atol=1e-14)


def dict_product(d):
    return d["a"] ** 2 * d["c"]


class Point:
    pass


def point_product(p):
    return p.a ** 2 * p.c


def test_tangents_are_matched_by_key_and_attribute_name():
    """A tangent's leaves are read by the argument's keys and attribute names: a dict or an
    object built in another order was applied to the wrong leaves (d/da taken as d/dc)."""
    a, c = 0.7, 1.3
    along_a = 2 * a * c  # the derivative along (da, dc) = (1, 0)
    assert zygopy.jvp(dict_product, ({"a": a, "c": c},), ({"c": 0.0, "a": 1.0},))[1] \
        == pytest.approx(along_a, rel=1e-14)
    hessian_times = zygopy.hvp(dict_product, {"a": a, "c": c}, {"c": 0.0, "a": 1.0})
    assert hessian_times == pytest.approx({"a": 2 * c, "c": 2 * a}, rel=1e-14)
    p, t = Point(), Point()
    p.a, p.c = a, c
    t.c, t.a = 0.0, 1.0
    assert zygopy.jvp(point_product, (p,), (t,))[1] == pytest.approx(along_a, rel=1e-14)
    # None for a leaf inside a structure: it does not vary (an int field's gradient is None)
    t.c = None
    assert zygopy.jvp(point_product, (p,), (t,))[1] == pytest.approx(along_a, rel=1e-14)
    with pytest.raises(zygopy.UnsupportedType, match="structure"):
        zygopy.jvp(dict_product, ({"a": a, "c": c},), ({"c": 0.0, "b": 1.0},))


RETURNED_FROM_OUTSIDE = np.array([3.0, 4.0])


def returns_its_argument(x):
    return x


def returns_its_argument_twice(x):
    return x, x


def returns_a_global(x):
    return RETURNED_FROM_OUTSIDE


@pytest.mark.parametrize("interpret", [False, True])
def test_jvp_and_pullback_results_are_arrays_of_their_own(interpret, monkeypatch):
    """jvp of `return x` gave back the caller's x and dx themselves (a write into the result
    changed them), and pullback's value too; the results are now copies, as reverse mode's are."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
    x, dx = np.array([0.5, 1.0]), np.array([1.0, 2.0])
    callers = (x, dx, RETURNED_FROM_OUTSIDE)
    for f in (returns_its_argument, returns_its_argument_twice, returns_a_global):
        value, tangent = zygopy.jvp(f, (x,), (dx,))
        arrays = [*value, *tangent] if isinstance(value, tuple) else [value, tangent]
        np.testing.assert_array_equal(arrays[0], f(x) if f is returns_a_global else x)
        assert not any(np.shares_memory(a, c) for a in arrays for c in callers), f.__name__
        assert not any(np.shares_memory(a, b) for i, a in enumerate(arrays)
                       for b in arrays[i + 1:]), f.__name__
    value, back = zygopy.pullback(returns_its_argument, x)
    assert not np.shares_memory(value, x)
    np.testing.assert_array_equal(back(dx)[0], dx)
    assert not np.shares_memory(back(dx)[0], dx)

"""The lowering of np.einsum, np.dot, np.inner, matmul of a vector with a stack, np.linalg.norm
and slogdet (ir/passes/lower.py) against NumPy's own functions, and einsum's shape: one matrix
product per contracted pair of operands. Gradients are the array corpus's (es_*, la_* and
model_conv2d_einsum in tests/corpus_arrays.py); here many forms are run through the reference
evaluator, which needs no compiling."""
import numpy as np
import pytest

import zygopy
from zygopy.ir.einsum import parse
from zygopy.ir.evaluate import evaluate
from zygopy.ir.infer import infer_types
from zygopy.ir.ir import Branch, Function, Stmt
from zygopy.ir.passes.lower import lower_compound
from zygopy.ir.passes.pipeline import optimize
from zygopy.ir.types import is_float, typeof
from zygopy.ir.verify import verify


def lowered(subscripts, *arrays):
    """IR computing np.einsum(subscripts, *arrays), lowered and optimised."""
    return lowered_call("einsum", [subscripts], arrays)


def lowered_call(op, constants, arrays, options=()):
    """IR computing the primitive `op` of (constants..., arrays..., options...), lowered."""
    fn = Function("f", [])
    entry = fn.new_block([fn.new_var() for _ in arrays])
    out = fn.new_var()
    entry.stmts.append(Stmt(out, op, [*constants, *entry.args, *options]))
    entry.branches.append(Branch(None, [out]))
    types = [typeof(a) for a in arrays]
    infer_types(fn, types)
    lower_compound(fn)
    infer_types(fn, types)
    optimize(fn)
    infer_types(fn, types)
    return verify(fn)


def ops(fn, values_only=False):
    """The operations of fn's statements; with values_only, leaving out shape arithmetic."""
    return [s.op for b in fn.blocks for s in b.stmts if not values_only or is_float(s.var.type)]


SHAPES = {"i": 3, "j": 4, "k": 2, "l": 5, "b": 2, "h": 3}
CASES = ["ij,jk->ik", "ij->ji", "ii->", "ii->i", "ij->", "ij->j", "i,i->", "i,j->ij", "ij,j->i",
         "i,ij->j", "ij,ij->ij", "ij,ij->", "ij,kj", "ij,jk", "bij,bjk->bik", "bij,jk->bik",
         "bhij,bhkj->bhik", "ijk,kl->ijl", "ij,jk,kl->il", "i,ij,j->", "ij,jk,k->i",
         "ijk,ikl->jl", "ij,kl->ijkl", "bi,bj->bij", "iij->ij", "ijk->kji", "bij,bkj->bki",
         "kj,ij->ik", "i,i,i->i"]


@pytest.mark.parametrize("subscripts", CASES)
def test_lowering_matches_numpy(subscripts):
    rng = np.random.default_rng(len(subscripts))
    inputs, _ = parse(subscripts, [len(t) for t in subscripts.split("->")[0].split(",")])
    arrays = [rng.normal(size=tuple(SHAPES[c] for c in term)) for term in inputs]
    fn = lowered(subscripts, *arrays)
    assert "einsum" not in ops(fn)
    got = evaluate(fn, *arrays)
    np.testing.assert_allclose(got, np.einsum(subscripts, *arrays), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("subscripts, products", [
    ("ij,jk->ik", 1), ("bij,bjk->bik", 1), ("bhqd,bhkd->bhqk", 1), ("ij,jk,kl->il", 2),
    ("fcij,cijxy->fxy", 1), ("i,i->", 1)])
def test_a_contraction_is_one_matrix_product(subscripts, products):
    size = {c: 2 + k % 3 for k, c in enumerate("bhqdkfcijxyl")}
    terms = subscripts.split("->")[0].split(",")
    arrays = [np.ones(tuple(size[c] for c in t)) for t in terms]
    found = ops(lowered(subscripts, *arrays), values_only=True)
    assert found.count("matmul") == products, found
    assert "sum" not in found and "mul" not in found, found


def test_implicit_output_is_the_letters_seen_once_in_order():
    assert parse("ij,kj", [2, 2]) == (["ij", "kj"], "ik")
    assert parse("ba", [2]) == (["ba"], "ab")


@pytest.mark.parametrize("subscripts, ndims, words", [
    ("ij,jk->ik", [2], "2 operands"),
    ("ij,jk->ik", [2, 3], "operand 1 is 3-d"),
    ("ij->ii", [2], "repeated"),
    ("ij->k", [2], "'k'"),
    ("i1->i", [2], "not a letter"),
    ("...i->i", [2], "'...'"),
])
def test_bad_subscripts(subscripts, ndims, words):
    with pytest.raises(TypeError, match=words):
        parse(subscripts, ndims)


@pytest.mark.parametrize("op, shapes, reference", [
    ("matmul", [(4,), (2, 4, 3)], np.matmul),
    ("matmul", [(2, 3, 4), (4,)], np.matmul),
    ("matmul", [(2, 1, 3, 4), (3, 4, 2)], np.matmul),
    ("dot", [(2, 3, 4), (3, 4, 2)], np.dot),
    ("dot", [(4,), (3, 4, 2)], np.dot),
    ("dot", [(2, 3), (3,)], np.dot),
    ("inner", [(2, 4), (3, 2, 4)], np.inner),
    ("inner", [(4,), (4,)], np.inner),
], ids=lambda x: x if isinstance(x, str) else None)
def test_products_match_numpy(op, shapes, reference):
    rng = np.random.default_rng(len(shapes[0]))
    arrays = [rng.normal(size=s) for s in shapes]
    fn = lowered_call(op, [], arrays)
    assert not {"dot", "inner", "einsum"} & set(ops(fn))
    np.testing.assert_allclose(evaluate(fn, *arrays), reference(*arrays), rtol=1e-12)


@pytest.mark.parametrize("shape, ord_, axis, keepdims", [
    ((5,), None, None, False), ((5,), 1, None, False), ((5,), np.inf, None, True),
    ((5,), -np.inf, 0, False), ((5,), 3, None, False), ((5,), -1, None, False),
    ((3, 4), None, None, True), ((3, 4), "fro", None, False), ((3, 4), 1, None, True),
    ((3, 4), -1, None, False), ((3, 4), np.inf, None, False), ((3, 4), -np.inf, None, True),
    ((3, 4), None, 1, True), ((3, 4), 1, 0, False), ((2, 3, 4), None, -1, False),
    ((2, 3, 4), None, None, True), ((2, 3, 4), 2, 1, True),
])
def test_norm_matches_numpy(shape, ord_, axis, keepdims):
    x = np.random.default_rng(len(shape)).normal(size=shape)
    fn = lowered_call("norm", [], [x], [ord_, axis, keepdims])
    assert "norm" not in ops(fn)
    expected = np.linalg.norm(x, ord_, axis, keepdims)
    got = evaluate(fn, x)
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_slogdet_is_its_sign_and_log_determinant():
    m = np.array([[1.0, 2.0], [3.0, 1.0]])
    fn = lowered_call("slogdet", [], [m])
    assert evaluate(fn, m) == pytest.approx(tuple(np.linalg.slogdet(m)), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.bool_, np.int64])
@pytest.mark.parametrize("shape", [(3, 5, 4), (2, 1, 1), (3, 7, 1), (3, 8, 1), (4, 9, 1),
                                   (5, 33, 1)])
def test_extremes_along_an_axis_match_numpy(dtype, shape):
    """The compiled max/min along an axis (Numba has none): a NaN wins as in NumPy, infinities
    and bools work; along rows (post 1) shorter than, as long as and longer than the kernel's 8
    running extremes, and across columns."""
    from zygopy.backend.numba_cpu import runtime
    rng = np.random.default_rng(0)
    a = rng.normal(size=shape)
    if dtype in (np.float64, np.float32):
        rows = a.reshape(shape[0], -1)
        rows[0, -1] = np.nan  # a NaN last, first, and none in the last row
        rows[1 % shape[0], 0] = np.nan
        rows[-1, rng.integers(rows.shape[1])] = rng.choice([np.inf, -np.inf])
    a = a.astype(dtype) if dtype != np.bool_ else a > 0
    for ours, numpy in ((runtime.zy_max_middle, np.max), (runtime.zy_min_middle, np.min)):
        got, expected = ours(a), numpy(a, axis=1)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


def median_and_sort(x):
    return np.median(x) + np.sort(x)[0]


@pytest.mark.parametrize("x", [[3.0, 1.0, 2.0, 2.0], [1.0, np.nan, 3.0], [np.inf, 1.0, -np.inf],
                               [5.0], [2.0, np.nan]])
def test_median_and_sort_as_numpy_computes_them(x):
    """Ties, NaN (NumPy's median is NaN; a sort puts it last), infinities, one element; the
    gradient of a tie's median splits as the mean of the middle two does."""
    x = np.array(x)
    value, (g,) = zygopy.withgradient(median_and_sort, x)
    expected = median_and_sort(x)
    assert value == expected or (np.isnan(value) and np.isnan(expected))
    if len(x) == 4:
        np.testing.assert_array_equal(g, [0.0, 1.0, 0.5, 0.5])  # the 1.0 is also the minimum


def test_argsort_is_stable():
    def first_of_ties(x):
        return float(np.argsort(x)[1]) * x[0]

    x = np.array([2.0, 1.0, 1.0, 1.0])
    value, _ = zygopy.withgradient(first_of_ties, x)
    assert value == first_of_ties(x) == 2.0 * 2.0


def greatest_per_column(e):
    return np.sum(np.max(e, axis=0)) + np.sum(np.argmin(e, axis=0) * 1.0)


def test_extremes_along_an_empty_axis_raise_as_in_numpy():
    """They read an element that is not there (zeros came back); NumPy raises."""
    with pytest.raises(zygopy.ZygopyError, match="zero-size array"):
        zygopy.gradient(greatest_per_column, np.zeros((0, 3)))
    value, (g,) = zygopy.withgradient(greatest_per_column, np.zeros((3, 0)))  # nothing to reduce
    assert value == 0.0 and g.shape == (3, 0)


def median_of_ints(a):
    return np.median(a) * 1.0


def test_median_of_large_ints_does_not_overflow():
    a = np.array([2 ** 62, 2 ** 62 + 2])
    assert zygopy.withgradient(median_of_ints, a)[0] == median_of_ints(a) > 0


def quantiles(x):
    return (np.quantile(x, 0.0) + np.quantile(x, 0.37) + np.percentile(x, 50)
            + np.percentile(x, 90) + np.quantile(x, 1.0))


@pytest.mark.parametrize("x", [np.array([3.0, 1.0, 2.0, 1.0, 5.0]), np.array([2.5]),
                               np.array([1.0, np.nan, 0.5]), np.array([-np.inf, 0.0, 1.0, 4.0]),
                               np.linspace(-1.0, 1.0, 11)])
def test_quantiles_as_numpy_computes_them(x):
    """NumPy's 'linear' method at both ends, between elements and on them (q (n - 1) whole), with
    ties, NaN (NaN), an infinity and one element; the gradient goes to the two elements around
    each virtual index, by the fraction."""
    value, (g,) = zygopy.withgradient(quantiles, x)
    np.testing.assert_array_equal(value, quantiles(x))
    if np.all(np.isfinite(x)) and len(np.unique(x)) == len(x):
        h = 1e-6
        fd = [(quantiles(x + h * e) - quantiles(x - h * e)) / (2 * h) for e in np.eye(len(x))]
        np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)


def quantile_of(x, q):
    return np.quantile(x, q)


def test_quantile_of_a_run_time_or_out_of_range_q_is_refused():
    with pytest.raises(zygopy.UnsupportedType, match="constant number from 0 to 1"):
        zygopy.gradient(quantile_of, np.ones(3), 0.5)


def squared_as_a_float(x):
    return float(x) ** 2 + int(x * 10.0)


def test_float_and_int_of_a_0d_array_are_of_its_element():
    """float(x) of a 0-d array was Numba's internal error compiled (it has no float of an array);
    the evaluator took it as Python does. Compared with the analytic derivative, 2 x."""
    assert zygopy.gradient(squared_as_a_float, np.array(0.7)) == (pytest.approx(1.4, rel=1e-15),)
    with pytest.raises(zygopy.UnsupportedType, match="only a number or a 0-d array"):
        zygopy.gradient(squared_as_a_float, np.array([0.7]))

"""Array programs zygopy cannot differentiate get a clear zygopy error, not a crash or a wrong
gradient.

A clear error is a zygopy.ZygopyError subclass whose message names the user's file and the line of
the offending construct. Cases where zygopy currently lets an error from deep inside Numba or NumPy
escape (or answers silently) are kept as strict xfails: they pass once zygopy reports them properly.
"""
import inspect
import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import zygopy
from zygopy import UnsupportedSyntax, UnsupportedType, ZygopyError
from zygopy.backend import tiered


def line_of(fn, text):
    """The line number in this file of the first line of fn's source containing `text`."""
    lines, first = inspect.getsourcelines(fn)
    matches = [first + k for k, line in enumerate(lines) if text in line]
    assert matches, (fn.__name__, text)
    return matches[0]


def assert_clear(excinfo, fn, text, *words):
    """The error names this file, the line holding `text`, and each of `words`."""
    e = excinfo.value
    message = str(e)
    assert isinstance(e, ZygopyError)
    assert "internal error" not in message, message
    assert __file__ in message and e.filename == __file__, message
    want = line_of(fn, text)
    assert e.line == want, f"expected line {want}, got {e.line}: {message}"
    assert text.strip() in message, message  # the offending source line is quoted
    for w in words:
        assert w in message, f"{w!r} not in {message!r}"


# ---- shape mismatches -------------------------------------------------------------------------

def broadcast_1d(a, b):
    c = a * b
    return np.sum(c)


def matmul_2d(a, b):
    c = a @ b
    return np.sum(c)


def dot_1d(a, b):
    c = np.dot(a, b)
    return c


def concatenate_rows(a, b):
    c = np.concatenate((a, b), axis=1)
    return np.sum(c)


def reshape_size(a):
    c = a.reshape((4, 2))
    return np.sum(c)


def slice_write(a, b):
    c = a * 1.0
    c[1:3] = b
    return np.sum(c * c)


def slice_add(a, b):
    c = a * 1.0
    c[1:3, :] += b
    return np.sum(c * c)


@pytest.mark.parametrize("fn, args, text", [
    (broadcast_1d, (np.ones(3), np.ones(4)), "c = a * b"),
    (slice_write, (np.ones(5), np.ones(3)), "c[1:3] = b"),
    (slice_add, (np.ones((4, 2)), np.ones((3, 2))), "c[1:3, :] += b"),
    (matmul_2d, (np.ones((3, 2)), np.ones((3, 4))), "c = a @ b"),
    (dot_1d, (np.ones(3), np.ones(4)), "c = np.dot(a, b)"),
    (concatenate_rows, (np.ones((2, 3)), np.ones((3, 3))), "c = np.concatenate((a, b), axis=1)"),
    (reshape_size, (np.ones(6),), "c = a.reshape((4, 2))"),
], ids=["broadcast_1d", "slice_write", "slice_add", "matmul", "dot_1d", "concatenate", "reshape"])
def test_shape_mismatch(fn, args, text):
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(fn, *args)
    assert_clear(excinfo, fn, text, "shape")


def test_shape_mismatch_in_the_split_path():
    """The pullback route reports a shape mismatch as clearly as the fused one."""
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.pullback(broadcast_1d, np.ones(3), np.ones(5))
    assert_clear(excinfo, broadcast_1d, "c = a * b", "shape")


# ---- refused while compiling, as NumPy would refuse the code -----------------------------------

def row_of_a_vector(x):
    if x[0] > 100.0:  # never true here, but compiled
        return np.sum(x[0, :])
    return np.sum(x * x)


def ndim_of_a_tuple(x):
    pair = (x, 2.0 * x)
    if np.ndim(pair) == 2:  # NumPy makes a (2, n) array of the pair
        return np.sum(x * x)
    return np.sum(x)


def int_array_to_a_negative_power(x):
    k = np.array([2, -1])
    return np.sum(x * k ** -2)  # NumPy: "Integers to negative integer powers are not allowed"


@pytest.mark.parametrize("fn, text, words", [
    (row_of_a_vector, "return np.sum(x[0, :])", ["too many indices for a 1-d array"]),
    (ndim_of_a_tuple, "if np.ndim(pair) == 2:", ["np.ndim of a", "not supported"]),
    (int_array_to_a_negative_power, "return np.sum(x * k ** -2)", ["negative integer power"]),
], ids=["too many indices", "ndim of a tuple", "int ** -2"])
def test_refused_while_compiling(fn, text, words):
    """Each was compiled wrong: Numba's internal error for x[0, :] of a vector; np.ndim of a tuple
    taken as 0, deciding the branch the other way from NumPy (a silently wrong result); an int
    array to a negative power truncated to ints where NumPy raises."""
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(fn, np.array([0.3, 0.4]))
    assert_clear(excinfo, fn, text, *words)


def rows_of_a_list_argument(m, rows):
    return np.sum(m[rows] ** 2)


def written_through_a_list_built_here(x):
    rows = [0]
    y = x * 1.0
    y[rows] = 0.0
    return np.sum(y)


def test_indexing_with_a_list_that_is_no_literal_is_refused():
    """A list argument is taken apart as a tuple is: m[[0, 1]] was read as m[0, 1] (1.0 for
    NumPy's 14.0, silently); a write through a list built in the function was a TypeError from
    inside the adjoint pass. (A literal list indexes as NumPy's: test_array_gradients.)"""
    m = np.arange(6.0).reshape(3, 2)
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(rows_of_a_list_argument, m, [0, 1])
    assert_clear(excinfo, rows_of_a_list_argument, "return np.sum(m[rows] ** 2)", "list 'rows'",
                 "np.array(rows)")
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(written_through_a_list_built_here, m[0])
    assert_clear(excinfo, written_through_a_list_built_here, "y[rows] = 0.0", "list(int64)")


# ---- int arrays ----------------------------------------------------------------------------

def int_only(a):
    return np.sum(a * a) * 1.5


def int_times_float(a, w):
    return np.sum(a * w) + np.sum(w * w)


def test_int_array_gets_no_gradient():
    """An int array is not differentiated: its gradient is None (like an int), never zeros or
    a value computed as if it were real; the float result itself is computed correctly."""
    a = np.arange(4)
    value, grads = zygopy.withgradient(int_only, a)
    assert value == pytest.approx(int_only(a))
    assert grads == (None,)
    w = np.linspace(0.5, 1.0, 4)
    ga, gw = zygopy.gradient(int_times_float, a, w)
    assert ga is None
    np.testing.assert_allclose(gw, a + 2.0 * w, rtol=1e-14)


def weighted_squares(w, k):
    s = 0.0
    for i in range(k.shape[0]):
        s += w[i] * (k[i] * k[i])  # an int product
    return s + np.sum(w * (k + k))  # and an int array sum


@pytest.mark.parametrize("interpret", [False, True], ids=["compiled", "evaluator"])
@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int16])
def test_narrow_int_arrays_compute_as_int64(interpret, dtype, monkeypatch):
    """An int array of a narrower type computes in int64, as the IR types it, on every route: the
    compiled loop computed k[i] * k[i] in 64 bits but k + k in the array's own (a uint8 200 + 200
    gave 144 there, 400 in the loop), and the evaluator both in the array's own, so a gradient's
    first, interpreted, calls and its later, compiled, ones differed."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
    big = {np.int32: 70_000, np.uint8: 200, np.int16: 30_000}[dtype]  # its square overflows
    k, w = np.array([big, 3, 1], dtype=dtype), np.array([0.5, 2.0, -1.0])
    value, (gw, gk) = zygopy.withgradient(weighted_squares, w, k)
    wide = k.astype(np.int64)
    assert value == weighted_squares(w, wide)
    np.testing.assert_array_equal(gw, wide * wide + 2 * wide)
    assert gk is None


def test_uint64_arrays_are_refused():
    """uint64 does not fit the int64 that ints compute in."""
    with pytest.raises(UnsupportedType, match="uint64"):
        zygopy.gradient(int_times_float, np.arange(4, dtype=np.uint64), np.ones(4))


def test_arrays_in_the_other_byte_order_are_refused_saying_so():
    """">f8" was refused with the hint "use float64", which it is."""
    swapped = np.ones(4, dtype=np.dtype(np.float64).newbyteorder())
    with pytest.raises(UnsupportedType, match="other order than this machine's") as info:
        zygopy.gradient(int_times_float, np.arange(4), swapped)
    assert "newbyteorder('=')" in str(info.value)
    w = swapped.astype(swapped.dtype.newbyteorder("="))  # as the hint says: the analytic gradient
    np.testing.assert_array_equal(zygopy.gradient(int_times_float, np.arange(4), w)[1],
                                  np.arange(4) + 2 * w)


def test_int_array_explicit_wrt_is_an_error():
    with pytest.raises(UnsupportedType, match="no floating-point values"):
        zygopy.gradient(int_times_float, np.arange(4), np.ones(4), wrt=0)


def int_only_fresh(a):
    return np.sum(a * a) * 2.5


def int_only_cached(a):
    return np.sum(a * a) * 3.5


def test_int_array_explicit_wrt_alone_is_an_error():
    with pytest.raises(UnsupportedType, match="no floating-point values"):
        zygopy.gradient(int_only_fresh, np.arange(4), wrt=0)


def test_int_array_explicit_wrt_is_an_error_after_a_cached_call():
    a = np.arange(4)
    assert zygopy.gradient(int_only_cached, a) == (None,)
    with pytest.raises(UnsupportedType, match="no floating-point values"):
        zygopy.gradient(int_only_cached, a, wrt=0)


# ---- complex values -------------------------------------------------------------------------

def plain_sum(a):
    return np.sum(a * a)


def complex_literal(a):
    b = a * 1j
    return np.sum(b).real


@pytest.mark.parametrize("arg", [np.ones(3) + 1j, np.ones((2, 2), dtype=np.complex64)],
                         ids=["complex128",
                                                                                             "complex64"])
def test_complex_array_argument(arg):
    with pytest.raises(UnsupportedType) as excinfo:
        zygopy.gradient(plain_sum, arg)
    message = str(excinfo.value)
    assert "complex" in message and str(arg.dtype) in message and __file__ in message, message
    assert excinfo.value.line == plain_sum.__code__.co_firstlineno


def test_complex_literal():
    with pytest.raises(UnsupportedType) as excinfo:
        zygopy.gradient(complex_literal, np.ones(3))
    assert_clear(excinfo, complex_literal, "b = a * 1j", "complex")


# ---- operations without a rule -----------------------------------------------------------------

def uses_sort_method(a):
    b = a.copy()
    b.sort()
    return np.sum(b)


def uses_searchsorted(a):
    k = np.searchsorted(a, 0.5)
    return a[k] * 2.0


@pytest.mark.parametrize("fn, text, name", [
    (uses_sort_method, "b.sort()", ".sort()"),  # in place: write b = np.sort(b)
    (uses_searchsorted, "k = np.searchsorted(a, 0.5)", "numpy.searchsorted"),
], ids=["sort_method", "searchsorted"])
def test_unsupported_array_operation(fn, text, name):
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(fn, np.linspace(0.0, 1.0, 5))
    assert_clear(excinfo, fn, text, name, "not supported")


# ---- writes and views -------------------------------------------------------------------------

def write_through_slice(a):
    b = a[1:]
    b[0] = 1.0
    return np.sum(a)


def write_through_slice_of_copy(a):
    c = a.copy()
    b = c[1:]
    b[0] = 1.0
    return np.sum(c * a)


def write_through_transpose(a):
    c = a.copy()
    t = c.T
    t[0, 1] = 2.0
    return np.sum(c * a)


def write_through_reshape(a):
    c = a.copy()
    r = c.reshape((3, 2))
    r[1, 1] += 1.0
    return np.sum(c * a)


def write_through_row(a):
    c = a.copy()
    c[1][0] = 3.0
    return np.sum(c * a)


@pytest.mark.parametrize("fn, arg, text", [
    (write_through_slice, np.ones(4), "b[0] = 1.0"),
    (write_through_slice_of_copy, np.ones(4), "b[0] = 1.0"),
    (write_through_transpose, np.ones((2, 3)), "t[0, 1] = 2.0"),
    (write_through_reshape, np.ones((2, 3)), "r[1, 1] += 1.0"),
    (write_through_row, np.ones((2, 3)), "c[1][0] = 3.0"),
], ids=["slice_of_argument", "slice_of_copy", "transpose", "reshape", "row"])
def test_write_through_a_view(fn, arg, text):
    with pytest.raises(UnsupportedSyntax) as excinfo:
        zygopy.gradient(fn, arg)
    assert_clear(excinfo, fn, text, "view")


def view_across_write(a):
    c = a.copy()
    b = c[1:]
    c[1] = 5.0
    return np.sum(b * c[:-1])


def transpose_across_write(a):
    c = a.copy()
    t = c.T
    c[0, 0] = a[0, 0] ** 2
    return np.sum(t * t)


def view_across_write_in_loop(a):
    c = a.copy()
    head = c[:2]
    for i in range(3):
        c[i] = c[i] * 2.0
    return np.sum(head * head)


@pytest.mark.parametrize("fn, arg, text", [
    (view_across_write, np.linspace(0.1, 1.0, 4), "b = c[1:]"),
    (transpose_across_write, np.ones((2, 3)), "t = c.T"),
    (view_across_write_in_loop, np.linspace(0.1, 1.0, 4), "head = c[:2]"),
], ids=["slice", "transpose", "loop"])
def test_view_used_across_a_write(fn, arg, text):
    with pytest.raises(UnsupportedSyntax) as excinfo:
        zygopy.gradient(fn, arg)
    assert_clear(excinfo, fn, text, "view")


def view_used_before_write(a):
    c = a.copy()
    s = np.sum(c[1:] * c[:-1])
    c[1] = 5.0 * s
    return np.sum(c * c)


def test_view_used_before_a_write_is_fine():
    """The view rule is not over-eager: views consumed before the write are accepted and exact."""
    a = np.linspace(0.1, 1.0, 4)
    (g,) = zygopy.gradient(view_used_before_write, a)
    h = 1e-6
    fd = np.array([(view_used_before_write(a + h * e) - view_used_before_write(a - h * e)) / (2 * h)
                   for e in np.eye(4)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


# ---- indices and axes ------------------------------------------------------------------------

def float_index(a, t):
    v = a[t]
    return v * 2.0


def float_constant_index(a):
    v = a[1.0]
    return v * 2.0


@pytest.mark.parametrize("fn, args, text", [
    (float_index, (np.ones(3), 1.0), "v = a[t]"),
    (float_constant_index, (np.ones(3),), "v = a[1.0]"),
], ids=["argument", "constant"])
def test_float_index(fn, args, text):
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(fn, *args)
    assert_clear(excinfo, fn, text, "index")


def array_slice_bound(a, m):
    v = a[:m]
    return np.sum(v * 2.0)


def float_slice_bound(a, t):
    v = a[1:t]
    return np.sum(v * 2.0)


@pytest.mark.parametrize("fn, args, text", [
    (array_slice_bound, (np.ones(3), np.array(2)), "v = a[:m]"),
    (float_slice_bound, (np.ones(3), 2.0), "v = a[1:t]"),
], ids=["0-d array", "float"])
def test_slice_bound_that_is_not_an_integer(fn, args, text):
    """NumPy takes a 0-d integer array as a slice bound; zygopy asks for int(...) (it was an
    internal error from Numba's typing)."""
    with pytest.raises(UnsupportedType) as excinfo:
        zygopy.gradient(fn, *args)
    assert_clear(excinfo, fn, text, "slice bound", "int(")


def float_index_raises_something(a, t):
    return a[t] * 2.0


def test_float_index_never_returns_a_gradient():
    with pytest.raises(ZygopyError):
        zygopy.gradient(float_index_raises_something, np.ones(3), 1.0)


def out_of_range_index(a, i):
    v = a[i]
    return v * 2.0


@pytest.mark.parametrize("i", [3, -4])
def test_out_of_range_index(i):
    """Never a read past the array (a garbage value and a zero gradient): an error at the index."""
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(out_of_range_index, np.ones(3), i)
    assert_clear(excinfo, out_of_range_index, "v = a[i]", "index")


def mean_variable_axis(a, k):
    m = np.mean(a, axis=k)
    return np.sum(m)


def sum_method_variable_axis(a, k):
    m = a.sum(axis=k)
    return np.sum(m)


def concatenate_variable_axis(a, k):
    m = np.concatenate((a, a), axis=k)
    return np.sum(m)


def var_variable_axis(a, k):
    m = np.var(a, axis=(0, k))
    return np.sum(m)


def cumsum_variable_axis(a, k):
    m = np.cumsum(a, k)
    return np.sum(m)


def prod_variable_keepdims(a, k):
    m = a.prod(axis=0, keepdims=k > 0)
    return np.sum(m)


@pytest.mark.parametrize("fn, text", [
    (mean_variable_axis, "m = np.mean(a, axis=k)"),
    (sum_method_variable_axis, "m = a.sum(axis=k)"),
    (concatenate_variable_axis, "m = np.concatenate((a, a), axis=k)"),
    (var_variable_axis, "m = np.var(a, axis=(0, k))"),
    (cumsum_variable_axis, "m = np.cumsum(a, k)"),
], ids=["np.mean", "sum_method", "concatenate", "var_tuple", "cumsum"])
def test_non_constant_axis(fn, text):
    with pytest.raises(UnsupportedType) as excinfo:
        zygopy.gradient(fn, np.ones((2, 3)), 1)
    assert_clear(excinfo, fn, text, "axis", "constant")


def axis_out_of_range(a):
    m = np.sum(a, axis=2)
    return np.sum(m)


def test_constant_axis_out_of_range():
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(axis_out_of_range, np.ones((2, 3)))
    assert_clear(excinfo, axis_out_of_range, "m = np.sum(a, axis=2)", "axis")


def test_non_constant_keepdims():
    with pytest.raises(UnsupportedType) as excinfo:
        zygopy.gradient(prod_variable_keepdims, np.ones((2, 3)), 1)
    assert_clear(excinfo, prod_variable_keepdims, "m = a.prod(axis=0, keepdims=k > 0)", "keepdims",
                 "constant")


def argmax_tuple_axis(a):
    i = np.argmax(a, axis=(0, 1))
    return a[0, 0] * i


def cumprod_tuple_axis(a):
    c = a.cumprod(axis=(0, 1))
    return np.sum(c)


def sum_repeated_axis(a):
    s = np.sum(a, axis=(1, -1))
    return np.sum(s)


def sum_no_axis(a):
    s = np.sum(a, axis=())
    return np.sum(s)


@pytest.mark.parametrize("fn, text", [
    (argmax_tuple_axis, "i = np.argmax(a, axis=(0, 1))"),
    (cumprod_tuple_axis, "c = a.cumprod(axis=(0, 1))"),
    (sum_repeated_axis, "s = np.sum(a, axis=(1, -1))"),
    (sum_no_axis, "s = np.sum(a, axis=())"),
], ids=["argmax", "cumprod", "repeated", "empty"])
def test_axis_tuple_refused_where_numpy_refuses_it(fn, text):
    with pytest.raises(UnsupportedType) as excinfo:
        zygopy.gradient(fn, np.ones((2, 3)))
    assert_clear(excinfo, fn, text, "axis")


def sum_dtype_by_position(a):
    s = np.sum(a, 0, np.float64)
    return np.sum(s)


def test_reduction_options_after_axis_only_by_keyword():
    """NumPy's third positional parameter of sum is dtype, not keepdims: never taken for it."""
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(sum_dtype_by_position, np.ones((2, 3)))
    assert_clear(excinfo, sum_dtype_by_position, "s = np.sum(a, 0, np.float64)", "positional",
                 "keepdims")


def clip_without_bounds(a):
    c = np.clip(a, None, None)
    return np.sum(c)


def clip_method_unknown_keyword(a):
    c = a.clip(lower=0.0)
    return np.sum(c)


@pytest.mark.parametrize("fn, text, word", [
    (clip_without_bounds, "c = np.clip(a, None, None)", "bound"),
    (clip_method_unknown_keyword, "c = a.clip(lower=0.0)", "a_min="),
], ids=["no_bounds", "keyword"])
def test_clip_refusals(fn, text, word):
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(fn, np.ones(3))
    assert_clear(excinfo, fn, text, word)


# ---- indexing with arrays ---------------------------------------------------------------------

def float_index_array(a, t):
    v = a[t]
    return np.sum(v)


def newaxis_with_index_array(a, idx):
    v = a[idx, None]
    return np.sum(v)


def mask_with_integer(a, mask):
    v = a[mask, 0]
    return np.sum(v)


def index_arrays_apart(a, idx):
    v = a[0, :, idx]
    return np.sum(v)


def write_partial_slice_and_index_array(a, idx):
    b = a.copy()
    b[1:, idx] = 0.0
    return np.sum(b * a)


def take_float_indices(a, t):
    v = np.take(a, t)
    return np.sum(v)


@pytest.mark.parametrize("fn, args, text, words", [
    (float_index_array, (np.ones(3), np.array([0.0, 1.0])), "v = a[t]",
     ("float64", "array of ints")),
    (newaxis_with_index_array, (np.ones((3, 2)), np.array([0, 1])), "v = a[idx, None]",
     ("np.newaxis", "a[idx][:, None]")),
    (mask_with_integer, (np.ones((3, 2)), np.array([True, False, True])), "v = a[mask, 0]",
     ("mask", "two steps")),
    (index_arrays_apart, (np.ones((2, 3, 4)), np.array([0, 1])), "v = a[0, :, idx]",
     ("separated by slices", "a[i][:, idx]")),
    (write_partial_slice_and_index_array, (np.ones((3, 4)), np.array([0, 2])),
     "b[1:, idx] = 0.0", ("partial slice", "a[:, idx] = v")),
    (take_float_indices, (np.ones(3), np.array([0.0, 1.0])), "v = np.take(a, t)", ("integers",)),
], ids=["float_index_array", "newaxis", "mask_with_integer", "arrays_apart",
        "write_partial_slice", "take_float"])
def test_unsupported_index_array(fn, args, text, words):
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(fn, *args)
    assert_clear(excinfo, fn, text, *words)


def index_array_out_of_range(a, idx):
    v = a[idx]
    return np.sum(v * v)


def mask_of_another_shape(a, mask):
    v = a[mask]
    return np.sum(v * v)


@pytest.mark.parametrize("fn, args, text", [
    (index_array_out_of_range, (np.ones(3), np.array([0, 3])), "v = a[idx]"),
    (index_array_out_of_range, (np.ones(3), np.array([-4, 1])), "v = a[idx]"),
    (mask_of_another_shape, (np.ones(3), np.array([True, False])), "v = a[mask]"),
], ids=["too_large", "too_negative", "mask_shape"])
def test_index_array_out_of_range(fn, args, text):
    """As in NumPy, an index array naming an element outside the array is an error at the index,
    never a read of stray memory."""
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(fn, *args)
    assert_clear(excinfo, fn, text, "index")


# ---- lists hold the arrays appended to them, not copies ----------------------------------------

def append_a_buffer(x):
    buf = np.zeros(2)
    hs = []
    for i in range(3):
        buf[0] = x[i]
        hs.append(buf)
    return np.sum(np.stack(hs))


def append_copies_of_a_buffer(x):
    buf = np.zeros(2)
    hs = []
    for i in range(3):
        buf[0] = x[i] ** 2
        hs.append(buf.copy())
    return np.sum(np.stack(hs))


def test_array_appended_to_a_list_and_written_into():
    with pytest.raises(UnsupportedSyntax) as e:
        zygopy.gradient(append_a_buffer, np.ones(3))
    assert_clear(e, append_a_buffer, "hs.append(buf)", "append a copy")


def test_copies_appended_to_a_list_are_fine():
    x = np.array([0.5, -1.5, 2.0])
    (g,) = zygopy.gradient(append_copies_of_a_buffer, x)
    np.testing.assert_allclose(g, 2.0 * x, rtol=1e-12)  # the sum of x[i] ** 2


# ---- einsum and linear algebra ------------------------------------------------------------------

SPEC = "ij,jk->ik"


def einsum_variable_subscripts(a, b):
    c = np.einsum(SPEC, a, b)
    return np.sum(c)


def einsum_ellipsis(a, b):
    c = np.einsum("...ij,...jk->...ik", a, b)
    return np.sum(c)


def einsum_wrong_rank(a, b):
    c = np.einsum("ij,jk->ik", a, b)
    return np.sum(c)


def inverse_of_a_stack(a, b):
    c = np.linalg.inv(a)
    return np.sum(c * b)


def spectral_norm(a, b):
    c = np.linalg.norm(a, 2)
    return c + np.sum(b)


@pytest.mark.parametrize("fn, args, text, words", [
    (einsum_variable_subscripts, (np.ones((2, 3)), np.ones((3, 2))),
     "c = np.einsum(SPEC, a, b)", ("string literal",)),
    (einsum_ellipsis, (np.ones((2, 3)), np.ones((3, 2))),
     'c = np.einsum("...ij,...jk->...ik", a, b)', ("'...'", "letter")),
    (einsum_wrong_rank, (np.ones(3), np.ones((3, 2))),
     'c = np.einsum("ij,jk->ik", a, b)', ("operand 0 is 1-d", "'ij'")),
    (inverse_of_a_stack, (np.ones((2, 3, 3)), np.ones((2, 3, 3))),
     "c = np.linalg.inv(a)", ("2-d", "stacks")),
    (spectral_norm, (np.ones((2, 2)), np.ones(2)), "c = np.linalg.norm(a, 2)",
     ("ord=2", "singular values")),
], ids=["einsum_variable", "einsum_ellipsis", "einsum_rank", "inv_stack", "norm_2"])
def test_unsupported_linear_algebra(fn, args, text, words):
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(fn, *args)
    assert_clear(excinfo, fn, text, *words)


def solve_singular(a, b):
    x = np.linalg.solve(a, b)
    return np.sum(x)


def test_singular_matrix():
    """LAPACK's refusal of a singular matrix is reported at the user's line."""
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(solve_singular, np.ones((2, 2)), np.ones(2))
    assert_clear(excinfo, solve_singular, "x = np.linalg.solve(a, b)", "ingular")


# ---- max() and min() of no items ----------------------------------------------------------------

def largest_and_smallest(x, n):
    return max(x[i] for i in range(n)) + min(x[i] * 2.0 for i in range(n) if x[i] > -5.0)


def test_max_of_no_items_raises_as_in_python():
    x = np.array([0.3, -1.2, 2.5])
    g, _ = zygopy.gradient(largest_and_smallest, x, 3)
    np.testing.assert_array_equal(g, [0.0, 2.0, 1.0])  # the largest x, twice the smallest
    with pytest.raises(ValueError, match="arg is an empty sequence"):
        largest_and_smallest(x, 0)
    for route in (zygopy.gradient, zygopy.withgradient):
        with pytest.raises(ValueError, match=r"max\(\) arg is an empty sequence"):
            route(largest_and_smallest, x, 0)


# ---- creation and shape operations outside what zygopy compiles --------------------------------

def squeeze_without_axis(a):
    s = np.squeeze(a)
    return np.sum(s)


def pad_reflect(a):
    p = np.pad(a, 1, mode="reflect")
    return np.sum(p)


def pad_variable_width(a):
    n = a.shape[0]
    p = np.pad(a, n)
    return np.sum(p)


REPEATS = np.array([1, 2, 1])


def repeat_per_element(a):
    r = np.repeat(a, REPEATS)
    return np.sum(r)


def diag_of_rank3(a):
    d = np.diag(a.reshape((1, 1, 3)))
    return np.sum(d)


def transpose_wrong_axes(a):
    t = np.transpose(a, (1, 0))
    return np.sum(t)


@pytest.mark.parametrize("fn, text, words", [
    (squeeze_without_axis, "s = np.squeeze(a)", ("axis",)),
    (pad_reflect, 'p = np.pad(a, 1, mode="reflect")', ("mode='constant'",)),
    (pad_variable_width, "p = np.pad(a, n)", ("pad_width", "constant")),
    (repeat_per_element, "r = np.repeat(a, REPEATS)", ("repeats",)),
    (diag_of_rank3, "d = np.diag(a.reshape((1, 1, 3)))", ("np.diag", "1-d or 2-d")),
    (transpose_wrong_axes, "t = np.transpose(a, (1, 0))", ("transpose", "one axis per dimension")),
], ids=["squeeze", "pad_mode", "pad_width", "repeat", "diag", "transpose_axes"])
def test_unsupported_shape_operation(fn, text, words):
    with pytest.raises(ZygopyError) as excinfo:
        zygopy.gradient(fn, np.linspace(0.5, 1.0, 3))
    assert_clear(excinfo, fn, text, *words)


def write_through_flip(a):
    c = a.copy()
    f = np.flip(c)
    f[0] = 2.0
    return np.sum(c * a)


def swapaxes_across_write(a):
    c = a.copy()
    s = np.swapaxes(c, 0, 1)
    c[0, 0] = a[0, 0] ** 2
    return np.sum(s * s)


def windows_across_write(a):
    c = a.copy()
    w = sliding_window_view(c, 2)
    c[1] = 5.0
    return np.sum(w * w)


@pytest.mark.parametrize("fn, arg, text", [
    (write_through_flip, np.ones(3), "f[0] = 2.0"),
    (swapaxes_across_write, np.ones((2, 3)), "s = np.swapaxes(c, 0, 1)"),
    (windows_across_write, np.ones(4), "w = sliding_window_view(c, 2)"),
], ids=["write_through_flip", "swapaxes_across_write", "windows_across_write"])
def test_shape_views_and_writes(fn, arg, text):
    """NumPy's views (flip, swapaxes, windows, ...) are refused where a write could change them."""
    with pytest.raises(UnsupportedSyntax) as excinfo:
        zygopy.gradient(fn, arg)
    assert_clear(excinfo, fn, text, "view")


def tanh_of_product(x, w):
    return np.sum(np.tanh(x @ w) * x[:, 0])


def test_numba_performance_warnings_about_generated_code_are_not_shown():
    """They were silenced on the first call only: a later call with another layout (a strided
    view) compiled again inside Numba's dispatch, and its np.dot warning named the generated
    file, which the user cannot change."""
    x, w = np.arange(12.0).reshape(4, 3) / 10.0, np.array([0.5, -0.2, 0.1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        zygopy.gradient(tanh_of_product, x, w)
        gx, gw = zygopy.gradient(tanh_of_product, x[::-1], w)
    assert not [c for c in caught if "zygopy_generated" in str(c.filename)], caught
    d = 1.0 - np.tanh(x[::-1] @ w) ** 2  # the analytic gradient, at the strided view
    np.testing.assert_allclose(gw, x[::-1].T @ (d * x[::-1, 0]), rtol=1e-12)

"""`raise` and `assert` in differentiated functions (the input checks every layer writes): the
caller gets the user's exception class with the user's message (formatted where it is an f-string
of numbers), and a note naming the user's file and line, whether the gradient runs compiled
(fused, or forward then pullback) or interpreted while it compiles; a later call with good inputs
gets the right gradient (analytic, or central differences).
"""
import importlib.util
import inspect
import math

import numpy as np
import pytest

import zygopy


class ShapeError(ValueError):
    pass


def check_vector(x):
    if x.ndim != 1:
        raise ShapeError(f"expected a vector, got {x.ndim} dimensions, shape {x.shape}")
    return x


def dense(w, x):
    x = check_vector(x)
    assert w.shape[1] == x.shape[0], f"w has {w.shape[1]} columns but x {x.shape[0]:.1f} rows"
    return np.sum(np.tanh(w @ x))


def log_of(x):
    if x <= 0.0:
        raise ValueError("log_of needs a positive number", x)
    return math.log(x) * 2.0


def pick(x, k):
    if k == 0:
        y = x * 2.0
    elif k == 1:
        y = x * 3.0
    else:
        raise IndexError(f"k must be 0 or 1, got {k}")
    return y * x  # y is assigned on every path that gets here


def fail(n):
    raise RuntimeError(f"step {n} failed")


def loop_with_a_check(x, n, bad):
    s = 0.0
    for i in range(n):
        if i == bad:
            fail(i)
        s = s + math.sin(x * i)
    return s


def plain_assert(x):
    assert x < 10.0
    return x * x


ROUTES = ["fused", "split", "interpreted"]


@pytest.fixture(params=ROUTES)
def route(request, monkeypatch, slow_compiler):
    """How the gradient runs: compiled value-and-gradient, compiled forward and pullback, or the
    reference evaluator while it compiles (held until the test ends)."""
    if request.param == "interpreted":
        monkeypatch.setenv("ZYGOPY_INTERPRET_WHILE_COMPILING", "1")
    else:
        slow_compiler.set()
    return request.param


def gradient(route, f, *args):
    if route == "split":
        return zygopy.pullback(f, *args)[1](1.0)
    return zygopy.gradient(f, *args)


def raises_at(route, cls, message, f, args, where, line_text):
    """The user's exception, with its message and a note naming the line of `where` that holds
    line_text."""
    with pytest.raises(cls) as info:
        gradient(route, f, *args)
    assert type(info.value) is cls
    assert str(info.value) == message or info.value.args == message
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert f'File "{__file__}", line {line_of(where, line_text)}' in notes, notes
    assert line_text in notes


def line_of(where, text):
    """The line of the function `where` holding `text`, which must be on one line only."""
    lines, first = inspect.getsourcelines(where)
    found = [first + n for n, line in enumerate(lines) if text in line]
    assert len(found) == 1, (text, found)
    return found[0]


def test_formatted_message_of_a_checked_layer(route):
    w = np.full((2, 3), 0.1)
    raises_at(route, ShapeError, "expected a vector, got 2 dimensions, shape (3, 1)", dense,
              (w, np.ones((3, 1))), check_vector, "raise ShapeError")
    raises_at(route, AssertionError, "w has 3 columns but x 4.0 rows", dense, (w, np.ones(4)),
              dense, "assert w.shape[1]")
    # nothing left behind: good inputs get the right gradient
    x = np.array([0.5, -1.0, 2.0])
    gw, gx = gradient(route, dense, w, x)
    d = 1.0 - np.tanh(w @ x) ** 2
    assert np.allclose(gw, np.outer(d, x), rtol=1e-13)
    assert np.allclose(gx, w.T @ d, rtol=1e-13)


def test_exception_arguments_kept_as_they_are(route):
    raises_at(route, ValueError, ("log_of needs a positive number", -2.0), log_of, (-2.0,),
              log_of, "raise ValueError")
    assert gradient(route, log_of, 4.0)[0] == pytest.approx(0.5, rel=1e-15)


def test_a_path_that_raises_leaves_the_others_assigned(route):
    raises_at(route, IndexError, "k must be 0 or 1, got 5", pick, (1.5, 5), pick,
              "raise IndexError")
    g = gradient(route, pick, 1.5, 1)
    assert g[1] is None and g[0] == pytest.approx(9.0, rel=1e-15)


def test_raise_in_a_helper_that_never_returns_inside_a_loop(route):
    raises_at(route, RuntimeError, "step 3 failed", loop_with_a_check, (0.7, 6, 3),
              fail, "raise RuntimeError")
    g = gradient(route, loop_with_a_check, 0.7, 6, -1)[0]
    assert g == pytest.approx(sum(i * math.cos(0.7 * i) for i in range(6)), rel=1e-13)


def rows_product(x):
    if x.ndim == 1:
        raise ShapeError(f"rows_product needs a matrix, got {x.ndim} dimension")
    return np.sum(x[0, :] * x[1, :])  # no meaning for a vector: x[0, :] has too many indices


class Batched:
    """A layer (a unit compiled on its own) whose call checks its input's rank."""

    def __init__(self):
        self.w = np.array([[0.5, -1.5], [2.0, 0.3], [0.1, 0.2]])

    def __call__(self, x):
        if x.ndim != 2:
            raise ShapeError(f"Batched expects a batch (2-d), got {x.ndim}-d")
        return np.tanh(x @ self.w)


def batched_loss(layer, x):
    return np.sum(layer(x) ** 2)


def test_a_rank_check_whose_arm_the_types_take_raises_as_in_python(route):
    """Types decide `x.ndim == 1`: every path left raises, so nothing is compiled and the
    evaluator raises the user's exception. It was Numba's internal error (the other arm, typed
    too, indexed a vector with two indices), in a unit as in a plain function."""
    raises_at(route, ShapeError, "rows_product needs a matrix, got 1 dimension", rows_product,
              (np.ones(3),), rows_product, "raise ShapeError")
    raises_at(route, ShapeError, "Batched expects a batch (2-d), got 1-d", batched_loss,
              (Batched(), np.ones(3)), Batched.__call__, "raise ShapeError")
    with pytest.raises(ShapeError, match="needs a matrix"):
        zygopy.hessian(rows_product, np.ones(3))
    x = np.arange(6.0).reshape(2, 3)  # a matrix: the analytic gradient
    assert np.array_equal(gradient(route, rows_product, x)[0], np.stack([x[1], x[0]]))


WEIGHTS = np.ones((3, 2))


def batch_times_weights(x):
    if x.ndim == 1:
        raise ShapeError(f"batch_times_weights needs a batch, got {x.ndim} dimension")
    return np.sum(x @ WEIGHTS)  # a global: a hidden argument of the IR


def test_a_rank_check_in_a_function_reading_a_global_raises_as_in_python(route):
    """The evaluator that makes the user's exception was run without the values the function
    reads from outside, so it did not reproduce it: a RaisesOnEveryPath error came back."""
    raises_at(route, ShapeError, "batch_times_weights needs a batch, got 1 dimension",
              batch_times_weights, (np.ones(3),), batch_times_weights, "raise ShapeError")
    np.testing.assert_array_equal(gradient(route, batch_times_weights, np.ones((4, 3)))[0],
                                  np.full((4, 3), 2.0))  # the analytic gradient: W's row sums


def test_assert_without_a_message(route):
    raises_at(route, AssertionError, "", plain_assert, (11.0,), plain_assert,
              "assert x < 10.0")
    assert gradient(route, plain_assert, 3.0) == pytest.approx((6.0,), rel=1e-15)


# ---- what is refused, at the line ------------------------------------------------------------

def bare_raise(x):
    if x < 0:
        raise
    return x


def raise_an_instance(x):
    error = ValueError(x)
    raise error


def raise_from(x):
    if x < 0:
        raise ValueError("negative") from KeyError("x")
    return x


def raise_with_keywords(x):
    if x < 0:
        raise ValueError(message="negative")
    return x


def computed_format(x, digits):
    if x < 0:
        raise ValueError(f"negative: {x:.{digits}f}")
    return x


class Doubling:
    def __call__(self, x):
        return 2.0 * x


DOUBLE = Doubling()


def call_a_global_object(x):
    return DOUBLE(x) * x


@pytest.mark.parametrize("f, args, text, words", [
    (bare_raise, (1.0,), "raise\n", "a bare raise"),
    (raise_an_instance, (1.0,), "error = ValueError", "calling ValueError is not supported"),
    (raise_from, (1.0,), "from KeyError", "raise ... from"),
    (raise_with_keywords, (1.0,), "message=", "keyword arguments to an exception"),
    (computed_format, (1.0, 2), "{digits}", "computed format"),
    # a layer or model read from a global: it said "calling test_user_errors.Doubling", as if
    # the class were called, with no way out
    (call_a_global_object, (1.0,), "DOUBLE(x)",
     "the Doubling object 'DOUBLE', which the function reads from outside(.|\\n)*pass it as "
     "an argument"),
])
def test_refused_raises_name_the_line(f, args, text, words):
    with pytest.raises(zygopy.UnsupportedSyntax, match=words) as info:
        zygopy.gradient(f, *args)
    assert info.value.line == line_of(f, text)
    assert info.value.filename == __file__


def scale_first(a, b):
    a[0] *= 3.0
    return np.sum(a * b)


BUFFER = np.zeros(3)


def accumulate_into_a_global(x):
    BUFFER[0] += x
    return BUFFER[0] * x


def test_arguments_sharing_memory_with_a_written_one_are_refused():
    """A write into one argument shows through another that shares its memory, in Python; a run
    on a private copy of the written one could not give that, so it is refused."""
    x = np.array([1.0, 2.0, 3.0])
    for b in (x, x[::-1]):
        with pytest.raises(zygopy.ZygopyError, match="shares memory") as info:
            zygopy.gradient(scale_first, x, b)
        assert info.value.line == inspect.getsourcelines(scale_first)[1]
    value, (ga, gb) = zygopy.withgradient(scale_first, x[:2], np.arange(3.0, 5.0))  # apart
    assert value == pytest.approx(3.0 * 3.0 + 2.0 * 4.0)
    np.testing.assert_allclose(ga, [9.0, 4.0])
    np.testing.assert_allclose(gb, [3.0, 2.0])


def scale_first_of_the_buffer(x):
    x[0] *= 3.0
    return np.sum(x * BUFFER)


def test_an_argument_sharing_memory_with_a_global_read_is_named():
    """The message said "another of its arguments (leaves 0 and 1)" where leaf 1 was the global
    the function reads."""
    with pytest.raises(zygopy.ZygopyError, match="shares memory with 'BUFFER', which it reads "
                       "from outside"):
        zygopy.gradient(scale_first_of_the_buffer, BUFFER)
    np.testing.assert_array_equal(BUFFER, 0.0)


def test_a_write_into_a_global_array_is_refused():
    with pytest.raises(zygopy.UnsupportedSyntax, match="writes into the array 'BUFFER'"):
        zygopy.gradient(accumulate_into_a_global, 2.0)
    np.testing.assert_array_equal(BUFFER, 0.0)


def divided_by_an_int(x, k, n):
    return x * (k // n) + x * (k % n)


def test_integer_division_by_zero_raises_as_in_python():
    """Compiled under NumPy's error model, k // 0 and k % 0 gave 0 silently; Python raises."""
    value, (g, _, _) = zygopy.withgradient(divided_by_an_int, 2.0, -7, 3)
    assert (value, g) == (divided_by_an_int(2.0, -7, 3), -3 + 2)  # Python's floor and modulo
    with pytest.raises(zygopy.ZygopyError, match="ZeroDivisionError") as info:
        zygopy.gradient(divided_by_an_int, 2.0, 7, 0)
    assert info.value.line == inspect.getsourcelines(divided_by_an_int)[1] + 1


def test_an_error_in_code_inlined_from_another_file_names_that_file(tmp_path, route):
    """A helper from another module is inlined into its caller: its statements keep their own
    file, so an index out of range inside it is named there, not at the same line number of the
    caller's file."""
    path = tmp_path / "faraway_helpers.py"
    path.write_text("import numpy as np\n\n\n\n\ndef pick(x, i):\n    y = x * 2.0\n"
                    "    return y[i]\n")
    spec = importlib.util.spec_from_file_location("faraway_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def caller(x):
        return module.pick(x, 7) + 1.0

    with pytest.raises(zygopy.ZygopyError, match="IndexError") as info:
        zygopy.gradient(caller, np.ones(3))
    assert (info.value.filename, info.value.line) == (str(path), 8)
    assert "return y[i]" in str(info.value)


def index_seven(x):
    return x[7] * 2.0


def test_errors_of_the_computation_are_also_python_s_exceptions(route):
    """An index out of range and an int divided by zero are ZygopyErrors naming the line, and
    also the IndexError and ZeroDivisionError that `except` clauses written for Python catch."""
    with pytest.raises(IndexError) as info:
        gradient(route, index_seven, np.ones(3))
    assert isinstance(info.value, zygopy.ZygopyError) and "x[7]" in str(info.value)
    with pytest.raises(ZeroDivisionError) as info:
        gradient(route, divided_by_an_int, 2.0, 7, 0)
    assert isinstance(info.value, zygopy.ZygopyError)

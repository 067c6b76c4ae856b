"""The bad-input catalogue, part four: what a caller can pass that is not a differentiable function
or its arguments. Each case gets a zygopy error naming the user's file and line where one exists,
or, where the input is fine, the right answer and the caller's data left alone.

The rest of the catalogue: tests/test_unsupported.py (syntax and constructs outside the subset,
recursion, unknown globals, lambdas), tests/test_api.py (non-scalar and integer results, strings,
NaN/inf scalars, argument counts, wrt), tests/test_array_errors.py (shapes, dtypes, views,
indices, axes) and tests/regressions/test_fuzz_merged_arrays.py (writes into a possible alias).
"""
import functools
import math

import numpy as np
import pytest

import zygopy


def times(x, y):
    return x * y


def count(n):
    return n * 2


def half(n):
    return 0.5 * n


def doubled(a):
    return a * 2.0


def writes_its_argument(a):
    a[0] = 3.0 * a[1]
    return np.sum(a * a)


class Model:
    def __init__(self, x):
        self.x = x


REPL = {}
exec("def typed_at_the_prompt(x):\n    return x * x\n"
     "lambda_at_the_prompt = lambda x: 2.0 * x", REPL)


@pytest.mark.parametrize("f", [math.sin, abs, np.sin, Model, functools.partial(times, 2.0)],
                         ids=["math.sin", "abs", "np.sin", "a class", "functools.partial"])
def test_callables_without_python_source(f):
    with pytest.raises(zygopy.UnsupportedSyntax,
                       match="not a Python function zygopy can read the source of"):
        zygopy.gradient(f, 1.0)


def test_function_typed_at_the_prompt():
    with pytest.raises(zygopy.UnsupportedSyntax,
                       match="source of 'typed_at_the_prompt' is not available") as info:
        zygopy.gradient(REPL["typed_at_the_prompt"], 1.0)
    assert "define the function in a file" in str(info.value)


def test_lambda_typed_at_the_prompt():
    with pytest.raises(zygopy.UnsupportedSyntax, match="lambda"):
        zygopy.gradient(REPL["lambda_at_the_prompt"], 1.0)


def test_not_a_function():
    with pytest.raises(zygopy.UnsupportedType, match="differentiates functions; got float"):
        zygopy.gradient(3.0, 1.0)


def test_none_argument_names_the_function():
    with pytest.raises(zygopy.UnsupportedType,
                       match="argument 0 of 'times' has type NoneType") as info:
        zygopy.gradient(times, None, 1.0)
    assert info.value.filename == __file__ and info.value.line == times.__code__.co_firstlineno


def test_integer_only_function_has_no_gradient():
    with pytest.raises(zygopy.NotScalar, match="returns int64") as info:
        zygopy.gradient(count, 3)
    assert info.value.filename == __file__


def test_integer_argument_float_result_gets_none():
    assert zygopy.gradient(half, 3) == (None,)
    assert zygopy.withgradient(half, 3) == (1.5, (None,))


def test_zero_dimensional_array_result_is_not_scalar():
    with pytest.raises(zygopy.NotScalar, match=r"array\(float64, 0d\)"):
        zygopy.gradient(doubled, np.array(1.0))


def test_numpy_scalars_are_numbers():
    assert zygopy.gradient(times, np.float64(2.0), 3.0) == (3.0, 2.0)


def test_caller_reuses_an_array_the_function_writes():
    a = np.array([1.0, 2.0])
    first = zygopy.gradient(writes_its_argument, a)
    assert np.array_equal(a, [1.0, 2.0])  # the caller's array is as it was
    second = zygopy.gradient(writes_its_argument, a)  # so a second call sees the same input
    assert np.array_equal(first[0], second[0])
    # analytic: f = 9 a1^2 + a1^2, so the gradient is (0, 20 a1)
    assert np.array_equal(first[0], [0.0, 40.0])
    value, back = zygopy.pullback(writes_its_argument, a)
    assert value == 40.0 and np.array_equal(back(1.0)[0], [0.0, 40.0])
    assert np.array_equal(a, [1.0, 2.0])

"""Unsupported constructs raise a zygopy error (never a raw Python exception) that names the user's
file and the line of the offending construct."""
import functools
import inspect
import math
import os

import numpy as np
import pytest

import zygopy
from zygopy import UnsupportedSyntax, UnsupportedType, ZygopyError

from . import corpus_bad as b

SYNTAX, TYPE = UnsupportedSyntax, UnsupportedType

# (function, arguments, error class, text of the offending line, function whose source holds that
# line when it is not the function itself, words the message must contain)
CASES = [
    (b.try_except, (1.0,), SYNTAX, "try:", None, "try/except"),
    (b.with_statement, (1.0,), SYNTAX, "with open", None, "with statement"),
    (b.generator, (1.0,), SYNTAX, "yield x * i", None, "generator"),
    (b.nested_def, (1.0,), SYNTAX, "def helper(v):", None, "nested function"),
    (b.class_def, (1.0,), SYNTAX, "class Point:", None, "class definition"),
    (b.global_statement, (1.0,), SYNTAX, "global counter", None, "global statement"),
    (b.del_statement, (1.0,), SYNTAX, "del y", None, "del"),
    (b.import_inside, (1.0,), SYNTAX, "import cmath", None, "import"),
    (b.generator_as_value, (1.0, 3), SYNTAX, "squares = (", None, "generator expression"),
    (b.f_string, (1.0,), SYNTAX, 'label = f"', None, "f-string"),
    (b.walrus, (1.0,), SYNTAX, ":=", None, ":="),
    (b.match_statement, (1.0, 2), SYNTAX, "match n:", None, "match statement"),
    (b.star_args_call, (1.0,), SYNTAX, "_add(*pair)", None, "*args"),
    (b.kwargs_call, (1.0,), SYNTAX, "_add(y, **OPTIONS)", None, "**kwargs"),
    (b.factorial, (4,), SYNTAX, "factorial(n - 1)", None, "recursion"),
    (b.is_even, (4,), SYNTAX, "return is_even(n - 1)", b.is_odd, "recursion"),
    (b.recursion_through_callees, (1.0,), SYNTAX, "return _recurses_deep(", b._recurses_deeper,
     "recursion"),
    (b.unknown_global, (1.0,), TYPE, "undefined_scale", None, "'undefined_scale' is not defined"),
    (b.print_call, (1.0,), SYNTAX, "print(y)", None, "print"),
    (b.star_params, (1.0,), SYNTAX, "def star_params(*args):", None, "*args"),
    (b.used_before_assignment, (1.0,), SYNTAX, "return z * y", None,
     "'y' may be used before it is assigned"),
    (b.used_before_assignment_in_loop, (1.0, 2), SYNTAX, "return x * i", None,
     "'i' may be used before it is assigned"),
    (b.zip_loop, (1.0, 3), SYNTAX, "zip(range(n)", None, "zip"),
    (b.is_comparison, (1.0,), SYNTAX, "if x is y", None, "compares with None only"),
    (b.in_comparison, (1.0,), SYNTAX, "return x in", None, "comparison In"),
    (b.shift_operator, (3,), SYNTAX, "return n << 1", None, "LShift"),
    (b.bitwise_of_floats, (1.5,), TYPE, "return (x & 1.0)", None, "not floats"),
    (b.string_constant, (1.0,), TYPE, 'name = "x"', None, "strings"),
    (b.complex_constant, (1.0,), TYPE, "x * 2j", None, "complex"),
    (b.list_of_mixed_types, (1.0,), TYPE, "xs.append(", None, "holds values of one type"),
    (b.generator_in_any, (1.0, 3), SYNTAX, "any(x > i for", None, "generator expression"),
    (b.array_in_a_captured_tuple, (1.0,), TYPE, "w, s = PARTS", None, "NumPy array"),
    (b.calling_a_number, (1.0,), SYNTAX, "SCALE(x)", None, "calling"),
    (b.calling_a_value, (1.0,), SYNTAX, "return g(x)", None,
     "calling a value computed at run time"),
    (b.unknown_module_attribute, (1.0,), TYPE, "math.sine(x)", None, "no attribute 'sine'"),
    (b.keyword_to_primitive, (1.0,), SYNTAX, "math.atan2(x, x=1.0)", None, "keyword arguments"),
    (b.wrong_arity_primitive, (1.0,), SYNTAX, "math.sin(x, 2.0)", None,
     "takes 1 argument here, not 2"),
    (b.reciprocal_of_ints, (1.0,), TYPE, "np.reciprocal(np.arange(1, 4))", None,
     "write 1.0 / x for a float"),
    (b.roll_by_a_tuple, (1.0,), TYPE, "np.roll(x * np.ones((2, 2)), (1, 1))", None,
     "one integer shift"),
    (b.average_returned, (1.0,), TYPE, "returned=True", None, "returned=True) is not supported"),
    (b.unpack_mismatch, (1.0,), TYPE, "a, b = x, x + 1.0", None, "cannot unpack 3 values into 2"),
    (b.tuple_index_out_of_range, (1.0,), TYPE, "return t[2]", None, "out of range"),
    (b.index_a_float, (1.0,), TYPE, "return x[0]", None, "cannot index"),
    (b.never_returns, (1.0,), SYNTAX, "def never_returns(", None, "never returns"),
    (b.range_as_value, (1.0, 3), SYNTAX, "r = range(n)", None, "range()"),
    (b.unsupported_in_callee, (1.0,), SYNTAX, 'with open("/dev/null"):', b._bad_helper,
     "with statement"),
    (b.wrong_arity_call, (1.0,), TYPE, "return _add(x)", None, "missing"),
    (b.unknown_keyword_call, (1.0,), TYPE, "_add(x, c=1.0)", None, "'c'"),
    (b.async_function, (1.0,), SYNTAX, "async def async_function(", None, "not a def function"),
    (b.assign_into_tuple, (1.0,), TYPE, "t[0] = 1.0", None, "cannot assign to an element"),
    (b.len_of_a_number, (1.0,), TYPE, "return len(y)", None, "len() of a value of type float64"),
    (b.tuple_arithmetic, (1.0,), TYPE, "u = t + t", None,
     "arithmetic on a value of type (float64, float64)"),
    (b.write_into_list, (1.0,), TYPE, "hs[0] = 1.0", None, "assigning to an element of a list"),
    (b.slice_run_time_list, (1.0, 3), TYPE, "sum(hs[1:])", None, "indexed by an integer"),
    (b.run_time_index_into_layers, ((1.0, 2.0), 1), TYPE, "return layers[i]", None,
     "constant integer"),
    (b.max_of_nothing, (1.0,), TYPE, "max(())", None, "max() of an empty sequence"),
    (b.read_list_after_it_grew, (1.0, 3), SYNTAX, "return first[-1]", None,
     "after an append made it longer"),
]
IDS = [fn.__name__ for fn, *_ in CASES]


def line_of(fn, text):
    """The file line of the one line of fn's source that contains `text`."""
    lines, start = inspect.getsourcelines(fn)
    hits = [i for i, line in enumerate(lines) if text in line]
    assert len(hits) == 1, f"{text!r} should occur once in the source of {fn.__name__}"
    return start + hits[0]


def test_there_are_enough_cases():
    assert len(CASES) >= 14


@pytest.mark.parametrize("fn, args, cls, text, where, words", CASES, ids=IDS)
def test_unsupported(fn, args, cls, text, where, words):
    expected = line_of(where or fn, text)
    with pytest.raises(ZygopyError) as info:  # a raw Python exception fails the test
        zygopy.code_ir(fn, *args)
    err = info.value
    message = str(err)
    assert type(err) is cls, message
    assert os.path.join("tests", "corpus_bad.py") in message
    assert (where or fn).__code__.co_filename in message
    assert f"line {expected}" in message, f"expected line {expected}: {message}"
    assert (err.filename, err.line) == ((where or fn).__code__.co_filename, expected)
    assert words in message
    # the offending source line is quoted under the message
    assert text.strip() in message.splitlines()[1]


def test_unsupported_argument_type():
    def f(x):
        return x

    for arg in ("a string", 1j, {1: 1.0}, np.array(["a"]), np.array([1j])):
        with pytest.raises(UnsupportedType, match="argument 0 of 'f' has type"):
            zygopy.code_ir(f, arg)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix's own
@pytest.mark.parametrize("arg", ["matrix", "masked"])
def test_array_subclasses_are_refused(arg):
    """np.matrix's * is a matrix product, a masked array leaves elements out: computing on them
    as plain arrays would give other values than Python does."""
    def f(x):
        return np.sum(x * x)

    arg = np.asmatrix(np.eye(2)) if arg == "matrix" else np.ma.array([1.0, 2.0], mask=[0, 1])
    with pytest.raises(UnsupportedType, match=f"has type {type(arg).__name__}") as info:
        zygopy.gradient(f, arg)
    assert "np.asarray" in str(info.value)


@pytest.mark.parametrize("fn", [np.sin, math.sin, abs, functools.partial(b._add, 1.0)])
def test_not_a_python_function(fn):
    with pytest.raises(UnsupportedSyntax, match="not a Python function"):
        zygopy.code_ir(fn, 1.0)

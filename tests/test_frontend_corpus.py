"""The frontend and passes preserve meaning: for every function of the corpus, the reference
evaluator run on `zygopy.code_ir(f, *args)` gives what `f(*args)` gives, on hypothesis inputs.

The IR is verified after every pass (`CHECK_EACH_PASS`, switched on in conftest.py) and once more
here.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zygopy
from zygopy.ir.passes import pipeline
from zygopy.ir.verify import verify

from . import corpus_scalar as c

# ---- strategies --------------------------------------------------------------------------------
F = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)
# floats that often tie, hit zero or sit on a branch boundary
FS = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, 0.5]), F)
NZ = FS.filter(lambda v: v != 0.0)
INT = st.integers(-20, 20)
INZ = INT.filter(lambda v: v != 0)
B = st.booleans()


def ints(lo, hi):
    return st.integers(lo, hi)


def arrays(min_size=1, max_size=6):
    return st.lists(F, min_size=min_size, max_size=max_size).map(
        lambda xs: np.array(xs, dtype=np.float64))


# (function, strategies of its arguments); each pair is one test case
CASES = [
    (c.literals, (F,)),
    (c.arith_float, (FS, NZ)),
    (c.arith_int, (INT, INZ)),
    (c.powers, (F, ints(-4, 4))),
    (c.compare_all, (FS, FS)),
    (c.chained_compare, (FS, FS, FS)),
    (c.chained_in_if, (FS, FS, FS)),
    (c.unary, (FS, INT, B)),
    (c.bool_ops, (FS, FS)),
    (c.value_or_and, (FS, FS)),
    (c.mixed_value_or, (FS, ints(-2, 2))),
    (c.short_circuit, (FS, FS)),
    (c.short_circuit_value, (ints(-5, 5), FS)),
    (c.conditional_expr, (FS, FS)),
    (c.piecewise, (F,)),
    (c.if_without_else, (F, INT)),
    (c.nested_if, (FS, FS)),
    (c.bool_argument, (B, F)),
    (c.pass_and_docstring, (F,)),
    (c.while_countdown, (F, ints(-2, 8))),
    (c.while_data_exit, (F,)),
    (c.collatz_steps, (ints(1, 60),)),
    (c.while_else, (F, ints(-1, 8))),
    (c.while_true_break, (F,)),
    (c.while_compound_test, (F, ints(-1, 10))),
    (c.while_float_counter, (F,)),
    (c.for_range_1, (F, ints(-3, 8))),
    (c.for_range_2, (ints(-5, 10), ints(-5, 10))),
    (c.for_range_3, (ints(-10, 10), ints(-10, 10), st.one_of(ints(1, 4), ints(-4, -1)))),
    (c.for_range_negative, (ints(-3, 8), F)),
    (c.for_array, (arrays(),)),
    (c.enumerate_array, (arrays(), F)),
    (c.loop_variable_after_loop, (ints(-2, 6),)),
    (c.for_else, (ints(-1, 8), FS)),
    (c.break_continue, (FS, ints(0, 15))),
    (c.continue_in_while, (ints(-2, 12),)),
    (c.nested_loops, (F, ints(0, 5), ints(0, 5))),
    (c.nested_triangular, (ints(0, 8),)),
    (c.nested_break_inner, (F, ints(0, 6))),
    (c.early_return, (F,)),
    (c.return_in_for, (FS, ints(0, 8))),
    (c.return_in_while, (F,)),
    (c.return_in_nested_loop, (ints(0, 5), ints(0, 5), ints(0, 10))),
    (c.return_int_or_float, (INT, F)),
    (c.tuple_pack_unpack, (FS, FS)),
    (c.fibonacci, (ints(0, 20),)),
    (c.chained_assign, (F,)),
    (c.augmented_assign, (F, INT)),
    (c.tuple_constant_global, (F,)),
    (c.subscript_read, (arrays(), INT)),
    (c.subscript_write, (arrays(min_size=2), F)),
    (c.attributes, (arrays(),)),
    (c.running_max, (arrays(),)),
    (c.math_calls, (FS, FS)),
    (c.numpy_calls, (FS, FS)),
    (c.builtin_calls, (FS, FS, INT)),
    (c.call_defaults_keywords, (F,)),
    (c.call_nested_deep, (FS,)),
    (c.call_same_names, (st.floats(-3, 3), ints(0, 5))),
    (c.call_in_loop, (F, ints(0, 6))),
    (c.module_constants, (F,)),
    (c.affine_closure, (F,)),
    (c.looper_closure, (F, ints(0, 5))),
    (c.call_in_condition, (FS, ints(0, 6))),
    (c.signed_zero, (FS,)),
    (c.constant_conditions, (FS,)),
    (c.loop_rebinds_target, (ints(-2, 8),)),
    (c.while_else_continue, (F, ints(-1, 10))),
    (c.not_of_chained, (FS, FS, FS)),
    (c.ifexp_in_loop, (F, ints(0, 8))),
    (c.array_written_in_loop, (arrays(), F)),
    (c.enumerate_range, (F, ints(-2, 9))),
    (c.module_attribute_constants, (F,)),
]


def _copy(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _plain(v):
    # NumPy scalars (np.exp of a float is an np.float64) stand for the Python number of their kind
    return v.item() if isinstance(v, np.generic) else v


def same(got, want, rel=0.0):
    """Equal values of the same Python type (1 and 1.0 and True differ, so do 0.0 and -0.0), nan
    equal to nan; floats within a relative tolerance `rel` where one is given."""
    got, want = _plain(got), _plain(want)
    if isinstance(want, tuple):
        return (isinstance(got, tuple) and len(got) == len(want)
                and all(same(g, w, rel) for g, w in zip(got, want, strict=True)))
    if type(got) is not type(want):
        return False
    if isinstance(want, float) and math.isnan(want):
        return math.isnan(got)
    if isinstance(want, float) and rel:
        return math.isclose(got, want, rel_tol=rel, abs_tol=rel)
    return got == want and (not isinstance(want, float)
                            or math.copysign(1, got) == math.copysign(1, want))


# The evaluator runs np.exp(x) of a float as math.exp(x); NumPy's own (SIMD) versions of the
# elementary functions may differ from the C library's in the last bit.
APPROX = {c.numpy_calls: 1e-12}


def test_corpus_is_large_enough():
    assert len(CASES) >= 45
    assert len({f for f, _ in CASES}) == len(CASES)


def test_each_pass_is_checked():
    assert pipeline.CHECK_EACH_PASS is True


@pytest.mark.parametrize("fn, strategies", CASES, ids=[f.__name__ for f, _ in CASES])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_corpus(fn, strategies, data):
    args = [data.draw(s, label=f"arg{i}") for i, s in enumerate(strategies)]
    ir = zygopy.code_ir(fn, *args)
    assert verify(ir) is ir
    try:
        want = fn(*_copy(args))
    except (ArithmeticError, ValueError) as e:  # overflow, division by zero, math domain error
        with pytest.raises(type(e)):
            zygopy.evaluate(ir, *_copy(args))
        return
    got = zygopy.evaluate(ir, *_copy(args))
    assert same(got, want, APPROX.get(fn, 0.0)), (f"{fn.__name__}{tuple(args)}: IR gives {got!r}, "
                                                  f"Python gives {want!r}\n{ir}")


def test_array_writes_reach_the_caller():
    """`a[i] = v` in the IR writes the caller's array, as in Python."""
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])
    ir = zygopy.code_ir(c.subscript_write, a, 0.5)
    c.subscript_write(a, 0.5)
    zygopy.evaluate(ir, b, 0.5)
    assert np.array_equal(a, b)

"""The primitive table against what is computed from it: every primitive user code can reach has
a derivative rule (or a result that takes no gradient) and a lowering, on numbers and on arrays."""
import numpy as np
import pytest

from zygopy.adjoint.array_rules import ELEMENTWISE
from zygopy.adjoint.rules import RULES
from zygopy.backend.numba_cpu.source import expression
from zygopy.ir.array_primitives import (
    ARRAY_METHODS,
    INDEXING_SUGAR,
    NUMPY_FUNCTIONS,
    SEQUENCE_ARGUMENT,
)
from zygopy.ir.frontend import _numpy_function
from zygopy.ir.infer import type_of_arg
from zygopy.ir.ir import Stmt, Var
from zygopy.ir.passes.lower import LOWERINGS
from zygopy.ir.primitives import PRIMITIVES, _callables, resolve_callable, result_type
from zygopy.ir.types import FLOAT, ArrayT, ListT, TupleT

CALLED = (set(_callables().values()) | set(NUMPY_FUNCTIONS.values()) | set(ARRAY_METHODS.values())
          | {n for n, p in PRIMITIVES.items() if p.symbol is not None} | {"einsum"})
# primitives rewritten into others before differentiating need neither a rule nor a lowering
REACHABLE = sorted(n for n in CALLED - INDEXING_SUGAR if not PRIMITIVES[n].lowered)
LOWERED = sorted(n for n, p in PRIMITIVES.items() if p.lowered)
VECTOR, MATRIX, MASK = ArrayT("float64", 1), ArrayT("float64", 2), ArrayT("bool", 1)
IMAGE, INT, SHAPE4 = ArrayT("float64", 4), type_of_arg(3), type_of_arg((1, 2, 3, 4))
# primitives whose operands are not all of one type: an example of each operand's type
MIXED = {"conv2d": [IMAGE, IMAGE, INT, INT, INT],
         "conv2d_grad_input": [IMAGE, IMAGE, SHAPE4, INT, INT, INT],
         "maxpool2d": [IMAGE, INT], "random_uniform": [VECTOR, INT],
         "bitand": [MASK, MASK], "bitor": [MASK, MASK], "bitxor": [MASK, MASK],
         "invert": [MASK]}
COUNT, SHAPE = Var(8, INT), Var(9, TupleT((INT, INT)))
# operands other than the values operated on: shapes, counts, a fill value, constant parameters
SAMPLE_OPERANDS = {
    "zeros": {0: SHAPE}, "ones": {0: SHAPE}, "empty": {0: SHAPE}, "reshape": {1: SHAPE},
    "full": {0: SHAPE, 1: 1.0}, "full_like": {1: 1.0}, "eye": {0: COUNT}, "identity": {0: COUNT},
    "tile": {1: SHAPE}, "repeat": {1: COUNT}, "sliding_window_view": {1: COUNT},
    "expand_dims": {1: 0}, "squeeze": {1: 0}, "swapaxes": {1: 0, 2: 1},
    "moveaxis": {1: 0, 2: 1}, "pad": {1: 1}, "astype": {1: "float32"},
}


def _statement(op, operand_type):
    p = PRIMITIVES[op]
    n = 2 if op in SEQUENCE_ARGUMENT else p.arity
    args = [Var(i, operand_type) for i in range(n)] + list(p.params.values())
    for i, a in SAMPLE_OPERANDS.get(op, {}).items():
        args[i] = a
    ts = [type_of_arg(a) for a in args]
    return Stmt(Var(10, result_type(op, ts, args)), op, args)


def _mixed(op):
    args = [Var(i, t) for i, t in enumerate(MIXED[op])]
    return Stmt(Var(10, result_type(op, MIXED[op], args)), op, args)


def _statements(op):
    """The primitive applied to numbers, arrays and lists, where its type rule accepts them and
    passes/lower.py does not rewrite it into others (np.sum of a number, np.array of an
    array)."""
    if op in MIXED:
        return [_mixed(op)]
    out = []
    for t in (FLOAT, VECTOR, MATRIX, ListT(FLOAT)):
        try:
            s = _statement(op, t)
        except TypeError:
            continue
        if op not in LOWERINGS or LOWERINGS[op](lambda *a: Var(11, None), *s.args) is None:
            out.append(s)
    assert out, f"{op} takes no number, array or list"
    return out


@pytest.mark.parametrize("op", REACHABLE)
def test_reachable_primitive_has_a_rule(op):
    for s in _statements(op):
        assert op in RULES or not s.var.type.is_float, f"{op} gives a {s.var.type} but no rule"


@pytest.mark.parametrize("op", REACHABLE)
def test_reachable_primitive_lowers(op):
    for s in _statements(op):
        assert expression(s)


@pytest.mark.parametrize("op", LOWERED)
def test_lowered_primitive_has_a_lowering(op):
    assert op in LOWERINGS


def test_derived_sets():
    elementwise = {n for n, p in PRIMITIVES.items() if p.elementwise}
    assert ELEMENTWISE <= elementwise
    # the others are piecewise constant, give bools or take no floats: no contribution to sum back
    assert all(n in RULES or not _gives_floats(n) for n in elementwise - ELEMENTWISE)


def _gives_floats(op):
    try:
        return PRIMITIVES[op].type_rule([FLOAT] * 2, [None] * 2) == FLOAT
    except TypeError:  # it takes no floats
        return False


def test_math_functions_reachable_through_numpy():
    """Each math-module function with a NumPy twin (np.sinh, np.log1p, np.hypot, np.fabs, ...) is
    reachable as that NumPy function, and resolves to the same primitive."""
    for name, p in PRIMITIVES.items():
        if not (p.call or "").startswith("math.") or p.numpy is None:
            continue
        fn = np.fabs if name == "fabs" else getattr(np, p.numpy)  # np.abs is the builtin's
        assert (resolve_callable(fn) or _numpy_function(fn)) == name, f"np.{fn.__name__}"

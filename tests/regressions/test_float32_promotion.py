"""float32 arithmetic promotes as in NumPy 2 (NEP 50): a Python number (a literal, a float or int
argument, what is computed from them alone) takes the dtype of the NumPy values it meets, so
`1.0 / (1.0 + np.exp(-x))` of a float32 array is float32; a float32 with a float64 or int64 array,
or with a NumPy float64 or int64 scalar (an element, a sum), is float64.

Bug: zygopy typed a float32 array with a Python float as float64. In a recurrence
`h = sigmoid(h @ W + x[t])` the loop-carried float32 array then looked float64, and compiling the
gradient crashed inside Numba (`TypeError: expecting {... double* ...} but got {... float* ...}`).
Numba itself promotes otherwise than NumPy 2 (float32 with a Python float to float64, float32 with
an int64 array to float32), so the generated code casts operands where they differ.
"""
import numpy as np
import pytest

import zygopy
from zygopy.backend.numba_cpu.jit import load_module
from zygopy.backend.numba_cpu.source import primal_source

from .reference import central_difference, copied


def returned_type(ir):
    return next(br.args[0].type for b in ir.blocks for br in b.branches if br.is_return)


def compiled_primal(ir):
    """The primal as zygopy compiles it (zygopy.api.compiled also builds a gradient, which a
    function returning an array has none of)."""
    return load_module(primal_source(ir, "primal")).primal


def numba_dtype(jitted):
    """The dtype of what a compiled function returns, as Numba typed it (a float32 scalar comes
    back to Python as a float, which hides its dtype)."""
    t = jitted.nopython_signatures[0].return_type
    return str(getattr(t, "dtype", t))


# each takes (x: float32 array, y: float64 array, n: int64 array, c: a float, k: an int)
def sigmoid(x, y, n, c, k):
    return 1.0 / (1.0 + np.exp(-x))


def times_float_argument(x, y, n, c, k):
    return x * c - 2.5


def times_int_argument(x, y, n, c, k):
    return x * k + 2


def with_float64_array(x, y, n, c, k):
    return x + y


def with_int64_array(x, y, n, c, k):
    return x * n - n  # Numba alone computes this in float32


def int_array_with_float(x, y, n, c, k):
    return n * c + n / k


def relu_and_where(x, y, n, c, k):
    return np.maximum(x, 0.0) + np.where(x > 0.5, x, c) * np.where(x < 1.0, x, k)


def compare_in_float32(x, y, n, c, k):
    # NumPy 2 compares x[0, 0], float32(0.1), with 0.1 made float32 too: equal, not greater
    return np.where(x > 0.1, x, c) + (x[0, 0] > 0.1)


def powers(x, y, n, c, k):
    return x ** 2 + np.abs(x) ** c + np.arctan2(x, c)


def element_times_float(x, y, n, c, k):
    return x[0, 0] * c + 1.5  # a float32 scalar stays float32


def element_plus_int(x, y, n, c, k):
    return x[0, 1] + k


def element_sin(x, y, n, c, k):
    return np.sin(x[0, 0]) * 0.5


def element_maximum(x, y, n, c, k):
    return np.maximum(x[0, 0], 0.25) / k  # 0.25 made float32


def element_with_int_array(x, y, n, c, k):
    return x[1, 1] * n


def reduction_with_float(x, y, n, c, k):
    return np.sum(x) * c + np.mean(x * 3.0)


def matmul_with_float(x, y, n, c, k):
    return (x @ x.T) * c


def python_numbers(x, y, n, c, k):
    return c * k + 1.0


def computed_python_float(x, y, n, c, k):
    return x * (2.0 * c + k)  # a Python float still


def float64_element(x, y, n, c, k):
    return x * y[0, 1] + x[1, 1] * np.sum(y)  # NumPy's float64 scalars make float64


def float64_accumulated(x, y, n, c, k):
    acc = 0.0
    for i in range(3):
        acc = acc + y[0, i]  # a NumPy float64 from the first iteration on
    return x * acc


def int64_element(x, y, n, c, k):
    return x * n[0, 2]  # Numba alone computes this in float32


def mixed_sums(x, y, n, c, k):
    return np.sum(np.exp(x) * c) + np.sum(x * y) * 0.5


CASES = [sigmoid, times_float_argument, times_int_argument, with_float64_array, with_int64_array,
         int_array_with_float, relu_and_where, compare_in_float32, powers, element_times_float,
         element_plus_int, element_sin, element_maximum, element_with_int_array,
         reduction_with_float, matmul_with_float, python_numbers, computed_python_float,
         float64_element, float64_accumulated, int64_element, mixed_sums]


def arguments():
    x = np.array([[0.1, -1.3, 0.6], [2.0, -0.4, 0.9]], np.float32)  # 0.1: see compare_in_float32
    y = np.array([[0.5, 1.5, -2.0], [0.3, 0.7, 1.1]])
    n = np.array([[1, -2, 3], [4, 5, -6]])
    return x, y, n, 0.7, 3


def close(a, b, dtype):
    """Equal up to a few float32 rounding errors (exp, sin differ in their last bit between NumPy
    and LLVM), and no coarser: a float32 result computed in float64 would mostly still pass, but
    its dtype is checked on its own."""
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    return np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=rtol)


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="NEP 50 promotion")
@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_result_dtype_is_numpys(f):
    args = arguments()
    expected = f(*copied(args))
    dtype = np.asarray(expected).dtype
    ir = zygopy.code_ir(f, *args)
    assert returned_type(ir).dtype == dtype.name, str(ir)
    evaluated = zygopy.evaluate(ir, *copied(args))
    assert np.asarray(evaluated).dtype == dtype and close(evaluated, expected, dtype)
    primal = compiled_primal(ir)
    result = primal(*copied(args))
    assert numba_dtype(primal) == dtype.name and close(result, expected, dtype)
    if isinstance(expected, np.ndarray):
        assert result.dtype == dtype


def summed(f):
    def loss(x, y, n, c, k):
        return np.sum(f(x, y, n, c, k))
    return loss


# at x[0, 0] its float32 and float64 forms take different branches: no float64 reference
SMOOTH = [f for f in CASES if f is not compare_in_float32]


@pytest.mark.parametrize("f", SMOOTH, ids=lambda f: f.__name__)
def test_gradient_paths_agree(f):
    """The fused and split gradients compile, have their argument's dtype, and match central
    differences of the function computed in float64 at the same point, and the evaluator."""
    args = arguments()
    loss = summed(f) if isinstance(f(*copied(args)), np.ndarray) else f
    _, evaluated = zygopy.ir.evaluate.evaluate_gradient(zygopy.code_adjoint(loss, *args), args)
    args64 = (args[0].astype(np.float64),) + args[1:]  # the same point, exactly
    for g in (zygopy.gradient(loss, *args), zygopy.pullback(loss, *args)[1]()):
        assert g[0].dtype == np.float32 and g[1].dtype == np.float64 and g[2] is None
        for i in (0, 1, 3):
            ref, spread = central_difference(loss, args64, i)
            # float32 rounding in a few operations: errors below 1e-7 of the gradient's scale
            # here; 1e-4 leaves room for other exp and sum implementations
            scale = 1e-4 * max(1.0, np.abs(ref).max())
            assert np.allclose(g[i], ref, rtol=0, atol=scale + 3 * np.max(spread)), (i, g[i], ref)
            assert np.allclose(g[i], evaluated[i], rtol=1e-5, atol=1e-6), (i, g[i])


def loop_promoted_to_float64(x, y):
    h = x
    for _ in range(3):
        h = h * y  # float32 on the way in, float64 from the first iteration on
    return np.sum(h)


def test_loop_carried_array_changing_dtype():
    x, y = np.array([0.1, -0.2, 0.3], np.float32), np.array([1.5, 2.0, -0.5])
    for i in range(2):
        ref, spread = central_difference(loop_promoted_to_float64, (x.astype(np.float64), y), i)
        for g in (zygopy.gradient(loop_promoted_to_float64, x, y)[i],
                  zygopy.pullback(loop_promoted_to_float64, x, y)[1]()[i]):
            assert g.dtype == (x, y)[i].dtype
            assert np.allclose(g, ref, rtol=1e-6, atol=3 * spread.max())


# ---- the recurrence the bug was found in ------------------------------------------------------
def logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def recurrence(W, h, x):
    for t in range(x.shape[0]):
        h = logistic(h @ W + x[t])
    return np.sum(h)


def recurrence_arguments(dtype):
    rng = np.random.default_rng(0)
    W = rng.normal(size=(4, 4)).astype(dtype)
    h = rng.normal(size=(2, 4)).astype(dtype)
    x = rng.normal(size=(3, 2, 4)).astype(dtype)
    return W, h, x


def evaluated_gradient(f, args):
    return zygopy.ir.evaluate.evaluate_gradient(zygopy.code_adjoint(f, *args), copied(args))[1]


GRADIENT_PATHS = {
    "eval": evaluated_gradient,
    "fused": lambda f, args: zygopy.gradient(f, *args),
    "split": lambda f, args: zygopy.pullback(f, *args)[1](),
}


def test_recurrence_stays_float32():
    adj = zygopy.code_adjoint(recurrence, *recurrence_arguments(np.float32))
    types = [s.var.type for fn in (adj.forward, adj.reverse) for b in fn.blocks
             for s in b.stmts if s.var is not None]
    types += [v.type for fn in (adj.forward, adj.reverse) for b in fn.blocks for v in b.args]
    assert not [t for t in types if getattr(t, "dtype", None) == "float64"], str(adj)


@pytest.mark.parametrize("path", GRADIENT_PATHS)
def test_recurrence_gradient(path):
    args32 = recurrence_arguments(np.float32)
    args64 = tuple(a.astype(np.float64) for a in args32)  # the same point, exactly
    grads = GRADIENT_PATHS[path](recurrence, args32)
    for i, g in enumerate(grads):
        assert g.dtype == np.float32
        ref, spread = central_difference(recurrence, args64, i)
        assert spread.max() < 1e-7  # the float64 reference is far finer than the check below
        # float32 rounds each of the ~50 operations along a path through the three steps to a
        # relative 6e-8; measured, the gradient is off by 2e-7 of its scale. 1e-4 leaves room for
        # other exp and sum implementations and cancellation, and a wrong gradient (a step
        # missed, a wrong local derivative) is off by far more
        assert np.allclose(g, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max()), (path, i, g, ref)

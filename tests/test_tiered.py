"""Interpreting while compiling (backend/tiered.py): a gradient's first calls run in the reference
evaluator while Numba compiles in the background. They must give what the compiled code gives
(checked against analytic derivatives too), with the same types, and errors must be reported as
the compiled code reports them."""
import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import zygopy
from zygopy.api import compiled
from zygopy.backend import tiered

from .nn_support import both_routes


@pytest.fixture(autouse=True)
def interpret(monkeypatch):
    monkeypatch.setenv("ZYGOPY_INTERPRET_WHILE_COMPILING", "1")


class Layer:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def __call__(self, x):
        return np.tanh(x @ self.W + self.b)


def layer_loss(layer, x, scale):
    return scale * np.sum(layer(x) ** 2)


def _layer_args(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (Layer(rng.normal(size=(3, 2)).astype(dtype), rng.normal(size=2).astype(dtype)),
            rng.normal(size=(4, 3)).astype(dtype), 0.5)


def layer_grads(layer, x, scale):
    h = np.tanh(x @ layer.W + layer.b)
    d = scale * 2.0 * h * (1.0 - h * h)
    return x.T @ d, d.sum(axis=0), np.sum(h ** 2)


def looped(x, n):
    s = 0.0
    for i in range(n):
        s += math.sin(x * i) / n
    return s


def reads(a, i):
    return a[i] * 2.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_interpreted_calls_agree_with_compiled_ones(dtype, slow_compiler):
    layer, x, scale = _layer_args(dtype)
    c = compiled(layer_loss, (layer, x, scale))
    first = zygopy.withgradient(layer_loss, layer, x, scale)
    assert not c._fused.overloads  # nothing was compiled: that was interpreted
    slow_compiler.set()
    tiered.compilation(c, (layer.W, layer.b, x, scale)).result(timeout=600)
    later = zygopy.withgradient(layer_loss, layer, x, scale)
    dW, db, dscale = layer_grads(layer, x, scale)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for value, (g_layer, g_x, g_scale) in (first, later):
        assert type(value) is float and type(g_scale) is float
        assert g_layer.W.dtype == dtype and g_x.dtype == dtype and g_layer.b.dtype == dtype
        np.testing.assert_allclose(g_layer.W, dW, rtol=rtol)
        np.testing.assert_allclose(g_layer.b, db, rtol=rtol)
        assert g_scale == pytest.approx(dscale, rel=rtol)
    assert first[0] == pytest.approx(later[0], rel=rtol)


def test_a_long_scalar_loop_is_compiled_at_once(tmp_path, monkeypatch):
    # 10**6 trips would take the evaluator many seconds: past its budget the first call compiles
    # in this process (no background compilation to share the GIL with). An empty disk cache:
    # code found there would be loaded in the background at once
    monkeypatch.setenv("ZYGOPY_CACHE_DIR", str(tmp_path))
    n = 10 ** 6
    _, (dx, dn) = zygopy.withgradient(looped, 0.3, n)
    want = sum(i * math.cos(0.3 * i) for i in range(n)) / n
    assert dn is None and dx == pytest.approx(want, rel=1e-9)
    c = compiled(looped, (0.3, n))
    assert c._fused.overloads and c not in tiered._jobs


def test_errors_are_reported_as_compiled_code_reports_them(slow_compiler):
    a = np.arange(3.0)
    threading.Timer(0.5, slow_compiler.set).start()
    with pytest.raises(zygopy.ZygopyError) as caught:
        zygopy.gradient(reads, a, 7)
    assert "IndexError" in str(caught.value) and "test_tiered.py" in str(caught.value)


def _run_fresh(tmp_path, script, timeout):
    """Runs `script` in a fresh interpreter, interpreting while compiling, with a cache of its own:
    -> its standard output; fails the test if it failed."""
    path = tmp_path / "script.py"
    path.write_text("import zygopy\n"
                    "from zygopy.backend.numba_cpu.compiled import CompiledGradient\n" + script)
    env = dict(os.environ, ZYGOPY_INTERPRET_WHILE_COMPILING="1",
               ZYGOPY_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_program_does_not_wait_for_the_compiler_to_exit(tmp_path):
    # the compiler held for a minute: the program has its gradient and must exit without it
    out = _run_fresh(tmp_path, "import time\n"
                     "CompiledGradient.compile = lambda self, args, **options: time.sleep(60)\n"
                     "def f(x):\n"
                     "    return x * x\n"
                     "print(zygopy.gradient(f, 3.0)[0])\n", timeout=30)
    assert float(out) == 6.0


def test_a_first_interpreted_gradient_does_not_wait_for_numba_to_import(tmp_path):
    # importing Numba costs a first gradient ~0.15 s: the compiler's thread imports it
    out = _run_fresh(tmp_path, "import sys\n"
                     "import numpy as np\n"
                     "CompiledGradient.compile = lambda self, args, **options: None\n"
                     "def f(x):\n"
                     "    return np.sum(np.exp(x) * x)\n"
                     "g, = zygopy.gradient(f, np.array([0.5, -1.0]))\n"
                     "print(g.tolist(), 'numba' in sys.modules)\n", timeout=60)
    grads, imported = out.rsplit(" ", 1)
    x = np.array([0.5, -1.0])
    np.testing.assert_allclose(eval(grads), np.exp(x) * (1 + x), rtol=1e-12)
    assert imported.strip() == "False"


def cubed(x, n):
    k = n * n * n
    return x * k


def plus_one(x, n):
    return x * (n + 1)


def negated(x, n):
    return x * -n


def absolute(x, n):
    return x * abs(n)


def over_minus_one(x, n):
    return x * (n // -1)


def over(x, n):
    m = -1 if n < 0 else 3  # a divisor not known while compiling
    return x * (n // m)


def to_the_third(x, n):
    return x * n ** 3


def squared(x, n):
    return x * np.square(n)


def truncated(x, n):
    return x + 0.5 * int(x * n) + 0.25 * math.floor(x * n) + 0.125 * math.ceil(-x * n)


# each int operation as NumPy computes it in int64
INT64_OPS = [(cubed, lambda n: n * n * n), (plus_one, lambda n: n + 1), (negated, np.negative),
             (absolute, np.abs), (over_minus_one, lambda n: np.floor_divide(n, -1)),
             (over, lambda n: np.floor_divide(n, -1 if n < 0 else 3)),
             (to_the_third, lambda n: n ** 3), (squared, np.square)]


@pytest.mark.parametrize("f, int64", INT64_OPS, ids=[f.__name__ for f, _ in INT64_OPS])
@pytest.mark.parametrize("n", [3_000_000, 2 ** 63 - 1, -2 ** 63, 2 ** 40, -7])
def test_ints_wrap_around_in_64_bits_onboth_routes(monkeypatch, f, int64, n):
    """Python's ints are unbounded: the evaluator gave 3_000_000 ** 3 (2.7e19) where compiled code
    wraps around, as NumPy's int64 does (8.55e18)."""
    with np.errstate(all="ignore"):  # wrapping around is the point
        k = int(int64(np.int64(n)))
    for value, (gx, gn) in both_routes(monkeypatch, f, 0.5, n):
        assert (value, gx, gn) == (0.5 * k, float(k), None)


def test_an_int_of_a_float_past_int64_is_numpys_cast_onboth_routes(monkeypatch):
    with np.errstate(all="ignore"):
        ints = [np.float64(v).astype(np.int64) for v in (1e20, np.floor(1e20), np.ceil(-1e20))]
    for value, (gx, _) in both_routes(monkeypatch, truncated, 1e20, 1):
        assert (value, gx) == (1e20 + 0.5 * ints[0] + 0.25 * ints[1] + 0.125 * ints[2], 1.0)


def test_an_int_divided_by_zero_raises_onboth_routes(monkeypatch):
    for interpret in (True, False):
        monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
        monkeypatch.setenv("ZYGOPY_INTERPRET_WHILE_COMPILING", "1" if interpret else "0")
        with pytest.raises(ZeroDivisionError):
            zygopy.withgradient(divided_by, 0.5, -2 ** 63, 0)


def divided_by(x, n, m):
    return x * (n // m)


def to_the_power(x, n):
    k = np.array([2, -1])
    return np.sum(x * k ** n)


def test_an_int_array_to_a_negative_power_raises_onboth_routes(monkeypatch):
    """NumPy raises; compiled code truncated to ints (gradient [0, 1]). A constant exponent is
    refused while compiling (test_array_errors::test_refused_while_compiling)."""
    x = np.array([0.3, 0.4])
    for interpret in (True, False):
        monkeypatch.setattr(tiered, "INTERPRET_ONLY", interpret)
        monkeypatch.setenv("ZYGOPY_INTERPRET_WHILE_COMPILING", "1" if interpret else "0")
        with pytest.raises(ValueError, match="Integers to negative integer powers"):
            zygopy.withgradient(to_the_power, x, -2)
        assert zygopy.withgradient(to_the_power, x, 2) == (pytest.approx(1.6), (
            pytest.approx([4.0, 1.0]), None))


def cubed_sum(x, y):
    return np.sum(x * x * x * y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_gradient_of_a_0d_array_is_a_0d_array_onboth_routes(monkeypatch, dtype):
    """Compiled, it was a Python float (Numba's x * x of a 0-d array is a number), where the
    evaluator gave a 0-d array."""
    x, y = np.array(2.0, dtype), np.ones(3, dtype)
    for value, (gx, gy) in both_routes(monkeypatch, cubed_sum, x, y):
        assert value == 24.0 and gy.dtype == dtype
        assert type(gx) is np.ndarray and gx.shape == () and gx.dtype == dtype and gx == 36.0
    _, back = zygopy.pullback(cubed_sum, x, y)
    gx, _ = back(1.0)
    assert type(gx) is np.ndarray and gx.shape == () and gx.dtype == dtype and gx == 36.0


def power(x, y):
    return x ** y


def math_power(x, y):
    return math.pow(x, y)


@pytest.mark.parametrize("f", [power, math_power])
def test_a_negative_base_to_a_fraction_is_nan_onboth_routes(monkeypatch, f):
    """Python's (-8.0) ** (1 / 3) is a complex number (the evaluator then failed converting it to
    a float) where compiled code gives NaN, as NumPy's power does."""
    with np.errstate(invalid="ignore"):
        assert np.isnan(np.power(-8.0, 1 / 3)) and np.isnan(np.power(-8.0, 1 / 3 - 1))
    for value, (gx, gy) in both_routes(monkeypatch, f, -8.0, 1 / 3):
        # d/dy x ** y is taken as 0 where x <= 0 (log x is undefined there)
        assert math.isnan(value) and math.isnan(gx) and gy == 0.0
        assert type(value) is float and type(gx) is float
    interpreted, compiled_ = both_routes(monkeypatch, f, -8.0, 3.0)  # an integral power
    assert interpreted == compiled_ == (-512.0, (192.0, 0.0))


def constant_past_int64(x):
    k = 3_000_000 ** 3
    return x * k


def constant_complex(x):
    return x * (-8.0) ** (1 / 3)


def test_constants_that_are_no_number_of_ours_are_numpys_onboth_routes(monkeypatch):
    """Folded while compiling, Python's big int and complex constants had no type ("arithmetic on
    a value of type none"); left to run time, CPython folded them again in the generated source
    (Numba: "Int value is too large"; a complex result)."""
    with np.errstate(all="ignore"):
        k = float(np.int64(3_000_000) ** 3)
        assert np.isnan(np.power(-8.0, 1 / 3))
    for value, (gx,) in both_routes(monkeypatch, constant_past_int64, 0.5):
        assert (value, gx) == (0.5 * k, k)
    for value, (gx,) in both_routes(monkeypatch, constant_complex, 0.5):
        assert math.isnan(value) and math.isnan(gx) and type(value) is float


def scaled_sum(x, s):
    y = x + s
    return np.sum(y - x)


@pytest.mark.parametrize("s", [np.float64(1.0), np.int64(1), 1.0], ids=repr)
def test_numpy_scalar_arguments_promote_as_numpy_does(monkeypatch, s):
    """NEP 50: a float32 array plus a np.float64 (or np.int64) is float64, plus a Python float
    float32. np.float64 arguments were typed as Python floats: compiled code computed in
    float32 (0.0 where NumPy gives 2.0), while the evaluator gave NumPy's 2.0."""
    x = np.array([1e8, 3e8], dtype=np.float32)
    want = float(scaled_sum(x, s))
    assert want == (0.0 if type(s) is float else 2.0)
    for value, _ in both_routes(monkeypatch, scaled_sum, x, s):
        assert value == want


def mask_arithmetic(x, m, n):
    return (x[0] * np.mean(m & n) + x[1] * np.mean(x > 0) + np.sum(x * (m + n))
            + np.sum(x * (m * n)))


def test_mask_arithmetic_is_numpys_onboth_routes(monkeypatch):
    """np.mean of a bool expression was Numba's internal error compiled (its sum took no bools);
    m + n of masks is NumPy's logical or, where compiled code added them as ints (2.5 for 2.0)."""
    x = np.array([0.5, -1.0, 2.0])
    m, n = np.array([True, False, True]), np.array([True, True, False])
    for value, (gx, gm, gn) in both_routes(monkeypatch, mask_arithmetic, x, m, n):
        assert value == pytest.approx(float(mask_arithmetic(x, m, n)), rel=1e-15)
        # the analytic gradient: mean(m & n) = 1/3, mean(x > 0) = 2/3, m | n all, m & n the first
        np.testing.assert_allclose(gx, [1 / 3 + 1 + 1, 2 / 3 + 1, 1.0], rtol=1e-15)
        assert gm is None and gn is None


@pytest.mark.parametrize("f", [lambda x, m: np.sum(x * (m - (x < 0))),
                               lambda x, m: np.sum(x * -m)], ids=["m - n", "-m"])
def test_subtracting_or_negating_masks_is_refused_as_numpy_does(f):
    x, m = np.array([0.5, -1.0, 2.0]), np.array([True, False, True])
    with pytest.raises(TypeError):
        f(x, m)
    with pytest.raises(zygopy.UnsupportedType, match="NumPy does not subtract or negate bool"):
        zygopy.gradient(f, x, m)

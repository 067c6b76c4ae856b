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

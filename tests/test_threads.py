"""Gradients computed from several threads at once: each call owns its tape, compiling is safe
from any thread, and every result equals the serial one, itself checked against central
differences of the Python function."""
import importlib.util
import math
import threading
import types
import uuid

import numpy as np
import pytest

import zygopy
import zygopy.api

THREADS = 8
CALLS = 4


@pytest.fixture(autouse=True)
def compiled_only(monkeypatch):
    """Every call runs compiled code (none is interpreted while compiling): that is under test."""
    monkeypatch.setenv("ZYGOPY_INTERPRET_WHILE_COMPILING", "0")


def wavy(x, y, n):
    s = 0.0
    for _ in range(n):
        x = math.sin(x * 1.1 + 0.3 * y)
        if x > 0.5:
            s += x * x
        else:
            s += 0.5 * x
    return s


def diffuse(u0, c, steps):
    """An explicit diffusion stencil written element by element into a buffer, swapped each step."""
    u = u0
    un = np.zeros_like(u0)
    for _ in range(steps):
        for i in range(1, u.shape[0] - 1):
            un[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u, un = un, u
    return np.sum(u * u)


def copy_of(f):
    """A new function object with f's code, over a copy of its globals: zygopy's in-memory cache
    has never seen it (one with f's own globals would share f's compiled code, api.made_before)."""
    return types.FunctionType(f.__code__, dict(f.__globals__), f.__name__, f.__defaults__,
                              f.__closure__)


def central_difference(f, args, h=1e-6):
    """Per float argument (arrays element by element), in float64; None for ints. Each evaluation
    gets fresh copies of the arrays, which f may write into."""
    def at(k, value):
        fresh = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        fresh[k] = value
        return f(*fresh)

    grads = []
    for k, a in enumerate(args):
        if isinstance(a, int):
            grads.append(None)
            continue
        point = np.array(a, dtype=np.float64)
        g = np.zeros_like(point)
        for j in np.ndindex(point.shape):
            step = np.zeros_like(point)
            step[j] = h
            up, down = (p if p.ndim else float(p) for p in (point + step, point - step))
            g[j] = (at(k, up) - at(k, down)) / (2 * h)
        grads.append(g if g.ndim else float(g))
    return tuple(grads)


def assert_same(got, expected, rtol, atol=0.0):
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        if e is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


def in_threads(work, n=THREADS):
    """work(i) in n threads released together by a barrier -> the n results, or the first error."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as e:  # noqa: BLE001 - reported to the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# inputs differ between threads, so a tape shared by two calls would mix their values; trip
# counts differ too, so that some tapes outgrow the initial stacks while threads run
WAVY_INPUTS = [(0.3 + 0.07 * i, 0.9 - 0.05 * i, 500 + 3000 * i) for i in range(THREADS)]
GRID = np.linspace(0.0, math.pi, 24)
DIFFUSE_INPUTS = [(np.sin(GRID * (1 + 0.2 * i)) + 0.1 * i, 0.15 + 0.02 * i, 30 + 8 * i)
                  for i in range(THREADS)]


def serial_then_threads(f, inputs, call):
    """The serial results of call(copy of f, *args) (checked against central differences), then
    the same calls from threads on f, which starts with no compiled state of its own."""
    serial_f = copy_of(f)
    expected = [call(serial_f, *args) for args in inputs]
    for args, e in zip(inputs, expected, strict=True):
        assert_same(e, central_difference(f, args), rtol=1e-6, atol=1e-8)

    def work(i):
        return [call(f, *inputs[(i + k) % len(inputs)]) for k in range(CALLS)]

    for i, got in enumerate(in_threads(work)):
        for k, g in enumerate(got):
            assert_same(g, expected[(i + k) % len(inputs)], rtol=1e-12)


def test_scalar_loop_with_branch_from_threads():
    serial_then_threads(wavy, WAVY_INPUTS, zygopy.gradient)


def test_in_place_stencil_from_threads():
    before = [u.copy() for u, _, _ in DIFFUSE_INPUTS]
    serial_then_threads(diffuse, DIFFUSE_INPUTS, zygopy.gradient)
    for (u, _, _), b in zip(DIFFUSE_INPUTS, before, strict=True):
        np.testing.assert_array_equal(u, b)  # the callers' arrays are left as they were


def pulled_back(f, *args):
    """The gradient through pullback, with back called twice (for a function that writes into
    arrays, the second call replays the forward): back(2.5) must be 2.5 times back(1.0)."""
    _, back = zygopy.pullback(f, *args)
    scaled, plain = back(2.5), back(1.0)
    assert_same(scaled, [None if p is None else 2.5 * p for p in plain], rtol=1e-12)
    return plain


@pytest.mark.parametrize("f, inputs", [(wavy, WAVY_INPUTS), (diffuse, DIFFUSE_INPUTS)],
                         ids=["scalar_loop", "stencil"])
def test_pullback_from_threads(f, inputs):
    serial_then_threads(f, inputs, pulled_back)


@pytest.mark.parametrize("f, args", [(wavy, WAVY_INPUTS[2]), (diffuse, DIFFUSE_INPUTS[2])],
                         ids=["scalar_loop", "stencil"])
def test_one_pullback_called_from_threads(f, args):
    expected = central_difference(f, args)
    _, back = zygopy.pullback(f, *args)
    for i, got in enumerate(in_threads(lambda i: back(1.0 + i))):
        assert_same(got, [None if e is None else (1.0 + i) * e for e in expected],
                    rtol=1e-6, atol=1e-8)


def brand_new_function(folder):
    """A function no process has compiled before (its source holds a fresh constant), in a module
    file of its own. -> (the function, its constant k); f(x, n) = sum of sin(k x + i), i < n"""
    k = 1.0 + uuid.uuid4().int % 10**6 / 10**6
    path = folder / f"fresh_{uuid.uuid4().hex}.py"
    path.write_text("import math\n\n\ndef fresh(x, n):\n    s = 0.0\n    for i in range(n):\n"
                    f"        s += math.sin({k!r} * x + i)\n    return s\n")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fresh, k


def test_first_calls_race(tmp_path, monkeypatch):
    monkeypatch.setenv("ZYGOPY_CACHE_DIR", str(tmp_path / "cache"))
    fresh, k = brand_new_function(tmp_path)
    built = []

    build = zygopy.api.gradient_program

    def counted(pyfn, *rest, **options):
        built.append(pyfn)
        return build(pyfn, *rest, **options)

    monkeypatch.setattr(zygopy.api, "gradient_program", counted)
    # half the threads share one function object (one compilation, the others wait for it), half
    # have one of their own (the same generated module, built by whichever thread comes first)
    fs = [fresh if i % 2 == 0 else copy_of(fresh) for i in range(THREADS)]
    x, trips = 0.4, [1500 + 100 * i for i in range(THREADS)]
    results = in_threads(lambda i: zygopy.gradient(fs[i], x, trips[i]))
    for n, (dx, dn) in zip(trips, results, strict=True):
        assert dn is None
        assert dx == pytest.approx(sum(k * math.cos(k * x + i) for i in range(n)), rel=1e-10)
    assert sum(f is fresh for f in built) == 1

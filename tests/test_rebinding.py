"""Code that changes while a program runs, as in a notebook or under IPython's autoreload: a cell
run again rebinds the functions and objects it defines, a method is patched, a decorator wraps a
function, a module's file is edited. zygopy compiles what the function runs now, never what it ran
when first compiled (ir/captured.py records what the code was built from, by identity), and
refuses a source file that no longer matches its function. Each result is checked against the
analytic derivative of what Python computes at that moment.
"""
import functools
import importlib
import importlib.util
import math
import sys
import textwrap

import numpy as np
import pytest

import zygopy


def activation(x):
    return math.sin(x)


def uses_activation(x):
    return 2.0 * activation(x)


def test_a_global_function_rebound(monkeypatch):
    assert zygopy.gradient(uses_activation, 1.0)[0] == pytest.approx(2.0 * math.cos(1.0))
    monkeypatch.setitem(globals(), "activation", math.cos)  # a builtin in a user's global
    value, (g,) = zygopy.withgradient(uses_activation, 1.0)
    assert (value, g) == pytest.approx((2.0 * math.cos(1.0), -2.0 * math.sin(1.0)))


class Scale:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return self.w * x


model = Scale(np.array([1.0, 2.0]))


def loss_of_the_global_model(x):
    return np.sum(model.w * x * x)


def test_a_global_object_rebound(monkeypatch):
    x = np.array([3.0, 4.0])
    _, (g,) = zygopy.withgradient(loss_of_the_global_model, x)
    assert g == pytest.approx(2.0 * np.array([1.0, 2.0]) * x)
    monkeypatch.setitem(globals(), "model", Scale(np.array([5.0, 7.0])))
    value, (g,) = zygopy.withgradient(loss_of_the_global_model, x)
    assert value == pytest.approx(5.0 * 9.0 + 7.0 * 16.0)
    assert g == pytest.approx(2.0 * np.array([5.0, 7.0]) * x)


class Linear:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return self.w * x


def through_a_layer(layer, x):
    return layer(x) * x


def test_a_method_patched(monkeypatch):
    layer = Linear(2.0)
    assert zygopy.gradient(through_a_layer, layer, 3.0)[1] == pytest.approx(12.0)  # 2 w x
    monkeypatch.setattr(Linear, "__call__", lambda self, x: self.w * x * x)
    value, (_, g) = zygopy.withgradient(through_a_layer, layer, 3.0)
    assert (value, g) == pytest.approx((54.0, 54.0))  # w x^3, 3 w x^2


def test_a_closure_variable_rebound():
    fn = math.sin

    def g(x):
        return 2.0 * fn(x)
    assert zygopy.gradient(g, 1.0)[0] == pytest.approx(2.0 * math.cos(1.0))
    fn = math.cos  # noqa: F841  (read by g, through its cell)
    assert zygopy.gradient(g, 1.0)[0] == pytest.approx(-2.0 * math.sin(1.0))


def power(x, k=2.0):
    return x ** k


def calls_power(x):
    return power(x)


def test_defaults_of_a_called_function_changed(monkeypatch):
    assert zygopy.gradient(calls_power, 1.5)[0] == pytest.approx(3.0)
    monkeypatch.setattr(power, "__defaults__", (3.0,))
    assert zygopy.gradient(calls_power, 1.5)[0] == pytest.approx(3.0 * 1.5 ** 2)


def scaled(x, *, k=2.0):
    return k * x * x


def calls_scaled(x):
    return scaled(x)


def test_keyword_defaults_changed_in_place(monkeypatch):
    assert zygopy.gradient(calls_scaled, 1.5)[0] == pytest.approx(2.0 * 2.0 * 1.5)
    monkeypatch.setitem(scaled.__kwdefaults__, "k", 5.0)  # the same dict, another entry
    assert zygopy.gradient(calls_scaled, 1.5)[0] == pytest.approx(2.0 * 5.0 * 1.5)


def doubled(fn):
    @functools.wraps(fn)
    def wrapper(x):
        return 2.0 * fn(x)
    return wrapper


@doubled
def square_doubled(x):
    return x * x


def test_a_function_wrapped_by_a_decorator():
    # functools.wraps sets __wrapped__, which inspect.getsource follows to the inner function
    value, (g,) = zygopy.withgradient(square_doubled, 3.0)
    assert (value, g) == pytest.approx((18.0, 12.0))


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path, source):
    path.write_text(textwrap.dedent(source))
    importlib.invalidate_caches()


def test_code_swapped_in_place_as_autoreload_does(tmp_path):
    path = tmp_path / "swapped.py"
    _write(path, """
        import math
        def loss(x):
            return math.sin(x)
    """)
    loss = _load(path, "swapped").loss
    assert zygopy.gradient(loss, 1.0)[0] == pytest.approx(math.cos(1.0))
    _write(path, """
        def loss(x):
            return 3.0 * x * x
    """)
    loss.__code__ = _load(path, "swapped_again").loss.__code__  # autoreload's update_function
    value, (g,) = zygopy.withgradient(loss, 1.0)
    assert (value, g) == pytest.approx((3.0, 6.0))


def test_a_source_file_edited_without_a_reload(tmp_path, monkeypatch):
    path = tmp_path / "edited.py"
    _write(path, """
        import math
        def loss(x):
            return math.sin(x)
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("edited")
    _write(path, """
        def helper(x):
            return 100.0 * x

        def loss(x):
            return x
    """)
    with pytest.raises(zygopy.ZygopyError, match="no longer holds 'loss'") as info:
        zygopy.gradient(module.loss, 1.0)
    assert info.value.filename == str(path)
    module = importlib.reload(module)
    assert zygopy.gradient(module.loss, 1.0)[0] == pytest.approx(1.0)
    sys.modules.pop("edited", None)


@zygopy.custom_rule
def square(x):
    return x * x


@square.pullback
def _(g, y, x):
    return (2.0 * g * x,)


def uses_square(x):
    return square(x) + x


def test_a_custom_rule_given_a_new_pullback():
    assert zygopy.gradient(uses_square, 3.0)[0] == pytest.approx(7.0)

    @square.pullback
    def _(g, y, x):  # deliberately not the derivative: which pullback runs must show
        return (10.0 * g * x,)
    try:
        assert zygopy.gradient(uses_square, 3.0)[0] == pytest.approx(31.0)
    finally:
        @square.pullback
        def _(g, y, x):
            return (2.0 * g * x,)
    assert zygopy.gradient(uses_square, 3.0)[0] == pytest.approx(7.0)

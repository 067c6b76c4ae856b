"""Compilation units (zygopy/units.py): a method called on a structured value is compiled on its
own and shared by every caller. Gradients through units against central finite differences
(float64), on the evaluator and on the compiled code; which calls stay inlined; and that a second
model made of the same layer class compiles nothing new for that layer."""
import re

import numpy as np
import pytest

import zygopy
from zygopy import nn
from zygopy.api import compiled
from zygopy.backend.numba_cpu.jit import import_generated
from zygopy.backend.numba_cpu.units import unit_module
from zygopy.errors import ZygopyError
from zygopy.units import called_units

from .nn_support import assert_matches_finite_differences, both_routes, interpreted_gradient


def mse(model, x, y):
    return np.mean((model(x) - y) ** 2)


def mlp(sizes, seed=0):
    r = np.random.default_rng(seed)
    layers = [nn.Dense(a, b, nn.relu, rng=r, dtype=np.float64)
              for a, b in zip(sizes[:-2], sizes[1:-1], strict=True)]
    return nn.Chain(*layers, nn.Dense(sizes[-2], sizes[-1], rng=r, dtype=np.float64))


def data(n_in, n_out, batch=5, seed=1):
    r = np.random.default_rng(seed)
    return r.normal(size=(batch, n_in)), r.normal(size=(batch, n_out))


def unit_calls(fn):
    return [str(s.args[0]) for b in fn.blocks for s in b.stmts if s.op == "unit"]


def test_layers_are_units_and_the_model_calling_them_is_inlined():
    """A unit calls no units (measured: each level of units links and optimises its callees'
    code again, which cost more than it saved): the Chain is inlined, its layers are units."""
    model = mlp([3, 4, 4, 2])
    x, y = data(3, 2)
    assert unit_calls(zygopy.code_ir(mse, model, x, y)) == ["Dense.__call__"] * 3
    adj = zygopy.code_adjoint(mse, model, x, y)
    # two hidden layers of one kind (relu) share one unit; the last (identity) is another
    assert [str(s) for s in called_units(adj.forward, adj.reverse)] == ["Dense.__call__"] * 2


def test_gradient_through_units_on_the_evaluator():
    model = mlp([3, 4, 4, 2], seed=2)
    x, y = data(3, 2, seed=3)
    value, grads = interpreted_gradient(mse, model, x, y)
    assert value == pytest.approx(mse(model, x, y), rel=1e-12)
    assert_matches_finite_differences(mse, (model, x, y), 0, grads[0])
    assert_matches_finite_differences(mse, (model, x, y), 1, grads[1])


def dispatchers(spec):
    module = import_generated(unit_module(spec, common=True)[1])  # code for the common case
    return [module.primal, module.forward, module.pullback]


def test_second_model_compiles_nothing_for_its_layers(monkeypatch, tmp_path):
    """The compiled gradient of one model, then of a second one of other sizes and depth built
    of the same Dense layers: the layers' units are the same code, and none of it compiles
    again (Numba's count of compiled signatures stays as it was). Both gradients against finite
    differences, and an error raised in a unit's code."""
    # an empty cache: a model's code loaded from disk would not compile its layers' code at all
    monkeypatch.setenv("ZYGOPY_CACHE_DIR", str(tmp_path))
    first, (x1, y1) = mlp([3, 4, 2]), data(3, 2)
    second, (x2, y2) = mlp([3, 6, 5, 2], seed=4), data(3, 2, batch=7, seed=5)
    value, grads = zygopy.withgradient(mse, first, x1, y1)
    assert value == pytest.approx(mse(first, x1, y1), rel=1e-12)
    assert_matches_finite_differences(mse, (first, x1, y1), 0, grads[0])
    layers = [s for s in called_units(compiled(mse, (first, x1, y1), None, {}).adjoint.forward)
              if str(s) == "Dense.__call__"]
    assert len(layers) == 2
    compiled_before = {id(d): len(d.overloads) for s in layers for d in dispatchers(s)}
    assert sum(compiled_before.values()) >= 4  # forward and pullback of each, at least
    # an error in a unit's compiled code is reported at the layer's line
    with pytest.raises(ZygopyError) as e:
        zygopy.withgradient(mse, first, *data(5, 2))  # 5 features for 3 inputs
    line = nn.Dense.__call__.__code__.co_firstlineno + 1  # y = x @ self.weight
    assert f'layers.py", line {line}' in str(e.value) and "mismatch" in str(e.value)

    value, grads = zygopy.withgradient(mse, second, x2, y2)
    assert value == pytest.approx(mse(second, x2, y2), rel=1e-12)
    assert_matches_finite_differences(mse, (second, x2, y2), 0, grads[0])
    again = compiled(mse, (second, x2, y2), None, {})
    assert again._fused.overloads  # the second model's own code did compile
    second_layers = [s for s in called_units(again.adjoint.forward) if str(s) == "Dense.__call__"]
    assert set(second_layers) == set(layers)
    assert {id(d): len(d.overloads) for s in layers for d in dispatchers(s)} == compiled_before


class Looping:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        for _ in range(2):
            x = np.tanh(x * self.w)
        return x


class Writing:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        x[0] = 0.0
        return x * self.w


class Pair:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return x * self.w, x + self.w


class Scaled:
    def __init__(self, w):
        self.w = w

    def __call__(self, x, k=2.0):
        return x * self.w * k


def apply(layer, x):
    return np.sum(layer(x))


def apply_pair(layer, x):
    a, b = layer(x)
    return np.sum(a * b)


def repeat(layer, x, n):
    for _ in range(n):
        x = layer(x, 0.5)
    return np.sum(x)


@pytest.mark.parametrize("layer,f,args", [
    (Looping(np.full(3, 0.5)), apply, ()),    # a loop in the method
    (Writing(np.full(3, 0.5)), apply, ()),    # a write into its argument
    (Pair(np.full(3, 0.5)), apply_pair, ()),  # a tuple result
    (Scaled(np.full(3, 0.5)), apply, ()),     # a default left to the method
    (Scaled(np.full(3, 0.5)), repeat, (3,)),  # called in a loop of the caller
])
def test_calls_that_do_not_fit_are_inlined(layer, f, args):
    x = np.array([0.3, -0.2, 0.7])
    assert unit_calls(zygopy.code_ir(f, layer, x, *args)) == []
    value, grads = interpreted_gradient(f, layer, x.copy(), *args)
    assert value == pytest.approx(f(layer, x.copy(), *args), rel=1e-12)
    assert_matches_finite_differences(lambda m, v: f(m, v.copy(), *args), (layer, x), 1,
                                      grads[1])


def scaled(layer, x, k):
    return np.sum(layer(x, k) ** 2)


def test_a_call_with_every_argument_given_is_a_unit():
    """A constant argument (`layer(x, 1.5)`) may decide the method's structure, so only calls
    whose arguments are all run-time values are units."""
    layer, x, k = Scaled(np.full(3, 0.5)), np.array([0.3, -0.2, 0.7]), 1.5
    assert unit_calls(zygopy.code_ir(scaled, layer, x, k)) == ["Scaled.__call__"]
    value, grads = interpreted_gradient(scaled, layer, x, k)
    assert value == pytest.approx(scaled(layer, x, k), rel=1e-12)
    assert_matches_finite_differences(scaled, (layer, x, k), 0, grads[0])
    assert_matches_finite_differences(scaled, (layer, x, k), 1, grads[1])
    h = 1e-6
    assert grads[2] == pytest.approx((scaled(layer, x, k + h) - scaled(layer, x, k - h)) / (2 * h),
                                     rel=1e-7)


class Squashed:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return np.sin(x * self.w)


def squashed(layer, x):
    return np.sum(layer(x))


def test_a_replaced_rule_reaches_the_units_compiled_before(monkeypatch):
    from zygopy.adjoint import rules
    layer, x = Squashed(np.array([0.5, -1.0])), np.array([0.3, 0.8])
    _, (_, dx) = interpreted_gradient(squashed, layer, x)
    np.testing.assert_allclose(dx, np.cos(x * layer.w) * layer.w, rtol=1e-12)
    monkeypatch.setitem(rules.RULES, "sin", rules.RULES["sin"])  # restored after the test
    zygopy.register_rule("sin")(lambda g, y, x: (g * 10.0,))  # deliberately wrong: seen if used
    _, (_, dx) = interpreted_gradient(squashed, layer, x)
    np.testing.assert_allclose(dx, 10.0 * layer.w, rtol=1e-12)


class Affine:
    """A layer without Dense's branch: its pullback starts with the gradient of its output."""

    def __init__(self, weight, bias, activation):
        self.weight, self.bias, self.activation = weight, bias, activation

    def __call__(self, x):
        return self.activation(x @ self.weight + self.bias)


def crossentropy(model, x, y):
    return nn.logitcrossentropy(model(x), y)


def affine_model(dtype, seed=4):
    r = np.random.default_rng(seed)
    return nn.Chain(*[Affine(r.normal(size=(a, b)).astype(dtype), r.normal(size=b).astype(dtype),
                             act) for a, b, act in [(4, 6, nn.relu), (6, 3, nn.identity)]])


def test_a_float32_unit_is_given_a_float32_gradient():
    """logitcrossentropy's max divides its gradient by a count of ties; a float32 model's output
    still gets a float32 gradient, for which the unit's pullback is compiled. Against float64
    central differences of the same model: float32 rounding of these O(1) values stays below
    1e-5, while a wrong gradient is off by O(1)."""
    r = np.random.default_rng(5)
    x, y = r.normal(size=(5, 4)), np.eye(3)[r.integers(0, 3, 5)]
    model32 = affine_model(np.float32)
    grads = zygopy.gradient(crossentropy, model32, x.astype(np.float32), y.astype(np.float32))
    assert unit_calls(zygopy.code_ir(crossentropy, model32, x.astype(np.float32),
                                     y.astype(np.float32))) == ["Affine.__call__"] * 2
    assert all(g.dtype == np.float32 for g in nn.named_arrays(grads[0]).values())
    assert_matches_finite_differences(crossentropy, (affine_model(np.float64), x, y), 0,
                                      grads[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("batch", [5, 1])
def test_the_code_calling_units_knows_their_results_dims(batch):
    """Which dimensions of a unit's result are 1 follows from its IR and its arguments' (ir/
    unit_dims.py): the loss comparing the model's output with y of the same shape has no
    broadcasting branch and sums nothing back; an output of one row against five rows of y is
    summed back over those rows. Gradients against finite differences."""
    model = mlp([3, 4, 2], seed=6)
    x, y = data(3, 2, batch=batch, seed=7)
    y = np.broadcast_to(y, (5, 2)).copy()
    source = zygopy.code_python(mse, model, x, y)
    assert "zy_sum_to" not in source and "nothing broadcast" not in source, source
    value, grads = zygopy.withgradient(mse, model, x, y)
    assert value == pytest.approx(mse(model, x, y), rel=1e-12)
    assert_matches_finite_differences(mse, (model, x, y), 0, grads[0])
    assert_matches_finite_differences(mse, (model, x, y), 1, grads[1])


def test_a_unit_computes_only_the_gradients_its_caller_uses(monkeypatch):
    """Differentiated with respect to the model alone (as nn.train does), the first layer's unit
    computes no gradient of the data: a pullback of its own, with one product (the weight's) where
    the others have two. The model's gradients against central finite differences on both
    routes; the data's gradient is still there when asked for."""
    model = mlp([3, 4, 4, 2], seed=2)  # (no pre-activation at relu's kink: an all-zero row of
    x, y = data(3, 2, seed=3)  # the first layer's output makes the second's equal its zero bias)
    adj = zygopy.code_adjoint(mse, model, x, y, wrt=(0,))
    specs = called_units(adj.forward, adj.reverse)
    products = sorted((tuple(s.wrt), sum(st.op == "matmul" for b in s.adjoint.reverse.blocks
                                         for st in b.stmts)) for s in specs)
    assert products == [((0, 1), 1), ((0, 1, 2), 2), ((0, 1, 2), 2)], products
    for value, grads in both_routes(monkeypatch, mse, model, x, y, wrt=(0,)):
        assert value == pytest.approx(mse(model, x, y), rel=1e-12)
        assert grads[1] is None and grads[2] is None
        assert_matches_finite_differences(mse, (model, x, y), 0, grads[0])
    grads = zygopy.gradient(mse, model, x, y)
    assert_matches_finite_differences(mse, (model, x, y), 1, grads[1])



def test_a_gradient_added_up_in_one_block_is_a_value_not_zeros_added_into(monkeypatch):
    """The reverse of a loss that checks its operands' shapes (and raises) branches, and every
    array gradient's zeros were made at the pullback's entry, so a gradient whose contributions
    and read lie after the branch stayed zeros plus its contributions (two passes over each
    array, and an allocation): the weights', biases' and hidden values' of every layer of an
    MLP. They are values now (adjoint/forwarding.py). Gradients against central finite
    differences, compiled and interpreted."""
    model = mlp([3, 4, 4, 2], seed=2)
    x, y = data(3, 2, seed=3)
    y = np.eye(2)[np.argmax(y, axis=1)]
    source = zygopy.code_python(crossentropy, model, x, y, wrt=(0,))
    pullback = source.split("def crossentropy_pullback")[1].split("\n\n\n")[0]
    assert not re.search(r"d_model_\w+ (\+=|= zy_zeros\(v)", pullback), pullback
    assert "zy_zeros(v" in pullback  # the logits' gradient, added into on one side of the branch
    # the parts of a unit's pullback are its own arrays, handed on without a copy
    reverse = zygopy.code_adjoint(crossentropy, model, x, y, wrt=(0,)).reverse
    assert not [s for b in reverse.blocks for s in b.stmts if s.op == "copy"], reverse
    for value, grads in both_routes(monkeypatch, crossentropy, model, x, y, wrt=(0,)):
        assert value == pytest.approx(crossentropy(model, x, y), rel=1e-12)
        assert_matches_finite_differences(crossentropy, (model, x, y), 0, grads[0])


class Shift:
    def __init__(self, b):
        self.b = b

    def __call__(self, x):
        return x + self.b


WEIGHTS = np.arange(6.0).reshape(2, 3)


def shifted(layer, x):
    return np.sum(layer(x) * WEIGHTS)


def test_gradients_a_unit_hands_on_are_arrays_of_their_own(monkeypatch):
    """`x + self.b` with nothing broadcast: the unit's pullback returned one array (sum_to hands
    its operand on) as the gradients of both, and the user's dx and db shared memory, so that
    writing into one changed the other. Both are WEIGHTS (the analytic gradient), each its own."""
    layer, x = Shift(np.ones((2, 3))), np.zeros((2, 3))
    for _, (dlayer, dx) in both_routes(monkeypatch, shifted, layer, x):
        np.testing.assert_array_equal(dlayer.b, WEIGHTS)
        np.testing.assert_array_equal(dx, WEIGHTS)
        assert not np.shares_memory(dlayer.b, dx)

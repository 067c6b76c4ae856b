"""Gradients with respect to structured arguments come back in the same structure.

Tuples, lists, namedtuples, dicts with string keys, dataclasses and plain objects whose fields are
arrays or floats, nested; methods and __call__ compiled; a loop over a tuple of layers of different
classes. Each test checks the gradient's structure (the same container types all the way down, None
for ints and static fields such as functions and strings) and its values against central finite
differences of the plain Python function, leaf by leaf and element by element (float64, h = 1e-6 *
max(1, |x|), rtol = 1e-5, atol = 1e-7: the same justification as in test_array_gradients.py; the
functions here keep |f| below ~10).

The finite differences walk the arguments with this file's own tree code (not zygopy's), and rebuild
perturbed copies, so the caller's values are never touched.
"""
import copy
import dataclasses
from collections import namedtuple
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

import zygopy

RTOL, ATOL = 1e-5, 1e-7


# ---- an independent tree walker for finite differences -----------------------------------------

def children(v):
    """(key, child) pairs of a container, or None for a leaf/static value."""
    if isinstance(v, (tuple, list)):
        return list(enumerate(v))
    if isinstance(v, dict):
        return list(v.items())
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        # its fields, then what is set on the object beside them (as `v.name` finds it)
        names = [f.name for f in dataclasses.fields(v)]
        names += [k for k in getattr(v, "__dict__", ()) if k not in names]
        return [(k, getattr(v, k)) for k in names]
    if type(v).__module__ == __name__:  # the plain classes of this file
        return list(vars(v).items())
    return None


def paths(v, prefix=()):
    """Every leaf's path (a tuple of keys) with the leaf."""
    kids = children(v)
    if kids is None:
        yield prefix, v
        return
    for k, c in kids:
        yield from paths(c, prefix + (k,))


def get_at(v, path):
    for k in path:
        v = v[k] if isinstance(v, (tuple, list, dict)) else getattr(v, k)
    return v


def replace_at(v, path, new):
    if not path:
        return new
    k, rest = path[0], path[1:]
    if isinstance(v, dict):
        return {**v, k: replace_at(v[k], rest, new)}
    if isinstance(v, list):
        out = list(v)
        out[k] = replace_at(v[k], rest, new)
        return out
    if isinstance(v, tuple):
        items = list(v)
        items[k] = replace_at(v[k], rest, new)
        return type(v)(*items) if hasattr(v, "_fields") else tuple(items)
    out = copy.copy(v)
    object.__setattr__(out, k, replace_at(getattr(v, k), rest, new))
    return out


def is_float_leaf(x):
    return isinstance(x, float) or (isinstance(x, np.ndarray) and x.dtype.kind == "f")


def finite_difference(f, args, i, path):
    """d f / d (the leaf at `path` of argument i), element by element."""
    leaf = get_at(args[i], path)

    def at(x):
        b = list(args)
        b[i] = replace_at(args[i], path, x)
        return float(f(*b))

    if isinstance(leaf, float):
        h = 1e-6 * max(1.0, abs(leaf))
        return (at(leaf + h) - at(leaf - h)) / (2.0 * h)
    g = np.empty(leaf.shape)
    for k in np.ndindex(leaf.shape):
        h = 1e-6 * max(1.0, abs(leaf[k]))
        up, down = leaf.copy(), leaf.copy()
        up[k] += h
        down[k] -= h
        g[k] = (at(up) - at(down)) / (2.0 * h)
    return g


def check_same_structure(grad, arg, where):
    """The gradient has arg's container types all the way down; None where arg holds no float."""
    kids = children(arg)
    if kids is None:
        if is_float_leaf(arg):
            assert grad is not None, f"{where}: no gradient for a float leaf"
            if isinstance(arg, np.ndarray):
                assert (isinstance(grad, np.ndarray) and grad.shape == arg.shape
                        and grad.dtype == arg.dtype), \
                    f"{where}: gradient {grad!r} for an array of shape {arg.shape}"
            else:
                assert isinstance(grad, float), f"{where}: gradient {grad!r} for a float"
        else:
            assert grad is None, f"{where}: {type(arg).__name__} {arg!r} got the gradient {grad!r}"
        return
    assert type(grad) is type(arg), (f"{where}: a {type(arg).__name__} got a gradient of type "
                                     f"{type(grad).__name__}")
    for k, c in kids:
        check_same_structure(get_at(grad, (k,)), c,
                             f"{where}.{k}" if isinstance(k, str) else f"{where}[{k}]")


def check_gradient(f, args, grads):
    assert isinstance(grads, tuple) and len(grads) == len(args)
    for i, (a, g) in enumerate(zip(args, grads, strict=True)):
        check_same_structure(g, a, f"argument {i}")
        for path, leaf in paths(a):
            if not is_float_leaf(leaf):
                continue
            expected = finite_difference(f, args, i, path)
            got = np.asarray(get_at(g, path), dtype=np.float64)
            assert np.allclose(got, expected, rtol=RTOL, atol=ATOL), \
                f"argument {i} at {path}: zygopy {got!r}, finite differences {expected!r}"


def check_all_routes(f, *args):
    """Fused gradient, and a pullback called twice; the arguments are left unchanged."""
    before = copy.deepcopy(args)
    value, grads = zygopy.withgradient(f, *args)
    assert value == pytest.approx(float(f(*args)), rel=1e-12, abs=1e-12)
    check_gradient(f, args, grads)
    value, back = zygopy.pullback(f, *args)
    first, second = back(1.0), back(1.0)
    check_gradient(f, args, first)
    assert all(np.array_equal(get_at(x, p), get_at(y, p))
               for x, y, a in zip(first, second, args, strict=True)
               for p, leaf in paths(a) if is_float_leaf(leaf)), "pullback is not repeatable"
    for a, b in zip(args, before, strict=True):
        for p, leaf in paths(b):
            if isinstance(leaf, np.ndarray):
                assert np.array_equal(get_at(a, p), leaf), f"the argument changed at {p}"
    return grads


def rand(*shape, seed=0, lo=-1.0, hi=1.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


# ---- each kind of structure -------------------------------------------------------------------

def tuple_loss(p, x):
    w, b, s = p
    return np.sum(np.tanh(w @ x + b)) * s + p[2] ** 2


def test_tuple():
    p = (rand(2, 3, seed=1), rand(2, seed=2), 0.7)
    g = check_all_routes(tuple_loss, p, rand(3, seed=3))
    assert type(g[0]) is tuple and len(g[0]) == 3


def list_loss(ws, x):
    return np.sum(ws[0] * x) + np.sum(np.sin(ws[1] * ws[0])) + ws[2] * np.sum(x ** 2)


def test_list():
    g = check_all_routes(list_loss, [rand(4, seed=4), rand(4, seed=5), 1.3], rand(4, seed=6))
    assert type(g[0]) is list and len(g[0]) == 3


Params = namedtuple("Params", "w b scale")


def namedtuple_loss(p, x):
    return np.mean((x @ p.w + p.b) ** 2) * p.scale


def test_namedtuple():
    p = Params(rand(3, 2, seed=7), rand(2, seed=8), 0.9)
    g = check_all_routes(namedtuple_loss, p, rand(4, 3, seed=9))
    assert isinstance(g[0], Params) and g[0]._fields == ("w", "b", "scale")


@dataclass
class Linear:
    w: np.ndarray
    b: np.ndarray
    gain: float
    steps: int
    name: str = "linear"


def dataclass_loss(m, x):
    y = x
    for _ in range(m.steps):
        y = np.tanh(m.w * y + m.b) * m.gain
    return np.sum(y ** 2)


def test_dataclass():
    m = Linear(rand(3, seed=10), rand(3, seed=11), 1.2, 3)
    g = check_all_routes(dataclass_loss, m, rand(3, seed=12))
    assert isinstance(g[0], Linear)
    assert g[0].steps is None and g[0].name is None  # an int and a string: no gradient


@dataclass
class Normalised:
    """A dataclass whose __post_init__ computes: its gradient must hold the gradient of each
    field, not what __post_init__ makes of them."""
    v: np.ndarray
    b: float
    scale: float = dataclasses.field(init=False)

    def __post_init__(self):
        self.v = self.v / np.linalg.norm(self.v)
        self.scale = 2.0 * self.b


def normalised_loss(p, x):
    return np.sum(p.v * x) * p.scale + p.b


def test_dataclass_gradient_is_not_rebuilt_through_init():
    p, x = Normalised(np.array([3.0, 4.0]), 0.5), np.array([1.0, 2.0])
    (g, _) = zygopy.gradient(normalised_loss, p, x)
    # analytic: d/dv = x * scale, d/dscale = v . x, d/db = 1
    np.testing.assert_allclose(g.v, x * 1.0, rtol=1e-14)
    assert g.scale == pytest.approx(0.6 * 1.0 + 0.8 * 2.0) and g.b == pytest.approx(1.0)


@dataclass
class Shadowed:
    """A class attribute that an instance may shadow: not a field, still the object's own."""
    w: np.ndarray
    scale = 1.0

    def __call__(self, x):
        return np.sum(np.tanh(self.w * x)) * self.scale


def call_loss(m, x):
    return m(x)


def test_dataclass_instance_attribute_shadowing_a_class_attribute():
    shadowed = Shadowed(np.array([0.3, -0.2]))
    shadowed.scale = 3.0
    # the class's value then the instance's, each twice (the second meeting reads by written code)
    for m in (Shadowed(np.array([0.5, 0.1])),) * 2 + (shadowed,) * 2 + (Shadowed(rand(2)),):
        g = check_all_routes(call_loss, m, 0.7)
        assert ("scale" in vars(g[0])) == ("scale" in vars(m))


@dataclass
class Repeated:
    w: np.ndarray
    k: ClassVar[int] = 1

    def __post_init__(self):
        self.k = 3


def classvar_loss(m, x):
    return np.sum(np.tanh(m.w * x)) * m.k


def test_dataclass_classvar_set_in_post_init():
    g = check_all_routes(classvar_loss, Repeated(np.array([0.3, -0.2])), 0.7)
    assert g[0].k is None  # an int: no gradient


@dataclass
class Base:
    a: float


class Derived(Base):
    """A plain subclass of a dataclass: its own attribute is no field."""
    b = 0.0

    def __init__(self, a, b):
        super().__init__(a)
        self.b = b


def derived_loss(m, x):
    return m.a * x + np.sum(m.b * x)


def test_plain_subclass_of_a_dataclass_sets_its_own_attribute():
    m = Derived(1.5, np.array([10.0, 20.0]))
    g = check_all_routes(derived_loss, m, 1.1)
    np.testing.assert_allclose(g[0].b, [1.1, 1.1], rtol=1e-14)  # its gradient, not the parameter


class Leaky:
    def __init__(self, w):
        self.w = w

    @staticmethod
    def act(x, slope=0.1):
        return np.where(x > 0.0, x, slope * x)

    def __call__(self, x):
        return self.act(x * self.w)  # a staticmethod through self: not given the object


def leaky_loss(m, x):
    return np.sum(m(x) ** 2)


def test_staticmethod_called_through_the_object():
    m, x = Leaky(np.array([1.0, -2.0])), np.array([0.5, 1.5])
    value, (g, gx) = zygopy.withgradient(leaky_loss, m, x)
    assert value == pytest.approx(leaky_loss(m, x))
    # d/dw (a(x w))^2 = 2 a(x w) a'(x w) x, a' = 1 above 0 and 0.1 below
    np.testing.assert_allclose(g.w, [2 * 0.5 * 0.5, 2 * (-0.3) * 0.1 * 1.5], rtol=1e-14)
    np.testing.assert_allclose(gx, [2 * 0.5 * 1.0, 2 * (-0.3) * 0.1 * -2.0], rtol=1e-14)


class Affine:
    def __init__(self, a, c, label):
        self.a = a
        self.c = c
        self.label = label  # static: no gradient
        self.offset = 2  # int: no gradient

    def apply(self, x):
        return self.a * x + self.c + self.offset

    def energy(self, x):
        return np.sum(self.apply(x) ** 2)


def object_loss(obj, x):
    return obj.energy(x) + np.sum(obj.apply(x * 0.5))  # method calls obj.method(x)


def test_plain_object_and_method_calls():
    obj = Affine(rand(5, seed=13), 0.3, "affine")
    g = check_all_routes(object_loss, obj, rand(5, seed=14))
    assert isinstance(g[0], Affine) and g[0].label is None and g[0].offset is None


Pair = namedtuple("Pair", "u v")


def tuple_of_namedtuples_loss(pairs, x):
    total = 0.0
    for p in pairs:
        total = total + np.sum(p.u * x) * np.sum(p.v ** 2)
    return total + np.sum(pairs[0].u * pairs[1].v)


def test_tuple_of_namedtuples():
    pairs = (Pair(rand(3, seed=15), rand(3, seed=16)), Pair(rand(3, seed=17), rand(3, seed=18)))
    g = check_all_routes(tuple_of_namedtuples_loss, pairs, rand(3, seed=19))
    assert type(g[0]) is tuple and all(isinstance(p, Pair) for p in g[0])


class Node:
    def __init__(self, weight, bias):
        self.weight = weight
        self.bias = bias


class Graph:
    def __init__(self, nodes, scale):
        self.nodes = nodes  # a list of objects
        self.scale = scale


def object_of_list_of_objects_loss(g, x):
    y = x
    for n in g.nodes:
        y = np.sin(n.weight * y + n.bias)
    return np.sum(y) * g.scale


def test_object_holding_a_list_of_objects():
    graph = Graph([Node(rand(4, seed=20), 0.1), Node(rand(4, seed=21), -0.2),
                   Node(rand(4, seed=22), 0.3)], 1.5)
    g = check_all_routes(object_of_list_of_objects_loss, graph, rand(4, seed=23))
    assert isinstance(g[0], Graph) and type(g[0].nodes) is list and len(g[0].nodes) == 3
    assert all(isinstance(n, Node) for n in g[0].nodes)


class Optional:
    """A layer whose bias may be None: `is None` is decided while compiling."""

    def __init__(self, weight, bias=None):
        self.weight, self.bias = weight, bias

    def __call__(self, x):
        y = x @ self.weight
        if self.bias is not None:
            y = y + self.bias
        if self.bias is None:
            y = y * 2.0
        return y


def optional_loss(layer, x):
    return np.sum(np.tanh(layer(x)))


def test_is_none_on_an_attribute():
    x = rand(3, 4, seed=24)
    g = check_all_routes(optional_loss, Optional(rand(4, 2, seed=25), rand(2, seed=26)), x)
    assert g[0].bias.shape == (2,)
    g = check_all_routes(optional_loss, Optional(rand(4, 2, seed=25)), x)
    assert g[0].bias is None


Inner = namedtuple("Inner", "a b")


@dataclass
class Outer:
    inner: Inner
    items: list
    k: float


def deeply_nested_loss(o, t):
    x, (y, z) = t
    return (np.sum(o.inner.a * x) + np.sum(o.inner.b[0] * o.items[1][0]) * o.k + y * z
            + np.sum(o.items[0] ** 2))


def test_deep_nesting():
    o = Outer(Inner(rand(3, seed=24), (rand(2, seed=25), 4)),
              [rand(3, seed=26), (rand(2, seed=27),)], 0.6)
    t = (rand(3, seed=28), (0.4, 1.1))
    g = check_all_routes(deeply_nested_loss, o, t)
    assert isinstance(g[0], Outer) and isinstance(g[0].inner, Inner) and g[0].inner.b[1] is None


# ---- dicts of parameters (the JAX habit) ---------------------------------------------------------

def dict_mlp(params, x):
    h = np.tanh(x @ params["W1"] + params["b1"])
    return np.mean((h @ params["W2"] + params["b2"]) ** 2) * params["scale"] + params["n"] * 0.0


def dict_params(seed=50):
    return {"W1": rand(3, 4, seed=seed), "b1": rand(4, seed=seed + 1),
            "W2": rand(4, 2, seed=seed + 2), "b2": rand(2, seed=seed + 3), "scale": 0.7, "n": 3}


def test_dict_of_parameters():
    g = check_all_routes(dict_mlp, dict_params(), rand(5, 3, seed=49))
    assert type(g[0]) is dict and list(g[0]) == ["W1", "b1", "W2", "b2", "scale", "n"]
    assert g[0]["n"] is None  # an int: no gradient


def dict_iteration_loss(params, x):
    s = 0.0
    for name, w in params.items():
        s = s + np.sum(np.sin(w * x)) * params[name][0]
    for w in params.values():
        s = s + np.sum(w ** 2)
    for i, name in enumerate(params):
        s = s + (i + 1) * np.sum(params[name] * x)
    for name in params.keys():
        s = s + params[name][1]
    return s * len(params)


def test_dict_iteration_is_unrolled_over_its_keys():
    params = {"u": rand(3, seed=51), "v": rand(3, seed=52), "w": rand(3, seed=53)}
    check_all_routes(dict_iteration_loss, params, rand(3, seed=54))


def scaled_sum(d):
    return d["x"] * d["s"]


def dict_literal_loss(p, x):
    d = {"x": np.sum(p["w"] * x), "s": 2.0}
    config = {"inner": d, "gain": p["g"]}
    return scaled_sum(config["inner"]) * config["gain"] + scaled_sum({"x": x[0], "s": p["g"]})


def nested_dict_loss(model, x):
    s = 0.0
    for layer in model["layers"]:
        x = np.tanh(layer["w"] @ x + layer["b"])
    for _, value in model["heads"].items():
        s = s + np.sum(value * x) * model["weights"][0]
    return s + model["weights"][1] * np.sum(x)


def test_dict_literals_and_dicts_passed_to_functions():
    check_all_routes(dict_literal_loss, {"w": rand(3, seed=55), "g": 0.9}, rand(3, seed=56))


def test_dicts_nested_in_lists_and_tuples_and_the_reverse():
    model = {"layers": [{"w": rand(3, 3, seed=57), "b": rand(3, seed=58)},
                        {"w": rand(2, 3, seed=59), "b": rand(2, seed=60)}],
             "heads": {"a": rand(2, seed=61), "b": rand(2, seed=62)},
             "weights": (0.4, 1.3)}
    g = check_all_routes(nested_dict_loss, model, rand(3, seed=63))
    assert type(g[0]["layers"]) is list and type(g[0]["weights"]) is tuple
    p = Params({"a": rand(2, seed=64)}, (rand(2, seed=65),), 0.5)
    check_all_routes(namedtuple_of_dicts_loss, p, rand(2, seed=66))


def namedtuple_of_dicts_loss(p, x):
    return np.sum(p.w["a"] * x) * p.scale + np.sum(p.b[0] ** 2)


def decayed_loss(params, x, decay):
    """Weight decay on the matrices only, chosen by key while compiling."""
    s = 0.0
    for name, w in params.items():
        if name.startswith("W"):
            x = np.tanh(x @ w)
            s = s + decay * np.sum(w ** 2)
        elif name != "scale" and name not in ("skip", "other"):
            x = x + w
    if "scale" in params and "absent" not in params:
        s = s + params["scale"] * np.sum(x)
    if "absent" in params:
        s = s + params["absent"] * undefined_name  # noqa: F821 (never compiled: no such key)
    return s


def test_dict_keys_tested_while_compiling():
    params = {"W1": rand(2, 3, seed=67), "b1": rand(3, seed=68), "W2": rand(3, 2, seed=69),
              "scale": 1.5}
    check_all_routes(decayed_loss, params, rand(4, 2, seed=70), 0.05)


def dict_missing_key(p):
    return p["nope"] * 2.0


def dict_key_computed(p, i):
    return p[("a", "b")[i]]


def dict_read_as_attributes(p):
    return p.a


def dict_key_as_value(p):
    s = 0.0
    for k in p:
        s = s + k
    return s


def dict_literal_with_computed_keys(x):
    d = {"a" if x > 0 else "b": x}
    return d["a"]


def dict_key_test_computed(p, s):
    t = 0.0
    for k in p:
        if k.startswith("a" if s > 0 else "b"):
            t = t + p[k]
    return t


@pytest.mark.parametrize("f, args, text", [
    (dict_missing_key, ({"a": 1.0},), "the keys of p are 'a'"),
    (dict_key_computed, ({"a": 1.0, "b": 2.0}, 0), "written as a string constant"),
    (dict_read_as_attributes, ({"a": 1.0},), r"read its entries as p\['key'\]"),
    (dict_key_as_value, ({"a": 1.0},), "the dict key 'a' can only index its dict"),
    (dict_literal_with_computed_keys, (1.0,), "string constant keys"),
    (dict_key_test_computed, ({"a": 1.0}, 1.0), "takes string constants only"),
])
def test_dict_errors_name_the_line(f, args, text):
    with pytest.raises(zygopy.UnsupportedType, match=text) as info:
        zygopy.gradient(f, *args)
    assert info.value.filename == __file__
    inner = f in (dict_key_as_value, dict_key_test_computed)
    assert info.value.line == f.__code__.co_firstlineno + (3 if inner else 1)


def test_a_dict_with_other_keys_is_not_a_structure():
    with pytest.raises(zygopy.UnsupportedType, match="type dict"):
        zygopy.gradient(dict_missing_key, {1: 2.0})


# ---- a tiny two-layer model ------------------------------------------------------------------

def softplus(z):
    return np.log(1.0 + np.exp(z))


class Dense:
    def __init__(self, w, b, activation):
        self.w = w
        self.b = b
        self.activation = activation  # a function: static, no gradient

    def __call__(self, x):
        return self.activation(self.w @ x + self.b)


class Scale:
    def __init__(self, s):
        self.s = s

    def __call__(self, x):
        return x * self.s


class Chain:
    def __init__(self, *layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def mse(model, x, y):
    return np.mean((model(x) - y) ** 2)


def make_model():
    return Chain(Dense(rand(4, 3, seed=30), rand(4, seed=31), np.tanh),
                 Scale(rand(4, seed=32, lo=0.5, hi=1.5)),
                 Dense(rand(2, 4, seed=33), rand(2, seed=34), softplus))


def test_two_layer_model():
    model, x, y = make_model(), rand(3, seed=35), rand(2, seed=36)
    g = check_all_routes(mse, model, x, y)
    gm = g[0]
    assert isinstance(gm, Chain) and type(gm.layers) is tuple and len(gm.layers) == 3
    assert [type(layer) for layer in gm.layers] == [Dense, Scale, Dense]
    assert gm.layers[0].activation is None and gm.layers[2].activation is None
    assert gm.layers[0].w.shape == (4, 3) and gm.layers[2].b.shape == (2,)
    # the structure is usable for a gradient step: the loss goes down
    step = Chain(*[Dense(layer.w - 0.1 * gl.w, layer.b - 0.1 * gl.b, layer.activation)
                   if isinstance(layer, Dense) else Scale(layer.s - 0.1 * gl.s)
                   for layer, gl in zip(model.layers, gm.layers, strict=True)])
    assert mse(step, x, y) < mse(model, x, y)


def test_wrt_a_structured_argument_only():
    ws, x = [rand(4, seed=43), rand(4, seed=44), 0.8], rand(4, seed=45)
    gw, gx = zygopy.gradient(list_loss, ws, x, wrt=0)
    assert gx is None and type(gw) is list
    full = zygopy.gradient(list_loss, ws, x)[0]
    for a, b in zip(gw, full, strict=True):
        assert np.array_equal(a, b)


# ---- things that are not (yet) right --------------------------------------------------------

def test_unused_array_leaf_gets_an_array_gradient():
    g = zygopy.gradient(list_unused_loss, [rand(3, seed=45), rand(3, seed=46)])
    check_same_structure(g[0], [rand(3), rand(3)], "argument 0")


def list_unused_loss(ws):
    return np.sum(ws[1] ** 2)


def test_gradient_of_a_bound_method():
    obj = Affine(rand(5, seed=47), 0.3, "affine")
    x = rand(5, seed=48)
    (gx,) = zygopy.gradient(obj.energy, x)
    assert np.allclose(gx, finite_difference(obj.energy, (x,), 0, ()), rtol=RTOL, atol=ATOL)


# ---- lists of layers as users write them: sliced, counted, zipped, reduced ---------------------

def check_evaluator(f, args, grads):
    """The adjoint IR run by the reference interpreter gives the gradients the compiled code
    gave (which check_all_routes compared with finite differences)."""
    from zygopy.ir.evaluate import evaluate_gradient
    from zygopy.trees import flatten
    leaves = [leaf for a in args for leaf in flatten(copy.deepcopy(a))[1]]
    _, got = evaluate_gradient(zygopy.code_adjoint(f, *args), leaves)
    expected = [leaf for g in grads for _, leaf in paths(g)]
    floats = [g for g, leaf in zip(got, leaves, strict=True) if is_float_leaf(leaf)]
    expected = [e for e in expected if e is not None]
    assert len(floats) == len(expected)
    for g, e in zip(floats, expected, strict=True):
        assert np.allclose(g, e, rtol=1e-10, atol=1e-12)


def sliced_pairs_loss(params, x):
    h = x
    for W, b in params[:-1]:
        h = np.tanh(W @ h + b)
    W, b = params[-1]
    return np.sum(W @ h + b) / len(params) + np.sum(params[1][0])


def test_list_of_pairs_sliced_and_counted():
    params = [(rand(3, 2, seed=20), rand(3, seed=21)), (rand(3, 3, seed=22), rand(3, seed=23)),
              (rand(1, 3, seed=24), rand(1, seed=25))]
    args = (params, rand(2, seed=26))
    check_evaluator(sliced_pairs_loss, args, check_all_routes(sliced_pairs_loss, *args))


def zipped_loss(ws, bs, x):
    h = x
    for i, (w, b) in enumerate(zip(ws, bs, strict=True)):
        h = np.tanh(w @ h + b) * (i + 1.0)
    for w in ws[1:]:
        h = h + np.sum(w)
    return np.sum(h) + sum(np.sum(b ** 2) for b in bs) + max(np.sum(w) for w in ws)


def test_zip_enumerate_and_reductions_over_lists():
    ws = [rand(2, 2, seed=30), rand(2, 2, seed=31, lo=0.5, hi=1.5), rand(2, 2, seed=32, hi=0.0)]
    bs = (rand(2, seed=33), rand(2, seed=34), rand(2, seed=35))
    args = (ws, bs, rand(2, seed=36))
    check_evaluator(zipped_loss, args, check_all_routes(zipped_loss, *args))


class TanhLayer:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return np.tanh(self.w @ x)


def layer_list_loss(layers, x):
    ends = [layers[0], layers[-1]]
    total = sum(layer(x) for layer in layers)
    return np.sum(total ** 2) + sum(np.sum(layer(x)) for layer in ends) * len(ends)


def test_list_literal_of_layers_and_sum_of_their_outputs():
    layers = [TanhLayer(rand(3, 3, seed=40 + k)) for k in range(3)]
    args = (layers, rand(3, seed=44))
    check_evaluator(layer_list_loss, args, check_all_routes(layer_list_loss, *args))

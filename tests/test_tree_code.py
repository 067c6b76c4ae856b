"""The code written for one tree shape (zygopy/tree_code.py) gives what the generic walk in
trees.py gives: the same shape and leaves when a value has that shape, and the generic walk's
answer when it no longer has (a list grown, a key or attribute added, a static value replaced,
a leaf turned into a container); structures built from leaves equal trees.unflatten's."""
import dataclasses
from typing import NamedTuple

import numpy as np
import pytest

import zygopy
from zygopy import tree_code, trees

from .nn_support import finite_differences


class Pair(NamedTuple):
    a: object
    b: object


@dataclasses.dataclass
class Box:
    w: object
    scale: float = 2.0


@dataclasses.dataclass(slots=True)
class Slotted:
    w: object


class Unslotted(Slotted):
    """Its field in a slot, what is set beside it in its __dict__."""


class Layer:
    def __init__(self, w, b, act=np.tanh):
        self.w, self.b, self.act = w, b, act


def arr(*shape):
    return np.arange(np.prod(shape), dtype=float).reshape(shape) / 7.0


VALUES = {
    "tuple": lambda: (arr(2), 3.0, (arr(1, 2), 4)),
    "list": lambda: [arr(3), [arr(2), True]],
    "namedtuple": lambda: Pair(arr(2), Pair(1.5, arr(2, 2))),
    "dict": lambda: {"w": arr(2, 3), "inner": {"b": arr(3)}, "n": 2},
    "dataclass": lambda: Box(arr(2)),
    "dataclass in slots": lambda: Unslotted(arr(2)),
    "object": lambda: [Layer(arr(2, 2), arr(2)), Layer(arr(2, 3), None, np.sin)],
    "statics": lambda: ("name", None, np.tanh, {1: "not a structure"}),
}


def generic(value):
    leaves = []
    return trees._flatten(value, leaves, set()), leaves


def flattened_until_written(value):
    """flatten, as often as it takes for code to be written for the value's shape."""
    for _ in range(tree_code.WRITTEN_ON_MEETING + 1):
        node, leaves = trees.flatten(value)
    assert tree_code.reader(node) is not None
    return node, leaves


def same_leaves(a, b):
    assert len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("make", VALUES.values(), ids=VALUES.keys())
def test_written_code_reads_what_the_walk_reads(make):
    value = make()
    node, leaves = flattened_until_written(value)
    expected_node, expected = generic(value)
    assert node == expected_node
    same_leaves(leaves, expected)
    again = make()  # another value (the same shape, but where a static is known by its id)
    node2, leaves2 = trees.flatten(again)
    assert node2 == generic(again)[0]
    same_leaves(leaves2, generic(again)[1])


def grown(v):
    v[1].append(arr(1))


def key_added(v):
    v["inner"]["c"] = arr(1)


def attribute_added(v):
    v[0].extra = arr(2)


def attribute_set_beside_the_fields(v):
    v.extra = 3.0


def static_replaced(v):
    v[1].act = np.cos


def leaf_made_a_container(v):
    v[0].b = (arr(2), arr(2))


def keys_reordered(v):
    v["w"] = v.pop("w")


def dict_keys_made_strings(v):
    d = v[3]
    d.clear()
    d["x"] = arr(2)


CHANGES = [("list", grown), ("dict", key_added), ("object", attribute_added),
           ("dataclass", attribute_set_beside_the_fields),
           ("dataclass in slots", attribute_set_beside_the_fields),
           ("object", static_replaced), ("object", leaf_made_a_container),
           ("dict", keys_reordered), ("statics", dict_keys_made_strings)]


@pytest.mark.parametrize("kind, change", CHANGES, ids=[c.__name__ for _, c in CHANGES])
def test_a_changed_shape_is_walked_again(kind, change):
    value = VALUES[kind]()
    node, _ = flattened_until_written(value)
    change(value)
    expected_node, expected = generic(value)
    assert expected_node != node
    got_node, got = trees.flatten(value)
    assert got_node == expected_node
    same_leaves(got, expected)


@pytest.mark.parametrize("make", VALUES.values(), ids=VALUES.keys())
def test_built_structures_equal_unflattens(make):
    value = make()
    node, leaves = trees.flatten(value)
    new = [np.asarray(x) * 2.0 for x in leaves]
    built = tree_code.builder(node)(new, value)
    expected = trees.unflatten(node, new, value)
    assert type(built) is type(expected)
    assert generic(built)[0] == generic(expected)[0]
    same_leaves(generic(built)[1], generic(expected)[1])
    same_leaves(trees.flatten(value)[1], leaves)  # the original is left as it was


def test_a_built_object_is_a_copy():
    """Of the original's class, its fields the leaves given, statics None; the original as it
    was."""
    layer = Layer(arr(2), arr(2))
    node, leaves = trees.flatten(layer)
    new = [arr(2) + 1.0, arr(2) + 2.0]
    built = tree_code.builder(node)(new, layer)
    assert type(built) is Layer and built is not layer
    assert built.w is new[0] and built.b is new[1] and built.act is None
    assert layer.w is leaves[0] and layer.act is np.tanh


def loss(model, x):
    h = x
    for layer in model:
        h = layer.act(h @ layer.w + layer.b)
    return np.sum(h * h)


def test_gradients_follow_a_model_whose_shape_changes():
    """The same model called repeatedly (its code for the shape written), then with an
    activation swapped and a layer added: each gradient against central differences."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3))
    model = [Layer(rng.standard_normal((3, 3)), rng.standard_normal(3))]
    for step in range(5):
        if step == 3:
            model[0].act = np.sin
        if step == 4:
            model.append(Layer(rng.standard_normal((3, 2)), rng.standard_normal(2), np.cos))
        got = zygopy.gradient(loss, model, x)[1]
        fd = finite_differences(loss, [model, x], 1)[""]
        np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)
        grads = zygopy.gradient(loss, model, x)[0]
        assert len(grads) == len(model) and all(g.act is None for g in grads)


def test_leaves_like_reads_what_the_walk_reads():
    """trees.leaves_like through the code written for the shape: a gradient tree as built, one
    with a layer's gradient None, one with an attribute missing, and leaves that are None."""
    model = VALUES["object"]()
    node, leaves = trees.flatten(model)
    built = tree_code.builder(node)([x * 2.0 for x in leaves], model)
    partial = [built[0], None]
    missing = [Layer(leaves[0], leaves[1]), object.__new__(Layer)]
    nones = [Layer(None, leaves[1]), Layer(leaves[2], None)]
    for value in (built, partial, missing, nones):
        got = trees.leaves_like(node, value)
        expected = trees._leaves_like(node, value)
        assert len(got) == len(expected) and all(a is b for a, b in zip(got, expected, strict=True))

"""Structured arguments as trees: tuples, lists, namedtuples, dicts with string keys, dataclasses
and plain objects whose attributes are arrays or numbers (the leaves), nested freely.

The compiler specialises on a tree's shape (its `Node`, hashable) and works on the flat list of
leaves; gradients come back rebuilt into the same structure. Anything that is neither a
container nor a leaf (a function, a string, None) is *static*: part of the shape, known while
compiling, with no gradient.
"""
from __future__ import annotations

import copy
import dataclasses
import types
from dataclasses import dataclass

import numpy as np

LEAF_TYPES = (bool, int, float, complex, np.ndarray, np.generic)
# objects with a __dict__ that are still not containers of leaves
NOT_CONTAINERS = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType,
                  type, np.ufunc)


@dataclass(frozen=True)
class Node:
    kind: str  # 'leaf', 'static', 'tuple', 'list', 'namedtuple', 'dict', 'dataclass', 'object'
    cls: type | None = None
    keys: tuple = ()  # field names of namedtuples, dataclasses and objects; a dict's keys
    children: tuple = ()
    static: object = None  # the value of a static node

    @property
    def is_sequence(self):
        return self.kind in ("tuple", "list", "namedtuple")


LEAF = Node("leaf")


def _static_key(v):
    try:
        hash(v)
        return v
    except TypeError:
        return ("id", id(v))


def flatten(value):
    """(Node, leaves) of a value; leaves in a fixed depth-first order."""
    leaves = []
    return _flatten(value, leaves, set()), leaves


def _flatten(v, leaves, seen):
    if isinstance(v, LEAF_TYPES):
        leaves.append(v)
        return LEAF
    if id(v) in seen:
        raise ValueError(f"the argument contains itself (a {type(v).__name__} inside itself)")
    seen = seen | {id(v)}
    if isinstance(v, tuple) and hasattr(v, "_fields"):
        return Node("namedtuple", type(v), tuple(v._fields),
                    tuple(_flatten(x, leaves, seen) for x in v))
    if isinstance(v, (tuple, list)):
        return Node(type(v).__name__ if type(v) in (tuple, list) else "tuple", type(v), (),
                    tuple(_flatten(x, leaves, seen) for x in v))
    if is_structure_dict(v):
        keys = tuple(v)
        return Node("dict", type(v), keys, tuple(_flatten(v[k], leaves, seen) for k in keys))
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        keys = tuple(f.name for f in dataclasses.fields(v))
        return Node("dataclass", type(v), keys,
                    tuple(_flatten(getattr(v, k), leaves, seen) for k in keys))
    if isinstance(v, NOT_CONTAINERS) or not hasattr(v, "__dict__"):
        return Node("static", static=_static_key(v))
    keys = tuple(k for k in vars(v) if not k.startswith("__"))
    return Node("object", type(v), keys, tuple(_flatten(getattr(v, k), leaves, seen) for k in keys))


def is_structure_dict(v):
    """A dict whose keys are all strings is a structure (parameters by name); any other dict is
    static."""
    return type(v) is dict and all(isinstance(k, str) for k in v)


def unflatten(node: Node, leaves, original=None):
    """Rebuild a structure of `node`'s shape from leaves (e.g. gradients); statics become None."""
    it = iter(leaves)
    return _unflatten(node, it, original)


def _unflatten(node, it, original):
    def kids():
        return [_unflatten(c, it, _child(original, node, i)) for i, c in enumerate(node.children)]

    if node.kind == "leaf":
        return next(it)
    if node.kind == "static":
        return None
    if node.kind == "tuple":
        return tuple(kids())
    if node.kind == "list":
        return kids()
    if node.kind == "namedtuple":
        return node.cls(*kids())
    if node.kind == "dict":
        return dict(zip(node.keys, kids(), strict=True))
    values = dict(zip(node.keys, kids(), strict=True))
    if node.kind == "dataclass" and original is not None:
        init = {f.name for f in dataclasses.fields(original) if f.init}
        return dataclasses.replace(original, **{k: v for k, v in values.items() if k in init})
    # a plain object: a shallow copy of the original with each field replaced by its gradient
    out = copy.copy(original) if original is not None else object.__new__(node.cls)
    for k, v in values.items():
        object.__setattr__(out, k, v)
    return out


def _child(original, node, i):
    if original is None:
        return None
    if node.is_sequence or node.kind == "list":
        return original[i]
    if node.kind == "dict":
        return original[node.keys[i]]
    return getattr(original, node.keys[i], None)


def leaves_like(node: Node, value):
    """The leaves of `value` at the positions of `node`'s leaves, None where `value` has none
    (a gradient tree holds None for the leaves that get no gradient)."""
    if node.kind == "leaf":
        return [value]
    out = []
    for i, child in enumerate(node.children):
        sub = None if value is None else _child(value, node, i)
        out += leaves_like(child, sub)
    return out

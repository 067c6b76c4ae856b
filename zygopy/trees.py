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
import functools
import types
from typing import NamedTuple

import numpy as np

LEAF_TYPES = (bool, int, float, complex, np.ndarray, np.generic)
# objects with a __dict__ that are still not containers of leaves
NOT_CONTAINERS = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType,
                  type, np.ufunc)


class Node(NamedTuple):
    """A tree's shape. A tuple, so that making, hashing and comparing one (on every call of a
    gradient with a structured argument) runs in C."""
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
    """(Node, leaves) of a value; leaves in a fixed depth-first order. A value of the shape last
    met for its type is read by code written for that shape (tree_code.py)."""
    node = _recent.get(type(value))
    if node is not None:
        read = tree_code.reader(node)
        leaves = read(value) if read is not None else None
        if leaves is not None:
            return node, leaves
    leaves = []
    node = _flatten(value, leaves, set())
    if node.kind not in ("leaf", "static"):
        _recent[type(value)] = node
    return node, leaves


_recent: dict = {}  # type -> the shape of its value flattened last


def _flatten(v, leaves, inside):
    """`inside`: the ids of the containers v is in."""
    if isinstance(v, LEAF_TYPES):
        leaves.append(v)
        return LEAF
    kind = _KINDS.get(type(v)) or _kind_of(type(v))
    if kind == "static" or kind == "object" and not hasattr(v, "__dict__"):
        return Node("static", static=_static_key(v))
    if kind == "dict" and not all(isinstance(k, str) for k in v):
        return Node("static", static=_static_key(v))
    if id(v) in inside:
        raise ValueError(f"the argument contains itself (a {type(v).__name__} inside itself)")
    inside.add(id(v))
    try:
        if kind == "dataclass":
            # its fields, then what is set on the object beside them (a subclass's own attribute,
            # one shadowing a class attribute): `v.name` finds that, not the class's value
            keys = _FIELDS[type(v)]
            keys += tuple(k for k in getattr(v, "__dict__", ()) if k not in keys
                          and not k.startswith("__"))
            values = [getattr(v, k) for k in keys]
        elif kind == "object":
            keys = tuple(k for k in vars(v) if not k.startswith("__"))
            values = [getattr(v, k) for k in keys]
        elif kind == "dict":
            keys, values = tuple(v), v.values()
        else:
            keys, values = v._fields if kind == "namedtuple" else (), v
        children = []
        for x in values:
            if type(x) is np.ndarray:  # the common leaf, without a call
                leaves.append(x)
                children.append(LEAF)
            else:
                children.append(_flatten(x, leaves, inside))
        return Node(kind, type(v), keys, tuple(children))
    finally:
        inside.discard(id(v))


_KINDS: dict = {}  # type -> the kind of Node its values make (a dict's: if its keys are strings)
_FIELDS: dict = {}  # dataclass -> its fields' names


def _kind_of(cls) -> str:
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        kind = "namedtuple"
    elif cls is tuple or cls is list:
        kind = cls.__name__
    elif issubclass(cls, (tuple, list)):
        kind = "tuple"
    elif cls is dict:
        kind = "dict"
    elif dataclasses.is_dataclass(cls):
        kind = "dataclass"
        _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    elif issubclass(cls, NOT_CONTAINERS):
        kind = "static"
    else:
        kind = "object"  # if its values have a __dict__
    _KINDS[cls] = kind
    return kind


def unflatten(node: Node, leaves, original=None):
    """Rebuild a structure of `node`'s shape from leaves (e.g. gradients); statics become None."""
    it = iter(leaves)
    return _unflatten(node, it, original)


def _unflatten(node, it, original):
    kind = node.kind
    if kind == "leaf":
        return next(it)
    if kind == "static":
        return None
    kids = [next(it) if c is LEAF else _unflatten(c, it, _child(original, node, i))
            for i, c in enumerate(node.children)]  # a leaf, the common child, without a call
    if kind == "tuple":
        return tuple(kids)
    if kind == "list":
        return kids
    if kind == "namedtuple":
        return node.cls(*kids)
    if kind == "dict":
        return dict(zip(node.keys, kids, strict=True))
    values = dict(zip(node.keys, kids, strict=True))
    # an object (a dataclass too): a shallow copy of the original with each field replaced by its
    # gradient; never through __init__ or __post_init__, which would compute on the gradients
    if original is None:
        out = object.__new__(node.cls)
    elif _copies_its_dict(type(original)):
        out = type(original).__new__(type(original))
        out.__dict__.update(original.__dict__)
    else:
        out = copy.copy(original)
    for k, v in values.items():
        object.__setattr__(out, k, v)
    return out


@functools.cache
def _copies_its_dict(cls) -> bool:
    """Whether copy.copy of a cls makes a new cls and copies its __dict__ in, as it does for a
    class that changes none of copying's hooks (what copy.copy then does, without its detour
    through __reduce_ex__)."""
    hooks = ("__reduce_ex__", "__reduce__", "__getstate__", "__new__")
    return (not hasattr(cls, "__copy__") and not hasattr(cls, "__setstate__")
            and not hasattr(cls, "__slots__")
            and all(getattr(cls, h) is getattr(object, h) for h in hooks))


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
    found = tree_code.like_reader(node)(value)  # code written for node's shape
    return found if found is not None else _leaves_like(node, value)


def _leaves_like(node: Node, value):
    if node.kind == "leaf":
        return [value]
    out = []
    for i, child in enumerate(node.children):
        sub = None if value is None else _child(value, node, i)
        out += _leaves_like(child, sub)
    return out


from . import tree_code  # noqa: E402  (it builds on this module)

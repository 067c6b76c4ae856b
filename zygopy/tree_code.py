"""Straight-line Python for one tree shape (trees.Node): reading a value's leaves, and building a
structure of that shape from leaves. A model's parameters are flattened and its gradient rebuilt
on every call; walking the tree generically costs ~1 µs a node, the code written for its shape a
fraction of that.

A reader returns None where the value's shape is not the node's, and the caller walks the tree
generically (trees.flatten); it never errs the other way: each container's type, length or keys
and each static value are checked.
"""
from __future__ import annotations

import functools
import inspect
import keyword

import numpy as np

from . import trees

WRITTEN_ON_MEETING = 2  # a shape met once may never recur: code is written on its second meeting
_met: dict = {}  # shape -> how often met, until its code is written
_readers: dict = {}
_like: dict = {}
_builders: dict = {}


def _by_identity(table, node, make):
    """make(node), kept in `table` under id(node) beside the node (which keeps that id from being
    reused): trees.flatten hands back the same Node object, so no tree is hashed per call."""
    found = table.get(id(node))
    if found is None or found[0] is not node:
        if len(table) > 512:  # shapes that keep changing
            table.clear()
        found = table[id(node)] = (node, make(node))
    return found[1]


def reader(node):
    """The function reading the leaves (a list) of a value of this shape, or None for a shape
    not met often enough yet to be worth writing code for."""
    found = _readers.get(id(node))
    if found is not None and found[0] is node:
        return found[1]
    count = _met.get(node, 0) + 1
    if count < WRITTEN_ON_MEETING:
        if len(_met) > 1024:
            _met.clear()
        _met[node] = count
        return None
    _met.pop(node, None)
    return _by_identity(_readers, node, _reader)


def _reader(node):
    return _reading("x0", lambda w: _read(
        w, node, "x0", lambda x: f"type({x}) is ndarray or isinstance({x}, LEAF_TYPES)"))


def _reading(param, body):
    """The function `read(param)` returning the list `body(w)` writes the statements to fill
    (through `append`), or None where they return it."""
    w = _Writer()
    w.line(f"def read({param}):")
    w.line("    out = []")
    w.line("    append = out.append")
    body(w)
    w.line("    return out")
    return w.function("read")


def like_reader(node):
    """The function reading, from a value shaped like node (a gradient tree as zygopy builds it:
    statics None, a leaf None where it has no gradient), the values at node's leaves; None where
    a container is missing, for trees.leaves_like's walk to fill with None."""
    return _by_identity(_like, node, _like_reader)


def _like_reader(node):
    def body(w):
        w.line("    try:")
        _read_like(w, node, "x0")
        w.line("    except (AttributeError, TypeError, KeyError, IndexError):")
        w.line("        return None")
    return _reading("x0", body)


def _read_like(w, node, x):
    if node.kind == "leaf":
        w.line(f"        append({x})")
        return
    if node.kind == "static":
        return
    w.line(f"        if {x} is None: return None")
    for i, child in enumerate(node.children):
        if child.kind == "static":
            continue
        y = w.temp()
        w.line(f"        {y} = {_child(node, x, i)}")
        _read_like(w, child, y)


def call_reader(nodes, kinds, is_kind):
    """The function reading the leaves of a call's arguments (a tuple) of these shapes (a Node
    per argument, None for all leaves) whose leaves have these kinds, as `is_kind(x, kind)`
    (source) tests; None where they differ."""
    def body(w):
        w.line(f"    if len(args) != {len(nodes or kinds)}: return None")
        leaf_kinds = iter(kinds)
        test = lambda x: is_kind(x, next(leaf_kinds), w.const)  # noqa: E731  (leaves in order)
        for i, node in enumerate(nodes or [trees.LEAF] * len(kinds)):
            x = w.temp()
            w.line(f"    {x} = args[{i}]")
            _read(w, node, x, test)
    return _reading("args", body)


def _read(w, node, x, is_leaf, pad="    "):
    """Statements appending the leaves of x, a value of node's shape, or returning None; a leaf
    as `is_leaf(x)` (source) tests."""
    kind = node.kind
    if kind == "leaf":
        w.line(f"{pad}if not ({is_leaf(x)}): return None")
        w.line(f"{pad}append({x})")
        return
    if kind == "static":
        w.line(f"{pad}if {x} is not {w.const(node.static)} and "
               f"node_of({x}) != {w.const(node)}: return None")
        return
    cls = w.const(node.cls)
    n = len(node.children)
    if kind in ("tuple", "list"):
        w.line(f"{pad}if type({x}) is not {cls} or len({x}) != {n}: return None")
    elif kind == "dict":
        w.line(f"{pad}if type({x}) is not dict or tuple({x}) != {w.const(node.keys)}: return None")
    elif kind == "object":
        w.line(f"{pad}if type({x}) is not {cls} or tuple({x}.__dict__) != {w.const(node.keys)}: "
               "return None")
    else:  # namedtuple, dataclass: fields fixed by the class
        w.line(f"{pad}if type({x}) is not {cls}: return None")
        if kind == "dataclass" and node.cls.__dictoffset__:  # and what is set beside them
            w.line(f"{pad}if {x}.__dict__.keys() != {w.const(_in_dict(node))}: return None")
    for i, child in enumerate(node.children):
        y = w.temp()
        w.line(f"{pad}{y} = {_child(node, x, i)}")
        _read(w, child, y, is_leaf, pad)


def _child(node, x, i):
    """Source reading child i of x, a value of node's shape."""
    if node.kind in ("tuple", "list", "namedtuple"):
        return f"{x}[{i}]"
    if node.kind == "dict":
        return f"{x}[{node.keys[i]!r}]"
    key = node.keys[i]
    return f"{x}.{key}" if key.isidentifier() and not keyword.iskeyword(key) \
        else f"getattr({x}, {key!r})"


def _in_dict(node):
    """The keys of the __dict__ of a dataclass of node's shape: its attributes (trees._flatten)
    but the fields its class keeps elsewhere (slots, a descriptor field)."""
    fields = trees._FIELDS[node.cls]
    return {k for k in node.keys if k not in fields
            or not hasattr(inspect.getattr_static(node.cls, k, None), "__set__")}


def builder(node):
    """The function building a structure of node's shape from its leaves (a list, in flatten's
    order) and the value they came from (trees.unflatten's result for them)."""
    return _by_identity(_builders, node, _builder)


@functools.lru_cache(maxsize=256)
def _builder(node):
    w = _Writer()
    w.line("def build(leaves, x0):")
    positions = iter(range(_count(node)))
    w.line(f"    return {_build(w, node, 'x0', lambda: f'leaves[{next(positions)}]')}")
    return w.function("build")


def call_builder(nodes, count, wrt, wrt_leaves):
    """The function building, from the gradients of the leaves at `wrt_leaves` (among `count`)
    and the call's arguments, per argument its gradient in its structure (`nodes` as for
    call_reader); None for the arguments not in `wrt` and the leaves without one."""
    w = _Writer()
    w.line("def build(grads, args):")
    at = {leaf: k for k, leaf in enumerate(wrt_leaves)}
    positions = iter(range(count))

    def leaf():
        p = next(positions)
        return f"grads[{at[p]}]" if p in at else "None"
    out = []
    for i, node in enumerate(nodes or [trees.LEAF] * count):
        if i not in wrt:
            out.append("None")
            for _ in range(_count(node)):
                next(positions)
            continue
        x = w.temp()
        w.line(f"    {x} = args[{i}]")
        out.append(_build(w, node, x, leaf))
    w.line(f"    return ({''.join(v + ', ' for v in out)})")
    return w.function("build")


def _count(node):
    return 1 if node.kind == "leaf" else sum(map(_count, node.children))


def _build(w, node, x, leaf):
    """An expression building node's structure, x its original; `leaf()` gives the expression
    of each leaf in turn."""
    kind = node.kind
    if kind == "leaf":
        return leaf()
    if kind == "static":
        return "None"
    if kind in ("dataclass", "object") and not _copied_plainly(node):
        leaves = [leaf() for _ in range(_count(node))]
        return f"unflatten({w.const(node)}, [{', '.join(leaves)}], {x})"
    kids = []
    for i, child in enumerate(node.children):
        if child.kind in ("leaf", "static"):  # no original needed
            kids.append(_build(w, child, None, leaf))
            continue
        y = w.temp()
        w.line(f"    {y} = {_child(node, x, i)}")
        kids.append(_build(w, child, y, leaf))
    if kind == "list":
        return f"[{', '.join(kids)}]"
    if kind == "tuple":  # a tuple, as trees.unflatten gives for tuple subclasses too
        return f"({''.join(k + ', ' for k in kids)})"
    if kind == "namedtuple":
        return f"{w.const(node.cls)}({', '.join(kids)})"
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(node.keys, kids, strict=True)) + "}"
    out = w.temp()  # an object: a copy of x with its fields replaced
    cls = w.const(node.cls)
    w.line(f"    {out} = {cls}.__new__({cls})")
    w.line(f"    {out}.__dict__.update({x}.__dict__)")
    w.line(f"    {out}.__dict__.update({{"
           + ", ".join(f"{k!r}: {v}" for k, v in zip(node.keys, kids, strict=True)) + "})")
    return out


def _copied_plainly(node) -> bool:
    """Whether trees.unflatten copies an object of this node by its __dict__ and sets its fields
    there (no descriptor of the class intercepts them)."""
    cls = node.cls
    return node.kind in ("object", "dataclass") and trees._copies_its_dict(cls) and not any(
        hasattr(getattr(cls, k, None), "__set__") for k in node.keys)


class _Writer:
    def __init__(self):
        self.lines, self.names, self.count = [], {"ndarray": np.ndarray,
                                                  "LEAF_TYPES": trees.LEAF_TYPES,
                                                  "node_of": _node_of,
                                                  "unflatten": trees.unflatten}, 0

    def line(self, text):
        self.lines.append(text)

    def temp(self):
        self.count += 1
        return f"x{self.count}"

    def const(self, value):
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def function(self, name):
        scope = dict(self.names)
        exec(compile("\n".join(self.lines), f"<zygopy tree code {name}>", "exec"), scope)
        return scope[name]


def _node_of(value):
    return trees._flatten(value, [], set())

"""A call's arguments as the compiler sees them: each argument's tree shape and its flat leaves."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import UnsupportedType
from .ir.types import strengths, typeof
from .tree_code import builder
from .trees import LEAF, flatten


def unit_dims(leaf):
    """Which dimensions of an array are 1 (None for non-arrays): broadcasting depends on these, so
    compiled code is specialised on them, and not on sizes."""
    return tuple(d == 1 for d in leaf.shape) if isinstance(leaf, np.ndarray) else None


@dataclass
class Signature:
    nodes: tuple  # one trees.Node per argument
    leaves: list  # all leaves, argument by argument
    owners: list  # the argument each leaf belongs to
    types: tuple  # the IR type of each leaf
    # the values now of the function's hidden arguments (ir/captured.py), set once the compiled
    # code is known
    captured: list = field(default_factory=list)

    @property
    def arguments(self):
        """What the compiled code takes: the leaves, then the captured values."""
        return [*self.leaves, *self.captured]

    @property
    def unit_dims(self):
        """unit_dims of each leaf."""
        return tuple(map(unit_dims, self.leaves))

    @property
    def key(self):  # with the scalars' strengths, which the types' equality leaves out
        return self.nodes, self.types, tuple(map(strengths, self.types)), self.unit_dims

    def structures(self, args):
        """Per argument: None for a plain value, or (Node, value) for a structured one."""
        return [None if n == LEAF else (n, a) for n, a in zip(self.nodes, args, strict=True)]

    def leaf_indices(self, wrt):
        return tuple(i for i, owner in enumerate(self.owners) if owner in wrt)

    def rebuild(self, args, leaf_values):
        return rebuild(self.nodes, self.owners, args, leaf_values)


def rebuild(nodes, owners, args, leaf_values):
    """Per argument, the leaves' values (e.g. gradients) put back into the argument's structure
    (`nodes`: a trees.Node per argument; `owners`: the argument each leaf belongs to)."""
    mine = [[] for _ in args]
    for owner, v in zip(owners, leaf_values, strict=True):
        mine[owner].append(v)
    return tuple(m[0] if node is LEAF else builder(node)(m, arg)
                 for node, arg, m in zip(nodes, args, mine, strict=True))


def signature(fn, args) -> Signature:
    nodes, leaves, owners, types = [], [], [], []
    name = getattr(fn, "__name__", repr(fn))
    for i, a in enumerate(args):
        try:
            node, mine = flatten(a)
        except ValueError as e:
            raise UnsupportedType(f"argument {i} of {name!r}: {e}") from None
        if node.kind == "static":
            raise UnsupportedType(f"argument {i} of {name!r} has type {type(a).__name__}, which "
                                  "zygopy does not support", *location(fn),
                                  hint="pass floats, ints, bools, NumPy arrays, or tuples, lists "
                                  "and objects of them")
        for leaf in mine:
            t = typeof(leaf)
            if (t is None or (isinstance(leaf, np.ndarray) and leaf.dtype.kind == "c")
                    or isinstance(leaf, complex)):
                subclass = isinstance(leaf, np.ndarray) and type(leaf) is not np.ndarray
                what = (type(leaf).__name__ if subclass or not isinstance(leaf, np.ndarray)
                        else f"an array of {leaf.dtype}")
                hint = "use float64 or float32 arrays, floats, ints and bools"
                if isinstance(leaf, (int, np.integer)) and not isinstance(leaf, bool):
                    what = f"int {leaf}, beyond the 64 bits compiled code computes in"
                elif subclass:
                    hint = ("pass np.asarray(x): a subclass of ndarray computes otherwise "
                            "(np.matrix's * is a matrix product)")
                elif what.endswith("uint64"):
                    hint = "pass x.astype(np.int64)"
                elif isinstance(leaf, np.ndarray) and not leaf.dtype.isnative:
                    what += " (bytes in the other order than this machine's)"
                    hint = "pass x.astype(x.dtype.newbyteorder('='))"
                raise UnsupportedType(f"argument {i} of {name!r} has type {what}, which zygopy "
                                      "does not support", *location(fn), hint=hint)
            types.append(t)
        nodes.append(node)
        leaves += mine
        owners += [i] * len(mine)
    return Signature(tuple(nodes), leaves, owners, tuple(types))


def location(fn):
    code = getattr(fn, "__code__", None)
    return (code.co_filename, code.co_firstlineno) if code else (None, None)

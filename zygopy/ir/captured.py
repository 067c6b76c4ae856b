"""Values a function reads from outside its arguments: globals, closure variables, attributes of
modules and classes. None of them is trusted to stay as it was when the code was compiled.

Floats and arrays are *run-time* captures: hidden arguments of the compiled code, after the
caller's leaves, read again at each call (they get no gradient). Numbers and tuples that may
decide the code's structure (an int loop bound, a tuple index, a bool flag) are *folded* into the
code as constants. Either way the compiled code records what it assumes of each value (its type
and unit dimensions, or a folded value itself); a call that finds a value no longer fits compiles
again.
"""
from __future__ import annotations

import types
import weakref
from dataclasses import dataclass

from ..signature import unit_dims
from .types import operand_key, strengths, typeof


def read(holder, name):
    """The value now of `name` in a module's globals (a dict), a closure cell, or an object: a
    NumPy scalar as it is, which promotes as its dtype does (NEP 50), as an argument does."""
    kind = type(holder)
    if kind is dict:
        return holder[name]
    if kind is types.CellType:
        return holder.cell_contents
    return getattr(holder, name)


def _reference(value):
    try:
        return weakref.ref(value)
    except TypeError:  # a code object: small, held
        return lambda: value


def _key(value, runtime):
    if runtime:  # with its strength (a np.float64 promotes as an array does), not in equality
        return typeof(value), unit_dims(value), strengths(typeof(value))
    return operand_key(value)


@dataclass(frozen=True, eq=False)
class Captured:
    holder: object  # a module's globals dict, a closure cell, or a module or class
    name: str
    runtime: bool  # a hidden argument (else folded into the code)
    key: object  # what the compiled code assumes: (IR type, unit dims), or the folded value's key
    # for a function, a class or another object, known by identity: () -> that object (or None
    # once it is gone), through a weak reference where it takes one, so that an old model is
    # not kept alive and no new object can take its id
    same: object = None

    @classmethod
    def now(cls, holder, name, runtime):
        value = read(holder, name)
        key = _key(value, runtime)
        return cls(holder, name, runtime, key, _reference(value) if key[0] == "object" else None)

    @property
    def type(self):
        """The IR type of a run-time capture."""
        return self.key[0]

    @property
    def unit_dims(self):
        return self.key[1]


def current_values(captured):
    """The values now of the run-time captures, in hidden-argument order; None when some captured
    value no longer fits the compiled code (or is gone), which then has to be compiled again."""
    values = []
    for c in captured:
        try:
            if c.same is not None:
                if c.same() is not read(c.holder, c.name):
                    return None
                continue
            value = read(c.holder, c.name)
        except (KeyError, ValueError, AttributeError):  # deleted; an empty cell
            return None
        if _key(value, c.runtime) != c.key:
            return None
        if c.runtime:
            values.append(value)
    return values

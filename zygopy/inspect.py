"""What users look at: the IR of a function for given arguments."""
from __future__ import annotations

from .errors import UnsupportedType
from .ir.compile import compile_ir
from .ir.types import typeof


def argument_types(fn, args):
    types = []
    for i, a in enumerate(args):
        t = typeof(a)
        if t is None:
            raise UnsupportedType(f"argument {i} of {getattr(fn, '__name__', fn)!r} has type {type(a).__name__}, "
                                  "which zygopy does not support",
                                  hint="pass floats, ints, bools, tuples of them or NumPy arrays")
        types.append(t)
    return types


def code_ir(fn, *args):
    """The typed, optimised SSA IR of `fn` specialised to the types of `args` (prints readably)."""
    return compile_ir(fn, argument_types(fn, args))

"""What users look at: the IR of a function for given arguments."""
from __future__ import annotations

from .errors import UnsupportedType
from .ir.compile import compile_ir
from .signature import signature


def argument_types(fn, args):
    """The IR types of plain (unstructured) arguments."""
    sig = signature(fn, args)
    if len(sig.leaves) != len(args):
        raise UnsupportedType("argument_types takes plain values; structured arguments go "
                              "through signature()")
    return list(sig.types)


def code_ir(fn, *args, **kwargs):
    """The typed, optimised SSA IR of `fn` specialised to the types of `args` (prints readably)."""
    from .api import bind
    call = bind(fn, args, kwargs)
    sig = signature(call.fn, call.values)
    return compile_ir(call.fn, list(sig.types), sig.structures(call.values), units=True)


def code_adjoint(fn, *args, wrt=None, **kwargs):
    """The forward (primal with recording) and reverse IR of `fn`'s gradient for these argument
    types."""
    from .api import compiled
    return compiled(fn, args, wrt, kwargs).adjoint


def code_tangent(fn, *args, wrt=None, **kwargs):
    """The forward-mode IR of `fn` for these argument types: the primal's arguments, then one
    tangent per differentiated float argument; it returns (value, tangent)."""
    from .api import _compiled, bind
    return _compiled(bind(fn, args, kwargs, wrt), "jvp")[0].tangent_ir


def code_python(fn, *args, wrt=None, **kwargs) -> str:
    """The Python source zygopy generates and Numba compiles: primal, fused gradient, forward,
    pullback."""
    from .api import compiled
    from .backend import backend
    return backend().code(compiled(fn, args, wrt, kwargs), None, "source")


def code_llvm(fn, *args, wrt=None, **kwargs) -> str:
    """The optimised LLVM IR of the fused value-and-gradient function for these arguments."""
    from .api import _compiled, bind
    from .backend import backend
    c, sig = _compiled(bind(fn, args, kwargs, wrt))
    return backend().code(c, sig.arguments, "machine")

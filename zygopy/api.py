"""The public differentiation API, with Zygote's names and JAX-style aliases.

    gradient(f, x, y)        -> (df/dx, df/dy); None for arguments that get no gradient (ints,
                                bools)
    @gradient def f(x, y)    -> calling f(x, y) returns the gradients
    withgradient(f, x, y)    -> (f(x, y), gradients)
    pullback(f, x, y)        -> (f(x, y), back) where back(dy) -> gradients, callable any number
                                of times
    jacobian(f, x, y)        -> for f returning a tuple of m scalars: per argument, an array of m
                                derivatives

`wrt=(0, 2)` chooses which arguments are differentiated (default: all floating ones).
"""
from __future__ import annotations

import functools
import math
import threading
import types

import numpy as np

from .adjoint.rules import rules_version
from .backend import tiered
from .backend.compiled import CompiledGradient
from .errors import NotScalar, UnsupportedType, ZygopyError
from .ir.types import TupleT, is_float, typeof
from .signature import location, signature

# (f, signature key, wrt, rules version) -> the compiled variants met so far: more than one when a
# value f captures (ir/captured.py) changed in a way its code depends on, such as a global int
_CACHE: dict = {}
# Compiling generates code through module-level state (backend.source), so one build runs at a
# time; a thread wanting what another is building waits for it. Numba compiles later, on the
# first call, under its own lock.
_BUILDING = threading.RLock()


def compiled(f, args, wrt=None) -> CompiledGradient:
    """The compiled gradient of f for the types and structure of args (compiled once per function,
    argument shapes and types, and wrt)."""
    return _compiled(f, args, wrt)[0]


def _compiled(f, args, wrt):
    """(compiled gradient, signature with the captured values now, wrt)."""
    sig = signature(f, args)
    explicit = wrt is not None
    wrt = _check_wrt(f, wrt, len(args)) if explicit else tuple(range(len(args)))
    key = (f, sig.key, wrt, rules_version())  # a replaced rule makes the old gradients stale
    if explicit:
        _check_wrt_types(f, sig, wrt)
    for _ in range(3):  # more only if a captured value keeps changing while compiling
        found = _variant(key)
        if found is None:
            with _BUILDING:
                found = _variant(key)  # built by another thread while this one waited?
                if found is None:
                    c = CompiledGradient(f, list(sig.types), sig.leaf_indices(wrt),
                                         sig.structures(args), sig.unit_dims)
                    # replaced, not appended to, so that threads reading the old list are safe
                    _CACHE[key] = [*_CACHE.get(key, ()), c]
                    found = _variant(key)
        if found is not None:
            c, sig.captured = found
            return c, sig, wrt
    raise ZygopyError(f"the values {f.__name__!r} reads from outside it changed while it was "
                      "being compiled", *location(f))


def _variant(key):
    """(compiled gradient, values of its hidden arguments) of the variant that fits the values
    the function captures now, or None."""
    for c in _CACHE.get(key, ()):
        values = c.captured_values()
        if values is not None:
            return c, values
    return None


def _unbound(drop_self):
    """For a bound method, its function with the object as a first argument that gets no gradient;
    `drop_self` removes that argument's entry from the result."""
    def decorate(method):
        @functools.wraps(method)
        def wrapper(f, *args, wrt=None):
            if not isinstance(f, types.MethodType):
                return method(f, *args, wrt=wrt)
            wrt = tuple(range(len(args))) if wrt is None else _check_wrt(f, wrt, len(args))
            return drop_self(method(f.__func__, f.__self__, *args, wrt=tuple(i + 1 for i in wrt)))
        return wrapper
    return decorate


def complete_args(f, args):
    """The call's arguments with defaults filled in, checked: a clear error instead of a crash
    later."""
    if not callable(f):
        raise UnsupportedType(f"zygopy differentiates functions; got {type(f).__name__}")
    code = getattr(f, "__code__", None)
    if code is not None:
        n, defaults = code.co_argcount, f.__defaults__ or ()
        if not n - len(defaults) <= len(args) <= n:
            raise UnsupportedType(f"{f.__name__}() takes {n} arguments but {len(args)} were given",
                                  code.co_filename, code.co_firstlineno)
        if len(args) < n:
            args = tuple(args) + tuple(defaults[len(defaults) - (n - len(args)):])
        else:
            args = tuple(args)
    for i, a in enumerate(args):
        if isinstance(a, float) and not math.isfinite(a):
            raise UnsupportedType(f"argument {i} of {f.__name__}() is {a}; gradients are computed "
                                  "at finite points", code.co_filename if code else None,
                                  code.co_firstlineno if code else None)
    return args


def _check_wrt(f, wrt, nargs):
    wrt = (wrt,) if isinstance(wrt, int) else tuple(wrt)
    for i in wrt:
        if not (isinstance(i, int) and 0 <= i < nargs):
            raise UnsupportedType(f"wrt={wrt!r}: {f.__name__} takes {nargs} arguments")
    return tuple(sorted(set(wrt)))


def _check_wrt_types(f, sig, wrt):
    """Arguments named in wrt must hold something to differentiate."""
    for i in wrt:
        if not any(is_float(t) for t, owner in zip(sig.types, sig.owners, strict=True)
                   if owner == i):
            raise UnsupportedType(f"argument {i} of {f.__name__!r} holds no floating-point "
                                  "values, so it cannot be differentiated",
                                  hint="differentiate with respect to float arguments only")


def _per_argument(c, sig, args, wrt, leaf_results):
    """Results for the differentiated leaves, rebuilt into each argument's structure; None
    elsewhere."""
    values = [None] * len(sig.leaves)
    for i, g in zip(c.adjoint.wrt, leaf_results, strict=True):
        values[i] = g
    rebuilt = sig.rebuild(args, values)
    return tuple(r if k in wrt else None for k, r in enumerate(rebuilt))


@_unbound(lambda result: (result[0], result[1][1:]))
def withgradient(f, *args, wrt=None):
    args = complete_args(f, args)
    c, sig, wrt = _compiled(f, args, wrt)
    rt = _return_type(c)
    if not is_float(rt):
        raise NotScalar(f"{f.__name__!r} returns {rt}; gradient needs a real (float) scalar result",
                        c.primal_ir.filename, c.primal_ir.line,
                        hint="use jacobian for a tuple of results; an integer result has no "
                        "gradient")
    value, grads = tiered.value_and_gradient(c, sig.arguments)
    return value, _per_argument(c, sig, args, wrt, grads)


def gradient(f, *args, wrt=None):
    if not args:  # used as a decorator
        @functools.wraps(f)
        def grad_f(*a):
            return withgradient(f, *a, wrt=wrt)[1]
        return grad_f
    return withgradient(f, *args, wrt=wrt)[1]


@_unbound(lambda result: (result[0], lambda dy=1.0: result[1](dy)[1:]))
def pullback(f, *args, wrt=None):
    args = complete_args(f, args)
    c, sig, wrt = _compiled(f, args, wrt)
    value, tape = c.forward(sig.arguments)
    unused = [tape]

    def back(dy=1.0):
        # the reverse pass undoes the function's writes into arrays, using up their tape: the
        # first call (from whichever thread) takes the forward's, later ones replay the forward
        t = tape
        if c.writes:
            try:
                t = unused.pop()
            except IndexError:
                t = c.forward(sig.arguments)[1]
        return _per_argument(c, sig, args, wrt, c.pullback(t, dy))
    return value, back


@_unbound(lambda result: result[1:])
def jacobian(f, *args, wrt=None):
    args = complete_args(f, args)
    c, sig, wrt = _compiled(f, args, wrt)
    rt = _return_type(c)
    m = len(rt.elts) if isinstance(rt, TupleT) else 1
    rows = []
    for i in range(m):
        dy = tuple(1.0 if j == i else 0.0 for j in range(m)) if isinstance(rt, TupleT) else 1.0
        rows.append(c.pullback(c.forward(sig.arguments)[1], dy))
    per_leaf = []
    for k in range(len(c.adjoint.wrt)):
        col = [r[k] for r in rows]
        per_leaf.append(None if col[0] is None else np.array(col, dtype=np.float64))
    return _per_argument(c, sig, args, wrt, per_leaf)


def _return_type(c):
    ret = next(br.args[0] for b in c.primal_ir.blocks for br in b.branches if br.is_return)
    return getattr(ret, "type", None) or typeof(ret)


grad = gradient


def value_and_grad(f, *args, wrt=None):
    return withgradient(f, *args, wrt=wrt)

"""The public differentiation API: Zygote's names, and JAX's `grad` and `value_and_grad`.

    gradient(f, x, y)        -> (df/dx, df/dy); None for arguments that get no gradient (ints,
                                bools)
    @gradient def f(x, y)    -> calling f(x, y) returns the gradients
    withgradient(f, x, y)    -> (f(x, y), gradients)
    pullback(f, x, y)        -> (f(x, y), back) where back(dy) -> gradients, callable any number
                                of times
    vjp(f, x, y)             -> the same as pullback (JAX's name)
    jacobian(f, x, y)        -> per argument, the derivatives of f's result (a tuple of m scalars:
                                an array of m rows; an array: result shape + argument shape)
    jvp(f, (x, y), (dx, dy)) -> (f(x, y), the tangent of the result along dx, dy): forward mode
    hvp(f, x, v)             -> the Hessian of f at x times v (reverse over forward)
    hessian(f, x)            -> the Hessian of f at x, of shape x.shape + x.shape
    grad(f, argnums=0)       -> JAX's: a function g with g(x, y) = df/dx (a tuple of gradients
                                for a tuple of argnums)
    value_and_grad(f, argnums=0) -> JAX's: a function g with g(x, y) = (f(x, y), df/dx)

Keyword arguments (`gradient(f, x, scale=2.0)`) are passed to f and not differentiated.
`wrt=(0, 2)` or `wrt=("x", "scale")` chooses which arguments are differentiated (default: those
given positionally); gradients of the positional arguments come back in order, then, if `wrt`
names any other parameter, a dict of theirs by name.
"""
from __future__ import annotations

import functools
import inspect
import math
import threading
import types
import weakref
from dataclasses import dataclass

import numpy as np

from .adjoint.rules import rules_version
from .adjoint.tangent import contracted, tangent
from .backend import backend, tiered
from .checkpoint import Checkpoint
from .custom import CustomRule
from .errors import NotScalar, RaisesOnEveryPath, UnsupportedSyntax, UnsupportedType, ZygopyError
from .ir.compile import compile_ir
from .ir.evaluate import failing_statement, raised_by_user
from .ir.frontend import function_ast
from .ir.infer import returned_type
from .ir.types import ArrayT, Scalar, TupleT, is_float
from .programs import gradient_program, tangent_program
from .signature import location, signature
from .tree_code import call_builder, call_reader
from .trees import LEAF, flatten, leaves_like

# (f, signature key, wrt, rules version) -> the compiled variants met so far: more than one when a
# value f captures (ir/captured.py) changed in a way its code depends on, such as a global int
_CACHE: dict = {}
# One build of a key at a time: a thread wanting what another is building waits for it rather
# than build it again. Numba compiles later, on the first call, under its own lock.
_BUILDING = threading.RLock()
# (function, signature, wrt) whose result jacobian found to be an array (no gradient to compile)
_ARRAY_VALUED: set = set()


def compiled(f, args, wrt=None, kwargs=None):
    """The compiled gradient of f for the types and structure of args (compiled once per function,
    argument shapes and types, and wrt)."""
    return _compiled(bind(f, args, kwargs, wrt))[0]


def _compiled(call: Call, mode="gradient"):
    """(compiled code, signature with the captured values now). `mode`: what is compiled, a
    key of _BUILD."""
    f = call.fn
    sig = signature(f, call.values)
    # a replaced rule makes the old gradients stale
    key = (f, sig.key, call.wrt, rules_version(), mode)
    _check_wrt_types(call, sig)
    for _ in range(3):  # more only if a captured value keeps changing while compiling
        found = _variant(key)
        if found is None:
            with _BUILDING:
                found = _variant(key)  # built by another thread while this one waited?
                if found is None:
                    try:
                        c = _BUILD[mode](f, list(sig.types), sig.leaf_indices(call.wrt),
                                         sig.structures(call.values), list(sig.unit_dims))
                    except RaisesOnEveryPath as e:
                        raise _as_python_raises(e, f, sig) from None
                    # replaced, not appended to, so that threads reading the old list are safe
                    _CACHE[key] = [*_CACHE.get(key, ()), c]
                    found = _variant(key)
        if found is not None:
            c, sig.captured = found
            return c, sig
    raise ZygopyError(f"the values {f.__name__!r} reads from outside it changed while it was "
                      "being compiled", *location(f))


def _as_python_raises(error, f, sig):
    """The user's exception, made by the reference evaluator running f, where every path of f
    raises for these types (a rank check's arm taken): nothing was compiled for it."""
    if error.pyfn is f:
        given = len(error.fn.args) - sum(c.runtime for c in error.fn.captured)
        found = failing_statement(error.fn, sig.leaves[:given])
        if found is not None and raised_by_user(found[1]):
            return found[1]
    return error  # raised in a function f calls (a nested gradient's), or not reproduced


def _gradient(f, types, wrt, structures, unit_dims):
    return backend().gradient(gradient_program(f, types, wrt, structures, unit_dims))


def _hessian_vector_product(f, types, wrt, structures, unit_dims):
    """The gradient of x -> (the tangent of f at x along v), v a further argument per float leaf
    of wrt: reverse mode over forward mode, H v for a scalar f."""
    float_wrt = [i for i in wrt if is_float(types[i])]
    return backend().gradient(gradient_program(
        f, types + [types[i] for i in float_wrt], wrt, structures,
        unit_dims + [unit_dims[i] for i in float_wrt],
        make_ir=lambda: tangent(compile_ir(f, types, structures), wrt, unit_dims, value=False),
        # hessian's columns of an array in one call
        seeded=len(types) if [types[i] for i in float_wrt if isinstance(types[i], ArrayT)] ==
        [types[i] for i in float_wrt] and len(float_wrt) == 1 else None))


def _vector_jacobian_product(f, types, wrt, structures, unit_dims):
    """The gradient of (x, u) -> sum(f(x) * u) for f's array result: uᵀ J."""
    return backend().gradient(gradient_program(
        f, types, wrt, structures, unit_dims + [None],
        make_ir=lambda: contracted(compile_ir(f, types, structures, units=True)),
        seeded=len(types)))


def _tangent(f, types, wrt, structures, unit_dims, columns=False):
    return backend().tangent(tangent_program(f, types, wrt, structures, unit_dims, columns))


# what each mode compiles
_BUILD = {"gradient": _gradient, "jvp": _tangent, "hvp": _hessian_vector_product,
          "vjp": _vector_jacobian_product, "columns": functools.partial(_tangent, columns=True)}


def _variant(key):
    """(compiled gradient, values of its hidden arguments) of the variant that fits the values
    the function captures now, or None."""
    for c in _CACHE.get(key, ()):
        values = c.captured_values()
        if values is not None:
            return c, values
    return None


@dataclass(frozen=True)
class Call:
    """A call of a user function bound to its parameters: what is compiled, and how the gradients
    per parameter are handed back."""
    fn: types.FunctionType
    values: tuple  # one per parameter of fn, in order, defaults filled in
    names: tuple  # fn's parameter names
    shown: tuple  # the parameters whose gradients come back positionally: the arguments given so
    keywords: tuple  # the other parameters that are differentiated: their gradients in a dict
    wrt: tuple  # the parameters differentiated
    first: int = 0  # 1 for a bound method: parameter 0 is the object, never differentiated
    explicit: bool = False  # wrt was given, not the default

    def result(self, per_parameter):
        """The gradients of the arguments given positionally, then, if `wrt` names any other
        parameter, a dict of theirs by name."""
        out = tuple(per_parameter[i] for i in self.shown)
        if self.keywords:
            out += ({self.names[i]: per_parameter[i] for i in self.keywords},)
        return out


def bind(f, args, kwargs=None, wrt=None) -> Call:
    """f's call with these arguments, checked: a clear error instead of a crash later. A bound
    method is its function with the object as a first argument that gets no gradient."""
    kwargs = kwargs or {}
    if not callable(f):
        raise UnsupportedType(f"zygopy differentiates functions; got {type(f).__name__}")
    fn, first = (f.__func__, 1) if isinstance(f, types.MethodType) else (made_before(f), 0)
    if first:
        args = (f.__self__, *args)
    if isinstance(fn, Checkpoint):  # differentiated whole, nothing to recompute: the function
        fn = fn.forward
    elif isinstance(fn, CustomRule):
        code = fn.forward.__code__
        params = ", ".join(code.co_varnames[:code.co_argcount])
        raise UnsupportedType(f"{fn.__name__!r} is a custom rule: its pullback is used where a "
                              "function zygopy differentiates calls it", code.co_filename,
                              code.co_firstlineno, hint=f"differentiate a function that calls "
                              f"it: def f({params}): return {fn.__name__}({params})")
    if not isinstance(fn, types.FunctionType):
        function_ast(fn)  # raises the error that explains why zygopy cannot read it
    code = fn.__code__
    values, names = _parameter_values(fn, code, tuple(args), kwargs, first)
    for name, v in zip(names, values, strict=True):
        if isinstance(v, float) and not math.isfinite(v):
            i = names.index(name) - first
            raise UnsupportedType(f"argument {i} ({name!r}) of {fn.__name__}() is {v}; gradients "
                                  "are computed at finite points", code.co_filename,
                                  code.co_firstlineno)
    shown = tuple(range(first, len(args)))
    chosen = shown if wrt is None else _check_wrt(fn, wrt, names, code.co_argcount, first)
    keywords = tuple(i for i in chosen if i not in shown)
    return Call(fn, values, names, shown, keywords, chosen, first, wrt is not None)


def _parameter_values(fn, code, args, kwargs, first):
    """(a value per parameter, the parameter names): the positional arguments, the keyword ones,
    then the defaults."""
    name = fn.__name__
    if code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
        raise UnsupportedSyntax("*args and **kwargs parameters are not supported",
                                code.co_filename, code.co_firstlineno,
                                hint="name each parameter")
    npos = code.co_argcount
    names = code.co_varnames[:npos + code.co_kwonlyargcount]
    if len(args) > npos:
        raise UnsupportedType(f"{name}() takes {npos - first} arguments but {len(args) - first} "
                              "were given", code.co_filename, code.co_firstlineno)
    bound = dict(zip(names, args, strict=False))
    for k, v in kwargs.items():
        accepted = names[code.co_posonlyargcount:]
        if k not in accepted or k in bound:
            what = "a repeated" if k in accepted else "an unexpected"
            raise UnsupportedType(f"{name}() got {what} keyword argument {k!r}",
                                  code.co_filename, code.co_firstlineno,
                                  hint=f"its parameters are {', '.join(names[first:])}")
        bound[k] = v
    defaults = dict(zip(names[npos - len(fn.__defaults__ or ()):npos], fn.__defaults__ or (),
                        strict=True))
    defaults.update(fn.__kwdefaults__ or {})
    missing = [p for p in names if p not in bound and p not in defaults]
    if missing:
        raise UnsupportedType(f"{name}() takes {npos - first} arguments but {len(args) - first} "
                              f"were given: {', '.join(map(repr, missing))} missing",
                              code.co_filename, code.co_firstlineno)
    return tuple(bound[p] if p in bound else defaults[p] for p in names), tuple(names)


def _check_wrt(fn, wrt, names, npos, first):
    """The parameters `wrt` names: positions among the arguments (ints) or parameter names."""
    items = (wrt,) if isinstance(wrt, (int, str, np.integer)) or not hasattr(wrt, "__iter__") \
        else tuple(wrt)
    chosen = []
    for w in items:
        if isinstance(w, str) and w in names[first:]:
            chosen.append(names.index(w))
        elif isinstance(w, (int, np.integer)) and not isinstance(w, bool) and \
                0 <= w < npos - first:
            chosen.append(int(w) + first)
        else:
            raise UnsupportedType(f"wrt={wrt!r}: {fn.__name__} takes the arguments "
                                  f"{', '.join(names[first:])}",
                                  hint="name arguments by position (0, 1, ...) or by name")
    return tuple(sorted(set(chosen)))


def _check_wrt_types(call, sig):
    """Arguments `wrt` names must hold something to differentiate (by default, those that hold
    none get None)."""
    if not call.explicit:
        return
    for i in call.wrt:
        if not any(is_float(t) for t, owner in zip(sig.types, sig.owners, strict=True)
                   if owner == i):
            raise UnsupportedType(f"argument {i - call.first} ({call.names[i]!r}) of "
                                  f"{call.fn.__name__!r} holds no floating-point values, so it "
                                  "cannot be differentiated",
                                  hint="differentiate with respect to float arguments only")


def _per_parameter(c, sig, call, leaf_results):
    """Results for the differentiated leaves, rebuilt into each parameter's structure; None
    elsewhere."""
    values = [None] * len(sig.leaves)
    for i, g in zip(c.adjoint.wrt, leaf_results, strict=True):
        values[i] = g
    rebuilt = sig.rebuild(call.values, values)
    return call.result(tuple(r if k in call.wrt else None for k, r in enumerate(rebuilt)))


# Functions made again from one definition (a lambda written inside a training loop) behave alike
# where their code, globals, closure cells and defaults are the same: the first made stands for
# the rest, and its compiled code serves them. A new lambda per step rebuilt the IR (14 ms) and
# stayed in every cache.
_MADE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def made_before(f):
    """The function first made alike f (f itself if it is the first, or is not a plain one)."""
    if type(f) is not types.FunctionType or f.__dict__ or f.__kwdefaults__:
        return f
    key = (f.__code__, id(f.__globals__), id(f.__defaults__), *map(id, f.__closure__ or ()))
    return _MADE.setdefault(key, f)  # ids: the first made keeps those objects alive


def withgradient(f, *args, wrt=None, **kwargs):
    if f not in _LAST:
        f = made_before(f)
    if not kwargs:
        fast = _LAST.get(f)
        if fast is not None and (fast.wrt is wrt or type(wrt) is tuple and fast.wrt == wrt) \
                and fast.version == rules_version():
            leaves = fast.read(args)
            if leaves is not None:
                found = _fast_gradient(fast, leaves, args)
                if found is not None:
                    return found
    plain = None if kwargs else _plain_call(f, args, wrt)
    fast = _FAST.get(plain[0]) if plain else None
    if fast is not None:
        found = _fast_gradient(fast, plain[2], args)
        if found is not None:
            _LAST[f] = fast
            return found
    call = bind(f, args, kwargs, wrt)
    c, sig = _compiled(call)
    rt = returned_type(c.primal_ir)
    if not is_float(rt):
        raise NotScalar(f"{call.fn.__name__!r} returns {rt}; gradient needs a real (float) scalar "
                        "result", c.primal_ir.filename, c.primal_ir.line,
                        hint="use jacobian for a tuple of results; an integer result has no "
                        "gradient")
    value, grads = tiered.value_and_gradient(c, sig.arguments)
    if plain and len(args) == len(call.names) and not call.first:
        (_, kinds, nodes, _, version), _, leaves = plain
        _FAST[plain[0]] = _Fast(c, wrt, version, call_reader(nodes, kinds, _is_kind),
                                call_builder(nodes, len(leaves), call.wrt, c.adjoint.wrt))
    return value, _per_parameter(c, sig, call, grads)


# The gradient of a function whose every parameter is given positionally (wrt by position if at
# all) skips binding and the signature: after a first call, its compiled code is found from the
# arguments' structures and the kinds of their leaves alone (what the signature specialises on),
# and for a call like the function's last one, by code written to check and read them.
@dataclass(frozen=True)
class _Fast:
    compiled: object
    wrt: object  # as the call gave it
    version: int  # rules_version() then
    read: object  # args -> their leaves, or None for arguments of other kinds or shapes
    build: object  # (gradients of the leaves in wrt, args) -> the gradient per argument


_FAST: dict = {}  # _plain_call's key -> _Fast
_LAST: dict = {}  # function -> the _Fast of its last call that had one


def _fast_gradient(fast, leaves, args):
    """(value, gradients) through `fast`, or None where a captured value changed."""
    c = fast.compiled
    captured = c.captured_values()
    if captured is None:
        return None
    value, grads = tiered.value_and_gradient(c, [*leaves, *captured])
    return value, fast.build(grads, args)


def _plain_call(f, args, wrt):
    """(key, nodes, leaves): the key is f, the kinds of the leaves, the arguments' structures
    (`nodes`: a trees.Node per argument; None if all are leaves), wrt and the rules' version.
    None where a leaf is not a finite float, an int, a bool or an array, or wrt names a parameter
    (those take the full path, which checks them)."""
    if not (wrt is None or type(wrt) is int or type(wrt) is tuple
            and all(type(w) is int for w in wrt)):
        return None
    kinds = tuple(map(_kind, args))
    if None not in kinds:
        return (f, kinds, None, wrt, rules_version()), None, args
    nodes, leaves = [], []
    for a, kind in zip(args, kinds, strict=True):
        if kind is not None:
            nodes.append(LEAF)
            leaves.append(a)
            continue
        try:
            node, mine = flatten(a)
        except ValueError:
            return None
        nodes.append(node)
        leaves += mine
    kinds = tuple(map(_kind, leaves))
    if None in kinds:
        return None
    nodes = tuple(nodes)
    return (f, kinds, nodes, wrt, rules_version()), nodes, leaves


def _kind(a):
    """What the compiled code specialises on for a plain leaf, or None for anything else (a
    float that is not finite included)."""
    t = type(a)
    if t is np.ndarray:
        shape = a.shape
        return a.dtype, len(shape), tuple(d == 1 for d in shape) if 1 in shape else None
    if t is float:
        return t if math.isfinite(a) else None
    return t if t is int or t is bool else None


def _is_kind(x, kind, const) -> str:
    """Source testing that value x (source) has this _kind (`const(v)` names a constant)."""
    if kind in (int, bool):
        return f"type({x}) is {kind.__name__}"
    if kind is float:
        return f"type({x}) is float and {const(math.isfinite)}({x})"
    dtype, ndim, ones = kind
    d = const(dtype)
    test = f"type({x}) is {const(np.ndarray)} and {x}.ndim == {ndim} and ({x}.dtype is {d} " \
           f"or {x}.dtype == {d})"
    if ones is None:
        return f"{test} and 1 not in {x}.shape"
    return test + "".join(f" and {x}.shape[{j}] {'==' if one else '!='} 1"
                          for j, one in enumerate(ones))


def gradient(f, *args, wrt=None, **kwargs):
    if not args and not kwargs:  # used as a decorator
        @functools.wraps(f)
        def grad_f(*a, **kw):
            return withgradient(f, *a, wrt=wrt, **kw)[1]
        return grad_f
    return withgradient(f, *args, wrt=wrt, **kwargs)[1]


def pullback(f, *args, wrt=None, **kwargs):
    call = bind(f, args, kwargs, wrt)
    try:
        c, sig = _compiled(call)
    except NotScalar as refused:
        return _array_pullback(call, refused)
    value, tape = c.forward(sig.arguments)
    unused = [tape]

    def back(dy=1.0):
        dy = _cotangent(call, value, dy)
        # the reverse pass undoes the function's writes into arrays, using up their tape: the
        # first call (from whichever thread) takes the forward's, later ones replay the forward
        t = tape
        if c.program.writes:
            try:
                t = unused.pop()
            except IndexError:
                t = c.forward(sig.arguments)[1]
        return _per_parameter(c, sig, call, c.pullback(t, dy))
    return value, back


def _array_pullback(call, refused):
    """pullback of a function with an array result y: back(dy) is the gradient of sum(y * dy),
    dyᵀ J, each call a run of the reverse sweep of (x, dy) -> sum(f(x) * dy), as JAX's vjp."""
    t, sig = _compiled(call, "jvp")
    if not isinstance(returned_type(t.primal_ir), ArrayT):
        raise refused
    leaves = sig.leaves
    value = np.asarray(t(sig.arguments, [np.zeros_like(leaves[i], dtype=_float_dtype(leaves[i]))
                                         for i in t.wrt])[0])
    c, sig = _compiled(call, "vjp")

    def back(dy=1.0):
        dy = _cotangent(call, value, dy)
        grads = tiered.value_and_gradient(c, [*sig.leaves, dy, *sig.captured])[1]
        return _per_parameter(c, sig, call, grads)
    return value, back


def _cotangent(call, value, dy):
    """dy in the structure of the result `value`: a number for a number, an array of the same
    shape for an array (Numba would broadcast a number, or fail to compile another type), in the
    result's dtype (a float32 dy made float32 gradients of float64 arguments)."""
    if isinstance(value, tuple):
        ok = isinstance(dy, tuple) and len(dy) == len(value)
    elif isinstance(value, np.ndarray):
        ok = isinstance(dy, np.ndarray) and dy.shape == value.shape and dy.dtype.kind in "fiu"
    else:
        ok = isinstance(dy, (float, int, np.floating, np.integer)) and not isinstance(dy, bool)
    if not ok:
        raise UnsupportedType(f"back() was given {_described(dy)} for a result of "
                              f"{call.fn.__name__!r} that is {_described(value)}",
                              *location(call.fn),
                              hint="give back() the result's structure: a float for a number, a "
                              "float array of its shape for an array, a tuple of those for a "
                              "tuple")
    if isinstance(value, tuple):
        return tuple(_cotangent(call, v, d) for v, d in zip(value, dy, strict=True))
    return np.asarray(dy, value.dtype) if isinstance(value, np.ndarray) else float(dy)


def _described(value):
    """A value in words, for an error: a tuple's length, an array's shape and dtype, else its
    type."""
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def jacobian(f, *args, wrt=None, **kwargs):
    """Per differentiated argument, the derivatives of f's result: for a tuple of m scalars (or a
    scalar, m = 1) an array of shape (m, *argument shape), one pullback per result; for an array
    result of shape S, an array of shape S + argument shape, by forward mode (a tangent sweep per
    input element, all in one call of compiled code) when the differentiated inputs have fewer
    elements than the result, else by reverse mode (a vector-Jacobian product per result element,
    all in one call of compiled code)."""
    call = bind(f, args, kwargs, wrt)
    key = (call.fn, signature(call.fn, call.values).key, call.wrt)
    if key not in _ARRAY_VALUED:
        try:
            c, sig = _compiled(call)
        except NotScalar:
            _ARRAY_VALUED.add(key)
    if key in _ARRAY_VALUED:
        t, sig = _compiled(call, "jvp")
        if isinstance(returned_type(t.primal_ir), ArrayT):
            return _array_jacobian(call, t, sig)
        _ARRAY_VALUED.discard(key)  # a value it captured changed what it returns: reverse mode
        c, sig = _compiled(call)
    rt = returned_type(c.primal_ir)
    if isinstance(rt, TupleT) and not all(isinstance(e, Scalar) for e in rt.elts):
        raise UnsupportedType(f"jacobian of {call.fn.__name__!r}, which returns a tuple holding "
                              f"arrays ({rt})", c.primal_ir.filename, c.primal_ir.line,
                              hint="take the jacobian of a function returning one of them, or "
                              "of one array (np.concatenate of their ravel())")
    m = len(rt.elts) if isinstance(rt, TupleT) else 1
    rows = []
    for i in range(m):
        dy = tuple(1.0 if j == i else 0.0 for j in range(m)) if isinstance(rt, TupleT) else 1.0
        rows.append(c.pullback(c.forward(sig.arguments)[1], dy))
    per_leaf = []
    for k in range(len(c.adjoint.wrt)):
        col = [r[k] for r in rows]
        per_leaf.append(None if col[0] is None else np.array(col, dtype=np.float64))
    return _per_parameter(c, sig, call, per_leaf)


def _array_jacobian(call, t, sig):
    """jacobian of a function with an array result: forward or reverse, whichever needs fewer
    passes."""
    leaves = sig.leaves
    seeds = [np.zeros_like(leaves[i], dtype=_float_dtype(leaves[i])) for i in t.wrt]
    y = np.asarray(t(sig.arguments, seeds)[0])
    per_leaf = [None] * len(leaves)
    if sum(np.size(s) for s in seeds) <= y.size:  # one column per input element, in one call
        columns, sig = _compiled(call, "columns")
        for i, d in zip(columns.wrt, columns(sig.arguments, [])[1:], strict=True):
            d = np.asarray(d)  # rows of flattened tangents, for an array leaf
            per_leaf[i] = (d.T if isinstance(leaves[i], np.ndarray) else d).reshape(
                y.shape + np.shape(leaves[i]))
    else:  # one row per result element, the reverse sweeps in one compiled call
        c, sig = _compiled(call, "vjp")
        floats = [i for i in c.adjoint.wrt if is_float(sig.types[i])]
        if tiered.interpret_only():
            rows = [tiered.value_and_gradient(
                        c, [*leaves, _unit(np.zeros_like(y), k), *sig.captured])[1]
                    for k in range(y.size)]
            stacked = [np.stack([r[c.adjoint.wrt.index(i)] for r in rows]) for i in floats]
        else:
            stacked = c.rows([*leaves, np.zeros_like(y, dtype=_float_dtype(y)), *sig.captured])
        for i, d in zip(floats, stacked, strict=True):
            per_leaf[i] = np.asarray(d).reshape(y.shape + np.shape(leaves[i]))
    rebuilt = sig.rebuild(call.values, per_leaf)
    return call.result(tuple(r if k in call.wrt else None for k, r in enumerate(rebuilt)))


def _float_dtype(leaf):
    return leaf.dtype if isinstance(leaf, np.ndarray) else np.float64


def _unit(like, j):
    """A basis seed shaped like `like`: 1 at flat position j, 0 elsewhere (a float for a
    float)."""
    e = np.zeros_like(like, dtype=_float_dtype(like))
    e.flat[j] = 1.0
    return e if isinstance(like, np.ndarray) else float(e)


def jvp(f, args, tangents, **kwargs):
    """(f(*args), the tangent of f's result): forward mode, the derivative of f along `tangents`,
    one per argument in its structure (None for ints and bools, or for an argument that does not
    vary). The tangent has the result's structure. Keyword arguments are passed to f and not
    differentiated."""
    for what, given in (("arguments", args), ("tangents", tangents)):
        # a bare value was taken apart by tuple(): TypeError from inside, or an array's elements
        # taken for a tangent each
        if not isinstance(given, (tuple, list)):
            raise UnsupportedType(f"jvp takes the {what} of {getattr(f, '__name__', f)!r} as a "
                                  f"tuple, one per argument; got {_described(given)}",
                                  hint="zygopy.jvp(f, (x, y), (dx, dy)), one tangent per "
                                  "argument shaped like it; (x,) and (dx,) for one argument")
    tangents = tuple(tangents)
    # arguments whose tangent is None do not vary: the code computes no tangent for them
    varied = tuple(i for i, t in enumerate(tangents) if t is not None)
    call = bind(f, tuple(args), kwargs, wrt=varied if varied and len(tangents) == len(args)
                else None)
    c, sig = _compiled(call, "jvp")
    return c(sig.arguments, _tangent_leaves(call, sig, c.wrt, call.shown, tangents))


def _tangent_leaves(call, sig, wrt, params, tangents):
    """The tangents of the leaves `wrt`, from `tangents`, one per parameter in `params`, checked
    against the arguments' structures and shapes."""
    tangents = tuple(tangents)
    name = call.fn.__name__
    if len(tangents) != len(params):
        raise UnsupportedType(f"{len(params)} arguments of {name!r} to differentiate and "
                              f"{len(tangents)} tangents", hint="give one tangent per argument, "
                              "shaped like it (None for an int or bool)")
    given = {}
    for p, t in zip(params, tangents, strict=True):
        mine = [i for i, owner in enumerate(sig.owners) if owner == p]
        if any(i in wrt for i in mine):
            # read by key and attribute name, not in the order the tangent holds them
            try:
                leaves = leaves_like(sig.nodes[p], t)
            except (KeyError, IndexError, TypeError) as e:
                raise UnsupportedType(f"the tangent of argument {p - call.first} of {name!r} "
                                      f"does not have the argument's structure (no {e})",
                                      hint="give the tangent the argument's structure and "
                                      "shapes") from None
            given.update(zip(mine, leaves, strict=True))
    out = []
    for i in wrt:
        # None: the argument or leaf does not vary (a zero tangent)
        leaf, t = sig.leaves[i], given.get(i)
        t = np.zeros_like(leaf) if t is None else t
        if isinstance(t, bool) or np.asarray(t).dtype.kind not in "fiu":  # float(t) failed
            raise UnsupportedType(f"a tangent for an argument of {name!r} is {_described(t)}",
                                  hint="give a tangent a float or a float array, shaped like its "
                                  "argument")
        if np.shape(t) != np.shape(leaf):
            raise UnsupportedType(f"a tangent of shape {np.shape(t)} for an argument of "
                                  f"{name!r} of shape {np.shape(leaf)}",
                                  hint="give the tangent the argument's structure and shapes")
        out.append(np.asarray(t, leaf.dtype) if isinstance(leaf, np.ndarray) else float(t))
    return out


def hvp(f, x, v, *args, **kwargs):
    """The Hessian of the scalar f at x times v (x's structure and shapes): the gradient of
    x -> jvp(f, (x, *args), (v, ...))[1], reverse mode over forward mode. The further arguments
    are passed to f and not differentiated."""
    call = bind(f, (x, *args), kwargs, wrt=0)
    c, sig = _compiled(call, "hvp")
    wrt = tuple(i for i in c.adjoint.wrt if is_float(sig.types[i]))
    seeds = _tangent_leaves(call, sig, wrt, call.wrt, (v,))
    grads = tiered.value_and_gradient(c, [*sig.leaves, *seeds, *sig.captured])[1]
    return _per_parameter(c, sig, call, grads)[0]


def hessian(f, x, *args, **kwargs):
    """The Hessian of the scalar f at x (a float or an array), of shape x.shape + x.shape: one
    Hessian-vector product (hvp) per element of x, all in one call of compiled code. The further
    arguments are passed to f and not differentiated."""
    if not isinstance(x, (float, np.ndarray)):
        raise UnsupportedType(f"hessian differentiates a float or a float array; got "
                              f"{type(x).__name__}", hint="use hvp for a structured argument")
    call = bind(f, (x, *args), kwargs, wrt=0)
    c, sig = _compiled(call, "hvp")
    if not isinstance(x, np.ndarray) or tiered.interpret_only():
        cols = np.stack([tiered.value_and_gradient(c, [*sig.leaves, _unit(x, j), *sig.captured])
                         [1][0] for j in range(np.size(x))])
        if not isinstance(x, np.ndarray):
            return float(cols[0])
    else:  # every column in one compiled call
        cols = np.asarray(c.rows([*sig.leaves, np.zeros_like(x, dtype=_float_dtype(x)),
                                  *sig.captured])[0])
    return np.moveaxis(cols, 0, -1).reshape(x.shape + x.shape)


vjp = pullback


# ---- zygopy inside a function being differentiated -------------------------------------------

# The public functions a differentiated function may call are gradient, grad(g, argnums)(...) and
# jvp, which the frontend compiles (ir/frontend.py); how to write some others with them. Inlined
# as plain Python, any other (its code zygopy's own, taking *args) was refused at zygopy's line.
_INSIDE_HINTS = {
    "hvp": "H v is the tangent of the gradient: def gx(x): return zygopy.gradient(f, x)[0], "
           "then zygopy.jvp(gx, (x,), (v,))[1]",
    "hessian": "its column j is the tangent of the gradient along the unit vector e: def gx(x): "
               "return zygopy.gradient(f, x)[0], then zygopy.jvp(gx, (x,), (e,))[1]",
    "jacobian": "its column j is the tangent along the unit vector e: zygopy.jvp(g, (x,), "
                "(e,))[1]",
    "grad": "call the function it makes where it is made: zygopy.grad(g, argnums)(x, ...)",
    "withgradient": "call the function and zygopy.gradient(f, x, ...) apart",
    "value_and_grad": "call the function and zygopy.grad(g, argnums)(x, ...) apart",
    "checkpoint": "decorate the function with @zygopy.checkpoint where it is defined",
    "custom_rule": "decorate the function with @zygopy.custom_rule where it is defined",
}
_INSIDE = "zygopy.gradient, zygopy.grad(g, argnums)(x, ...) and zygopy.jvp work inside"


def refused_inside(fn, written):
    """(message, hint) where fn, called as `written` in a function being differentiated, is one of
    zygopy's public functions or a function one of them made (zygopy.grad(g)); else None."""
    import zygopy
    head = fn.__code__.co_qualname.split(".")[0]
    public = getattr(zygopy, head) if head in zygopy.__all__ else None
    if not (isinstance(public, types.FunctionType)
            and public.__code__.co_filename == fn.__code__.co_filename):
        return None
    if fn is public:  # named as written too where that differs (vjp is pullback)
        name = f"zygopy.{head}"
        name += "" if written.split(".")[-1] == head else f" (called as {written})"
        return (f"{name} inside a differentiated function is not supported",
                f"{_INSIDE_HINTS[head]} ({_INSIDE})" if head in _INSIDE_HINTS else _INSIDE)
    return (f"{written}, a function zygopy.{head} made, inside a differentiated function is not "
            "supported", "call zygopy.gradient(g, x, ...) or zygopy.grad(g, argnums)(x, ...) in "
            "the function itself")


# ---- JAX's names, with JAX's meaning ---------------------------------------------------------

def grad(f, argnums=0):
    """JAX's grad: a function taking f's arguments and returning the gradient of the argument
    `argnums` (a tuple of gradients if `argnums` is a tuple). Keyword arguments are passed to f
    and not differentiated. Zygote's form, a tuple for every argument, is `gradient(f, x, y)`."""
    value_and_grad_f = value_and_grad(f, argnums)

    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        return value_and_grad_f(*args, **kwargs)[1]
    return grad_f


def value_and_grad(f, argnums=0):
    """JAX's value_and_grad: a function taking f's arguments and returning (f(...), the gradient
    of argument `argnums`), as `grad`. Zygote's form is `withgradient(f, x, y)`."""
    indices = _argnums(argnums)

    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        if max(indices) >= len(args):
            raise UnsupportedType(f"argnums={argnums!r} names positional arguments, and "
                                  f"{getattr(f, '__name__', f)} was given {len(args)}",
                                  hint="pass the arguments to differentiate positionally")
        value, grads = withgradient(f, *args, wrt=indices, **kwargs)
        picked = tuple(grads[i] for i in indices)
        return value, picked[0] if isinstance(argnums, int) else picked
    return value_and_grad_f


def _argnums(argnums):
    """argnums as a tuple of argument positions, checked."""
    def is_index(i):
        return isinstance(i, int) and not isinstance(i, bool) and i >= 0

    if is_index(argnums):
        return (argnums,)
    if isinstance(argnums, (tuple, list)) and argnums and all(map(is_index, argnums)):
        return tuple(argnums)
    raise UnsupportedType(f"argnums={argnums!r}: the position of an argument, or a tuple of them",
                          hint="grad(f) and value_and_grad(f) return a function, as in JAX; to "
                          "differentiate at given arguments at once, call gradient(f, x, y) or "
                          "withgradient(f, x, y)")

"""Every derivative rule in one table, keyed by primitive.

A reverse rule takes the output gradient `g`, the primal output `y` and the primal inputs, and
returns one contribution per input (None where the input gets none). Arguments are `Sym`s:
arithmetic on them emits IR into the block being built, so rules read like the maths.
An entry is a reverse rule, or a `Rule` holding a primitive's reverse and tangent rules together;
`tangent_rule_for` says how forward mode differentiates each primitive.
Users replace the rule of a primitive with `register_rule`.
"""
from __future__ import annotations

import difflib
import functools
import math
import sys
from dataclasses import dataclass
from typing import Callable

from ..errors import NoRule, ZygopyError


class Sym:
    """A value in the reverse block under construction; operators emit IR statements."""
    __slots__ = ("emit", "v")

    def __init__(self, emit, v):
        self.emit, self.v = emit, v

    def _op(self, op, *others):
        return self.emit(op, self, *others)

    def __add__(self, o): return self._op("add", o)
    def __radd__(self, o): return self.emit("add", o, self)
    def __sub__(self, o): return self._op("sub", o)
    def __rsub__(self, o): return self.emit("sub", o, self)
    def __mul__(self, o): return self._op("mul", o)
    def __rmul__(self, o): return self.emit("mul", o, self)
    def __truediv__(self, o): return self._op("truediv", o)
    def __rtruediv__(self, o): return self.emit("truediv", o, self)
    def __pow__(self, o): return self._op("pow", o)
    def __neg__(self): return self._op("neg")
    def __lt__(self, o): return self._op("lt", o)
    def __le__(self, o): return self._op("le", o)
    def __gt__(self, o): return self._op("gt", o)
    def __ge__(self, o): return self._op("ge", o)
    def __eq__(self, o): return self._op("eq", o)
    __hash__ = object.__hash__


def _prim(op):
    def call(*args):
        sym = next(a for a in args if isinstance(a, Sym))
        return sym.emit(op, *args)
    call.__name__ = op
    return call


sin, cos, sinh, cosh, exp, log, sqrt, sign, select, copysign = map(
    _prim, ["sin", "cos", "sinh", "cosh", "exp", "log", "sqrt", "sign", "select", "copysign"])

TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _pow(g, y, a, b):
    # d/da a**b = b * a**(b-1), which is 0 when b = 0 even at a = 0 (where a**(b-1) is infinite:
    # the base is replaced by 1 there, or 0 * inf would give nan); d/db = y * log(a), for a > 0
    if type(b.v) in (int, float):  # a constant exponent, the common case: x**2 is 2 x
        if b.v == 0:
            return None, None
        return (g if b.v == 1 else g * b.v * a if b.v == 2 else g * b.v * a ** (b.v - 1)), None
    safe_base = select(b == 0, 1.0, a)
    return g * b * safe_base ** (b - 1), select(a > 0.0, g * y * log(select(a > 0.0, a, 1.0)), 0.0)


def _remainder(g, y, a, b):
    # y = a - q b for an integer q (floor(a / b) for %, its truncation for fmod): d/db = -q, with
    # q = (a - y) / b, the quotient y was computed with (floor(a / b) itself can be one off where
    # a / b rounds to an integer); plain arithmetic, so it works on arrays and keeps float32
    return g, -(g * ((a - y) / b))


def _min(g, y, a, b):
    first = a <= b
    return select(first, g, 0.0), select(first, 0.0, g)


def _max(g, y, a, b):
    first = a >= b
    return select(first, g, 0.0), select(first, 0.0, g)


def _zero(g, y, *args):
    return (None,) * len(args)


@dataclass(frozen=True)
class Rule:
    """A primitive's two derivatives in one entry. `reverse(g, y, *operands)` gives one
    contribution per operand (calling the entry calls it, as for a plain reverse rule);
    `tangent(ds, y, *operands)` gives y's tangent from the operands' tangents `ds` (None where an
    operand has none, i.e. a zero one), or None for a zero tangent."""
    reverse: Callable
    tangent: Callable

    def __call__(self, *args):
        return self.reverse(*args)


@dataclass(frozen=True)
class Linear:
    """The tangent rule of a primitive linear in its operands at `positions` ("arrays": all its
    array operands): the primitive applied to their tangents, a zero for an operand without one.
    `product`: multilinear instead (matmul): the sum over the operands with a tangent of the
    primitive with that one operand replaced by its tangent."""
    positions: tuple | str = (0,)
    product: bool = False

    def __call__(self, op, ds, y, *args):
        chosen = ([i for i, a in enumerate(args) if _is_array(a)] if self.positions == "arrays"
                  else self.positions)
        if not self.product:
            return y.emit(op, *[(ds[i] if ds[i] is not None else zero_like(a)) if i in chosen
                                else a for i, a in enumerate(args)])
        terms = [y.emit(op, *[ds[i] if k == i else a for k, a in enumerate(args)])
                 for i in chosen if ds[i] is not None]
        return functools.reduce(lambda a, b: a + b, terms)


def _is_array(a):
    return hasattr(getattr(a.v, "type", None), "ndim")


def zero_like(a):
    """A zero tangent for the operand a: an array of zeros shaped like it, or 0.0."""
    if _is_array(a):
        return a.emit("zeros_like", a, None)
    return 0.0


def _derived(reverse):
    """The tangent of an elementwise primitive (its Jacobian is diagonal, so each operand's
    reverse contribution given its tangent is that operand's share of y's tangent), or of one with
    no gradient (all contributions None): the reverse rule's contributions, added up."""
    def tangent(ds, y, *args):
        terms = [reverse(d, y, *args)[i] for i, d in enumerate(ds) if d is not None]
        terms = [t for t in terms if t is not None]
        return functools.reduce(lambda a, b: a + b, terms) if terms else None
    return tangent


RULES = {
    "add": lambda g, y, a, b: (g, g),
    "sub": lambda g, y, a, b: (g, -g),
    "mul": lambda g, y, a, b: (g * b, g * a),
    "truediv": lambda g, y, a, b: (g / b, -(g * y) / b),
    "neg": lambda g, y, a: (-g,),
    "pos": lambda g, y, a: (g,),
    "pow": _pow,
    "abs": lambda g, y, x: (g * sign(x),),
    "fabs": lambda g, y, x: (g * sign(x),),
    "min": _min,
    "max": _max,
    "select": lambda g, y, c, a, b: (None, select(c, g, 0.0), select(c, 0.0, g)),
    "float": Rule(lambda g, y, x: (g,), Linear()),
    "sin": lambda g, y, x: (g * cos(x),),
    "cos": lambda g, y, x: (-(g * sin(x)),),
    "tan": lambda g, y, x: (g * (1.0 + y * y),),
    "asin": lambda g, y, x: (g / sqrt(1.0 - x * x),),
    "acos": lambda g, y, x: (-g / sqrt(1.0 - x * x),),
    "atan": lambda g, y, x: (g / (1.0 + x * x),),
    "sinh": lambda g, y, x: (g * cosh(x),),
    "cosh": lambda g, y, x: (g * sinh(x),),
    "tanh": lambda g, y, x: (g * (1.0 - y * y),),
    "asinh": lambda g, y, x: (g / sqrt(x * x + 1.0),),
    "acosh": lambda g, y, x: (g / sqrt(x * x - 1.0),),
    "atanh": lambda g, y, x: (g / (1.0 - x * x),),
    "exp": lambda g, y, x: (g * y,),
    "expm1": lambda g, y, x: (g * (y + 1.0),),
    "log": lambda g, y, x: (g / x,),
    "log1p": lambda g, y, x: (g / (1.0 + x),),
    "log2": lambda g, y, x: (g / (x * math.log(2.0)),),
    "log10": lambda g, y, x: (g / (x * math.log(10.0)),),
    "sqrt": lambda g, y, x: (g * 0.5 / y,),
    "erf": lambda g, y, x: (g * TWO_OVER_SQRT_PI * exp(-(x * x)),),
    "erfc": lambda g, y, x: (-(g * TWO_OVER_SQRT_PI) * exp(-(x * x)),),
    "atan2": lambda g, y, a, b: (g * b / (a * a + b * b), -(g * a) / (a * a + b * b)),
    "hypot": lambda g, y, a, b: (g * a / y, g * b / y),
    "square": lambda g, y, x: (g * (2.0 * x),),
    "logaddexp": lambda g, y, a, b: (g * exp(a - y), g * exp(b - y)),
    "copysign": lambda g, y, a, b: (g * sign(a) * copysign(1.0, b), None),
    "mod": _remainder,
    "fmod": _remainder,
    # piecewise constant: zero almost everywhere
    "floordiv": _zero, "sign": _zero, "floor": _zero, "ceil": _zero,
}


def _custom(g, y, rule, *args):
    from ..custom import specialize
    from ..ir.infer import type_of_arg
    spec = specialize(rule.v, [type_of_arg(a.v) for a in args])
    grads = g.emit("custom_grad", rule, g, y if rule.v.needs_output else None, *args)
    return (None, *[None if t is None or not hasattr(t, "dtype") else g.emit("getindex", grads, i)
                    for i, t in enumerate(spec.gradient_types)])


def _custom_tangent(ds, y, rule, *args):
    tangent = rule.v.tangent_rule
    if tangent is None:
        forward = rule.v.forward
        raise NoRule(f"the custom rule {forward.__name__!r} has no tangent rule, which forward "
                     "mode (jvp, hessian) needs", forward.__code__.co_filename,
                     forward.__code__.co_firstlineno,
                     hint=f"add one with @{forward.__name__}.tangent: (y, *inputs, *tangents) "
                          "-> tangent of y")
    return y.emit("custom", tangent, y, *args, *[d if d is not None else zero_like(a)
                                                  for d, a in zip(ds[1:], args, strict=True)])


RULES["custom"] = Rule(_custom, _custom_tangent)


def _unit(g, y, spec, *args):
    # the unit's pullback takes its tape, which its forward returns with y (split_units), and a
    # gradient of y's dtype, for which it is compiled (a float32 layer's output may get a float64
    # gradient); compiled, a cast to the dtype g has already is no copy (source.reverse_statement)
    g = g.emit("astype", g, spec.v.result_type.dtype)
    grads = g.emit("unit_pullback", spec, y, g)
    position = {i: k for k, i in enumerate(spec.v.wrt)}
    return (None, *[g.emit("getindex", grads, position[i]) if i in position else None
                    for i in range(len(args))])


RULES["unit"] = _unit
RULES["stop_gradient"] = Rule(lambda g, y, x: (None,), lambda ds, y, x: None)


_version = 0  # counts replaced rules


def rules_version() -> int:
    """Changes whenever a rule is replaced: gradients compiled before used the old rule."""
    return _version


def register_rule(op):
    """Decorator replacing the derivative rule of the primitive `op`, named as the IR prints it:

        @zygopy.register_rule("sin")
        def _(g, y, x):            # output gradient, output, inputs -> one entry per input
            return (g * cos(x),)   # `cos` from zygopy.adjoint.rules: rules emit IR

    Gradients compiled from then on use it. For a function of your own, use `custom_rule`."""
    known = _primitives()
    if op not in known:
        caller = sys._getframe(1)
        close = difflib.get_close_matches(str(op), known, n=1)
        raise NoRule(f"register_rule: {op!r} is not a zygopy primitive"
                     + (f"; did you mean {close[0]!r}?" if close else ""),
                     caller.f_code.co_filename, caller.f_lineno,
                     hint=f"the primitives are {', '.join(known)}; to give a function of your "
                          "own a derivative, decorate it with @zygopy.custom_rule and add a "
                          ".pullback")

    def replace(fn):
        RULES[op] = fn
        rules_changed()
        return fn
    return replace


def rules_changed():
    """Makes the gradients compiled so far stale: a rule they used has been replaced."""
    global _version
    _version += 1


def _primitives():
    """The primitives a rule may be registered for: those of user code, not the adjoint's own
    operations (which have no evaluator), custom rules (which carry their pullback) nor those
    rewritten into others before differentiating (np.einsum, np.linalg.norm, ...)."""
    from ..ir import array_primitives  # noqa: F401  (registers the array primitives)
    from ..ir.primitives import PRIMITIVES
    from ..units import UNIT_OPS
    return sorted(name for name, p in PRIMITIVES.items()
                  if p.impl is not None and not p.lowered
                  and name not in ("custom", "custom_grad", *UNIT_OPS))


def rule_for(op, filename=None, line=None):
    rule = RULES.get(op)
    if rule is None:
        raise NoRule(f"the primitive {op!r} has no derivative rule, and the gradient flows through "
                     "it", filename, line,
                     hint=f"add one with @zygopy.register_rule({op!r}), or stop the gradient "
                          "before it")
    return rule


def tangent_rule_for(op, filename=None, line=None):
    """The tangent rule of `op`, `(ds, y, *operands) -> tangent of y`: the entry's own, or derived
    from a plain reverse rule where that is exact (elementwise primitives, no gradient)."""
    from ..ir.primitives import PRIMITIVES
    entry = rule_for(op, filename, line)
    tangent = getattr(entry, "tangent", None)
    if isinstance(tangent, Linear):
        return functools.partial(tangent, op)
    if tangent is not None:
        return tangent
    if entry is _zero or PRIMITIVES[op].elementwise:
        return _derived(entry)
    raise NoRule(f"the primitive {op!r} has no tangent (forward-mode) rule, and the tangent flows "
                 "through it", filename, line,
                 hint="differentiate it in reverse mode (gradient, pullback), or stop the "
                      "gradient before it")


__all__ = ["RULES", "Rule", "Linear", "Sym", "register_rule", "rule_for", "tangent_rule_for",
           "rules_version", "ZygopyError"]

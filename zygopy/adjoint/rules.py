"""Every derivative rule in one table, keyed by primitive.

A rule takes the output gradient `g`, the primal output `y` and the primal inputs, and returns
one contribution per input (None where the input gets none). Arguments are `Sym`s: arithmetic on
them emits IR into the reverse block being built, so rules read like the maths.
Users replace the rule of a primitive with `register_rule`.
"""
from __future__ import annotations

import difflib
import math
import sys

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
    "float": lambda g, y, x: (g,),
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
    grads = g.emit("custom_grad", rule, g, y, *args)
    return (None, *[None if t is None or not hasattr(t, "dtype") else g.emit("getindex", grads, i)
                    for i, t in enumerate(spec.gradient_types)])


RULES["custom"] = _custom
RULES["stop_gradient"] = lambda g, y, x: (None,)


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
        global _version
        RULES[op] = fn
        _version += 1
        return fn
    return replace


def _primitives():
    """The primitives a rule may be registered for: those of user code, not the adjoint's own
    operations (which have no evaluator), custom rules (which carry their pullback) nor those
    rewritten into others before differentiating (np.einsum, np.linalg.norm, ...)."""
    from ..ir import array_primitives  # noqa: F401  (registers the array primitives)
    from ..ir.primitives import PRIMITIVES
    return sorted(name for name, p in PRIMITIVES.items()
                  if p.impl is not None and not p.lowered
                  and name not in ("custom", "custom_grad"))


def rule_for(op, filename=None, line=None):
    rule = RULES.get(op)
    if rule is None:
        raise NoRule(f"the primitive {op!r} has no derivative rule, and the gradient flows through "
                     "it", filename, line,
                     hint=f"add one with @zygopy.register_rule({op!r}), or stop the gradient "
                          "before it")
    return rule


__all__ = ["RULES", "Sym", "register_rule", "rule_for", "rules_version", "ZygopyError"]

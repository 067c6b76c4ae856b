"""User-defined derivative rules for whole functions, and stop_gradient.

    @zygopy.custom_rule
    def clip(x, lo, hi):
        return min(max(x, lo), hi)

    @clip.pullback
    def _(g, y, x, lo, hi):        # output gradient, output, inputs -> one entry per input
        return g, None, None       # straight through for x; None: no gradient

    @clip.tangent                  # forward mode (jvp, hessian): output, inputs, their tangents
    def _(y, x, lo, hi, dx, dlo, dhi):
        return dx                  # -> the output's tangent; a tangent not varied is a zero

The forward and the pullback are compiled by zygopy like any function (same subset); inside
differentiated code the call becomes one primitive whose derivative is the user's pullback.
"""
from __future__ import annotations

import functools
import hashlib

_RULES_NAMED: dict = {}  # "module.qualname" -> how many rules were made under that name


class CustomRule:
    needs_output = True  # the pullback takes the output (a checkpoint's computes it again)

    def __init__(self, forward):
        functools.update_wrapper(self, forward)
        self.forward = forward
        self.backward = None
        self.tangent_rule = None  # a CustomRule of its own: the call its tangent becomes
        self.tangent_of = None  # for a tangent rule: the rule it is the tangent of
        self.where = f"{forward.__module__}.{forward.__qualname__}"
        # unique to this rule (two modules may each define a `clip`, a factory many), and the same
        # from one process to the next, since it names the rule in generated code cached on disk
        serial = _RULES_NAMED.get(self.where, 0)
        _RULES_NAMED[self.where] = serial + 1
        self.uid = f"{self.where}#{serial}"

    def __call__(self, *args):
        return self.forward(*args)

    def pullback(self, backward):
        """Decorator: the function's pullback, `(g, y, *inputs) -> (contribution per input)`."""
        self._replacing(self.backward)
        self.backward = backward
        return backward

    def tangent(self, tangent):
        """Decorator: the function's tangent rule, `(y, *inputs, *tangents) -> tangent of y`,
        which forward mode calls (a zero stands for the tangent of an input that does not vary)."""
        self._replacing(self.tangent_rule)
        self.tangent_rule = CustomRule(tangent)
        self.tangent_rule.tangent_of = self
        return tangent

    def _replacing(self, old):
        """A rule given again (a notebook cell run again): what was compiled with the old one is
        stale."""
        if old is not None:
            from .adjoint.rules import rules_changed
            for key in [k for k in _SPECS if k[0] is self]:
                del _SPECS[key]
            rules_changed()

    def __repr__(self):
        return f"custom_rule({self.where})"


def custom_rule(forward) -> CustomRule:
    return CustomRule(forward)


def stop_gradient(x):
    """x, through which no gradient flows."""
    return x


_SPECS: dict = {}


class Specialization:
    """A custom rule compiled for argument types: the forward's IR, and the pullback's on demand."""

    def __init__(self, rule, arg_types):
        from .ir.compile import compile_ir
        self.rule, self.arg_types = rule, list(arg_types)
        # a rule is called with its arguments only: it can take no hidden ones
        self.forward_ir = compile_ir(rule.forward, self.arg_types, capture=False)
        from .ir.infer import returned_type
        self.result_type = returned_type(self.forward_ir)
        digest = hashlib.sha1(repr((rule.uid, tuple(map(str, arg_types)))).encode()).hexdigest()
        self.name = f"zy_rule_{rule.forward.__name__}_{digest[:12]}"
        self._pullback_ir = None

    @property
    def pullback_ir(self):
        if self._pullback_ir is None:
            from .errors import NoRule
            from .ir.compile import compile_ir
            of = self.rule.tangent_of
            if self.rule.backward is None and of is not None:
                code = of.forward.__code__
                raise NoRule(f"second derivatives (hvp, hessian) through the custom rule "
                             f"{of.forward.__name__!r} are not supported: its tangent rule has "
                             "no pullback", code.co_filename, code.co_firstlineno,
                             hint="differentiate a plain function instead of the custom rule")
            if self.rule.backward is None:
                code = self.rule.forward.__code__
                raise NoRule(f"the custom rule {self.rule.forward.__name__!r} has no pullback",
                             code.co_filename, code.co_firstlineno,
                             hint=f"add one with @{self.rule.forward.__name__}.pullback")
            types = [self.result_type, self.result_type] + self.arg_types
            self._pullback_ir = compile_ir(self.rule.backward, types, capture=False)
        return self._pullback_ir

    def called(self, gradient: bool) -> list:
        """The IR its forward (or its pullback) runs, whose custom rules are compiled too."""
        return [self.pullback_ir if gradient else self.forward_ir]

    def captured(self):
        """What the forward, and the pullback once built, read from outside (folded)."""
        built = [self.forward_ir] + ([self._pullback_ir] if self._pullback_ir else [])
        return [c for fn in built for c in fn.captured]

    @property
    def gradient_types(self):
        from .ir.infer import returned_type
        t = returned_type(self.pullback_ir)
        return getattr(t, "elts", (t,))


def specialize(rule, arg_types) -> Specialization:
    """The rule compiled for these argument types, again if a value it read from outside has
    changed since; a rule's class may bring its own kind of specialization (kernels do)."""
    from .ir.captured import current_values
    key = (rule, tuple(arg_types))
    spec = _SPECS.get(key)
    if spec is None or current_values(spec.captured()) is None:
        spec = _SPECS[key] = getattr(rule, "specialization", Specialization)(rule, arg_types)
    return spec


def specialization_of(st):
    """The specialization a `custom` or `custom_grad` statement (typed) calls."""
    from .ir.infer import type_of_arg
    skip = 1 if st.op == "custom" else 3  # custom_grad(rule, g, y, *inputs)
    return specialize(st.args[0], [type_of_arg(a) for a in st.args[skip:]])


def called_rules(*fns):
    """(specialization, op) for each custom rule the IR functions call, and each rule those
    rules call, once each, callers first; op is "custom" (the forward) or "custom_grad" (the
    pullback)."""
    done, out, todo = set(), [], list(fns)
    while todo:
        fn = todo.pop()
        for b in fn.blocks:
            for st in b.stmts:
                if st.op not in ("custom", "custom_grad"):
                    continue
                spec = specialization_of(st)
                if (spec.name, st.op) in done:
                    continue
                done.add((spec.name, st.op))
                out.append((spec, st.op))
                todo += spec.called(st.op == "custom_grad")
    return out


def rule_captures(*fns) -> list:
    """What the rules the functions call read from outside, folded into their code: compiled
    code that calls them is compiled again when one of these changes."""
    return [c for spec, _ in called_rules(*fns) for c in spec.captured()]

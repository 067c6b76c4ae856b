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

from .errors import UnsupportedType, WrongRuleResult
from .ir.types import NONE, ArrayT, Scalar, TupleT, typeof

_RULES_NAMED: dict = {}  # "module.qualname" -> how many rules were made under that name


class CustomRule:
    needs_output = True  # the pullback takes the output (a checkpoint's computes it again)
    # what the pullback and the tangent rule return is checked (Derivatives); a checkpoint's and a
    # kernel's are zygopy's own, shaped right by construction
    checks_results = True

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
        if rule.tangent_of is not None:  # a tangent rule: (y, *inputs, *tangents) -> y's tangent
            self.tangent = Derivatives(rule.tangent_of, False, self.arg_types[0], self.result_type)

    @property
    def pullback_ir(self):
        if self._pullback_ir is None:
            from .errors import NoRule
            from .ir.compile import compile_ir
            from .ir.infer import returned_type
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
            pullback_ir = compile_ir(self.rule.backward, types, capture=False)
            returned = returned_type(pullback_ir)
            self._gradients = Derivatives(self.rule, True, TupleT(tuple(self.arg_types)),
                                          returned if isinstance(returned, TupleT) else
                                          TupleT((returned,)))
            self._pullback_ir = pullback_ir
        return self._pullback_ir

    def derivatives(self, gradient: bool):
        """The Derivatives the pullback (gradient) or the forward returns, where they are the
        user's and checked: a tangent rule's forward, a rule's pullback."""
        if not self.rule.checks_results:
            return None
        if gradient:
            _ = self.pullback_ir  # compiled on first use, which makes its Derivatives
            return self._gradients
        return getattr(self, "tangent", None)

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


# ---- what a user's pullback and tangent rule return ---------------------------------------------
# A derivative must be shaped as the value it is the derivative of: a gradient as its input, a
# tangent as the rule's output. One of another shape went on silently, broadcast by what used it
# (a 0-d gradient of a (2,) input, an array tangent of a number). Ranks are checked while
# compiling; shapes, a compare per array, when the rule returns: on both routes, the evaluator's
# (run_pullback, run_forward) and compiled code's (the rule's returns, backend source.py).

class Derivatives:
    """What a rule's pullback (gradient=True: a tuple, a gradient per input) or tangent rule (its
    output's tangent) returns, of type `got`, checked against the type `like` of the values they
    are the derivatives of (a tuple of the inputs; the output)."""

    def __init__(self, rule, gradient, like, got):
        code = (rule.backward if gradient else rule.tangent_rule.forward).__code__
        self.where = (code.co_filename, code.co_firstlineno)
        self.rule, self.gradient = rule, gradient
        wrong = _unlike(got, like, none_ok=gradient)
        if wrong is not None:
            path, got_t, like_t = wrong
            raise UnsupportedType(f"{self.label(path)} {_kind(got_t)} for {_kind(like_t)}",
                                  *self.where, hint="return each derivative shaped like the "
                                  "value it is the derivative of" + (" (a tuple of one per input, "
                                  "None for no gradient)" if gradient else ""))
        # the arrays to compare shapes of at run time: paths into the result and into `like`
        self.arrays = list(_array_paths(got, like))

    def label(self, path):
        """Which derivative a path into the result is, in words."""
        what = "the pullback" if self.gradient else "the tangent rule"
        head = f"{what} of the custom rule {self.rule.forward.__name__!r} returns"
        if not self.gradient:
            return f"{head}, as the tangent of its output{_part(path)},"
        if not path:
            return f"{head}, as its tuple of a gradient per input,"
        name = self.rule.forward.__code__.co_varnames[path[0]]
        return f"{head}, as the gradient of its argument {path[0]} ({name!r}){_part(path[1:])},"

    def counterpart(self, path):
        """(position among the rule function's arguments, path in it) of what the array at `path`
        in its result is the derivative of: an input of the pullback's (g, y, *inputs), the
        output y of the tangent rule's (y, *inputs, *tangents)."""
        return (2 + path[0], path[1:]) if self.gradient else (0, path)

    def check(self, result, args):
        """Raises where an array of the result is not shaped as its counterpart among the rule
        function's arguments `args` (values; compiled code's test is written by source.py)."""
        for path in self.arrays:
            k, rest = self.counterpart(path)
            got, expected = _at(result, path), _at(args[k], rest)
            if got.shape != expected.shape:
                raise WrongRuleResult(*self.wrong_shape(path), got.shape, expected.shape)

    def wrong_shape(self, path):
        """The constant arguments of the WrongRuleResult for the array at `path`."""
        return self.label(path) + " an array", *self.where


def _unlike(got, like, none_ok, path=()):
    """(path, type, expected type) of the first part of `got` that cannot be a derivative of its
    part of `like` (a number of a float number, an array of the rank of a float array, a tuple of
    as many of a tuple, None where none_ok), or None; an int or a bool takes any."""
    if isinstance(like, TupleT):
        if not (isinstance(got, TupleT) and len(got.elts) == len(like.elts)):
            return path, got, like
        for k, (g, w) in enumerate(zip(got.elts, like.elts, strict=True)):
            wrong = _unlike(g, w, none_ok, (*path, k))
            if wrong is not None:
                return wrong
        return None
    if not getattr(like, "is_float", False) or (none_ok and got == NONE):
        return None
    if isinstance(like, ArrayT):
        return None if isinstance(got, ArrayT) and got.ndim == like.ndim else (path, got, like)
    return None if isinstance(got, Scalar) else (path, got, like)


def _array_paths(got, like, path=()):
    if isinstance(like, TupleT) and isinstance(got, TupleT):
        for k, (g, w) in enumerate(zip(got.elts, like.elts, strict=True)):
            yield from _array_paths(g, w, (*path, k))
    elif isinstance(like, ArrayT) and isinstance(got, ArrayT):
        yield path


def _kind(t):
    if isinstance(t, ArrayT):
        return f"an array of {t.ndim} dimension{'s' * (t.ndim != 1)}"
    if isinstance(t, TupleT):
        return f"a tuple of {len(t.elts)}"
    return "None" if t == NONE else "a number"


def _part(path):
    return "".join(f"[{k}]" for k in path)


def _at(value, path):
    for k in path:
        value = value[k]
    return value


def run_pullback(rule, g, y, *inputs):
    """The evaluator's custom_grad: the rule's pullback, run as Python, checked."""
    grads = rule.backward(g, y, *inputs)
    checked = _checked(rule, inputs, True)
    if checked is not None:
        checked.check(grads, (g, y, *inputs))
    return grads


def run_forward(rule, *inputs):
    """The evaluator's custom: the rule's forward, run as Python, checked for a tangent rule."""
    result = rule.forward(*inputs)
    checked = _checked(rule, inputs, False)
    if checked is not None:
        checked.check(result, inputs)
    return result


def _checked(rule, inputs, gradient):
    """The Derivatives the rule's result is checked by, or None."""
    if not rule.checks_results or (not gradient and rule.tangent_of is None):
        return None
    return specialize(rule, [typeof(x) for x in inputs]).derivatives(gradient)


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

"""zygopy's gradients of the corpus (tests/corpus_grad.py) against central finite differences.

Three independent routes to the gradient are checked at hypothesis-drawn points:
  fused      zygopy.gradient: the Numba-compiled forward and reverse in one function;
  split      zygopy.pullback: a compiled forward, then back(1.0) twice (the tape must be reusable);
  evaluator  the adjoint IR run by the pure-Python reference interpreter (no Numba).

Finite differences are of the plain Python function, in float64, central, with
h = 1e-6 * max(1, |x|). Tolerances: |ad - fd| <= atol + rtol * |fd| with rtol = 1e-5, atol = 1e-7.
  - truncation error of a central difference: h^2 |f'''| / 6 ~ 1.7e-13 |f'''| (relative to x^2
    when |x| > 1): negligible for the corpus, whose third derivatives are O(1..100);
  - rounding error: about eps |f| / h ~ 2.2e-16 * |f| / 1e-6 = 2.2e-10 |f| (times a small factor
    for the rounding noise of long loops); the corpus keeps |f| below ~100, so this stays below
    ~3e-8 < atol;
  - so a correct gradient passes with a margin of ~100x, while a wrong rule (a missing factor,
    a sign, a dropped contribution) is off by far more than 1e-5 relative.
A drawn point is skipped (hypothesis `assume`) when differences with steps h/2 and 2h do not
agree with step h to 1e-4 relative: then a branch decision, a kink or a jump lies within the step,
and the finite difference measures that instead of the derivative. Kinks exactly at the point
(hypothesis likes drawing 0.0 or equal arguments, e.g. max(x, 0.0) at x = 0.0), where all central
differences agree on the mean of the two one-sided slopes, are detected by the second difference
(see `finite_difference_gradient`) and skipped too.
"""
import ast
import math
import pathlib

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import zygopy
from zygopy.ir.evaluate import evaluate_gradient

from .corpus_grad import CASES, Bool, Float, Int

RTOL, ATOL = 1e-5, 1e-7
FD_AGREE = 1e-4

# (path, function name) -> (reason, exception raised), for known failures (kept as strict xfails)
KNOWN_FAILURES = {}


def strategy(domain):
    if isinstance(domain, Float):
        return st.floats(domain.lo, domain.hi, allow_nan=False, allow_infinity=False)
    if isinstance(domain, Int):
        return st.integers(domain.lo, domain.hi)
    if isinstance(domain, Bool):
        return st.booleans()
    raise TypeError(domain)


def args_strategy(domains):
    return st.tuples(*[strategy(d) for d in domains])


def central_difference(f, args, i, h):
    up, down = list(args), list(args)
    up[i] += h
    down[i] -= h
    return (float(f(*up)) - float(f(*down))) / (2.0 * h)


def finite_difference_gradient(f, args, domains, require=assume):
    """Per argument: the central difference, or None for ints and bools. Skips points at kinks
    (through `require`, hypothesis' `assume`)."""
    out = []
    fx = float(f(*args))
    for i, (a, d) in enumerate(zip(args, domains, strict=True)):
        if not isinstance(d, Float):
            out.append(None)
            continue
        h = 1e-6 * max(1.0, abs(a))
        fd = central_difference(f, args, i, h)
        scale = max(1.0, abs(fd))
        # a branch flip, kink or jump within the step: differences with other steps disagree
        for other in (central_difference(f, args, i, h / 2), central_difference(f, args, i, 2 * h)):
            require(abs(other - fd) <= FD_AGREE * max(abs(fd), abs(other)) + 1e-6)
        # a kink or a special case exactly at (or extremely near) the point, where the central
        # differences of all steps agree on the average of the two one-sided slopes:
        # kink(h) = (f(x+h) - 2 f(x) + f(x-h)) / h is f'' h for smooth f, so kink(h) - 2 kink(h/2)
        # is O(h^3); at a kink of the slope by D it is about -D. A kink below 1e-5 * scale moves
        # the central difference by at most half of that: inside the tolerance.
        require(abs(kink(f, args, i, h, fx) - 2.0 * kink(f, args, i, h / 2, fx)) <= 1e-5 * scale)
        out.append(fd)
    return tuple(out)


def kink(f, args, i, h, fx):
    up, down = list(args), list(args)
    up[i] += h
    down[i] -= h
    return (float(f(*up)) - 2.0 * fx + float(f(*down))) / h


def check_close(grads, expected, what, f, args):
    assert isinstance(grads, tuple) and len(grads) == len(expected), (what, grads)
    for i, (g, e) in enumerate(zip(grads, expected, strict=True)):
        if e is None:
            assert g is None, (f"{what}: {f.__name__}{args}: argument {i} is not a float but got "
                               f"gradient {g!r}")
            continue
        assert isinstance(g, float) and math.isfinite(g), (what, g)
        assert abs(g - e) <= ATOL + RTOL * abs(e), \
            f"{what}: {f.__name__}{args}: d/d(arg {i}) = {g!r}, finite differences give {e!r}"


def params(path):
    """The corpus for one path; the two compiled paths (fused, split) take every other case
    each: they compile the same forward and reverse code, and compiling is the suite's cost."""
    out = []
    for k, (f, domains) in enumerate(CASES):
        if path in ("fused", "split") and k % 2 != (path == "split"):
            continue
        marks = []
        known = KNOWN_FAILURES.get((path, f.__name__))
        if known:
            reason, raises = known
            marks.append(pytest.mark.xfail(strict=True, raises=raises, reason=reason))
        out.append(pytest.param(f, domains, id=f.__name__, marks=marks))
    return out


# no shrinking: a failure's exact point is printed anyway, and shrinking reruns Numba-compiled
# code many times; too_slow: a first example pays for the Numba compilation.
SETTINGS = settings(max_examples=10, deadline=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.parametrize("f, domains", params("fused"))
@SETTINGS
@given(data=st.data())
def test_fused_gradient(f, domains, data):
    args = data.draw(args_strategy(domains), label="args")
    expected = finite_difference_gradient(f, args, domains)
    check_close(zygopy.gradient(f, *args), expected, "gradient", f, args)
    value, grads = zygopy.withgradient(f, *args)
    assert value == pytest.approx(float(f(*args)), rel=1e-12, abs=1e-12)
    check_close(grads, expected, "withgradient", f, args)


@pytest.mark.parametrize("f, domains", params("split"))
@SETTINGS
@given(data=st.data())
def test_split_pullback(f, domains, data):
    args = data.draw(args_strategy(domains), label="args")
    expected = finite_difference_gradient(f, args, domains)
    value, back = zygopy.pullback(f, *args)
    assert value == pytest.approx(float(f(*args)), rel=1e-12, abs=1e-12)
    first = back(1.0)
    second = back(1.0)
    assert first == second, (f"pullback of {f.__name__}{args} is not repeatable: {first} then "
                             f"{second}")
    check_close(first, expected, "pullback", f, args)


@pytest.mark.parametrize("f, domains", params("evaluator"))
@SETTINGS
@given(data=st.data())
def test_adjoint_ir_evaluator(f, domains, data):
    args = data.draw(args_strategy(domains), label="args")
    expected = finite_difference_gradient(f, args, domains)
    adj = zygopy.code_adjoint(f, *args)
    value, grads = evaluate_gradient(adj, args)
    assert value == pytest.approx(float(f(*args)), rel=1e-12, abs=1e-12)
    check_close(tuple(grads), expected, "evaluate_gradient", f, args)


def scalar_rule_names():
    """The primitives of the scalar rule table: the keys of the `RULES = {...}` literal in rules.py
    (array, custom and stop_gradient rules are added to RULES elsewhere and tested elsewhere)."""
    import zygopy.adjoint.rules as rules
    tree = ast.parse(pathlib.Path(rules.__file__).read_text())
    table = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "RULES" for t in node.targets))
    return {k.value for k in table.keys}


def _smooth(x):
    return math.sin(3.0 * x) + x * x


def _kink_at_zero(x):
    return max(x, 0.0) + 0.5 * x


def _jump_at_one(x):
    return x + 1.0 if x > 1.0 else x


def test_finite_difference_skips_kinks_only():
    """The skipping logic of the harness: smooth points are kept (with the right value), points at
    or within a step of a kink or jump are rejected."""
    class Skipped(Exception):
        pass

    def require(condition):
        if not condition:
            raise Skipped

    dom = (Float(-2.0, 2.0),)
    for x in (-1.3, 0.0, 0.4, 1.0):
        (fd,) = finite_difference_gradient(_smooth, (x,), dom, require)
        assert fd == pytest.approx(3.0 * math.cos(3.0 * x) + 2.0 * x, rel=1e-8, abs=1e-9)
    assert finite_difference_gradient(_kink_at_zero, (0.25,), dom, require) == pytest.approx(
        (1.5,), rel=1e-9)
    for f, x in ((_kink_at_zero, 0.0), (_kink_at_zero, 3e-7), (_kink_at_zero, -8e-7),
                 (_jump_at_one, 1.0), (_jump_at_one, 1.0 + 1.5e-6)):
        with pytest.raises(Skipped):
            finite_difference_gradient(f, (x,), dom, require)


def test_corpus_size_and_rule_coverage():
    """The corpus is large enough and reaches every scalar derivative rule a program can reach."""
    assert len(CASES) >= 45
    assert len({f.__name__ for f, _ in CASES}) == len(CASES)
    names = scalar_rule_names()
    assert {"sin", "atan2", "pow", "mod", "max"} <= names  # the parse found the table
    ops = set()
    for f, domains in CASES:
        ir = zygopy.code_ir(f, *[d.example for d in domains])
        ops |= {s.op for b in ir.blocks for s in b.stmts}
    # `select` appears only in the reverse IR that rules build; no Python syntax produces it
    unreached = names - ops - {"select"}
    assert not unreached, f"no corpus function uses {sorted(unreached)}"


@pytest.mark.parametrize("f, domains", [pytest.param(f, d, id=f.__name__) for f, d in CASES])
def test_domain_examples_are_valid(f, domains):
    """The documented domains are sane: the function is finite at their corners and centre."""
    for pick in (lambda d: d.example, lambda d: getattr(d, "lo", True),
                 lambda d: getattr(d, "hi", False)):
        args = tuple(pick(d) for d in domains)
        assert math.isfinite(float(f(*args)))

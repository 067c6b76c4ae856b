"""Differential gradient checks of one program at one input point.

Four zygopy paths compute the gradient:
  eval      `evaluate_gradient(zygopy.code_adjoint(f, *args), args)`: the adjoint IR run in pure
            Python
  eval_wrt  the same with `wrt=` a subset of the float arguments (the others inactive)
  fused     `zygopy.withgradient(f, *args)`: what `zygopy.gradient` runs (Numba-compiled value and
            gradient)
  split     `zygopy.pullback(f, *args)`, then `back(1.0)` called twice (same result) and
            `back(2.5)` (2.5 times it) (Numba-compiled forward and pullback)
Each is compared with central finite differences of the plain Python function in float64, and its
value with the plain call. A float argument is one coordinate; a float array argument is one
coordinate per element. The plain function gets fresh copies of the arrays at every call (it may
write into them); a zygopy path must leave the caller's arrays as they were.
A path that refuses the program while building it (UnsupportedSyntax, ...: is_refusal) counts as
unsupported; an error once it runs is a crash, whatever its class: the plain call did not fail.

Finite differences and their tolerances (all derived, none tuned per program):
  h = 1e-4 * max(1, |x|) (the step actually taken, (x + h) - x, is used), d1 = central FD with h,
  d2 = central FD with h/2. For a smooth f, d1 - d2 = h^2 f'''/8 + O(h^4) and rounding adds about
  eps_f * |f| / h, eps_f the relative error of evaluating f (~1e-13 after a few hundred operations).
  Kinks: a branch, min/max/abs or a loop exit whose decision changes within [x - h, x + h] makes the
  two estimates disagree (a slope change s at distance δ from x moves d1 by s(h - δ)/2h but d2 by
  only s max(0, h/2 - δ)/h), and one that sits exactly at x makes the one-sided Richardson
  estimates 2F(h/2) - F(h) and 2B(h/2) - B(h) (forward, backward) disagree by s. Such points are
  skipped and counted:
      |d1 - d2| > 1e-5 |d| + 1e-7 fs        or        |fwd - bwd| > 1e-4 |d| + 1e-6 fs
  with fs = max(1, |f|, |f(x±h)|) / max(1, |x|), the gradient scale of rounding noise (1e-7 fs is
  about 100x the noise eps_f |f| / h).
  Reference: the Richardson extrapolation ref = d2 + (d2 - d1)/3 (error O(h^4) where f is smooth);
  a point where the same extrapolation from h/2 and h/4 differs by more than the tolerance below
  is skipped too: f turns within the steps (seed 441 program 379: sin of a value moving 7691
  times as fast as x, where ref was off by 2.7e-5 relative and autograd agreed with zygopy).
  Gradient tolerance: |g - ref| <= 3 |d1 - d2| + 1e-6 |ref| + 1e-7 fs. The first term covers what is
  left of a kink that the skip test let through (it moves ref by at most |d1 - d2|) and truncation;
  the others rounding. A wrong gradient (a missing or doubled contribution, a wrong branch) is off
  by O(|g|), far beyond that.
  Values: |value - f(x)| <= 1e-9 max(1, |f|): the IR computes the same operations in the same order,
  up to libm differences between Numba and CPython.
  Paths against each other: |g_path - g_eval| <= 1e-8 (|g| + fs): a tighter check that catches
  errors too small for finite differences.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import re
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

# the fused path checks compiled code, which a first call would otherwise interpret while it
# compiles (zygopy/backend/tiered.py; the eval paths check the evaluator)
os.environ["ZYGOPY_INTERPRET_WHILE_COMPILING"] = "0"

H_REL = 1e-4
KINK_REL, KINK_ABS = 1e-5, 1e-7
ONESIDED_REL, ONESIDED_ABS = 1e-4, 1e-6
GRAD_KINK_FACTOR, GRAD_REL, GRAD_ABS = 3.0, 1e-6, 1e-7
VALUE_REL = 1e-9
CROSS_REL = 1e-8

PATHS = ("eval", "eval_wrt", "fused", "split")


# seconds for an evaluator path at one point (compiled paths: the runner's watchdog)
PATH_TIMEOUT = 60


class Timeout(Exception):
    """A path ran longer than PATH_TIMEOUT (an evaluator loop that does not end)."""


@contextlib.contextmanager
def time_limit(seconds):
    """Raise Timeout in the main thread after `seconds` (only where SIGALRM exists)."""
    main_thread = threading.current_thread() is threading.main_thread()
    if seconds is None or not hasattr(signal, "SIGALRM") or not main_thread:
        yield
        return

    def handler(signum, frame):
        raise Timeout(f"no result after {seconds} s")
    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class InvalidProgram(Exception):
    """The plain Python function failed or returned something other than a finite float: a
    generator bug."""


def is_array(a):
    return isinstance(a, np.ndarray)


def copied(args):
    """The arguments with every array copied: what one call of a function that may write into
    them gets."""
    return tuple(a.copy() if is_array(a) else a for a in args)


def coordinates(args):
    """What finite differences perturb: (i, None) for a float argument, (i, j) for element j (flat)
    of a float array argument."""
    for i, a in enumerate(args):
        if type(a) is float:
            yield i, None
        elif is_array(a) and a.dtype.kind == "f":
            for j in range(a.size):
                yield i, j


def differentiable(a):
    return type(a) is float or (is_array(a) and a.dtype.kind == "f")


def coordinate(args, i, j):
    return args[i] if j is None else float(args[i].flat[j])


def moved(args, i, j, v):
    """The arguments with coordinate (i, j) set to v."""
    out = list(copied(args))
    if j is None:
        out[i] = v
    else:
        out[i].flat[j] = v
    return tuple(out)


def call_plain(f, args):
    try:
        with np.errstate(divide="raise", over="raise", invalid="raise"):
            v = f(*copied(args))
    except (ArithmeticError, ValueError, RecursionError, TypeError, IndexError,
            FloatingPointError) as e:
        raise InvalidProgram(f"{type(e).__name__}: {e}") from None
    if not isinstance(v, (float, np.floating)) or not math.isfinite(v):
        raise InvalidProgram(f"returned {v!r}")
    return float(v)


@dataclass
class Point:
    args: tuple
    value: float
    refs: dict = field(default_factory=dict)  # coordinate (i, j) -> (ref, tol, d1, d2)
    fscale: float = 1.0


def finite_differences(f, args):
    """(Point, None) at a smooth point, or (None, reason) when a kink is within the steps' reach."""
    f0 = call_plain(f, args)
    point = Point(tuple(args), f0)
    for i, j in coordinates(args):
        x = coordinate(args, i, j)
        xs = max(1.0, abs(x))
        h = H_REL * xs

        xp1, xm1, xp2, xm2 = x + h, x - h, x + h / 2, x - h / 2
        fp1, fm1, fp2, fm2 = (call_plain(f, moved(args, i, j, v)) for v in (xp1, xm1, xp2, xm2))
        d1 = (fp1 - fm1) / (xp1 - xm1)
        d2 = (fp2 - fm2) / (xp2 - xm2)
        fwd = 2 * (fp2 - f0) / (xp2 - x) - (fp1 - f0) / (xp1 - x)
        bwd = 2 * (f0 - fm2) / (x - xm2) - (f0 - fm1) / (x - xm1)
        fs = max(1.0, abs(f0), abs(fp1), abs(fm1)) / xs
        scale = max(abs(d1), abs(d2))
        if not all(map(math.isfinite, (d1, d2, fwd, bwd))):
            return None, f"non-finite difference in {_coord_name(i, j)}"
        if abs(d1 - d2) > KINK_REL * scale + KINK_ABS * fs:
            return None, f"kink near {_coord_name(i, j)}: d(h)={d1!r}, d(h/2)={d2!r}"
        if abs(fwd - bwd) > ONESIDED_REL * scale + ONESIDED_ABS * fs:
            return None, f"kink at {_coord_name(i, j)}: forward {fwd!r}, backward {bwd!r}"
        ref = d2 + (d2 - d1) / 3
        tol = GRAD_KINK_FACTOR * abs(d1 - d2) + GRAD_REL * abs(ref) + GRAD_ABS * fs
        # the extrapolation again from h/2 and h/4: where f turns within the steps (sin of a
        # value that moves 10^4 times as fast as x), the two disagree, and neither is the slope
        xp3, xm3 = x + h / 4, x - h / 4
        d3 = (call_plain(f, moved(args, i, j, xp3)) - call_plain(f, moved(args, i, j, xm3))) \
            / (xp3 - xm3)
        if not abs(d3 + (d3 - d2) / 3 - ref) <= tol:
            return None, (f"not smooth at the steps' scale in {_coord_name(i, j)}: d(h)={d1!r}, "
                          f"d(h/2)={d2!r}, d(h/4)={d3!r}")
        point.refs[i, j] = (ref, tol, d1, d2)
        point.fscale = max(point.fscale, fs)
    return point, None


# ---- the paths -----------------------------------------------------------------------------------
# Each path is two steps. Building (IR, adjoint, generated source) is where zygopy may refuse a
# program; the builder returns the run step, which only computes. An error from the run step is a
# crash whatever its class: the plain function ran at the same point without one.
def build_eval(f, args, wrt=None):
    import zygopy
    from zygopy.ir.evaluate import evaluate_gradient
    adj = zygopy.code_adjoint(f, *args, wrt=wrt)

    def run():
        value, grads = evaluate_gradient(adj, tuple(args))
        if wrt is None:
            return value, tuple(grads)
        full = [None] * len(args)
        for k, i in enumerate(adj.wrt):
            full[i] = grads[k]
        return value, tuple(full)
    return run


def wrt_for(args):
    """A subset of the float arguments to differentiate with respect to, fixed by the point."""
    rng = random.Random(repr(args))
    floats = [i for i, a in enumerate(args) if differentiable(a)]
    k = rng.randint(1, max(1, len(floats) - 1))
    return tuple(sorted(rng.sample(floats, k)))


def build_compiled(f, args):
    """The compiled gradient, put in the cache the public API reads. Numba compiles on the first
    call, so a failure to compile surfaces in the run step, as an internal error (a crash)."""
    from zygopy import api
    api.compiled(f, args)


def build_fused(f, args, wrt=None):
    import zygopy
    build_compiled(f, args)

    def run():
        value, grads = zygopy.withgradient(f, *args)  # gradient(f, *args) is withgradient(...)[1]
        return value, tuple(grads)
    return run


def build_split(f, args, wrt=None):
    import zygopy
    build_compiled(f, args)

    def run():
        value, back = zygopy.pullback(f, *args)
        g1 = tuple(back(1.0))
        g2 = tuple(back(1.0))
        g3 = tuple(back(2.5))  # linear in dy
        return value, g1, g2, g3
    return run


BUILDERS = {"eval": build_eval, "eval_wrt": build_eval, "fused": build_fused, "split": build_split}


# ---- failures ------------------------------------------------------------------------------------
@dataclass
class Failure:
    path: str
    # 'gradient', 'value', 'shape', 'repeat' (pullback twice), 'cross' (paths disagree), 'crash',
    # 'hang' (no result in time), 'unsupported' (zygopy refused the program while building it: see
    # is_refusal), 'mutated' (the caller's arrays changed)
    kind: str
    message: str
    args: tuple = ()
    arg: int | None = None
    expected: object = None
    got: object = None
    detail: str = ""

    @property
    def signature(self):
        if self.kind in ("crash", "unsupported"):
            return f"{self.kind}[{self.path}] {normalize_error(self.message)}"
        return f"{self.kind}[{self.path}]"

    def as_dict(self):
        return {"path": self.path, "kind": self.kind, "message": self.message,
                "args": list(self.args), "arg": self.arg, "expected": self.expected,
                "got": self.got, "detail": self.detail, "signature": self.signature}


def is_refusal(exc):
    """zygopy declining a program (outside the subset, no rule, not a scalar), as opposed to an
    internal error. Only an error from the build step can be a refusal."""
    from zygopy.errors import NoRule, NotScalar, UnsupportedSyntax, UnsupportedType
    refusals = (UnsupportedSyntax, UnsupportedType, NoRule, NotScalar)
    return isinstance(exc, refusals) and "internal error" not in str(exc)


def normalize_error(message: str) -> str:
    """The part of an error message that identifies the bug: no numbers, names or file positions."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    keep = []
    for ln in lines:
        if ln.startswith(("File ", "<source elided>", "During:", "^")) or ln.startswith("def "):
            continue
        if "internal error: Numba could not compile" in ln:
            ln = "Numba could not compile"
        keep.append(ln)
    text = " | ".join(keep[:3])
    text = re.sub(r"File \"[^\"]*\"(, line \d+)?:?", "", text)
    # quoted generated names (v81, d_x_1, file paths) vary between programs; other quoted words (an
    # attribute, an op) say what went wrong
    text = re.sub(r"'([^']*)'",
                  lambda m: "'_'" if re.search(r"[\d/<]", m.group(1)) else m.group(0), text)
    text = re.sub(r"\b[a-zA-Z_]+_\d+\b", "_", text)
    text = re.sub(r"\d+", "#", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:200]


def exception_text(exc):
    return f"{type(exc).__name__}: {exc}"


def compare(path, point: Point, value, grads, failures, names=None, only=None):
    """Compare one path's value and gradients at a point with the plain function and the FD
    reference."""
    args = point.args
    value_tol = VALUE_REL * max(1.0, abs(point.value))
    if not isinstance(value, float) or abs(value - point.value) > value_tol:
        failures.append(Failure(path, "value", f"value {value!r} != plain {point.value!r}", args,
                                None, point.value, value))
        return
    if len(grads) != len(args):
        failures.append(Failure(path, "shape",
                                f"{len(grads)} gradients for {len(args)} arguments", args))
        return
    for i, a in enumerate(args):
        g = grads[i]
        if not differentiable(a) or (only is not None and i not in only):
            if g is not None:
                failures.append(Failure(path, "shape", f"gradient {g!r} for inactive argument {i}",
                                        args, i, None, g))
            continue
        if is_array(a) != is_array(g) or not (is_array(g) or isinstance(g, float)) or \
                (is_array(g) and (g.shape != a.shape or g.dtype != a.dtype)):
            failures.append(Failure(path, "shape", f"gradient of argument {i} is {g!r}", args, i,
                                    None, g))
            continue
        for j in ([None] if not is_array(a) else range(a.size)):
            gj = g if j is None else float(g.flat[j])
            ref, tol, d1, d2 = point.refs[i, j]
            if not abs(gj - ref) <= tol:
                failures.append(Failure(path, "gradient",
                                        f"{_derivative(args, i, j, names)}: zygopy {gj!r}, "
                                        f"finite differences {ref!r}", args, i, ref, gj,
                                        f"d(h)={d1!r} d(h/2)={d2!r} tol={tol:.3g}"))


def _derivative(args, i, j, names):
    """A partial derivative as messages name it: d/dx, d/da[1, 2]."""
    name = names[i] if names and i < len(names) else f"arg{i}"
    element = "" if j is None else str(list(np.unravel_index(j, args[i].shape)))
    return f"d/d{name}{element}"


def _coord_name(i, j):
    return f"argument {i}" + ("" if j is None else f" element {j}")


def same(g1, g2):
    """Gradient tuples equal bit for bit (arrays element by element)."""
    return len(g1) == len(g2) and all(
        (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
        for a, b in zip(g1, g2, strict=True))


def scaled(g1, g3, factor, fscale):
    """g3 is `factor` times g1, up to rounding."""
    return len(g1) == len(g3) and all(
        (a is None and b is None) or
        (a is not None and b is not None
         and np.all(np.abs(factor * np.asarray(a) - b) <= 1e-12 * (np.abs(b) + fscale)))
        for a, b in zip(g1, g3, strict=True))


@dataclass
class Outcome:
    failures: list = field(default_factory=list)
    unsupported: list = field(default_factory=list)
    times: dict = field(default_factory=dict)  # path -> [first call seconds, later call seconds]
    peer: str | None = None  # 'agreed', or 'skipped: why' (the peer could not run the program)


def check_at(f, points, paths, outcome: Outcome | None = None, peer=None):
    """Run the paths at the given (smooth) points; failures and timings go into `outcome`.
    `peer`: the same program on a peer library (peer.py), whose gradients must agree with the
    evaluator's."""
    outcome = outcome or Outcome()
    grads_of = {}
    code = getattr(f, "__code__", None)
    names = code.co_varnames[:code.co_argcount] if code else None
    for path in paths:
        for k, point in enumerate(points):
            t0 = time.perf_counter()
            before_call = copied(point.args)
            # one wrt per program (the first point's): one compilation
            wrt = wrt_for(points[0].args) if path == "eval_wrt" else None
            building = True
            try:
                # Python-level loops (the evaluator) can be interrupted; compiled code cannot, and
                # interrupting Numba while it compiles would only hide a slow compile: the runner's
                # watchdog handles those
                with time_limit(PATH_TIMEOUT if path.startswith("eval") else None):
                    run = BUILDERS[path](f, point.args, wrt)
                    building = False
                    result = run()
            except Exception as e:  # noqa: BLE001 - everything is classified
                text = exception_text(e)
                if isinstance(e, Timeout):
                    outcome.failures.append(Failure(path, "hang", text, point.args))
                elif building and is_refusal(e):
                    outcome.unsupported.append(Failure(path, "unsupported", text, point.args))
                else:
                    outcome.failures.append(Failure(path, "crash", text, point.args,
                                                    detail="".join(traceback.format_exception(e))[-4000:]))
                break  # the same error at every point
            dt = time.perf_counter() - t0
            if not all(not is_array(a) or np.array_equal(a, b)
                       for a, b in zip(point.args, before_call, strict=True)):
                outcome.failures.append(Failure(path, "mutated", "the caller's arrays changed",
                                                before_call))
                point.args = before_call
            outcome.times.setdefault(path, [0.0, 0.0, 0])
            if k == 0:
                outcome.times[path][0] += dt
            else:
                outcome.times[path][1] += dt
                outcome.times[path][2] += 1
            before = len(outcome.failures)
            if path == "split":
                value, g1, g2, g3 = result
                compare(path, point, value, g1, outcome.failures, names)
                if len(outcome.failures) == before and not same(g1, g2):
                    outcome.failures.append(Failure(path, "repeat",
                                                    f"back(1.0) gave {g1!r}, then {g2!r}",
                                                    point.args, None, g1, g2))
                elif len(outcome.failures) == before and not scaled(g1, g3, 2.5, point.fscale):
                    outcome.failures.append(Failure(path, "repeat",
                                                    f"back(1.0) gave {g1!r}, back(2.5) {g3!r}",
                                                    point.args, None, g1, g3))
                grads = g1
            elif path == "eval_wrt":
                value, grads = result
                compare(path, point, value, grads, outcome.failures, names, only=set(wrt))
            else:
                value, grads = result
                compare(path, point, value, grads, outcome.failures, names)
            if len(outcome.failures) == before:
                grads_of[(path, k)] = grads
    # the paths against each other, where each agreed with finite differences
    for path in paths:
        if path == "eval":
            continue
        for k, point in enumerate(points):
            a, b = grads_of.get(("eval", k)), grads_of.get((path, k))
            if a is None or b is None:
                continue
            for i, j in point.refs:
                if b[i] is None:
                    continue
                ga, gb = (a[i], b[i]) if j is None else (float(a[i].flat[j]), float(b[i].flat[j]))
                if abs(ga - gb) > CROSS_REL * (abs(ga) + point.fscale):
                    message = f"{_derivative(point.args, i, j, names)}: {path} {gb!r}, eval {ga!r}"
                    outcome.failures.append(Failure(path, "cross", message, point.args, i, ga, gb))
    if peer is not None:
        compare_with_peer(peer, points, grads_of, outcome, names)
    return outcome


def compare_with_peer(peer_f, points, grads_of, outcome, names):
    from .peer import PEER, peer_gradients
    t0 = time.perf_counter()
    for k, point in enumerate(points):
        ours = grads_of.get(("eval", k))
        if ours is None:
            continue
        try:
            with time_limit(PATH_TIMEOUT):
                theirs, values = peer_gradients(peer_f, point.args, point.refs)
        except Exception as e:  # noqa: BLE001 - whatever the peer cannot run, it skips
            outcome.peer = f"skipped: {type(e).__name__}"
            return
        if not all(abs(v - point.value) <= VALUE_REL * max(1.0, abs(point.value)) for v in values):
            outcome.peer = "skipped: another value"  # it reads the program otherwise (see peer.py)
            return
        for i, j in point.refs:
            ga = ours[i] if j is None else float(ours[i].flat[j])
            gp = theirs[i] if j is None else float(theirs[i].flat[j])
            if not abs(ga - gp) <= CROSS_REL * (abs(ga) + point.fscale):
                message = f"{_derivative(point.args, i, j, names)}: zygopy {ga!r}, {PEER} {gp!r}"
                outcome.failures.append(Failure(PEER, "peer", message, point.args, i, gp, ga))
        outcome.peer = "agreed"
    outcome.times[PEER] = [time.perf_counter() - t0, 0.0, 0]


def smooth_points(f, draw, want=2, attempts=8):
    """Up to `want` input points where finite differences are trustworthy: (points, skipped,
    reasons)."""
    points, skipped, reasons = [], 0, []
    for _ in range(attempts):
        if len(points) >= want:
            break
        args = draw()
        point, reason = finite_differences(f, args)
        if point is None:
            skipped += 1
            reasons.append(reason)
        else:
            points.append(point)
    return points, skipped, reasons


def writes_arrays(constructs):
    return any(c.startswith(("element write", "scatter", "slice write", "in-place array"))
               for c in constructs)


def check_program(f, prog, paths, rng, want=2, attempts=8, peer=None):
    """Check one generated program on `paths` (and on `peer`, the same program on a peer library) at
    up to `want` smooth random points; a result dict."""
    t0 = time.perf_counter()
    result = {"index": prog.index, "constructs": dict(prog.constructs), "paths": list(paths),
              "failures": [], "unsupported": [], "skipped": 0, "points": 0, "times": {},
              "status": "ok"}
    try:
        points, skipped, reasons = smooth_points(f, lambda: prog.draw_args(rng), want, attempts)
    except InvalidProgram as e:
        result["status"], result["invalid"] = "invalid", str(e)
        return result
    result["times"]["python"] = time.perf_counter() - t0
    result["skipped"], result["points"] = skipped, len(points)
    if not points:
        result["status"], result["skip_reasons"] = "no_point", reasons[:3]
        return result
    if peer is not None and writes_arrays(prog.constructs):
        # the peer keeps references to arrays for its backward pass: writes would change them
        peer = None
        result["peer"] = "skipped: writes arrays"
    outcome = check_at(f, points, paths, peer=peer)
    result["peer"] = outcome.peer or result.get("peer")
    result["failures"] = [fl.as_dict() for fl in outcome.failures]
    result["unsupported"] = [fl.as_dict() for fl in outcome.unsupported]
    result["times"].update(outcome.times)
    kinds = {fl.kind for fl in outcome.failures}
    if "hang" in kinds:
        result["status"] = "hang"
    elif "crash" in kinds:
        result["status"] = "crash"
    elif kinds:
        result["status"] = "mismatch"
    elif outcome.unsupported:
        result["status"] = "unsupported"
    return result

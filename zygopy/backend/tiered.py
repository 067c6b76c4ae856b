"""Interpret while compiling: a gradient's first calls run its adjoint IR in the reference
evaluator (NumPy, nothing to compile) while Numba compiles it; once the machine code is ready,
calls switch to it.

Whole-array code loses little in the evaluator (NumPy does the work), so a model's first
gradients come at once instead of after seconds of compilation; a child process compiles it,
so that the interpreted calls and Numba do not contend for the GIL, and leaves the code in the
disk cache, from which a background thread loads it (as it does at once when the cache has it).
Code that spends its time in scalar loops is slow to interpret: a first call that has not
finished within FIRST_CALL_BUDGET compiles at once instead, in this process, as without
interpretation. Results agree with the compiled code's to rounding (both evaluate the same
adjoint IR); their types are the compiled code's.

`ZYGOPY_INTERPRET_WHILE_COMPILING=0` turns this off: every call then waits for compiled code.
`ZYGOPY_INTERPRET_ONLY=1`, read at import, never compiles: every gradient runs in the evaluator
(for debugging, and for tests of code above the compiler, such as training loops).
"""
from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import Future

import numpy as np

from ..ir.evaluate import evaluate_gradient, raised_by_user
from . import backend

FIRST_CALL_BUDGET = 0.25  # seconds: what a first call may lose to finding a program slow to run

_jobs: dict = {}  # compiled gradient -> Future of its compilation
_ready: set = set()  # compiled gradients whose compilation finished
_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get("ZYGOPY_INTERPRET_WHILE_COMPILING", "1") != "0"


# Read once, at import (every call's path checks it: reading the environment cost a microsecond);
# tests set it through the module
INTERPRET_ONLY = os.environ.get("ZYGOPY_INTERPRET_ONLY", "0") != "0"


def interpret_only() -> bool:
    return INTERPRET_ONLY


def value_and_gradient(compiled, args, dy=1.0):
    """compiled.value_and_gradient(args, dy), interpreted while it is being compiled."""
    if interpret_only():
        compiled.check_apart(args)
        with np.errstate(all="ignore"):
            value, grads = evaluate_gradient(compiled.adjoint, args, dy)
        return _like_compiled(compiled, args, value, grads)
    if compiled in _ready:
        return compiled.value_and_gradient(args, dy)
    if not enabled():
        _ready.add(compiled)  # compiled code from the first call on, as it would be in the end
        return compiled.value_and_gradient(args, dy)
    job = _jobs.get(compiled)
    if job is None and backend().in_cache(compiled):  # loading takes a moment: start it now
        job = compilation(compiled, args, elsewhere=False)
    if job is not None and job.done():
        if job.exception() is None:
            _ready.add(compiled)  # from now on, a set lookup is all a call pays for tiering
        return compiled.value_and_gradient(args, dy)
    # the first call tries the evaluator for at most FIRST_CALL_BUDGET seconds; later ones (of
    # a program it ran within that) until the compiled code is ready
    deadline = time.perf_counter() + FIRST_CALL_BUDGET if job is None else math.inf
    compiled.check_apart(args)
    try:
        with np.errstate(all="ignore"):  # compiled code does not warn either
            value, grads = evaluate_gradient(
                compiled.adjoint, args, dy,
                stop=lambda: time.perf_counter() > deadline or (job is not None and job.done()))
    except Exception as e:  # Stopped, or an error the compiled code reports at the user's line
        if raised_by_user(e):  # the user's raise or assert: it is theirs to see as it is
            raise
        # a program slow to interpret is compiled here and now, without a GIL to share
        return compiled.value_and_gradient(args, dy)
    if job is None:  # quick to interpret: keep doing so while a child process compiles it
        compilation(compiled, args, elsewhere=True)
    return _like_compiled(compiled, args, value, grads)


def compilation(compiled, args, elsewhere=True) -> Future:
    """The Future of compiled's compilation for arguments like `args`, started if need be (in a
    child process if `elsewhere`, see CompiledGradient.compile)."""
    with _lock:
        job = _jobs.get(compiled)
        if job is None:
            job = _jobs[compiled] = Future()
            # a daemon: a program that has its gradients exits without waiting for the compiler
            # (whose child process still leaves the code in the disk cache for the next run)
            threading.Thread(target=_compile, args=(job, compiled, args, elsewhere),
                             daemon=True, name="zygopy-compile").start()
        return job


def _compile(job, compiled, args, elsewhere):
    try:
        job.set_result(compiled.compile(args, elsewhere=elsewhere))
    except BaseException as e:  # the compiled path raises it again, at the user's line
        job.set_exception(e)


def _like_compiled(compiled, args, value, grads):
    """The evaluator's results with the types compiled code returns: Python floats for scalars,
    arrays of the argument's dtype."""
    out = []
    for i, g in zip(compiled.adjoint.wrt, grads, strict=True):
        leaf = args[i]
        if g is None or np.asarray(leaf).dtype.kind != "f":
            g = None
        else:
            g = np.asarray(g, leaf.dtype) if isinstance(leaf, np.ndarray) else float(g)
        out.append(g)
    return float(value), tuple(out)

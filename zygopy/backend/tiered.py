"""Interpret while compiling: a gradient's first calls run its adjoint IR in the reference
evaluator (NumPy, nothing to compile) while Numba compiles it in a child process (so that the
two do not contend for the GIL); once the machine code is ready (loaded from the disk cache by a
background thread), calls switch to it.

Whole-array code loses little in the evaluator (NumPy does the work), so a model's first
gradients come at once instead of after seconds of compilation. Code that spends its time in
scalar loops is slow there: the evaluator checks every few blocks whether the compiled code is
ready and, once it is, abandons its run for it, so such a first call costs about the compile
time, as without interpretation. Results agree with the compiled code's to rounding (both
evaluate the same adjoint IR); their types are the compiled code's.

`ZYGOPY_INTERPRET_WHILE_COMPILING=0` turns this off: every call then waits for compiled code.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import Future

import numpy as np

from ..ir.evaluate import evaluate_gradient

_jobs: dict = {}  # compiled gradient -> Future of its compilation
_ready: set = set()  # compiled gradients whose compilation finished
_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get("ZYGOPY_INTERPRET_WHILE_COMPILING", "1") != "0"


def value_and_gradient(compiled, args, dy=1.0):
    """compiled.value_and_gradient(args, dy), interpreted while it is being compiled."""
    if compiled in _ready or not enabled():
        return compiled.value_and_gradient(args, dy)
    job = compilation(compiled, args)
    if job.done():
        if job.exception() is None:
            _ready.add(compiled)  # from now on, a set lookup is all a call pays for tiering
    else:
        try:
            with np.errstate(all="ignore"):  # compiled code does not warn either
                value, grads = evaluate_gradient(compiled.adjoint, args, dy, stop=job.done)
            return _like_compiled(compiled, args, value, grads)
        except Exception:  # Stopped, or an error the compiled code reports at the user's line
            pass
    return compiled.value_and_gradient(args, dy)


def compilation(compiled, args) -> Future:
    """The Future of compiled's compilation for arguments like `args`, started if need be."""
    with _lock:
        job = _jobs.get(compiled)
        if job is None:
            job = _jobs[compiled] = Future()
            # a daemon: a program that has its gradients exits without waiting for the compiler
            # (whose child process still leaves the code in the disk cache for the next run)
            threading.Thread(target=_compile, args=(job, compiled, args), daemon=True,
                             name="zygopy-compile").start()
        return job


def _compile(job, compiled, args):
    try:
        job.set_result(compiled.compile(args, elsewhere=True))
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

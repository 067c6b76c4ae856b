#!/usr/bin/env python
"""Long loops in bounded memory: gradients through `zygopy.checkpoint`ed segments against the
same loop with its whole tape.

    python benchmarks/checkpoint.py            # 10^7 scalar steps, 10^5 array steps
    python benchmarks/checkpoint.py --quick    # 10^6 and 10^4

Two workloads, each written twice: as one loop (the tape keeps what every step needs) and as m
checkpointed segments of k steps (the loop keeps a segment's input and output; a segment's
pullback runs its forward again into a tape of its own, which lives while that segment is being
reversed):
- scalar: n steps of s <- s + dt (sin(x s) - 0.1 s), d/dx;
- array: n steps of a nonlinear heat stencil written in place on 64 points (two buffers swapped),
  sum(u^2), d/d(u0, c).

Memory is measured in a fresh interpreter per variant, the code loaded from a disk cache that
an earlier child filled (so that compiling does not set the peak): the growth of the peak
resident set over a gradient at full size, after one at a small size. Every gradient is
checked against central differences of `numba.njit` of the plain function, along a random
direction for an array.
Prints a Markdown table and replaces the checkpoint section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import math
import os
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    child_result,
    fmt_n,
    fmt_time,
    measure,
    quick_flag,
    ratio,
    run_child,
    run_info,
    write_section,
)
from loops import heat  # noqa: E402  (the in-place stencil: heat(u0, c, steps))

import zygopy  # noqa: E402
from zygopy.api import _compiled, bind  # noqa: E402

DT = 1e-5


def euler(x, n):
    s = 0.5
    for _ in range(n):
        s = s + DT * (math.sin(x * s) - 0.1 * s)
    return s


@zygopy.checkpoint
def euler_steps(x, s, k):
    for _ in range(k):
        s = s + DT * (math.sin(x * s) - 0.1 * s)
    return s


def euler_segments(x, m, k):
    s = 0.5
    for _ in range(m):
        s = euler_steps(x, s, k)
    return s


@zygopy.checkpoint
def heat_steps(u0, c, k):
    u = u0.copy()
    v = u0.copy()
    size = u.shape[0]
    for _ in range(k):
        for i in range(1, size - 1):
            v[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1]) - 0.01 * u[i] ** 3
        u, v = v, u
    return u


def heat_segments(u0, c, m, k):
    u = u0
    for _ in range(m):
        u = heat_steps(u, c, k)
    return np.sum(u * u)


def workloads(quick):
    """name -> (whole-tape function, its arguments, segmented function, its arguments, n)."""
    ns, na = (10**6, 10**4) if quick else (10**7, 10**5)
    ks, ka = (1000, 100) if quick else (4000, 400)
    u0 = np.sin(np.linspace(0.0, 3.0, 64))
    return {"scalar": (euler, (0.7, ns), euler_segments, (0.7, ns // ks, ks), ns),
            "array": (heat, (u0, 0.2, na), heat_segments, (u0, 0.2, na // ka, ka), na)}


def finite_difference(name, args):
    """Central difference of numba.njit of the plain function: d/dx for the scalar workload, for
    the array one along a fixed random direction in u0 and in c. h = 1e-6 relative."""
    import numba
    plain = numba.njit(euler if name == "scalar" else heat)
    if name == "scalar":
        x, n = args
        h = 1e-6 * abs(x)
        return [(plain(x + h, n) - plain(x - h, n)) / (2 * h)]
    u0, c, n = args
    e = np.random.default_rng(0).standard_normal(u0.shape)
    h = 1e-6
    return [(plain(u0 + h * e, c, n) - plain(u0 - h * e, c, n)) / (2 * h),
            (plain(u0, c + h, n) - plain(u0, c - h, n)) / (2 * h)]


def projected(name, grads):
    """The gradient in the form finite_difference gives."""
    if name == "scalar":
        return [grads[0]]
    e = np.random.default_rng(0).standard_normal(grads[0].shape)
    return [float(np.dot(grads[0], e)), grads[1]]


def peak_kb():
    """The peak resident set of this process, in KB: Linux's VmHWM, which starts afresh at exec
    (ru_maxrss keeps the parent's peak from before the fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(name, segmented, quick):
    """In a fresh interpreter: the growth of the peak resident set over a gradient at full size
    (the code loaded from the disk cache first, at a small size), and the tape entries the loop
    itself keeps."""
    plain, pargs, seg, sargs, _ = workloads(quick)[name]
    f, args = (seg, sargs) if segmented else (plain, pargs)
    zygopy.gradient(f, *(min(a, 2) if isinstance(a, int) else a for a in args))  # loads the code
    before = peak_kb()
    zygopy.gradient(f, *args)
    grown = peak_kb() - before
    c, sig = _compiled(bind(f, args))
    tape = c.forward(sig.arguments)[1]
    entries = int(sum(tape.tops))
    child_result({"grown_kb": grown, "entries": entries})


def main():
    quick = quick_flag(__doc__, "10x fewer steps")
    cache = tempfile.mkdtemp(prefix="zygopy-checkpoint-bench-")
    os.environ["ZYGOPY_CACHE_DIR"] = cache  # the children share it: the first fills it
    lines = ["| workload | steps | variant | gradient time | vs whole tape | peak memory growth "
             "| tape entries the loop keeps | check vs central differences |",
             "|---|---|---|---|---|---|---|---|"]
    for name, (plain, pargs, seg, sargs, n) in workloads(quick).items():
        reference = finite_difference(name, pargs)
        base = None
        for label, f, args, segmented in (("whole tape", plain, pargs, False),
                                          (f"checkpointed: {sargs[-2]} segments of {sargs[-1]}",
                                           seg, sargs, True)):
            t, _, grads = measure(lambda f=f, args=args: zygopy.gradient(f, *args), quick)
            got = projected(name, grads)
            err = max(abs(g - r) / max(abs(r), 1e-300) for g, r in zip(got, reference,
                                                                        strict=True))
            check = f"{'ok' if err < 1e-5 else 'FAILED'} (rel. err {err:.0e})"
            run_child("checkpoint", "memory_child", name, segmented, quick,
                      env=dict(os.environ))  # fills the cache
            mem = run_child("checkpoint", "memory_child", name, segmented, quick,
                            env=dict(os.environ))
            grown = (f"{mem['grown_kb'] / 1024:.1f} MB" if "grown_kb" in mem
                     else mem.get("error", "?"))
            base = base or t
            lines.append(f"| {name} | {fmt_n(n)} | {label} | {fmt_time(t)} | {ratio(t, base)} | "
                         f"{grown} | {mem.get('entries', mem.get('error', '?'))} | {check} |")
    body = "\n".join([
        "## checkpoint: long loops in bounded memory", "",
        *run_info("checkpoint.py", quick, ["numpy", "numba"]),
        "- scalar: n Euler steps of s <- s + dt (sin(x s) - 0.1 s), d/dx; array: n steps of an "
        "in-place nonlinear heat stencil on 64 points, d/d(u0, c). Checkpointed: the same loop as "
        "m `zygopy.checkpoint` segments of k steps.",
        "- time: best wall time of a gradient call after a warm-up; peak memory growth: in a fresh "
        "interpreter, the growth of the peak resident set over a gradient at full size, after one "
        "at a small size has loaded the code from a disk cache; tape entries: what the "
        "loop's own stacks hold at the end "
        "of the forward (a segment's pullback adds one segment's tape, for that segment only: "
        "k steps' entries per stack, room for 65,536 made at once).",
        "- check: central differences of numba.njit of the plain function (h = 1e-6, along a "
        "random direction for u0), tolerance 1e-5 relative.", "",
        *lines])
    print(body)
    write_section("checkpoint", body)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Loop code with writes: zygopy's gradient against a hand-written Numba adjoint of each workload.

    1. heat:     a nonlinear 1-D heat stencil, in place with a buffer swap (n = 1000, 100 steps);
                 gradient of sum(u*u) w.r.t. the initial u and the coefficient c
    2. springs:  a chain of masses on springs, forces accumulated with `f[i] += ...`, semi-implicit
                 Euler (n = 100, 1000 steps); w.r.t. the initial positions and the stiffness
    3. rk4:      a stiff-ish ODE per element, classic RK4 with work buffers written element by
                 element (n = 1000, 100 steps); w.r.t. the initial state and the coefficient
    4. mixture:  a Gaussian mixture's log-likelihood in loops, a log-sum-exp per point (10^5
                 points, 8 components); w.r.t. the means, log-deviations and weight logits
    5. kmeans:   the k-means cost, each point's squared distance to its nearest centre (10^4
                 points, 8 dimensions, 16 centres); w.r.t. the centres

Each workload is a plain Python function as a user writes it; `numba.njit` of that same function
is its primal's reference, and a hand-written Numba adjoint (forward storing what its reverse
reads, then the reverse) the gradient's. zygopy's gradient and the hand-written one are checked
against central differences of the Python function at a small size. Each workload is timed in
five fresh interpreters (calls side by side in each), one thread.

    python benchmarks/loops.py [--quick]

Prints a Markdown table and replaces the loops section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import zygopy  # noqa: E402

# ---- the workloads, as users write them ------------------------------------------------------


def heat(u0, c, steps):
    u = u0.copy()
    v = u0.copy()
    n = u.shape[0]
    for _ in range(steps):
        for i in range(1, n - 1):
            v[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1]) - 0.01 * u[i] ** 3
        u, v = v, u
    return np.sum(u * u)


def springs(x0, k, steps):
    n = x0.shape[0]
    x = x0.copy()
    v = np.zeros(n)
    f = np.zeros(n)
    dt = 0.01
    for _ in range(steps):
        for i in range(n):
            f[i] = -0.1 * v[i]
        for i in range(n - 1):
            d = x[i + 1] - x[i] - 1.0
            f[i] += k * d
            f[i + 1] -= k * d
        for i in range(n):
            v[i] = v[i] + dt * f[i]
            x[i] = x[i] + dt * v[i]
    return np.sum(x * x)


def rk4(y0, a, steps):
    n = y0.shape[0]
    h = 0.01
    y = y0.copy()
    k1 = np.zeros(n)
    k2 = np.zeros(n)
    k3 = np.zeros(n)
    k4 = np.zeros(n)
    tmp = np.zeros(n)
    for _ in range(steps):
        for i in range(n):
            k1[i] = math.sin(y[i]) - a * y[i] ** 3
            tmp[i] = y[i] + 0.5 * h * k1[i]
        for i in range(n):
            k2[i] = math.sin(tmp[i]) - a * tmp[i] ** 3
            tmp[i] = y[i] + 0.5 * h * k2[i]
        for i in range(n):
            k3[i] = math.sin(tmp[i]) - a * tmp[i] ** 3
            tmp[i] = y[i] + h * k3[i]
        for i in range(n):
            k4[i] = math.sin(tmp[i]) - a * tmp[i] ** 3
            y[i] = y[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])
    return np.sum(y * y)


def mixture(x, mu, log_sigma, logits):
    n, m = x.shape[0], mu.shape[0]
    top = -math.inf
    for k in range(m):
        top = max(top, logits[k])
    norm = 0.0
    for k in range(m):
        norm += math.exp(logits[k] - top)
    log_norm = top + math.log(norm)
    total = 0.0
    for j in range(n):
        best = -math.inf
        for k in range(m):
            z = (x[j] - mu[k]) / math.exp(log_sigma[k])
            best = max(best, logits[k] - log_sigma[k] - 0.5 * z * z)
        s = 0.0
        for k in range(m):
            z = (x[j] - mu[k]) / math.exp(log_sigma[k])
            s += math.exp(logits[k] - log_sigma[k] - 0.5 * z * z - best)
        total += best + math.log(s) - log_norm
    return total - 0.5 * n * math.log(2.0 * math.pi)


def kmeans(X, C):
    n, d = X.shape
    m = C.shape[0]
    total = 0.0
    for j in range(n):
        best = math.inf
        for k in range(m):
            dist = 0.0
            for i in range(d):
                diff = X[j, i] - C[k, i]
                dist += diff * diff
            best = min(best, dist)
        total += best
    return total


# ---- hand-written adjoints: (value, gradients of wrt), the forward storing what the reverse reads


def heat_adjoint(u0, c, steps):
    n = u0.shape[0]
    states = np.empty((steps + 1, n))  # the state before each step, and the last
    states[0] = u0
    for t in range(steps):
        u, v = states[t], states[t + 1]
        v[0], v[n - 1] = u0[0], u0[n - 1]  # the buffers' ends are never written
        for i in range(1, n - 1):
            v[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1]) - 0.01 * u[i] ** 3
    last = states[steps]
    du = 2.0 * last
    dc, ends = 0.0, np.zeros(2)
    for t in range(steps - 1, -1, -1):
        u = states[t]
        ends[0] += du[0]
        ends[1] += du[n - 1]
        prev = np.zeros(n)
        for i in range(1, n - 1):
            g = du[i]
            prev[i] += g * (1.0 - 2.0 * c - 0.03 * u[i] ** 2)
            prev[i - 1] += g * c
            prev[i + 1] += g * c
            dc += g * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        du = prev
    du[0] += ends[0]
    du[n - 1] += ends[1]
    return np.sum(last * last), (du, dc)


def springs_adjoint(x0, k, steps):
    n = x0.shape[0]
    dt = 0.01
    xs = np.empty((steps + 1, n))  # positions before each step, and the last
    xs[0] = x0
    v = np.zeros(n)
    f = np.zeros(n)
    for t in range(steps):
        x, x1 = xs[t], xs[t + 1]
        for i in range(n):
            f[i] = -0.1 * v[i]
        for i in range(n - 1):
            d = x[i + 1] - x[i] - 1.0
            f[i] += k * d
            f[i + 1] -= k * d
        for i in range(n):
            v[i] = v[i] + dt * f[i]
            x1[i] = x[i] + dt * v[i]
    last = xs[steps]
    dx, dv, df = 2.0 * last, np.zeros(n), np.zeros(n)
    dk = 0.0
    for t in range(steps - 1, -1, -1):
        x = xs[t]
        for i in range(n):
            dv[i] += dt * dx[i]  # x' = x + dt v'
            df[i] = dt * dv[i]  # v' = v + dt f
        for i in range(n - 1):
            d = x[i + 1] - x[i] - 1.0
            dd = k * (df[i] - df[i + 1])
            dk += d * (df[i] - df[i + 1])
            dx[i + 1] += dd
            dx[i] -= dd
        for i in range(n):
            dv[i] -= 0.1 * df[i]  # f = -0.1 v + ...
    return np.sum(last * last), (dx, dk)


def rk4_adjoint(y0, a, steps):
    n = y0.shape[0]
    h = 0.01
    ys = np.empty((steps + 1, n))
    ys[0] = y0
    for t in range(steps):
        for i in range(n):
            y = ys[t, i]
            k1 = math.sin(y) - a * y ** 3
            s = y + 0.5 * h * k1
            k2 = math.sin(s) - a * s ** 3
            s = y + 0.5 * h * k2
            k3 = math.sin(s) - a * s ** 3
            s = y + h * k3
            k4 = math.sin(s) - a * s ** 3
            ys[t + 1, i] = y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    last = ys[steps]
    dys = 2.0 * last
    da = 0.0
    for t in range(steps - 1, -1, -1):
        for i in range(n):
            y, g = ys[t, i], dys[i]
            k1 = math.sin(y) - a * y ** 3
            s2 = y + 0.5 * h * k1
            k2 = math.sin(s2) - a * s2 ** 3
            s3 = y + 0.5 * h * k2
            k3 = math.sin(s3) - a * s3 ** 3
            s4 = y + h * k3
            dy, dk1, dk2, dk3, dk4 = g, h / 6.0 * g, h / 3.0 * g, h / 3.0 * g, h / 6.0 * g
            ds = dk4 * (math.cos(s4) - 3.0 * a * s4 ** 2)
            da -= dk4 * s4 ** 3
            dy += ds
            dk3 += h * ds
            ds = dk3 * (math.cos(s3) - 3.0 * a * s3 ** 2)
            da -= dk3 * s3 ** 3
            dy += ds
            dk2 += 0.5 * h * ds
            ds = dk2 * (math.cos(s2) - 3.0 * a * s2 ** 2)
            da -= dk2 * s2 ** 3
            dy += ds
            dk1 += 0.5 * h * ds
            dy += dk1 * (math.cos(y) - 3.0 * a * y ** 2)
            da -= dk1 * y ** 3
            dys[i] = dy
    return np.sum(last * last), (dys, da)


def mixture_adjoint(x, mu, log_sigma, logits):
    n, m = x.shape[0], mu.shape[0]
    top = np.max(logits)
    weights = np.exp(logits - top)
    log_norm = top + math.log(np.sum(weights))
    weights /= np.sum(weights)
    inv_sigma = np.exp(-log_sigma)
    dmu, ds, dlogits = np.zeros(m), np.zeros(m), -n * weights
    terms, z = np.empty(m), np.empty(m)
    total = 0.0
    for j in range(n):
        best = -math.inf
        for k in range(m):
            z[k] = (x[j] - mu[k]) * inv_sigma[k]
            terms[k] = logits[k] - log_sigma[k] - 0.5 * z[k] * z[k]
            best = max(best, terms[k])
        s = 0.0
        for k in range(m):
            terms[k] = math.exp(terms[k] - best)
            s += terms[k]
        total += best + math.log(s) - log_norm
        for k in range(m):
            r = terms[k] / s  # the point's responsibility of component k
            dlogits[k] += r
            ds[k] += r * (z[k] * z[k] - 1.0)
            dmu[k] += r * z[k] * inv_sigma[k]
    return total - 0.5 * n * math.log(2.0 * math.pi), (dmu, ds, dlogits)


def kmeans_adjoint(X, C):
    n, d = X.shape
    m = C.shape[0]
    dC = np.zeros_like(C)
    total = 0.0
    for j in range(n):
        best, nearest = math.inf, 0
        for k in range(m):
            dist = 0.0
            for i in range(d):
                diff = X[j, i] - C[k, i]
                dist += diff * diff
            if dist < best:
                best, nearest = dist, k
        total += best
        for i in range(d):
            dC[nearest, i] += 2.0 * (C[nearest, i] - X[j, i])
    return total, (dC,)


# ---- the run -----------------------------------------------------------------------------------

FD_H = 1e-6
# central differences in float64 at h = 1e-6: rounding costs ~eps |f| / h ~ 1e-10 |f| per
# difference, which the loops' hundreds of steps amplify; truncation ~h^2 is far below it
FD_RTOL = 1e-5
# each workload is timed in this many fresh interpreters: where code and arrays land differs from
# one process to the next, and moved a ratio of two near-equal times by up to 1.5% here, more than
# two compiles of one function differ within a process
PROCESSES = 5
MATCH_RTOL = 1e-9  # zygopy's gradient against the hand-written one at full size (sum orders differ)


def _args(name, rng, small):
    if name == "heat":
        return (rng.uniform(0, 1, 12 if small else 1000), 0.2, 5 if small else 100)
    if name == "springs":
        n = 6 if small else 100
        return (np.arange(n) * 1.1 + rng.normal(0, 0.05, n), 3.0, 20 if small else 1000)
    if name == "rk4":
        return (rng.uniform(-1, 1, 7 if small else 1000), 0.5, 10 if small else 100)
    if name == "mixture":
        m = 3 if small else 8
        return (rng.normal(size=20 if small else 100_000), rng.normal(size=m),
                rng.normal(0, 0.2, m), rng.normal(size=m))
    return (rng.normal(size=(15, 3) if small else (10_000, 8)),
            rng.normal(size=(4, 3) if small else (16, 8)))


# name -> (function, hand-written adjoint, indices of the arguments differentiated)
WORKLOADS = {"heat": (heat, heat_adjoint, (0, 1)),
             "springs": (springs, springs_adjoint, (0, 1)),
             "rk4": (rk4, rk4_adjoint, (0, 1)),
             "mixture": (mixture, mixture_adjoint, (1, 2, 3)),
             "kmeans": (kmeans, kmeans_adjoint, (1,))}


def central_differences(f, args, i):
    def at(delta, index=None):
        moved = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        if index is None:
            moved[i] += delta
        else:
            moved[i][index] += delta
        return f(*moved)
    if not isinstance(args[i], np.ndarray):
        return (at(FD_H) - at(-FD_H)) / (2 * FD_H)
    g = np.zeros_like(args[i])
    for index in np.ndindex(args[i].shape):
        g[index] = (at(FD_H, index) - at(-FD_H, index)) / (2 * FD_H)
    return g


def rel_err(got, ref):
    return float(np.max(np.abs(np.asarray(got) - ref)) / max(float(np.max(np.abs(ref))), 1e-300))


def zygopy_gradient(f, args, wrt):
    g = zygopy.gradient(f, *args, wrt=wrt)
    return [g[i] for i in wrt]


def run(name, quick):
    """Times and checks of one workload, all in this interpreter (compiling excluded)."""
    from numba import njit

    import zygopy.api
    f, hand, wrt = WORKLOADS[name]
    hand, plain = njit(hand), njit(f)
    small = _args(name, np.random.default_rng(0), True)
    fd = [central_differences(f, small, i) for i in wrt]
    checks = {"zygopy": max(map(rel_err, zygopy_gradient(f, small, wrt), fd)),
              "hand": max(map(rel_err, hand(*small)[1], fd))}
    args = _args(name, np.random.default_rng(1), False)
    program = zygopy.api.compiled(f, args, wrt)
    program.primal(*args)  # loads its machine code
    # the generated primal's entry, a Numba dispatcher as njit's is, given what zygopy's wrapper
    # passes it; the wrapper's cost (own() among it) is call_overhead's
    primal, passed = program._entry("primal"), program.own(args)
    assert passed is args, "no workload writes into its arguments: the wrapper copies nothing"
    # njit of the same function compiled a second time: how far two compiles of one function
    # differ in this run, the resolution of primal / njit
    again = njit(types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__))
    calls = {"gradient": lambda: zygopy_gradient(f, args, wrt), "hand": lambda: hand(*args),
             "primal": lambda: primal(*passed), "njit": lambda: plain(*args),
             "again": lambda: again(*args)}
    t = common.side_by_side(calls, quick)
    (grads, (_, hand_grads), value, njit_value, _) = (call() for call in calls.values())
    checks["match"] = max(map(rel_err, grads, hand_grads))
    checks["value"] = abs(value - njit_value) / max(abs(njit_value), 1e-300)
    return t, checks


def child(name, quick):
    t, checks = run(name, quick)
    common.child_result({"times": t, "checks": checks})


def spread(ratios):
    """A ratio measured in each process: its median and range."""
    return (f"{statistics.median(ratios):.3f}× ({min(ratios):.3f}–{max(ratios):.3f})"
            if len(ratios) > 1 else f"{ratios[0]:.3f}×")


def report(results, quick, elapsed):
    fmt, r = common.fmt_time, common.ratio
    lines = ["## loops: loop code with writes, against hand-written Numba adjoints", ""]
    lines += common.run_info("loops.py", quick, ["numpy", "numba", "llvmlite"])
    lines += [
        "- workloads (benchmarks/loops.py): heat stencil n = 1000, 100 steps; springs n = 100, "
        "1000 steps; rk4 n = 1000, 100 steps; mixture 10^5 points, 8 components; kmeans 10^4 "
        "points, 8 dimensions, 16 centres. float64, one thread, compiling excluded; each time "
        "the best of its calls in alternating rounds (`common.side_by_side`: the five calls of a "
        "workload take turns, so the machine's slow moments fall on all alike), in each of "
        f"{1 if quick else PROCESSES} fresh interpreters; a time is the median of the processes' "
        "times, a ratio of two near-equal times its median (range) over the processes: where "
        "code and arrays land differs from one process to the next.",
        "- primal: the entry of zygopy's compiled primal, a Numba dispatcher as njit's is, "
        "called with what zygopy's wrapper passes it (the wrapper's own cost is "
        "call_overhead's); njit: `numba.njit` of the same function; njit again: the same "
        "function compiled by `numba.njit` a second time, so njit again / njit is how far two "
        "compiles of one function differ (the resolution of primal / njit); hand: a "
        "hand-written Numba adjoint (forward storing what its reverse reads, then the reverse), "
        "value and gradient. zygopy's gradient entries release the GIL (nogil, so that "
        "gradients run in parallel threads); its primal entry holds it, as njit's does.",
        f"- checks: zygopy's and the hand-written gradients against float64 central differences "
        f"(h = {FD_H:g}) at a small size, tolerance {FD_RTOL:g} of the largest; zygopy's against "
        f"the hand-written one at full size, tolerance {MATCH_RTOL:g}; zygopy's primal value "
        f"against njit's. Whole run: {elapsed:.0f} s.",
        "",
        "| workload | primal | njit | primal / njit | njit again / njit | gradient | hand | "
        "gradient / hand | gradient / primal | hand / njit | check |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        t = {call: statistics.median(run["times"][call] for run in runs)
             for call in runs[0]["times"]}
        c = {check: max(run["checks"][check] for run in runs) for check in runs[0]["checks"]}
        primal, again = ([run["times"][call] / run["times"]["njit"] for run in runs]
                         for call in ("primal", "again"))
        ok = (c["zygopy"] <= FD_RTOL and c["hand"] <= FD_RTOL and c["match"] <= MATCH_RTOL
              and c["value"] <= MATCH_RTOL)
        check = (f"{'ok' if ok else 'FAILED'} (fd {c['zygopy']:.0e}, hand's fd {c['hand']:.0e}, "
                 f"vs hand {c['match']:.0e})")
        lines.append(f"| {name} | {fmt(t['primal'])} | {fmt(t['njit'])} | "
                     f"{spread(primal)} | {spread(again)} | "
                     f"{fmt(t['gradient'])} | "
                     f"{fmt(t['hand'])} | {r(t['gradient'], t['hand'])} | "
                     f"{r(t['gradient'], t['primal'])} | {r(t['hand'], t['njit'])} | {check} |")
    return lines


def main():
    quick = common.quick_flag(__doc__, "fewer repeats")
    start = time.perf_counter()
    results = {}
    for name in WORKLOADS:
        results[name] = [common.run_child("loops", "child", name, quick)
                         for _ in range(1 if quick else PROCESSES)]
        print(name, results[name], flush=True)
        failed = [run["error"] for run in results[name] if "error" in run]
        if failed:
            sys.exit(f"{name}: {failed[0]}")
    lines = report(results, quick, time.perf_counter() - start)
    common.write_section("loops", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Scalar-loop benchmark: d scalar_loop(x, n) / dx at x = 0.7, zygopy against its peers.

Run from anywhere (the working tree's zygopy is put first on sys.path):

    python benchmarks/scalar_loop.py                     # n = 10^4 and 10^6, all peers
    python benchmarks/scalar_loop.py --quick             # n = 10^4 only, fewer repeats
    python benchmarks/scalar_loop.py --peers zygopy,jax  # choose peers (hand-written always runs)

Prints a Markdown table and replaces the scalar_loop section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import atexit
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import (  # noqa: E402
    best_of,
    child_result,
    error_text,
    fmt_n,
    fmt_time,
    parse_args,
    ratio,
    run_child,
    run_info,
    timed,
    write_section,
)

X0 = 0.7
RTOL = 1e-9  # gradient check against the hand-written adjoint (all peers are float64)
FIRST_CALL_N = 10


# The benchmarked function, in plain Python: zygopy differentiates exactly this.
def scalar_loop(x, n):
    s = 0.0
    y = x
    for _ in range(n):
        y = math.sin(y * 1.1 + 0.3)
        if y > 0.5:
            s += y * y
        else:
            s += 0.5 * y
    return s


# --- implementations: each make_* returns grad(x, n) -> float -----------------------------

FRESH_CACHE = False  # set in first-call subprocesses: compile from scratch, no disk cache


def make_handwritten():
    import numba
    import numpy as np

    @numba.njit
    def grad(x, n):
        ys = np.empty(n + 1)  # ys[i] = y before iteration i
        ys[0] = x
        y = x
        for i in range(n):
            y = math.sin(y * 1.1 + 0.3)
            ys[i + 1] = y
        ybar = 0.0
        for i in range(n - 1, -1, -1):
            y = ys[i + 1]
            if y > 0.5:
                ybar += 2.0 * y
            else:
                ybar += 0.5
            ybar *= 1.1 * math.cos(ys[i] * 1.1 + 0.3)
        return ybar

    return grad


def make_primal():
    import numba

    return numba.njit(scalar_loop)


def make_zygopy():
    import zygopy

    return lambda x, n: zygopy.gradient(scalar_loop, x, n)[0]


def make_jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    def f(x, n):
        def body(i, carry):
            y, s = carry
            y = jnp.sin(y * 1.1 + 0.3)
            s = s + lax.cond(y > 0.5, lambda y: y * y, lambda y: 0.5 * y, y)
            return y, s

        x = jnp.asarray(x, jnp.float64)
        return lax.fori_loop(0, n, body, (x, jnp.zeros_like(x)))[1]

    # n static: fori_loop then lowers to a (reverse-differentiable) scan, not a while_loop
    g = jax.jit(jax.grad(f), static_argnums=1)
    return lambda x, n: float(g(x, n))


def make_warp():
    import warp as wp

    if FRESH_CACHE:
        cache = tempfile.mkdtemp(prefix="warp-cache-")
        atexit.register(shutil.rmtree, cache, True)
        wp.config.kernel_cache_dir = cache
    wp.config.log_level = wp.LOG_WARNING  # no banner / module-load lines on stdout
    wp.init()

    @wp.kernel
    def kernel(x: wp.array(dtype=wp.float64), n: int, out: wp.array(dtype=wp.float64)):
        s = wp.float64(0.0)
        y = x[0]
        for i in range(n):  # noqa: B007 - a kernel for Warp's own code generator, kept plain
            y = wp.sin(y * wp.float64(1.1) + wp.float64(0.3))
            if y > wp.float64(0.5):
                s += y * y
            else:
                s += wp.float64(0.5) * y
        out[0] = s

    x = wp.zeros(1, dtype=wp.float64, device="cpu", requires_grad=True)
    out = wp.zeros(1, dtype=wp.float64, device="cpu", requires_grad=True)
    tape = wp.Tape()

    def grad(x0, n):
        x.fill_(x0)
        with tape:
            wp.launch(kernel, dim=1, inputs=[x, n], outputs=[out], device="cpu")
        tape.backward(loss=out)
        g = float(x.grad.numpy()[0])
        tape.zero()
        tape.reset()
        return g

    return grad


def make_torch():
    import torch

    def grad(x0, n):
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        s = torch.zeros((), dtype=torch.float64)
        y = x
        for _ in range(n):
            y = torch.sin(y * 1.1 + 0.3)
            if y > 0.5:
                s = s + y * y
            else:
                s = s + 0.5 * y
        s.backward()
        return x.grad.item()

    return grad


def make_autograd():
    import autograd
    import autograd.numpy as anp

    def f(x, n):
        s = 0.0
        y = x
        for _ in range(n):
            y = anp.sin(y * 1.1 + 0.3)
            if y > 0.5:
                s += y * y
            else:
                s += 0.5 * y
        return s

    g = autograd.grad(f)
    return lambda x, n: float(g(x, n))


@dataclass(frozen=True)
class Impl:
    key: str
    label: str
    make: Callable[[], Callable[[float, int], float]]
    dists: tuple[str, ...]  # distributions whose versions are reported
    max_n: int = 10**6  # larger n is extrapolated linearly, not run
    compiles: bool = True  # has a compile step (first call minus steady state is meaningful)
    optional: bool = True  # ImportError means "not installed" (skip) rather than an error
    is_gradient: bool = True  # False for the primal: checked against plain Python instead


IMPLS = {
    i.key: i
    for i in [
        Impl("handwritten", "hand-written adjoint (Numba)", make_handwritten, ("numba", "llvmlite"),
             optional=False),
        Impl("primal", "primal only (Numba njit)", make_primal, ("numba",), optional=False,
             is_gradient=False),
        Impl("zygopy", "zygopy", make_zygopy, ("zygopy",), optional=False),
        Impl("jax", "JAX jit(grad), fori_loop + cond", make_jax, ("jax", "jaxlib")),
        Impl("warp", "Warp (CPU, float64, Tape)", make_warp, ("warp-lang",)),
        Impl("torch", "PyTorch eager", make_torch, ("torch",), max_n=10**4, compiles=False),
        Impl("autograd", "autograd", make_autograd, ("autograd",), max_n=10**4, compiles=False),
    ]
}
BASELINE = ("handwritten", "primal")
PEERS = [k for k in IMPLS if k not in BASELINE]


# --- measuring ------------------------------------------------------------------------------


def measure(grad, n, quick):
    """Warm up, then best of k calls, k chosen from the cost of one call. -> (time, k, value)"""
    return common.measure(lambda: grad(X0, n), quick)


def first_call_child(key, n):
    """Entry point of a fresh subprocess: time the first call, then the steady state."""
    global FRESH_CACHE
    FRESH_CACHE = True
    try:
        grad = IMPLS[key].make()
        first, _ = timed(lambda: grad(X0, n))
        steady, _ = best_of(lambda: grad(X0, n), 3)
        result = {"first": first, "steady": steady}
    except Exception as e:  # noqa: BLE001 - reported in the table
        result = {"error": error_text(e)}
    child_result(result)


def first_call(key, n):
    """Run first_call_child in a fresh interpreter. -> {"first", "steady"} or {"error"}"""
    return run_child("scalar_loop", "first_call_child", key, n)


# --- running ------------------------------------------------------------------------------


def check_reference(grad, n=100, h=1e-6):
    fd = (scalar_loop(X0 + h, n) - scalar_loop(X0 - h, n)) / (2 * h)
    ad = grad(X0, n)
    rel = abs(ad - fd) / abs(fd)
    verdict = "ok" if rel < 1e-6 else "MISMATCH"
    return (f"hand-written dx = {ad!r}, central FD of the Python function (n={n}, h={h:g}) = "
            f"{fd!r}, rel. diff {rel:.1e}: {verdict}")


def check(value, expected):
    if abs(value - expected) <= RTOL * abs(expected):
        return "ok"
    return f"MISMATCH: {value!r} vs {expected!r}"


def run_runtime(keys, sizes, quick):
    """-> rows {key, n, time, k, check, est, note} and the hand-written reference values."""
    rows, grads, ref, expected_primal = [], {}, {}, {}
    for key in keys:
        impl = IMPLS[key]
        try:
            grads[key] = impl.make()
        except ImportError as e:
            if impl.optional:
                rows.append({"key": key, "note": f"skipped: not installed ({error_text(e)})"})
                continue
            rows.append({"key": key, "note": f"error: {error_text(e)}"})
            continue
        except Exception as e:  # noqa: BLE001
            rows.append({"key": key, "note": f"error: {error_text(e)}"})
            continue
        for n in sizes:
            if n > impl.max_n:
                base = next((r for r in rows if r["key"] == key and r.get("n") == impl.max_n
                             and "time" in r), None)
                if base:
                    rows.append({"key": key, "n": n, "time": base["time"] * n / impl.max_n,
                                 "est": True,
                                 "check": f"not run (linear estimate from n={fmt_n(impl.max_n)})"})
                continue
            print(f"  {key} n={n} ...", file=sys.stderr, flush=True)
            try:
                t, k, value = measure(grads[key], n, quick)
            except Exception as e:  # noqa: BLE001
                rows.append({"key": key, "n": n, "note": f"error: {error_text(e)}"})
                continue
            if key == "handwritten":
                ref[n] = value
                result = "reference"
            elif not impl.is_gradient:
                expected_primal.setdefault(n, scalar_loop(X0, n))
                result = check(value, expected_primal[n]) + " (vs plain Python)"
            else:
                result = check(value, ref[n]) if n in ref else "no reference"
            rows.append({"key": key, "n": n, "time": t, "k": k, "check": result})
    return rows, grads


def run_first_calls(keys, n_max):
    rows = []
    for key in keys:
        impl = IMPLS[key]
        print(f"  {key} first call ...", file=sys.stderr, flush=True)
        small = first_call(key, FIRST_CALL_N)
        large = (first_call(key, min(n_max, impl.max_n))
                 if impl.compiles and "error" not in small else None)
        rows.append({"key": key, "small": small, "large": large, "n_large": min(n_max, impl.max_n)})
    return rows


# --- reporting ----------------------------------------------------------------------------


def runtime_table(rows):
    times = {(r["key"], r.get("n")): r["time"] for r in rows if "time" in r and not r.get("est")}
    out = ["| implementation | n | time | vs hand-written | vs primal (Numba) | gradient check |",
           "|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r.get("n", 0), list(IMPLS).index(r["key"]))):
        label = IMPLS[r["key"]].label
        n = fmt_n(r["n"]) if "n" in r else "—"
        if "time" not in r:
            out.append(f"| {label} | {n} | — | — | — | {r['note']} |")
            continue
        t = r["time"]
        shown = f"~{fmt_time(t)} (est.)" if r.get("est") else f"{fmt_time(t)} (best of {r['k']})"
        hand = times.get(("handwritten", r["n"]))
        primal = times.get(("primal", r["n"]))
        out.append(f"| {label} | {n} | {shown} | {ratio(t, hand)} | {ratio(t, primal)} | "
                   f"{r['check']} |")
    return "\n".join(out)


def compile_time(res):
    if res is None:
        return "—"
    if "error" in res:
        return f"error: {res['error']}"
    return fmt_time(max(res["first"] - res["steady"], 0.0))


def first_call_table(rows):
    n_large = max((r["n_large"] for r in rows), default=FIRST_CALL_N)
    out = [f"| implementation | first call (n={FIRST_CALL_N}) | compile @ n={FIRST_CALL_N} | "
           f"compile @ n={fmt_n(n_large)} |",
           "|---|---|---|---|"]
    for r in rows:
        small, label = r["small"], IMPLS[r["key"]].label
        if "error" in small:
            out.append(f"| {label} | error: {small['error']} | — | — |")
            continue
        if not IMPLS[r["key"]].compiles:
            out.append(f"| {label} | {fmt_time(small['first'])} | — (eager, no compile) | — |")
            continue
        large = compile_time(r["large"]) if r["n_large"] == n_large else "—"
        out.append(f"| {label} | {fmt_time(small['first'])} | {compile_time(small)} | {large} |")
    return "\n".join(out)


def report(keys, quick, ref_line, runtime_rows, first_rows):
    dists = ["numpy"] + [d for k in keys for d in IMPLS[k].dists]
    return "\n".join([
        "## scalar_loop: d/dx of a 1-D scalar loop with a branch, x = 0.7",
        "",
        *run_info("scalar_loop.py", quick, dists),
        f"- reference check: {ref_line}",
        f"- gradient check: relative tolerance {RTOL:g} against the hand-written adjoint at the "
        "same n. Times are best-of-k wall times of one full gradient evaluation, after a warm-up "
        "call.",
        "",
        runtime_table(runtime_rows),
        "",
        "First call in a fresh interpreter (import excluded; Warp with an empty kernel cache). "
        "Compile = first call minus steady-state time at the same n.",
        "",
        first_call_table(first_rows),
    ])


def main():
    quick, peers = parse_args(__doc__, PEERS, "n = 10^4 only, fewer repeats",
                              " (the hand-written reference always runs)")
    keys = list(BASELINE) + peers
    sizes = [10**4] if quick else [10**4, 10**6]
    print("timing runtimes ...", file=sys.stderr)
    runtime_rows, grads = run_runtime(keys, sizes, quick)
    ref_line = check_reference(grads["handwritten"])
    print("timing first calls in fresh interpreters ...", file=sys.stderr)
    first_rows = run_first_calls(keys, max(sizes))
    body = report(keys, quick, ref_line, runtime_rows, first_rows)
    print(body)
    write_section("scalar_loop", body)
    print(f"\nwrote {common.RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Array benchmark: gradients of five NumPy workloads, zygopy against JAX, PyTorch and autograd.

    1. chain:      an elementwise chain of 8 operations on 10^6 float64 elements, summed
    2. logreg:     the mean logistic loss of X (10^5 x 100) @ w + b; gradient w.r.t. w and b
    3. softmax_ce: the mean softmax cross-entropy of X (10^4 x 100) @ W + b over 10 classes;
                   gradient w.r.t. W and b
    4. attention:  softmax attention, sequence 128 and 512, width 64, sum of squares of the
                   output; gradient w.r.t. Q, K and V
    5. stencil:    100 steps of an explicit in-place 1-D diffusion stencil with a buffer swap,
                   n = 10^3 and 10^4; gradient of sum(u*u) w.r.t. the initial u and coefficient c

Run from anywhere (the working tree's zygopy is put first on sys.path):

    python benchmarks/arrays.py                          # full sizes, all peers
    python benchmarks/arrays.py --quick                  # smaller sizes, fewer repeats
    python benchmarks/arrays.py --peers jax,torch        # choose peers (zygopy always runs)

Prints Markdown tables and replaces the arrays section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import functools
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

THREADS = common.one_thread_per_library()  # before NumPy, PyTorch and JAX load

import numpy as np  # noqa: E402
from common import (  # noqa: E402
    child_result,
    error_text,
    fmt_n,
    fmt_time,
    measure,
    parse_args,
    ratio,
    run_child,
    run_info,
    side_by_side,
    timed,
    write_section,
)

RTOL = 1e-9  # against the JAX gradient at the same size: max |g - ref| / max |ref|, per argument
FD_RTOL = 1e-6  # against central finite differences (h = FD_H) at a small size
FD_H = 1e-6
CHILD_TIMEOUT = 600  # seconds, per zygopy child process


# --- the workloads: zygopy differentiates exactly these plain Python/NumPy functions ----------


def chain(a, b, c):
    return np.sum(np.exp(a) * b + np.tanh(c) * a - b * c + np.sin(a) * 0.5 - np.sqrt(b * b + 1.0))


def logreg(X, y, w, b):
    z = (2.0 * y - 1.0) * (X @ w + b)
    return np.mean(np.maximum(-z, 0.0) + np.log1p(np.exp(-np.abs(z))))  # log(1 + exp(-z)), stable


def softmax_ce(X, Y, W, b):
    Z = X @ W + b
    m = np.max(Z, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(Z - m), axis=1)) + m[:, 0]
    return np.mean(lse - np.sum(Y * Z, axis=1))


def attention(Q, K, V):
    S = Q @ K.T / math.sqrt(Q.shape[1])
    E = np.exp(S - np.max(S, axis=1, keepdims=True))
    P = E / np.sum(E, axis=1, keepdims=True)
    out = P @ V
    return np.sum(out * out)


def stencil(u, c, steps):
    n = u.shape[0]
    un = np.empty(n)
    for _ in range(steps):
        un[0] = u[0]
        un[n - 1] = u[n - 1]
        for i in range(1, n - 1):
            un[i] = u[i] + c * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u, un = un, u
    return np.sum(u * u)


# The peers' versions, for any NumPy-like module xp (jax.numpy, torch, autograd.numpy, numpy).


def chain_xp(xp, a, b, c):
    return xp.sum(xp.exp(a) * b + xp.tanh(c) * a - b * c + xp.sin(a) * 0.5 - xp.sqrt(b * b + 1.0))


def logreg_xp(xp, X, y, w, b):
    z = (2.0 * y - 1.0) * (X @ w + b)
    return xp.mean(xp.clip(-z, 0.0, None) + xp.log1p(xp.exp(-xp.abs(z))))


def softmax_ce_xp(xp, X, Y, W, b):
    Z = X @ W + b
    m = xp.amax(Z, axis=1, keepdims=True)  # amax: torch.max(.., axis) returns indices too
    lse = xp.log(xp.sum(xp.exp(Z - m), axis=1)) + m[:, 0]
    return xp.mean(lse - xp.sum(Y * Z, axis=1))


def attention_xp(xp, Q, K, V):
    S = Q @ K.T / math.sqrt(Q.shape[1])
    E = xp.exp(S - xp.amax(S, axis=1, keepdims=True))
    P = E / xp.sum(E, axis=1, keepdims=True)
    out = P @ V
    return xp.sum(out * out)


def stencil_xp(xp, u, c, steps):
    """Vectorised: a Python loop over the time steps, slices over i, a new array each step."""
    for _ in range(steps):
        u = xp.concatenate([u[:1], u[1:-1] + c * (u[:-2] - 2.0 * u[1:-1] + u[2:]), u[-1:]])
    return xp.sum(u * u)


def stencil_jax(u, c, steps):
    """Idiomatic JAX: lax.fori_loop over the time steps (a static trip count: a scan), slices
    over i."""
    import jax.numpy as jnp
    from jax import lax

    def step(t, u):
        return u.at[1:-1].set(u[1:-1] + c * (u[:-2] - 2.0 * u[1:-1] + u[2:]))

    u = lax.fori_loop(0, steps, step, u)
    return jnp.sum(u * u)


def chain_args(n, rng):
    return rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(n)


def logreg_args(shape, rng):
    m, d = shape
    X = rng.standard_normal((m, d))
    w_true = rng.standard_normal(d) / np.sqrt(d)
    y = (rng.random(m) < 1.0 / (1.0 + np.exp(-(X @ w_true)))).astype(np.float64)
    return X, y, 0.1 * rng.standard_normal(d), 0.1


def softmax_ce_args(shape, rng):
    m, d, k = shape
    X = rng.standard_normal((m, d))
    Y = np.eye(k)[rng.integers(0, k, m)]  # one-hot labels
    return X, Y, rng.standard_normal((d, k)) / np.sqrt(d), 0.1 * rng.standard_normal(k)


def attention_args(shape, rng):
    n, d = shape
    return tuple(rng.standard_normal((n, d)) for _ in range(3))


def stencil_args(shape, rng):
    n, steps = shape
    return rng.standard_normal(n), 0.25, steps


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    fn: Callable  # what zygopy differentiates (and its primal compiles)
    # the same function for a NumPy-like module: torch, autograd, NumPy (primal check)
    xp_fn: Callable
    make_args: Callable  # (size, rng) -> args
    wrt: tuple[int, ...]  # differentiated arguments
    sizes: tuple  # full run
    quick_sizes: tuple  # --quick
    fd_size: object  # small size for the finite-difference checks
    fmt_size: Callable
    jax_fn: Callable | None = None  # default: xp_fn with jax.numpy
    static: tuple[int, ...] = ()  # integer arguments (static for jax.jit)
    written: tuple[int, ...] = ()  # arguments the function writes into (the primal gets copies)
    labels: dict = field(default_factory=dict)  # per-implementation notes for this case

    def args(self, size):
        seed = [list(CASES).index(self.key)] + list(np.atleast_1d(size))
        return self.make_args(size, np.random.default_rng(seed))

    def fresh(self, args):
        return tuple(a.copy() if i in self.written else a for i, a in enumerate(args))


CASES = {
    c.key: c
    for c in [
        Case("chain", "elementwise chain of 8 ops, summed; d/d(a, b, c)", chain, chain_xp,
             chain_args, wrt=(0, 1, 2), sizes=(10**6,), quick_sizes=(10**5,), fd_size=5,
             fmt_size=fmt_n),
        Case("logreg", "logistic-regression loss, mean over rows of X; d/d(w, b)", logreg,
             logreg_xp, logreg_args, wrt=(2, 3), sizes=((10**5, 100),),
             quick_sizes=((10**4, 100),), fd_size=(40, 5),
             fmt_size=lambda s: f"{fmt_n(s[0])} × {s[1]}"),
        Case("softmax_ce", "softmax cross-entropy of X @ W + b, mean over rows; d/d(W, b)",
             softmax_ce, softmax_ce_xp, softmax_ce_args, wrt=(2, 3), sizes=((10**4, 100, 10),),
             quick_sizes=((10**3, 100, 10),), fd_size=(30, 5, 3),
             fmt_size=lambda s: f"{fmt_n(s[0])} × {s[1]}, {s[2]} classes"),
        Case("attention", "softmax attention, sum of squares of the output; d/d(Q, K, V)",
             attention, attention_xp, attention_args, wrt=(0, 1, 2), sizes=((128, 64), (512, 64)),
             quick_sizes=((128, 64),), fd_size=(6, 4),
             fmt_size=lambda s: f"sequence {s[0]}, width {s[1]}"),
        Case("stencil", "in-place diffusion stencil with a buffer swap, sum(u*u); d/d(u0, c)",
             stencil, stencil_xp, stencil_args, wrt=(0, 1), sizes=((10**3, 100), (10**4, 100)),
             quick_sizes=((10**3, 100),), fd_size=(10, 5),
             fmt_size=lambda s: f"n={fmt_n(s[0])}, {s[1]} steps", jax_fn=stencil_jax,
             static=(2,), written=(0,),
             labels={"zygopy": "explicit loop over i, writes in place, buffer swap",
                     "jax": "vectorised slices, lax.fori_loop over steps",
                     "torch": "vectorised slices, Python loop over steps",
                     "autograd": "vectorised slices, Python loop over steps"}),
    ]
}


# --- implementations: make_*(case) -> (prepare(args) -> state, grad(state) -> [np.ndarray per wrt])
# prepare is not timed (converting the data to the peer's arrays once, as its users would).


def make_zygopy(case):
    import zygopy

    def grad(args):
        g = zygopy.gradient(case.fn, *args, wrt=case.wrt)
        return [np.asarray(g[i]) for i in case.wrt]

    return (lambda args: args), grad


def make_jax(case):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    f = case.jax_fn or functools.partial(case.xp_fn, jnp)
    g = jax.jit(jax.grad(f, argnums=case.wrt), static_argnums=case.static)

    def prepare(args):
        return tuple(a if i in case.static else jnp.asarray(a, jnp.float64)
                     for i, a in enumerate(args))

    return prepare, lambda state: [np.asarray(x) for x in g(*state)]


def make_torch(case):
    import torch

    f = functools.partial(case.xp_fn, torch)

    def prepare(args):
        return tuple(a if i in case.static
                     else torch.as_tensor(a, dtype=torch.float64).requires_grad_(i in case.wrt)
                     for i, a in enumerate(args))

    def grad(state):
        for i in case.wrt:
            state[i].grad = None
        f(*state).backward()
        return [state[i].grad.numpy() for i in case.wrt]

    return prepare, grad


def make_autograd(case):
    import autograd
    import autograd.numpy as anp

    g = autograd.grad(functools.partial(case.xp_fn, anp), argnum=case.wrt)
    return (lambda args: args), lambda args: [np.asarray(x) for x in g(*args)]


@dataclass(frozen=True)
class Impl:
    key: str
    label: str
    make: Callable
    dists: tuple[str, ...]


IMPLS = {
    i.key: i
    for i in [
        Impl("primal", "zygopy primal (Numba)", None, ("numba", "llvmlite")),
        Impl("zygopy", "zygopy gradient", make_zygopy, ("zygopy",)),
        Impl("jax", "JAX jit(grad)", make_jax, ("jax", "jaxlib")),
        Impl("torch", "PyTorch eager, float64, backward()", make_torch, ("torch",)),
        Impl("autograd", "autograd", make_autograd, ("autograd",)),
    ]
}
PEERS = ["jax", "torch", "autograd"]


# --- checking -----------------------------------------------------------------------------


def rel_err(got, expected):
    """Worst over the differentiated arguments of max |got - expected| / max |expected|."""
    worst = 0.0
    for g, e in zip(got, expected, strict=True):
        g, e = np.asarray(g, np.float64), np.asarray(e, np.float64)
        if g.shape != e.shape:
            return float("inf")
        worst = max(worst, float(np.max(np.abs(g - e))) / max(float(np.max(np.abs(e))), 1e-300))
    return worst


def check(got, expected, rtol, what=""):
    err = rel_err(got, expected)
    if err <= rtol:
        return f"ok{what} (rel. err {err:.0e})"
    return f"MISMATCH{what}: rel. err {err:.1e}"


def finite_differences(case, size):
    """Central differences of the plain Python function, element by element. -> [array per wrt]"""
    args = case.args(size)

    def f(i, j, h):
        a = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
        if isinstance(a[i], np.ndarray):
            a[i].flat[j] += h
        else:
            a[i] += h
        return case.fn(*a)

    out = []
    for i in case.wrt:
        count = args[i].size if isinstance(args[i], np.ndarray) else 1
        d = np.array([(f(i, j, FD_H) - f(i, j, -FD_H)) / (2 * FD_H) for j in range(count)])
        out.append(d.reshape(np.shape(args[i])))
    return out


def reference_check(case, jax_grad):
    """The JAX gradient against finite differences at the case's small size (a line for the
    report)."""
    size = case.fmt_size(case.fd_size)
    if jax_grad is None:
        return f"no JAX: every gradient is checked at {size} against central differences instead"
    prepare, grad = jax_grad
    got = grad(prepare(case.args(case.fd_size)))
    verdict = check(got, finite_differences(case, case.fd_size), FD_RTOL)
    return f"JAX vs central differences of the Python function at {size}: {verdict}"


# --- zygopy runs in a child process: a fresh interpreter for its first call, and a memory cap -----


def memory_cap():
    """Address-space cap of the zygopy child: 60% of the available memory, at most 16 GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return min(16 << 30, int(int(line.split()[1]) * 1024 * 0.6))
    except OSError:
        pass
    return 8 << 30


def zygopy_child(case_key, size, quick, out, mode, small, cap):
    """Entry point of a fresh interpreter. mode "gradient": the first call, the steady state, then
    the primal; the gradients go to the .npz file `out` (the big size as g0.., the case's small size
    as s0.. if `small`). mode "first": the first call only. mode "primal": the primal only.
    The address space is capped at `cap` bytes: a tape that outgrows memory is a MemoryError."""
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    case = CASES[case_key]
    args = case.args(size)
    _, grad = make_zygopy(case)  # imports zygopy (not timed)
    result = {}
    if mode != "primal":
        try:
            result["first"], g = timed(lambda: grad(args))
            if mode == "first":
                return child_result(result)
            result["steady"], result["k"], g = measure(lambda: grad(args), quick)
            saved = {f"g{j}": x for j, x in enumerate(g)}
            if small:
                saved.update({f"s{j}": x for j, x in enumerate(grad(case.args(case.fd_size)))})
            np.savez(out, **saved)
        except Exception as e:  # noqa: BLE001 - reported in the table
            result["error"] = error_text(e)
            # the failed call may have leaked memory: the primal runs in a new child
            return child_result(result)
    try:
        import zygopy.api

        # leaves = args (plain arrays)
        primal = zygopy.api.compiled(case.fn, args, wrt=case.wrt).primal
        result["primal"], result["primal_k"], value = measure(lambda: primal(*case.fresh(args)),
                                                              quick)
        result["primal_value"] = float(value)
    except Exception as e:  # noqa: BLE001
        result["primal_error"] = error_text(e)
    child_result(result)


def run_zygopy(case, size, quick, small):
    """Cold first call + steady state + primal in one child (empty zygopy cache), then the first
    call again in a second child with the cache the first one filled."""
    cap = memory_cap()
    tmp = tempfile.mkdtemp(prefix="zygopy-bench-")
    try:
        env = dict(os.environ, ZYGOPY_CACHE_DIR=os.path.join(tmp, "cache"))
        out = os.path.join(tmp, "grads.npz")

        def child(mode, small=False):
            return run_child("arrays", "zygopy_child", case.key, size, quick, out, mode, small, cap,
                             timeout=CHILD_TIMEOUT, env=env)

        res = child("gradient", small)
        if "error" in res:
            if "MemoryError" in res["error"] or "exit code -9" in res["error"]:
                res["error"] += f" (address space capped at {cap / 2**30:.1f} GiB)"
            primal = child("primal")
            res.update({k: v for k, v in primal.items() if k != "error"})
            if "error" in primal:
                res["primal_error"] = primal["error"]
            return res
        with np.load(out) as z:
            res["grads"] = [z[f"g{j}"] for j in range(len(case.wrt))]
            if small:
                res["small_grads"] = [z[f"s{j}"] for j in range(len(case.wrt))]
        res["warm_first"] = child("first").get("first")
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- running ------------------------------------------------------------------------------


def peer_row(case, size, key, impl, args, ref, fd, quick):
    """Time one peer at one size. -> row"""
    prepare, grad = impl
    print(f"  {case.key} {case.fmt_size(size)} {key} ...", file=sys.stderr, flush=True)
    try:
        state = prepare(args)
        t, k, value = measure(lambda: grad(state), quick)
        if ref is not None:
            result = "reference" if key == "jax" else check(value, ref, RTOL)
        else:
            result = check(grad(prepare(case.args(case.fd_size))), fd, FD_RTOL,
                           " vs FD at small size")
    except Exception as e:  # noqa: BLE001
        return {"key": key, "size": size, "note": f"error: {error_text(e)}"}
    return {"key": key, "size": size, "time": t, "k": k, "check": result}


def run_case(case, sizes, peers, quick):
    """-> rows, first-call rows, reference line"""
    impls, rows = {}, []
    for key in dict.fromkeys(["jax"] + peers):  # JAX is also the reference when installed
        try:
            impls[key] = IMPLS[key].make(case)
        except ImportError as e:
            impls[key] = f"skipped: not installed ({error_text(e)})"
    jax_grad = impls["jax"] if not isinstance(impls["jax"], str) else None
    ref_line = reference_check(case, jax_grad)
    fd = None if jax_grad else finite_differences(case, case.fd_size)
    first_rows = []
    for size in sizes:
        args = case.args(size)
        ref = jax_grad[1](jax_grad[0](args)) if jax_grad else None

        print(f"  {case.key} {case.fmt_size(size)} zygopy (child process) ...", file=sys.stderr,
              flush=True)
        z = run_zygopy(case, size, quick, small=fd is not None)
        first_rows.append({"size": size,
                           **{k: v for k, v in z.items() if k not in ("grads", "small_grads")}})
        if "error" in z:
            rows.append({"key": "zygopy", "size": size, "note": f"error: {z['error']}"})
        else:
            result = check(z["grads"], ref, RTOL) if ref is not None else \
                check(z["small_grads"], fd, FD_RTOL, " vs FD at small size")
            rows.append({"key": "zygopy", "size": size, "time": z["steady"], "k": z["k"],
                         "check": result})
        if "primal" in z:
            expected = float(case.xp_fn(np, *case.fresh(args)))  # NumPy, vectorised
            ok = abs(z["primal_value"] - expected) <= RTOL * abs(expected)
            rows.append({"key": "primal", "size": size, "time": z["primal"], "k": z["primal_k"],
                         "check": "ok (value vs NumPy)" if ok
                         else f"MISMATCH: {z['primal_value']!r} vs {expected!r}"})
        elif "primal_error" in z:
            rows.append({"key": "primal", "size": size, "note": f"error: {z['primal_error']}"})
        for key in peers:
            if isinstance(impls[key], str):
                if size == sizes[0]:
                    rows.append({"key": key, "note": impls[key]})
                continue
            rows.append(peer_row(case, size, key, impls[key], args, ref, fd, quick))
        if jax_grad and "error" not in z:
            first_rows[-1]["side_by_side"] = side_by_side_ratio(case, size, args, jax_grad, quick)
    return rows, first_rows, ref_line


def side_by_side_ratio(case, size, args, jax_grad, quick):
    """zygopy's gradient time over JAX's, the two timed in alternating rounds in this process
    (common.side_by_side): the tables' times come from different processes at different moments,
    which on a shared machine can differ by more than the two do."""
    print(f"  {case.key} {case.fmt_size(size)} zygopy and JAX side by side ...",
          file=sys.stderr, flush=True)
    _, grad = make_zygopy(case)
    prepare, jgrad = jax_grad
    state = prepare(args)
    best = side_by_side({"zygopy": lambda: grad(args), "jax": lambda: jgrad(state)}, quick)
    return best["zygopy"] / best["jax"]


# --- reporting ----------------------------------------------------------------------------


def label(case, key):
    note = case.labels.get(key)
    return f"{IMPLS[key].label} ({note})" if note else IMPLS[key].label


def case_table(case, rows):
    primal = {r["size"]: r["time"] for r in rows if r["key"] == "primal" and "time" in r}
    order = list(IMPLS)
    out = ["| implementation | size | time | vs zygopy primal | gradient check |",
           "|---|---|---|---|---|"]
    sizes = list(dict.fromkeys(r["size"] for r in rows if "size" in r))
    for r in sorted(rows,
                    key=lambda r: (sizes.index(r["size"]) if "size" in r else -1,
                                   order.index(r["key"]))):
        size = case.fmt_size(r["size"]) if "size" in r else "—"
        if "time" not in r:
            out.append(f"| {label(case, r['key'])} | {size} | — | — | {r['note']} |")
            continue
        t = r["time"]
        out.append(f"| {label(case, r['key'])} | {size} | {fmt_time(t)} (best of {r['k']}) | "
                   f"{ratio(t, primal.get(r['size']))} | {r['check']} |")
    return "\n".join(out)


def first_call_table(all_first):
    out = ["| case | size | first call, empty cache | compile (first call − steady state) "
           "| first call, warm disk cache |",
           "|---|---|---|---|---|"]
    for case, rows in all_first:
        for r in rows:
            size = case.fmt_size(r["size"])
            if "first" not in r:
                out.append(f"| {case.key} | {size} | error: {r['error']} | — | — |")
                continue
            if "steady" not in r:  # failed after the first call
                out.append(f"| {case.key} | {size} | {fmt_time(r['first'])} | "
                           f"error: {r['error']} | — |")
                continue
            warm = fmt_time(r["warm_first"]) if r.get("warm_first") is not None else "—"
            out.append(f"| {case.key} | {size} | {fmt_time(r['first'])} | "
                       f"{fmt_time(max(r['first'] - r['steady'], 0.0))} | {warm} |")
    return "\n".join(out)


def ratio_lines(results):
    out = []
    for case, rows, _, _ in results:
        times = {(r["key"], r["size"]): r["time"] for r in rows if "time" in r}
        for (key, size), t in times.items():
            if key == "zygopy" and ("primal", size) in times:
                target = " (target ≤ 3×)" if case.key == "chain" else ""
                slower = ratio(t, times["primal", size])
                out.append(f"{case.key} {case.fmt_size(size)}: {slower}{target}")
    return "; ".join(out) or "—"


def side_by_side_lines(results):
    return "; ".join(f"{case.key} {case.fmt_size(r['size'])}: {r['side_by_side']:.2f}×"
                     for case, _, first, _ in results for r in first if "side_by_side" in r) or "—"


def report(peers, quick, results, elapsed):
    dists = ["numpy"] + [d for k in ["primal", "zygopy"] + peers for d in IMPLS[k].dists]
    lines = [
        "## arrays: gradients of five array workloads",
        "",
        *run_info("arrays.py", quick, dists),
        "- gradient check: max |g − ref| / max |ref| per argument (worst shown), tolerance "
        f"{RTOL:g}, against the JAX gradient at the same size; JAX itself is checked against "
        f"central differences of the Python function (h = {FD_H:g}, tolerance {FD_RTOL:g}) at a "
        "small size (without JAX, every gradient is checked that way). Times are best-of-k wall "
        "times of one full gradient call after a warm-up call; zygopy runs in a fresh interpreter "
        "(first call timed separately, below).",
        "- vs zygopy primal: time / the time of zygopy's own compiled primal at the same size "
        "(`zygopy.api.compiled(f, args).primal`, Numba). zygopy gradient / primal: "
        + ratio_lines(results) + ".",
        "- side by side: zygopy's gradient time / JAX's, the two timed in alternating rounds in "
        "one process (`common.side_by_side`, best of each; zygopy compiled beforehand), which "
        "compares like with like where the tables' times, from different processes, fall on the "
        "machine's different moments: " + side_by_side_lines(results) + ".",
        "- stencil: zygopy and its primal run the explicit loop over i, writing into `un` and "
        "swapping buffers. The peers cannot mutate arrays in place efficiently, so they run the "
        "idiomatic vectorised update (slices, a new array per step). The primal's time includes "
        "copying `u`, which it writes into.",
        f"- threads: {THREADS}. Set these variables to change them.",
        f"- whole run: {elapsed:.0f} s",
    ]
    for case, rows, _, ref_line in results:
        lines += ["", f"### {case.key}: {case.title}", "", f"Reference check: {ref_line}", "",
                  case_table(case, rows)]
    lines += ["",
              "zygopy's first call in a fresh interpreter (import excluded). Empty cache: a new "
              "`ZYGOPY_CACHE_DIR`, so the generated code is compiled by Numba; warm: a second "
              "interpreter with that cache filled. The first call also reruns the forward pass "
              "where the tape outgrew zygopy's initial stacks (the stencil), so first call − "
              "steady state is a little more than the compile time.", "",
              first_call_table([(c, f) for c, _, f, _ in results])]
    return "\n".join(lines)


def main():
    quick, peers = parse_args(__doc__, PEERS, "smaller sizes, fewer repeats",
                              " (zygopy always runs)")
    t0 = time.perf_counter()
    results = []
    # the side-by-side runs compile in this process: into a cache of their own
    os.environ["ZYGOPY_CACHE_DIR"] = tempfile.mkdtemp(prefix="zygopy-bench-")
    try:
        for case in CASES.values():
            print(f"{case.key} ...", file=sys.stderr, flush=True)
            rows, first_rows, ref_line = run_case(case, case.quick_sizes if quick else case.sizes,
                                                  peers, quick)
            results.append((case, rows, first_rows, ref_line))
    finally:
        shutil.rmtree(os.environ["ZYGOPY_CACHE_DIR"], ignore_errors=True)
    body = report(peers, quick, results, time.perf_counter() - t0)
    print(body)
    write_section("arrays", body)
    print(f"\nwrote {common.RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Per-element kernels on the CPU: zygopy's kernels (tests/kernel_examples.py, run as parallel
loops) against the same layers written with NumPy and differentiated by zygopy, and against the
same kernels in NVIDIA Warp (warp-lang, CPU device), in float64.

    python benchmarks/kernels.py            # the sizes below, best of 3..7 calls each
    python benchmarks/kernels.py --quick    # a tenth of the sizes, fewer calls

For each example: the forward time, and the time of forward and backward together (zygopy's
kernel: the forward, then `vjp`; NumPy in zygopy: `zygopy.gradient` of sum(layer * gout); Warp:
the launch recorded on a Tape, then `Tape.backward`). Gradients: the kernel's and Warp's against
the NumPy layer's gradient from zygopy (relative tolerance 1e-8), the NumPy layer's forward
against the kernel's; a disagreement is shown, not hidden. Warp's CPU device runs a launch on
one thread; zygopy's kernels use Numba's threads (NUMBA_NUM_THREADS). The GPU counterpart is
benchmarks/kernels_gpu.py.

Prints a Markdown table and replaces the kernels section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, fmt_time, measure, quick_flag, run_info, write_section  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))
import zygopy  # noqa: E402
from tests import kernel_examples as ex  # noqa: E402
from zygopy.api import _compiled, bind  # noqa: E402

# ---- the same layers in NumPy, differentiated by zygopy ----------------------------------------

def swish(x, beta):
    return x / (1.0 + np.exp(-beta[0] * x))


def conv1d(x, w):
    n = x.shape[0] - w.shape[0] + 1
    out = np.zeros(n)
    for k in range(w.shape[0]):
        out += x[k:k + n] * w[k]
    return out


def softmax_rows(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def attention(q, k, v):
    s = q @ k.T
    e = np.exp(s - np.max(s, axis=1, keepdims=True))
    return (e / np.sum(e, axis=1, keepdims=True)) @ v


def pair_forces(p, strength):
    r = p[None, :] - p[:, None]
    upper = np.triu(strength[0] * r / (r * r + 0.1) ** 1.5, 1)  # f_ij for the pairs j > i
    return np.sum(upper, axis=1) - np.sum(upper, axis=0)


def loss_swish(x, beta, gout):
    return np.sum(swish(x, beta) * gout)


def loss_conv1d(x, w, gout):
    return np.sum(conv1d(x, w) * gout)


def loss_softmax_rows(x, gout):
    return np.sum(softmax_rows(x) * gout)


def loss_attention(q, k, v, gout):
    return np.sum(attention(q, k, v) * gout)


def loss_pair_forces(p, strength, gout):
    return np.sum(pair_forces(p, strength) * gout)


def examples(scale, rng):
    """name -> (zygopy kernel, NumPy layer, its loss, inputs, size text)."""
    n = int(10 ** 6 * scale)
    rows, keys, particles = int(10 ** 4 * scale), int(512 * scale ** 0.5), int(2000 * scale ** 0.5)
    return {
        "swish": (ex.swish, swish, loss_swish, (rng.normal(size=n), np.array([0.8])),
                  f"{n:,} elements"),
        "conv1d": (ex.conv1d, conv1d, loss_conv1d, (rng.normal(size=n), rng.normal(size=16)),
                   f"{n:,} by 16 taps"),
        "softmax_rows": (ex.softmax_rows, softmax_rows, loss_softmax_rows,
                         (rng.normal(size=(rows, 64)),), f"{rows:,} rows of 64"),
        "attention": (ex.attention, attention, loss_attention,
                      (rng.normal(size=(keys, 32)) * 0.3, rng.normal(size=(keys, 32)) * 0.3,
                       rng.normal(size=(keys, 32))), f"{keys} queries and keys, d = 32"),
        "pair_forces": (ex.pair_forces, pair_forces, loss_pair_forces,
                        (np.sort(rng.uniform(0, 40, size=particles)), np.array([0.7])),
                        f"{particles:,} particles"),
    }


# ---- Warp ---------------------------------------------------------------------------------

def warp_runner():
    """name -> run(inputs, gout, backward) -> (output, input gradients or None), or None where
    warp-lang is not installed."""
    try:
        import warp_kernels
    except ImportError:
        return None
    return warp_kernels.run


# ---- measuring ----------------------------------------------------------------------------

def relative_error(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300))


def check(grads, truth):
    worst = max(relative_error(g, t) for g, t in zip(grads, truth, strict=True))
    return f"ok ({worst:.0e})" if worst <= 1e-8 else f"MISMATCH ({worst:.1e})"


def row(name, kernel, layer, loss, inputs, size, warp, quick, rng):
    gout = rng.normal(size=np.shape(layer(*inputs)))
    wrt = tuple(range(len(inputs)))
    primal, sig = _compiled(bind(loss, (*inputs, gout), wrt=wrt))
    primal_fn = primal.primal
    t_layer, _, _ = measure(lambda: primal_fn(*sig.arguments), quick)
    t_layer_grad, _, truth = measure(lambda: zygopy.gradient(loss, *inputs, gout, wrt=wrt), quick)
    truth = truth[:len(inputs)]
    t_kernel, _, out = measure(lambda: kernel(*inputs), quick)
    t_vjp, _, grads = measure(lambda: kernel.vjp(gout, *inputs), quick)
    forward_ok = relative_error(out, layer(*inputs)) <= 1e-10
    cells = [name, size, fmt_time(t_kernel), fmt_time(t_kernel + t_vjp),
             fmt_time(t_layer), fmt_time(t_layer_grad),
             ("" if forward_ok else "forward MISMATCH; ") + check(grads, truth)]
    if warp is None:
        cells += ["warp-lang not installed", "—", "—"]
    else:
        t_warp, _, (warp_out, _) = measure(lambda: warp(name, inputs, gout, False), quick)
        t_warp_grad, _, (_, warp_grads) = measure(lambda: warp(name, inputs, gout, True), quick)
        warp_ok = relative_error(warp_out, layer(*inputs)) <= 1e-10
        cells += [fmt_time(t_warp), fmt_time(t_warp_grad),
                  ("" if warp_ok else "forward MISMATCH; ") + check(warp_grads, truth)]
    return "| " + " | ".join(cells) + " |"


def main():
    quick = quick_flag(__doc__, "a tenth of the sizes, fewer calls")
    rng = np.random.default_rng(0)
    warp = warp_runner()
    t0 = time.perf_counter()
    lines = ["| example | size | kernel | kernel + vjp | NumPy layer | its gradient | "
             "kernel gradient | Warp | Warp + backward | Warp gradient |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, (kernel, layer, loss, inputs, size) in examples(0.1 if quick else 1.0, rng).items():
        print(name, "...", file=sys.stderr, flush=True)
        lines.append(row(name, kernel, layer, loss, inputs, size, warp, quick, rng))
    from numba import config
    body = "\n".join([
        "## kernels: per-element kernels on the CPU against NumPy in zygopy and Warp", "",
        *run_info("kernels.py", quick, ["numpy", "numba", "warp-lang"]),
        f"- zygopy's kernels on {config.NUMBA_NUM_THREADS} Numba threads; Warp's CPU launches on "
        f"one. Float64 throughout. Times: best of several calls after a warm-up call (compiles "
        f"excluded). Whole run: {time.perf_counter() - t0:.0f} s.",
        "- kernel + vjp: the forward, then the backward kernel given the output's gradient; its "
        "gradient: zygopy.gradient of sum(layer(...) * gout), forward and reverse; Warp + "
        "backward: a Tape around the launch, then Tape.backward. Gradients are checked against "
        "the NumPy layer's (relative, largest element).", "",
        *lines])
    print(body)
    write_section("kernels", body)


if __name__ == "__main__":
    os.environ.setdefault("ZYGOPY_INTERPRET_WHILE_COMPILING", "0")
    main()

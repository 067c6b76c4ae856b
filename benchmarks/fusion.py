#!/usr/bin/env python
"""Fused sums: zygopy's compiled primal against the same NumPy code under numba.njit (Numba fuses
an elementwise chain, not the sum that reads it) and against a loop fused by hand.

    1. mixture:  the log-likelihood of 10^5 points under a 1-d Gaussian mixture (3 components):
                 row sums of w * exp(-0.5 d^2), then a sum of their logs
    2. chain:    an elementwise chain of 8 operations on 10^6 elements, summed
    3. rows:     a row-wise log-sum-exp of a 2000 x 500 matrix, summed

    python benchmarks/fusion.py            # best of 3..7 calls each
    python benchmarks/fusion.py --quick    # fewer repeats

Each value is checked against NumPy. Prints a Markdown table and replaces the fusion section of
benchmarks/RESULTS.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arrays import chain  # noqa: E402  (the chain of benchmarks/arrays.py)
from common import fmt_time, measure, ratio, run_info, write_section  # noqa: E402
from forward_mode import mixture  # noqa: E402

import zygopy  # noqa: E402
from zygopy.api import _compiled, bind  # noqa: E402


def rows(a):
    return np.sum(np.log(np.sum(np.exp(a - 1.0), axis=1)))


@numba.njit(cache=True)
def mixture_by_hand(means, x, weights):
    total = 0.0
    for i in range(x.shape[0]):
        row = 0.0
        for k in range(means.shape[0]):
            d = x[i] - means[k]
            row += weights[k] * np.exp(-0.5 * d * d)
        total += np.log(row)
    return total


@numba.njit(cache=True)
def chain_by_hand(a, b, c):
    total = 0.0
    for i in range(a.shape[0]):
        total += (np.exp(a[i]) * b[i] + np.tanh(c[i]) * a[i] - b[i] * c[i] + np.sin(a[i]) * 0.5
                  - np.sqrt(b[i] * b[i] + 1.0))
    return total


@numba.njit(cache=True)
def chain_gradient_by_hand(a, b, c):
    """d/d(a, b, c) of chain, each element's forward and reverse in one loop."""
    ga, gb, gc = np.empty_like(a), np.empty_like(b), np.empty_like(c)
    for i in range(a.shape[0]):
        ea, tc, r = np.exp(a[i]), np.tanh(c[i]), np.sqrt(b[i] * b[i] + 1.0)
        ga[i] = ea * b[i] + tc + 0.5 * np.cos(a[i])
        gb[i] = ea - c[i] - b[i] / r
        gc[i] = (1.0 - tc * tc) * a[i] - b[i]
    return ga, gb, gc


@numba.njit(cache=True)
def rows_gradient_by_hand(a):
    """d/da of rows: each row's softmax, its exponentials computed once."""
    g = np.empty_like(a)
    for i in range(a.shape[0]):
        row = 0.0
        for j in range(a.shape[1]):
            g[i, j] = np.exp(a[i, j] - 1.0)
            row += g[i, j]
        for j in range(a.shape[1]):
            g[i, j] /= row
    return g


@numba.njit(cache=True)
def rows_by_hand(a):
    total = 0.0
    for i in range(a.shape[0]):
        row = 0.0
        for j in range(a.shape[1]):
            row += np.exp(a[i, j] - 1.0)
        total += np.log(row)
    return total


def row(name, f, by_hand, args, quick):
    primal, sig = _compiled(bind(f, args))
    expected = f(*args)
    times, worst = [], 0.0
    calls = (lambda: plain(*args), lambda: primal.primal(*sig.arguments), lambda: by_hand(*args))
    plain = numba.njit(f)
    for call in calls:
        t, _, value = measure(call, quick)
        times.append(t)
        worst = max(worst, abs(value - expected) / abs(expected))
    plain, ours, hand = times
    return (f"| {name} | {fmt_time(plain)} | {fmt_time(ours)} ({ratio(ours, plain)}) | "
            f"{fmt_time(hand)} ({ratio(hand, plain)}) | {ratio(ours, hand)} | {worst:.0e} |")


def gradient_row(name, f, by_hand, args, quick):
    """zygopy's gradient against a hand-fused gradient loop; the two must agree, and both match
    central differences of the NumPy function at a few coordinates."""
    ours_t, _, ours = measure(lambda: zygopy.gradient(f, *args), quick)
    hand_t, _, hand = measure(lambda: by_hand(*args), quick)
    hand = hand if isinstance(hand, tuple) else (hand,)
    worst = max(float(np.max(np.abs(g - h)) / np.max(np.abs(h)))
                for g, h in zip(ours, hand, strict=True))
    fd = central_differences(f, args, hand)
    return (f"| {name} | {fmt_time(ours_t)} | {fmt_time(hand_t)} | {ratio(ours_t, hand_t)} | "
            f"{worst:.0e} | {fd:.0e} |")


def central_differences(f, args, grads, h=1e-4, points=3):
    """Largest relative difference of grads from central differences at a few coordinates; h
    balances truncation (~h^2) against rounding in a sum of 10^6 terms (~|f| eps / h ~ 1e-6)."""
    rng, worst = np.random.default_rng(0), 0.0
    for a, g in zip(args, grads, strict=True):
        for _ in range(points):
            i = tuple(int(rng.integers(0, n)) for n in a.shape)
            old = a[i]
            a[i] = old + h
            up = f(*args)
            a[i] = old - h
            down = f(*args)
            a[i] = old
            worst = max(worst, abs((up - down) / (2 * h) - g[i]) / max(abs(g[i]), 1.0))
    return worst


def main():
    quick = "--quick" in sys.argv
    rng = np.random.default_rng(2)
    x = rng.standard_normal(10 ** 5)
    a, b, c = (rng.standard_normal(10 ** 6) for _ in range(3))
    lines = [
        "## fusion: sums fused with the elementwise expressions they read", "",
        *run_info("fusion.py", quick, ["numpy", "numba"]),
        "- times: best of several calls after a warm-up call, one thread, all in this one run. "
        "numba.njit runs the NumPy code as written (Numba fuses the elementwise chain into one "
        "loop that fills a temporary, then sums it); zygopy's primal runs each sum as a loop over "
        "the elements; the hand-written loop is what a careful user would write.",
        "", "| workload | numba.njit | zygopy primal (vs njit) | hand-fused loop (vs njit) | "
        "zygopy / hand | largest relative difference from NumPy |", "|---|---|---|---|---|---|",
        row("mixture, 10^5 points x 3", mixture, mixture_by_hand,
            (np.array([-1.0, 0.2, 1.5]), x, np.array([0.2, 0.3, 0.5])), quick),
        row("chain of 8 operations, 10^6", chain, chain_by_hand, (a, b, c), quick),
        row("row log-sum-exp, 2000 x 500", rows, rows_by_hand,
            (rng.standard_normal((2000, 500)),), quick),
    ]
    lines += [
        "", "Gradients: zygopy.gradient against a loop written by hand that runs each element's "
        "forward and reverse together (no array stored between them).", "",
        "| workload | zygopy gradient | hand-fused gradient | zygopy / hand | largest relative "
        "difference | hand vs central differences |", "|---|---|---|---|---|---|",
        gradient_row("chain of 8 operations, 10^6", chain, chain_gradient_by_hand, (a, b, c),
                     quick),
        gradient_row("row log-sum-exp, 2000 x 500", rows, rows_gradient_by_hand,
                     (rng.standard_normal((2000, 500)),), quick),
    ]
    body = "\n".join(lines)
    print(body)
    write_section("fusion", body)


if __name__ == "__main__":
    main()

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
    body = "\n".join(lines)
    print(body)
    write_section("fusion", body)


if __name__ == "__main__":
    main()

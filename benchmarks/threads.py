#!/usr/bin/env python
"""Threads benchmark: gradients of the scalar loop computed from 1 thread, then from 2 at once.

The compiled code runs without the GIL and each call records its own tape, so on a machine with
two free cores two threads should compute close to twice as many gradients per second.

    python benchmarks/threads.py            # n = 10^6, 12 gradients per thread, best of 5 runs
    python benchmarks/threads.py --quick    # 6 gradients per thread, best of 3 runs

Prints a Markdown table and replaces the threads section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fmt_n, fmt_time, quick_flag, run_info, write_section  # noqa: E402
from scalar_loop import X0, scalar_loop  # noqa: E402

import zygopy  # noqa: E402  (the working tree's, put first on sys.path by common)

N = 10**6
THREADS = (1, 2)


def run(threads, calls):
    """`threads` threads, released together, each computing `calls` gradients.
    -> (wall time from the release to the last result, the gradients)"""
    start = threading.Barrier(threads + 1)
    results = [[] for _ in range(threads)]

    def work(i):
        start.wait()
        for _ in range(calls):
            results[i].append(zygopy.gradient(scalar_loop, X0, N)[0])

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    return time.perf_counter() - t0, [g for r in results for g in r]


def check_reference(n=100, h=1e-6):
    """zygopy against central differences of the Python function, at a small n."""
    fd = (scalar_loop(X0 + h, n) - scalar_loop(X0 - h, n)) / (2 * h)
    ad = zygopy.gradient(scalar_loop, X0, n)[0]
    rel = abs(ad - fd) / abs(fd)
    return (f"zygopy dx = {ad!r}, central FD of the Python function (n={n}, h={h:g}) = {fd!r}, "
            f"rel. diff {rel:.1e}: {'ok' if rel < 1e-6 else 'MISMATCH'}")


def main():
    quick = quick_flag(__doc__, "6 gradients per thread, best of 3 runs")
    calls, repeats = (6, 3) if quick else (12, 5)
    reference = check_reference()
    zygopy.gradient(scalar_loop, X0, N)  # warm-up: compiles, sizes the tape
    expected = zygopy.gradient(scalar_loop, X0, N)[0]
    load_before = os.getloadavg()
    best = {k: None for k in THREADS}
    mismatches = 0
    for _ in range(repeats):  # interleaved, so that other load on the machine hits both alike
        for k in THREADS:
            t, grads = run(k, calls)
            mismatches += sum(g != expected for g in grads)
            best[k] = t if best[k] is None else min(best[k], t)
    load_after = os.getloadavg()

    rate = {k: k * calls / best[k] for k in THREADS}
    rows = [f"| {k} | {k * calls} | {fmt_time(best[k])} | {fmt_time(best[k] / (k * calls))} | "
            f"{rate[k]:.1f} | {rate[k] / rate[1]:.2f}× |" for k in THREADS]
    check = (f"MISMATCH: {mismatches} gradients from threads differ from the serial one"
             if mismatches else "every gradient from the threads equals the serial one")
    body = "\n".join([
        "## threads: gradients of the scalar loop from 1 thread and from 2 threads at once",
        "",
        *run_info("threads.py", quick, ["numpy", "numba", "llvmlite", "zygopy"]),
        f"- workload: `zygopy.gradient(scalar_loop, {X0}, n)` with n = {fmt_n(N)} (the function "
        f"of scalar_loop.py), {calls} gradients per thread; wall time from releasing the threads "
        f"to the last result, best of {repeats} runs after a warm-up call. Speed-up = gradients "
        "per second with 2 threads / with 1 (ideal: 2 on two free cores).",
        f"- reference check: {reference}",
        f"- gradient check: {check} (dx = {expected!r}).",
        f"- load average (1 min) at the start {load_before[0]:.2f}, at the end "
        f"{load_after[0]:.2f}, on {os.cpu_count()} CPUs: other work on the machine takes cores "
        "from the threads.",
        "",
        "| threads | gradients | wall time | per gradient | gradients/s | speed-up |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    print(body)
    write_section("threads", body)


if __name__ == "__main__":
    main()

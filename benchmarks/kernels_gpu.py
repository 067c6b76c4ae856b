#!/usr/bin/env python
"""Achieved memory bandwidth of the kernel examples on a GPU, as a fraction of the device's peak.

    python benchmarks/kernels_gpu.py            # needs a CUDA GPU and numba-cuda
    python benchmarks/kernels_gpu.py --quick    # a tenth of the sizes

Each example (tests/kernel_examples.py) runs on device arrays (numba.cuda.to_device): a warm-up
call compiles it, then the best of several calls is timed, forward and backward (`vjp`) apart,
each ending in a synchronisation. Bytes: what the kernel must move at least, each input read once
and each output written once (the backward reads the inputs and the output's gradient and writes
the input gradients). Peak: 2 x memory clock x bus width, from the device's attributes. The
target is 70% of peak for the kernels that are bandwidth-bound (swish, conv1d, softmax_rows);
attention and pair_forces do O(n^2) arithmetic on O(n) bytes and are reported for their time.
Gradients are checked against the CPU backend's (relative, 1e-10).

Prints a Markdown table and replaces the kernels_gpu section of benchmarks/RESULTS.md. Refuses
to run under Numba's CUDA simulator, whose times mean nothing.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, fmt_time, quick_flag, run_info, write_section  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))
from tests import kernel_examples as ex  # noqa: E402

BANDWIDTH_BOUND = ("swish", "conv1d", "softmax_rows")


def examples(scale, rng):
    n, rows = int(2 ** 26 * scale), int(2 ** 20 * scale)
    keys, particles = int(4096 * scale ** 0.5), int(2 ** 15 * scale ** 0.5)
    return {
        "swish": (ex.swish, (rng.normal(size=n), np.array([0.8]))),
        "conv1d": (ex.conv1d, (rng.normal(size=n), rng.normal(size=16))),
        "softmax_rows": (ex.softmax_rows, (rng.normal(size=(rows, 64)),)),
        "attention": (ex.attention, (rng.normal(size=(keys, 64)) * 0.2,
                                     rng.normal(size=(keys, 64)) * 0.2,
                                     rng.normal(size=(keys, 64)))),
        "pair_forces": (ex.pair_forces, (np.sort(rng.uniform(0, 400, size=particles)),
                                         np.array([0.7]))),
    }


def peak_bandwidth(device):
    """Bytes per second: double data rate x memory clock (kHz) x bus width (bits)."""
    return 2 * device.MEMORY_CLOCK_RATE * 1e3 * device.GLOBAL_MEMORY_BUS_WIDTH / 8


def best_time(call, repeats, cuda):
    call()
    cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def nbytes(*arrays):
    return sum(np.asarray(a).nbytes for a in arrays)


def main():
    quick = quick_flag(__doc__, "a tenth of the sizes")
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        sys.exit("kernels_gpu.py measures a real GPU; unset NUMBA_ENABLE_CUDASIM")
    from numba import cuda
    if not cuda.is_available():
        sys.exit("kernels_gpu.py needs a CUDA GPU (numba.cuda.is_available() is False)")
    device = cuda.get_current_device()
    peak = peak_bandwidth(device)
    rng = np.random.default_rng(0)
    lines = ["| example | inputs | forward | of peak | backward | of peak | gradient check |",
             "|---|---|---|---|---|---|---|"]
    for name, (kernel, inputs) in examples(0.1 if quick else 1.0, rng).items():
        print(name, "...", file=sys.stderr, flush=True)
        on_gpu = [cuda.to_device(a) for a in inputs]
        out = kernel(*on_gpu).copy_to_host()
        gout = rng.normal(size=out.shape)
        gout_gpu = cuda.to_device(gout)
        t_fwd = best_time(lambda k=kernel, a=on_gpu: k(*a), 5, cuda)
        t_bwd = best_time(lambda k=kernel, a=on_gpu, g=gout_gpu: k.vjp(g, *a), 5, cuda)
        gpu_grads = [g.copy_to_host() for g in kernel.vjp(gout_gpu, *on_gpu) if g is not None]
        cpu_grads = [g for g in kernel.vjp(gout, *inputs) if g is not None]
        worst = max(float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
                    for a, b in zip(gpu_grads, cpu_grads, strict=True))
        moved_fwd = nbytes(*inputs, out)
        moved_bwd = nbytes(*inputs, gout, *cpu_grads)
        bound = "" if name in BANDWIDTH_BOUND else " (compute-bound)"
        shapes = ", ".join("x".join(map(str, np.shape(a))) for a in inputs)
        lines.append(f"| {name}{bound} | {shapes} | {fmt_time(t_fwd)} | "
                     f"{moved_fwd / t_fwd / peak:.0%} | {fmt_time(t_bwd)} | "
                     f"{moved_bwd / t_bwd / peak:.0%} | "
                     f"{'ok' if worst <= 1e-10 else 'MISMATCH'} ({worst:.0e}) |")
    body = "\n".join([
        "## kernels_gpu: achieved memory bandwidth of the kernel examples", "",
        *run_info("kernels_gpu.py", quick, ["numpy", "numba", "numba-cuda"]),
        f"- device: {device.name.decode() if isinstance(device.name, bytes) else device.name}, "
        f"peak {peak / 1e9:.0f} GB/s (2 x memory clock x bus width). Float64. Of peak: the "
        "least bytes each kernel must move, over its best time.", "", *lines])
    print(body)
    write_section("kernels_gpu", body)


if __name__ == "__main__":
    main()

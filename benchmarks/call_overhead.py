#!/usr/bin/env python
"""Call overhead: what a `zygopy.gradient` call costs beyond its compiled code, on inputs so small
that the arithmetic is nothing.

    python benchmarks/call_overhead.py            # 200,000 calls per row, best of 5 rounds
    python benchmarks/call_overhead.py --quick    # 20,000 calls, best of 3

Each row times, in one process and one run: the plain Python function, `zygopy.gradient` on it,
and the generated code's compiled entry called directly with its stacks (what the gradient call
runs in the end), and JAX's `jit(grad)` where JAX is installed. Arguments given positionally,
numbers, arrays and structures of them (a dict of arrays, a layer object), take the fast path
after a first call; keyword arguments take the full one (binding, signature). The target: at
most 5 µs for a few scalar or array arguments.

Prints a Markdown table and replaces the call_overhead section of benchmarks/RESULTS.md.
"""
from __future__ import annotations

import gc
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fmt_time, quick_flag, run_info, write_section  # noqa: E402

import zygopy  # noqa: E402  (the working tree's, put first on sys.path by common)
from zygopy import nn  # noqa: E402
from zygopy.api import _compiled, bind  # noqa: E402
from zygopy.trees import flatten  # noqa: E402


def two_numbers(x, y):
    return x * y + math.sin(x)


def two_arrays(a, b):
    return np.sum(a * b)


def numbers_and_an_int(x, y, n):
    s = 0.0
    for i in range(n):
        s = s + x * y * i
    return s


def a_dict(p):
    return np.sum(p["w"] * p["b"])


def a_layer(layer, x):
    return np.sum(layer(x) ** 2)


SMALL = np.linspace(0.1, 0.3, 3)
CASES = [("2 floats", two_numbers, (0.5, 1.5)),
         ("2 arrays of 3", two_arrays, (SMALL, SMALL + 1.0)),
         ("2 floats and an int", numbers_and_an_int, (0.5, 1.5, 3)),
         ("a dict of 2 arrays", a_dict, ({"w": SMALL, "b": SMALL + 1.0},)),
         ("a Dense layer (3 to 2, relu) and an array", a_layer,
          (nn.Dense(3, 2, nn.relu, rng=np.random.default_rng(0), dtype=np.float64), SMALL))]


def per_call(fn, calls, rounds):
    """Best over `rounds` of the mean time of `calls` calls of fn(), gc off."""
    best = math.inf
    gc.disable()
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best = min(best, (time.perf_counter() - t0) / calls)
    finally:
        gc.enable()
    return best


def compiled_entry(f, args):
    """The generated value-and-gradient entry with its arguments and stacks, as a call."""
    c, sig = _compiled(bind(f, args))
    call_args = (*sig.arguments, 1.0, *c._alloc())
    fused = c._fused
    return lambda: fused(*call_args)


def jax_call(f, args):
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    if f is two_numbers:
        g = jax.jit(jax.grad(lambda x, y: x * y + jnp.sin(x), argnums=(0, 1)))
    elif f is two_arrays:
        g = jax.jit(jax.grad(lambda a, b: jnp.sum(a * b), argnums=(0, 1)))
    else:
        return None
    g(*args)
    return lambda: g(*args)


def main():
    quick = quick_flag(__doc__, "fewer calls and rounds")
    calls, rounds = (20_000, 3) if quick else (200_000, 5)
    lines = ["| call | plain function | zygopy.gradient | its compiled code | overhead | "
             "JAX jit(grad) |", "|---|---|---|---|---|---|"]
    for name, f, args in CASES:
        expected = zygopy.gradient(f, *args)  # compiles
        t_plain = per_call(lambda f=f, args=args: f(*args), calls, rounds)
        t_grad = per_call(lambda f=f, args=args: zygopy.gradient(f, *args), calls, rounds)
        t_code = per_call(compiled_entry(f, args), calls, rounds)
        j = jax_call(f, args)
        t_jax = fmt_time(per_call(j, calls // 10, rounds)) if j else "—"
        again = flatten(zygopy.gradient(f, *args))[1]  # the fast path agrees with the first call
        assert all(np.array_equal(a, b) for a, b in zip(again, flatten(expected)[1], strict=True))
        lines.append(f"| {name} | {fmt_time(t_plain)} | {fmt_time(t_grad)} | {fmt_time(t_code)} | "
                     f"{fmt_time(t_grad - t_code)} | {t_jax} |")
    body = "\n".join(["## call_overhead: a gradient call's cost beyond its compiled code", "",
                      *run_info("call_overhead.py", quick, ["numpy", "numba", "jax"]),
                      f"- per call: the best of {rounds} rounds of {calls:,} calls (JAX: a tenth "
                      "as many); overhead = zygopy.gradient - its compiled code.", "",
                      *lines])
    print(body)
    write_section("call_overhead", body)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Forward mode and second order: jvp against the primal, hvp against the gradient, and the
Hessian of a 100-parameter function against JAX's `hessian` (checked and timed in one run).

    1. loop:     the scalar loop with a data-dependent branch (scalar_loop.py), n = 10^6
    2. mixture:  the log-likelihood of 10^5 points under a 1-d Gaussian mixture (3 components),
                 differentiated with respect to the means
    3. hessian:  a logistic-regression loss of 100 weights on 1,000 samples, zygopy.hessian (100
                 hvps) against jax.hessian (jit, float64)

    python benchmarks/forward_mode.py            # best of 3..7 calls each
    python benchmarks/forward_mode.py --quick    # fewer repeats

Prints Markdown tables and replaces the forward_mode section of benchmarks/RESULTS.md.
Targets: jvp <= 1.5x the primal, hvp <= 4x the gradient.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fmt_time, measure, ratio, run_info, write_section  # noqa: E402
from scalar_loop import scalar_loop as loop  # noqa: E402  (the same loop as scalar_loop.py)

import zygopy  # noqa: E402
from zygopy.api import _compiled, bind  # noqa: E402


def mixture(means, x, weights):
    d = x[:, None] - means[None, :]
    return np.sum(np.log(np.sum(weights * np.exp(-0.5 * d * d), axis=1)))


def logistic(w, features, labels):
    z = features @ w
    return np.mean(np.log1p(np.exp(-labels * z))) + 0.01 * np.sum(w * w)


def second_order_row(name, f, x, rest, v, quick):
    primal, sig = _compiled(bind(f, (x, *rest)))
    primal_fn, arguments = primal.primal, sig.arguments
    t_primal = measure(lambda: primal_fn(*arguments), quick)[0]
    tangents = (v,) + (None,) * len(rest)
    t_jvp = measure(lambda: zygopy.jvp(f, (x, *rest), tangents), quick)[0]
    t_grad = measure(lambda: zygopy.gradient(f, x, *rest, wrt=0), quick)[0]
    t_hvp = measure(lambda: zygopy.hvp(f, x, v, *rest), quick)[0]
    return (f"| {name} | {fmt_time(t_primal)} | {fmt_time(t_jvp)} ({ratio(t_jvp, t_primal)}) | "
            f"{fmt_time(t_grad)} | {fmt_time(t_hvp)} ({ratio(t_hvp, t_grad)}) |")


def hessian_row(quick):
    rng = np.random.default_rng(0)
    features = rng.standard_normal((1000, 100))
    labels = np.sign(rng.standard_normal(1000))
    w = 0.1 * rng.standard_normal(100)
    t_ours, _, ours = measure(lambda: zygopy.hessian(logistic, w, features, labels), quick)
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        def jax_logistic(w, features, labels):
            z = features @ w
            return jnp.mean(jnp.log1p(jnp.exp(-labels * z))) + 0.01 * jnp.sum(w * w)
        jax_hessian = jax.jit(jax.hessian(jax_logistic))
        t_jax, _, theirs = measure(
            lambda: jax_hessian(w, features, labels).block_until_ready(), quick)
        agree = np.max(np.abs(ours - np.asarray(theirs))) / np.max(np.abs(theirs))
        jax_text = f"{fmt_time(t_jax)} | {agree:.1e}"
    except ImportError:
        jax_text = "JAX not installed | —"
    return f"| hessian, 100 weights | {fmt_time(t_ours)} | {jax_text} |"


def main():
    quick = "--quick" in sys.argv
    rng = np.random.default_rng(1)
    lines = [
        "## forward_mode: jvp against the primal, hvp against the gradient, a Hessian against "
        "JAX's", "",
        *run_info("forward_mode.py", quick, ["numpy", "numba", "jax"]),
        "- times: best of several calls after a warm-up call, all in this one run; the primal is "
        "zygopy's own compiled primal; jvp seeds the first argument only (the others get None).",
        "", "| function | primal | jvp (vs primal) | gradient | hvp (vs gradient) |",
        "|---|---|---|---|---|",
        second_order_row("loop, n = 10^6", loop, 0.7, (10 ** 6,), 1.0, quick),
        second_order_row("mixture, 10^5 points", mixture, np.array([-1.0, 0.2, 1.5]),
                         (rng.standard_normal(10 ** 5), np.array([0.2, 0.3, 0.5])),
                         np.array([1.0, 0.5, -0.3]), quick),
        "", "| | zygopy | JAX (jit) | largest difference (relative) |", "|---|---|---|---|",
        hessian_row(quick)]
    body = "\n".join(lines)
    print(body)
    write_section("forward_mode", body)


if __name__ == "__main__":
    main()

"""Time to a first gradient: each workload in a fresh interpreter, with an empty compile cache
(cold) and then again with the cache the cold run left (warm); import time measured apart.

    python benchmarks/first_gradient.py [--quick] [--workloads scalar,mlp,lstm,cnn]

Each child also times a steady call, first calls at five larger batches, a call at a smaller batch
(which must compile nothing), and checks the gradient against central differences of the plain
function at a few coordinates of every parameter. Writes RESULTS.md's section.
"""
from __future__ import annotations

import inspect
import mmap
import os
import resource
import sys
import tempfile
import time

import common
import numpy as np

sys.path.insert(0, str(common.BENCH_DIR))
import models  # noqa: E402

# central differences in the workload's dtype: float32 rounding over h = 1e-3 leaves ~1e-4
RTOL = {np.float32: 2e-2, np.float64: 1e-6}


def _leaves(tree, out):
    """The float arrays in a workload's arguments (or in their gradients), in order."""
    if isinstance(tree, np.ndarray):
        return out.append(tree) if tree.dtype.kind == "f" else None
    for v in (tree if isinstance(tree, (tuple, list)) else vars(tree).values()
              if hasattr(tree, "__dict__") else ()):
        _leaves(v, out)


def check(f, args, grads, rng, dtype, per_leaf=3):
    """Worst relative error of the gradient against central differences of the plain function."""
    params, got = [], []
    for a, g in zip(args, grads, strict=True):
        _leaves(a, params)
        if g is not None:
            _leaves(g, got)
    worst = 0.0
    for p, g in zip(params, got, strict=True):
        for _ in range(per_leaf):
            i = tuple(rng.integers(0, n) for n in p.shape)
            old, h = p[i], 1e-3 if dtype == np.float32 else 1e-6
            p[i] = old + h
            up = float(f(*args))
            p[i] = old - h
            down = float(f(*args))
            p[i] = old
            fd = (up - down) / (2 * h)
            worst = max(worst, abs(float(g[i]) - fd) / max(abs(fd), 1e-2))
    return worst


def child(name, quick):
    """One workload in this (fresh) interpreter."""
    t0 = time.perf_counter()
    import zygopy
    import_time = time.perf_counter() - t0
    from zygopy.backend import tiered
    rng = np.random.default_rng(0)
    make = models.WORKLOADS[name]
    f, args = make(rng)
    t0 = time.perf_counter()
    grads = zygopy.gradient(f, *args)
    first = time.perf_counter() - t0
    leaves = zygopy.signature.signature(f, args).leaves
    tiered.compilation(zygopy.api.compiled(f, args), leaves).result()
    ready = time.perf_counter() - t0
    steady, _ = common.best_of(lambda: zygopy.gradient(f, *args), 3 if quick else 7)
    result = {"import": import_time, "first": first, "ready": ready, "steady": steady}
    if name in models.SECOND_MODELS:
        g, other = models.SECOND_MODELS[name](rng)
        t0 = time.perf_counter()
        zygopy.gradient(g, *other)
        other_leaves = zygopy.signature.signature(g, other).leaves
        tiered.compilation(zygopy.api.compiled(g, other), other_leaves).result()
        result["second_ready"] = time.perf_counter() - t0
    dtype = np.float64 if name == "scalar" else np.float32
    if name != "scalar":
        result["larger"] = larger_firsts(make, lambda *a: zygopy.gradient(f, *a))
        result["fault_cost"] = fault_cost()
        _, smaller = make(np.random.default_rng(2), batch=5)
        before = zygopy.api.compiled(f, args)
        result["smaller_compiles"] = zygopy.api.compiled(f, smaller) is not before
    result["grad_error"] = check(f, args, grads, rng, dtype)
    result["ok"] = result["grad_error"] <= RTOL[dtype]
    common.child_result(result)


def larger_firsts(make, call) -> list:
    """call's first run at each of five growing batches, each larger than any before (so each
    meets arrays larger than it has yet held), against a steady run at that batch: five samples
    of one noisy quantity. -> [{"first", "steady", "faults"}]"""
    usual = inspect.signature(make).parameters["batch"].default
    out = []
    for grow in (2.0, 2.5, 3.0, 3.5, 4.0):
        _, args = make(np.random.default_rng(1), batch=int(usual * grow))
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        call(*args)
        first = time.perf_counter() - t0
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        steady, _ = common.best_of(lambda: call(*args), 5)  # noqa: B023 (called here)
        out.append({"first": first, "steady": steady, "faults": faults})
    return out


def ratios_text(samples) -> str:
    """larger_firsts' first sample (the first call at a batch larger than the usual one), the
    median of all five and their range."""
    r = [x["first"] / x["steady"] for x in samples]
    low, middle, high = sorted(r)[0], sorted(r)[len(r) // 2], sorted(r)[-1]
    return f"{r[0]:.2f}×; median {middle:.2f}× ({low:.2f}–{high:.2f})"


def numpy_child(name):
    """The plain function run by NumPy (no gradient), in a fresh interpreter, after calls at the
    usual batch: larger_firsts of it, what the machine charges any code for the new memory of a
    larger batch."""
    f, usual = models.WORKLOADS[name](np.random.default_rng(0))
    for _ in range(5):
        f(*usual)
    common.child_result({"larger": larger_firsts(models.WORKLOADS[name], f)})


def fault_cost(pages=1024) -> float:
    """Seconds the first write to a fresh page of memory costs here beyond a write to one in use
    (the kernel maps and zeroes it: far dearer in a virtual machine)."""
    region = mmap.mmap(-1, pages * mmap.PAGESIZE)
    a = np.frombuffer(region, np.uint8)
    t0 = time.perf_counter()
    a[::mmap.PAGESIZE] = 1
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    a[::mmap.PAGESIZE] = 2
    again = time.perf_counter() - t0
    del a
    region.close()
    return (first - again) / pages


def fault_cost_text(rows) -> str:
    costs = [runs["warm"]["fault_cost"] for _, runs in rows if "fault_cost" in runs["warm"]]
    if not costs:
        return "not measured"
    return f"{common.fmt_time(min(costs))} to {common.fmt_time(max(costs))}"


def main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--workloads", default=",".join(models.WORKLOADS))
    opts = p.parse_args()
    rows, start = [], time.perf_counter()
    for name in opts.workloads.split(","):
        cache = tempfile.mkdtemp(prefix="zygopy-cold-")
        env = dict(os.environ, ZYGOPY_CACHE_DIR=cache, ZYGOPY_INTERPRET_WHILE_COMPILING="1")
        runs = {kind: common.run_child("first_gradient", "child", name, opts.quick, env=env)
                for kind in ("cold", "warm")}
        if name != "scalar":
            runs["numpy"] = common.run_child("first_gradient", "numpy_child", name)
        rows.append((name, runs))
        print(name, runs, flush=True)
    elapsed = time.perf_counter() - start
    lines = ["## first_gradient: time to a first gradient, cold and warm", ""]
    lines += common.run_info("first_gradient.py", opts.quick,
                             ["zygopy", "numpy", "numba", "llvmlite"])
    lines += [
        "- cold: a fresh interpreter with an empty `ZYGOPY_CACHE_DIR`; warm: a fresh interpreter "
        "with the cache the cold run left. One gradient program per workload (models in "
        "benchmarks/models.py, float32 but the scalar one). Import excluded from the first call, "
        "which is interpreted while Numba compiles in the background (README, Compiling); "
        "compiled: when the compiled code was ready, from the start of the first call. The "
        "runtime helpers the generated code calls (backend/numba_cpu/runtime.py) are compiled "
        "once per machine and argument types into Numba's cache beside the package: a cold run "
        "reads those an earlier run compiled.",
        "- second model: after the first model's, a different model of the same layer classes "
        "(mlp: 64-64-64-64-10), from its first call until its compiled code was ready.",
        "- larger: the first call at a larger batch, against a steady call at that batch, "
        "at five growing batches (2, 2.5, 3, 3.5 and 4 times the usual one, each larger than "
        "any before), after the calls at the usual one: the first (at twice the usual batch), "
        "the median of the five and their range; the first's page faults: the new memory it "
        "touched (a steady call touches none), at a cost per fault measured here on fresh "
        f"pages ({fault_cost_text(rows)}), "
        "and the first call less that cost, against the steady call; numpy: the same for the "
        "plain function run by NumPy (its value only), in a fresh interpreter: the machine's "
        "charge for a larger batch's new memory, which any code pays; smaller batch: whether a "
        "batch of 5 needed a new compile.",
        f"- gradient check: central differences of the plain function at 3 coordinates of "
        f"every parameter (h = 1e-3 in float32, 1e-6 in float64); tolerance "
        f"{RTOL[np.float32]:g} (float32), {RTOL[np.float64]:g} (float64). "
        f"Whole run: {elapsed:.0f} s.",
        "",
        "| workload | import | first gradient: cold | warm | compiled: cold | warm | "
        "second model compiled: cold | steady | larger: first / steady | the first's page "
        "faults | numpy: first / steady (the first's page faults) | smaller batch compiles "
        "| gradient check |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in rows:
        cold, warm = runs["cold"], runs["warm"]
        if "first" not in cold or "first" not in warm:
            lines.append(f"| {name} | crash: {cold.get('error') or warm.get('error')} ||||||||||||")
            continue
        larger, faults = "—", "—"
        if "larger" in warm:
            larger = ratios_text(warm["larger"])
            first = warm["larger"][0]
            cost = first["faults"] * warm["fault_cost"]
            rest = common.ratio(first["first"] - cost, first["steady"])
            faults = f"{first['faults']} (~{common.fmt_time(cost)}; the rest: {rest})"
        numpy = runs.get("numpy", {})
        numpy = (f"{ratios_text(numpy['larger'])} ({numpy['larger'][0]['faults']})"
                 if "larger" in numpy else numpy.get("error", "—"))
        compiles = {True: "yes", False: "no"}.get(warm.get("smaller_compiles"), "—")
        second = common.fmt_time(cold["second_ready"]) if "second_ready" in cold else "—"
        verdict = f"{'ok' if cold['ok'] and warm['ok'] else 'FAILED'} " \
                  f"({max(cold['grad_error'], warm['grad_error']):.1e})"
        lines.append(f"| {name} | {common.fmt_time(cold['import'])} | "
                     f"{common.fmt_time(cold['first'])} | {common.fmt_time(warm['first'])} | "
                     f"{common.fmt_time(cold['ready'])} | {common.fmt_time(warm['ready'])} | "
                     f"{second} | {common.fmt_time(warm['steady'])} | {larger} | {faults} | "
                     f"{numpy} | {compiles} | {verdict} |")
    common.write_section("first_gradient", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

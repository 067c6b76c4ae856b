"""Numba compile times of an MLP gradient: one fused function against per-layer compilation units.

    python benchmarks/separate_compilation.py [--repeats 3]

The gradient is that of `mean((dense3(dense2(dense1(x))) - y)**2)` with Dense(x) = relu(x @ W + b)
(the last layer without relu), float32, batch 128, sizes 64-128-128-10; a second model,
64-64-64-64-10 (four layers), stands for a different model built from the same layers. The Numba
code is written out here, as zygopy generates it (np.dot, np.maximum, np.where for the relu
backward, transposes, sums over axis 0 for the bias), into real .py modules in a temporary
directory, since Numba's disk cache needs source files:

- A (fused): one @njit(cache=True) function per model computing the value and all gradients,
  every layer inlined (what zygopy does today); A4: the four-layer model, cold; A4 after A: the
  same in A's interpreter right after A.
- B (units): `dense_unit.py` with @njit(cache=True) `dense_forward(W, b, x) -> (y, tape)`,
  `dense_pullback(dy, tape) -> (dW, db, dx)` and their linear twins, plus a glue module per model
  (loss, its pullback, the unit calls). B1: everything cold, the units compiled first (called
  directly), then the glue; B2: the four-layer model's glue in a fresh interpreter whose cache
  holds the units (a copy of B1's cache less the four-layer glue); B3: the same glue in B1's
  interpreter right after B1.
- C (inlined units): as B with the units marked inline='always', which Numba inlines into each
  caller at its IR level.
- D (units through pointers): B's glue taking the units as arguments typed by Numba's first-class
  function types, so that it calls them through a pointer and links none of their code into its
  own module; compiled for those types at import. D1, D2, D3 as B1, B2, B3.

Each interpreter starts with NUMBA_CACHE_DIR pointing at a fresh directory (or at a copy of the
one a run before left, where a row says so) and one BLAS thread. First call: Numba imported
beforehand, the generated module's import and its first call timed; steady: best of 20 calls.
Every gradient is compared with the fused one of its model, and the fused ones with central
differences of the plain NumPy loss in float64. The whole set of interpreters runs --repeats
times; each row keeps its shortest times. Writes RESULTS.md's section `separate_compilation`.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import common
import numpy as np

MODELS = {"mlp3": (64, 128, 128, 10), "mlp4": (64, 64, 64, 64, 10)}
BATCH = 128
JIT = "@njit(cache=True, nogil=True, error_model='numpy', boundscheck=True)"
JIT_INLINE = JIT.replace("@njit(", "@njit(inline='always', ")
STEADY_REPEATS = 20
FD_TOL = 1e-3  # float32 gradient against float64 central differences
MATCH_TOL = 1e-5  # float32 gradients of the same model against each other


# --- the generated modules ---------------------------------------------------------------------


def _params(n_layers):
    return ", ".join(f"W{i}, b{i}" for i in range(1, n_layers + 1))


def _grads(n_layers):
    return ", ".join(f"dW{i}, db{i}" for i in range(1, n_layers + 1))


def fused_source(n_layers):
    """A: forward and pullback of every layer in one function."""
    fwd, bwd = [], []
    h = "x"
    for i in range(1, n_layers + 1):
        fwd.append(f"    z{i} = np.dot({h}, W{i}) + b{i}")
        if i < n_layers:
            fwd.append(f"    h{i} = np.maximum(z{i}, np.float32(0.0))")
            h = f"h{i}"
    out = f"z{n_layers}"
    for i in range(n_layers, 0, -1):
        grad_in = "g" if i == n_layers else f"dh{i}"
        if i < n_layers:
            bwd.append(f"    dz{i} = np.where(z{i} > np.float32(0.0), {grad_in}, np.float32(0.0))")
        else:
            bwd.append(f"    dz{i} = {grad_in}")
        h_in = "x" if i == 1 else f"h{i - 1}"
        d_in = "dx" if i == 1 else f"dh{i - 1}"
        bwd += [f"    dW{i} = np.dot(np.transpose({h_in}), dz{i})",
                f"    db{i} = np.sum(dz{i}, axis=0)",
                f"    {d_in} = np.dot(dz{i}, np.transpose(W{i}))"]
    return "\n".join([
        "import numpy as np",
        "from numba import njit",
        "",
        "",
        JIT,
        f"def value_and_grad({_params(n_layers)}, x, y):",
        *fwd,
        f"    d = {out} - y",
        "    loss = np.mean(d ** 2)",
        "    g = d * np.float32(2.0 / d.size)",
        *bwd,
        f"    return loss, ({_grads(n_layers)}, dx, -g)",
        "",
    ])


def unit_source(jit):
    """B and C: a Dense layer's forward (with its tape) and pullback, with relu and without."""
    return "\n".join([
        "import numpy as np",
        "from numba import njit",
        "",
        "",
        jit,
        "def dense_forward(W, b, x):",
        "    z = np.dot(x, W) + b",
        "    return np.maximum(z, np.float32(0.0)), (W, x, z)",
        "",
        "",
        jit,
        "def dense_pullback(dy, tape):",
        "    W, x, z = tape",
        "    dz = np.where(z > np.float32(0.0), dy, np.float32(0.0))",
        "    return np.dot(np.transpose(x), dz), np.sum(dz, axis=0), np.dot(dz, np.transpose(W))",
        "",
        "",
        jit,
        "def linear_forward(W, b, x):",
        "    return np.dot(x, W) + b, (W, x)",
        "",
        "",
        jit,
        "def linear_pullback(dy, tape):",
        "    W, x = tape",
        "    return np.dot(np.transpose(x), dy), np.sum(dy, axis=0), np.dot(dy, np.transpose(W))",
        "",
    ])


def glue_source(n_layers, unit_module):
    """B and C: the loss of one model, calling the units."""
    fwd, bwd = [], []
    h = "x"
    for i in range(1, n_layers + 1):
        kind = "dense" if i < n_layers else "linear"
        fwd.append(f"    h{i}, t{i} = {kind}_forward(W{i}, b{i}, {h})")
        h = f"h{i}"
    for i in range(n_layers, 0, -1):
        kind = "dense" if i < n_layers else "linear"
        grad_in = "g" if i == n_layers else f"dh{i}"
        d_in = "dx" if i == 1 else f"dh{i - 1}"
        bwd.append(f"    dW{i}, db{i}, {d_in} = {kind}_pullback({grad_in}, t{i})")
    return "\n".join([
        "import numpy as np",
        "from numba import njit",
        "",
        f"from {unit_module} import dense_forward, dense_pullback, linear_forward, "
        "linear_pullback",
        "",
        "",
        JIT,
        f"def value_and_grad({_params(n_layers)}, x, y):",
        *fwd,
        f"    d = {h} - y",
        "    loss = np.mean(d ** 2)",
        "    g = d * np.float32(2.0 / d.size)",
        *bwd,
        f"    return loss, ({_grads(n_layers)}, dx, -g)",
        "",
    ])


def glue_pointer_source(n_layers, unit_module):
    """D: the glue of B, taking the units as arguments of Numba's first-class function types:
    it calls them through a pointer, so nothing of theirs is linked into its module. Compiled at
    import for those types, then closed to other types; `value_and_grad` passes the units."""
    body = glue_source(n_layers, unit_module).split(JIT + "\n")[1]
    body = body.replace("def value_and_grad(", "def glue(dense_forward, dense_pullback, "
                        "linear_forward, linear_pullback, ")
    params = ", ".join(["A2, A1"] * n_layers + ["A2, A2"])
    return "\n".join([
        "import numpy as np",
        "from numba import njit, types",
        "",
        f"import {unit_module} as units",
        "",
        'A2, A1 = types.Array(types.float32, 2, "C"), types.Array(types.float32, 1, "C")',
        "TAPE, LINEAR_TAPE = types.UniTuple(A2, 3), types.UniTuple(A2, 2)",
        "FORWARD = types.FunctionType(types.Tuple((A2, TAPE))(A2, A1, A2))",
        "PULLBACK = types.FunctionType(types.Tuple((A2, A1, A2))(A2, TAPE))",
        "LINEAR_FORWARD = types.FunctionType(types.Tuple((A2, LINEAR_TAPE))(A2, A1, A2))",
        "LINEAR_PULLBACK = types.FunctionType(types.Tuple((A2, A1, A2))(A2, LINEAR_TAPE))",
        "",
        "",
        JIT,
        body.rstrip(),
        "",
        "",
        f"glue.compile((FORWARD, PULLBACK, LINEAR_FORWARD, LINEAR_PULLBACK, {params}))",
        "glue.disable_compile()",
        "",
        "",
        "def value_and_grad(*args):",
        "    return glue(units.dense_forward, units.dense_pullback, units.linear_forward,",
        "                units.linear_pullback, *args)",
        "",
    ])


def write_modules(src):
    files = {"dense_unit": unit_source(JIT), "dense_unit_inline": unit_source(JIT_INLINE)}
    for model, sizes in MODELS.items():
        n = len(sizes) - 1
        files[f"{model}_fused"] = fused_source(n)
        files[f"{model}_glue"] = glue_source(n, "dense_unit")
        files[f"{model}_glue_inline"] = glue_source(n, "dense_unit_inline")
        files[f"{model}_glue_pointers"] = glue_pointer_source(n, "dense_unit")
    for name, text in files.items():
        (src / f"{name}.py").write_text(text)


# --- the data and the reference loss -----------------------------------------------------------


def make_args(model, dtype=np.float32):
    """(W1, b1, ..., x, y) of a model, the same in every interpreter."""
    sizes = MODELS[model]
    rng = np.random.default_rng(0)
    args = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        args.append(rng.normal(0.0, 1.0 / np.sqrt(n_in), (n_in, n_out)))
        args.append(rng.normal(0.0, 0.1, n_out))
    args.append(rng.normal(size=(BATCH, sizes[0])))
    args.append(rng.normal(size=(BATCH, sizes[-1])))
    return [a.astype(dtype) for a in args]


def numpy_loss(args):
    *params, x, y = args
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = np.maximum(h, 0.0)
    return np.mean((h - y) ** 2)


def fd_error(model, grads, per_leaf=3):
    """Worst relative error of `grads` against float64 central differences of the NumPy loss."""
    args = make_args(model, np.float64)
    rng = np.random.default_rng(1)
    worst = 0.0
    for a, g in zip(args, grads, strict=True):
        for _ in range(per_leaf):
            i = tuple(rng.integers(0, n) for n in a.shape)
            old, h = a[i], 1e-6
            a[i] = old + h
            up = numpy_loss(args)
            a[i] = old - h
            down = numpy_loss(args)
            a[i] = old
            fd = (up - down) / (2 * h)
            worst = max(worst, abs(float(g[i]) - fd) / max(abs(fd), 1e-2))
    return worst


def match_error(grads, ref):
    return max(float(np.max(np.abs(g - r))) / max(float(np.max(np.abs(r))), 1e-30)
               for g, r in zip(grads, ref, strict=True))


# --- one interpreter ---------------------------------------------------------------------------


def _stats(dispatchers):
    hits = sum(sum(d.stats.cache_hits.values()) for d in dispatchers)
    misses = sum(sum(d.stats.cache_misses.values()) for d in dispatchers)
    return hits, misses


def _llvm_time(dispatchers):
    """Numba's llvm_lock timer of the compiled signatures (none for those loaded from cache)."""
    metadata = [d.get_metadata(s) or {} for d in dispatchers for s in d.signatures]
    return sum(m.get("timers", {}).get("llvm_lock", 0.0) for m in metadata)


def _ir_size(dispatchers):
    """Functions defined in, and characters of, the compiled LLVM modules (0 if loaded from the
    cache): a glue's module holds its own code and a copy of the units' it links in."""
    texts = [d.inspect_llvm(s) for d in dispatchers for s in d.signatures]
    return sum(len(re.findall(r"^define ", t, re.M)) for t in texts), sum(map(len, texts))


def child(src, out, steps):
    """Run `steps` in turn in this (fresh) interpreter: "units" compiles the four unit functions by
    calling them directly; a module name imports that module and calls its value_and_grad."""
    import numba  # noqa: F401  (its import is not part of any time)
    sys.path.insert(0, src)
    units = importlib.import_module("dense_unit")
    unit_fns = [units.dense_forward, units.dense_pullback, units.linear_forward,
                units.linear_pullback]
    results = []
    for step in steps:
        before = _stats(unit_fns)
        if step == "units":
            W, b, *_, x, _ = make_args("mlp3")
            t0 = time.perf_counter()
            y, tape = units.dense_forward(W, b, x)
            units.dense_pullback(y, tape)
            y, tape = units.linear_forward(W, b, x)
            units.linear_pullback(y, tape)
            first = time.perf_counter() - t0
            hits, misses = _stats(unit_fns)
            results.append({"step": step, "first": first, "llvm": _llvm_time(unit_fns),
                            "ir": _ir_size(unit_fns), "hits": hits - before[0],
                            "misses": misses - before[1]})
            continue
        args = make_args(step.split("_")[0])
        t0 = time.perf_counter()
        module = importlib.import_module(step)
        fn = module.value_and_grad
        _, grads = fn(*args)
        first = time.perf_counter() - t0
        steady, _ = common.best_of(lambda fn=fn, args=args: fn(*args), STEADY_REPEATS)
        jitted = getattr(module, "glue", fn)  # D's value_and_grad passes the units to its glue
        hits, misses = _stats([jitted])
        unit_hits, unit_misses = _stats(unit_fns)
        path = Path(out) / f"{os.getpid()}-{len(results)}.npz"
        np.savez(path, *grads)
        results.append({
            "step": step, "first": first, "steady": steady, "llvm": _llvm_time([jitted]),
            "ir": _ir_size([jitted]),
            "hits": hits + unit_hits - before[0], "misses": misses + unit_misses - before[1],
            "unit_signatures": max(len(f.signatures) for f in unit_fns),
            # the loss is a float32 in Numba, boxed as a Python float
            "dtypes": sorted({str(jitted.nopython_signatures[0].return_type.types[0])}
                             | {str(g.dtype) for g in grads}),
            "grads": str(path)})
    common.child_result(results)


# --- the run -----------------------------------------------------------------------------------

# one interpreter per entry: (cache, [(row, step, what)]); cache: None for an empty one, or
# (entry, module): a copy of the cache directory that entry left, less what it holds of `module`.
# "B1" (total) is B1 units + B1 glue.
RUNS = {
    "A": (None, [
        ("A", "mlp3_fused", "fused, cold"),
        ("A4 after A", "mlp4_fused", "fused, 4-layer model, same interpreter right after A"),
    ]),
    "A warm": (("A", None), [("A warm", "mlp3_fused",
                              "fused, fresh interpreter, A's cache on disk")]),
    "A4": (None, [("A4", "mlp4_fused", "fused, 4-layer model, cold")]),
    "B1": (None, [
        ("B1 units", "units", "units alone, cold (called directly)"),
        ("B1 glue", "mlp3_glue", "3-layer glue, cold, units compiled just before"),
        ("B3", "mlp4_glue", "4-layer glue, same interpreter right after B1"),
    ]),
    "B2": (("B1", "mlp4_glue"), [
        ("B2", "mlp4_glue", "4-layer glue, fresh interpreter, B1's cache less the 4-layer glue"),
    ]),
    "B warm": (("B1", None), [("B warm", "mlp3_glue",
                               "3-layer glue, fresh interpreter, B1's cache")]),
    "C1": (None, [
        ("C1", "mlp3_glue_inline", "inline='always' units, 3-layer glue, cold"),
        ("C3", "mlp4_glue_inline", "4-layer glue, same interpreter right after C1"),
    ]),
    "D1": (None, [
        ("D1 units", "units", "units alone, cold (called directly)"),
        ("D1 glue", "mlp3_glue_pointers", "3-layer glue calling the units through pointers, "
         "cold, units compiled just before"),
        ("D3", "mlp4_glue_pointers", "4-layer glue, same interpreter right after D1"),
    ]),
    "D2": (("D1", "mlp4_glue_pointers"), [
        ("D2", "mlp4_glue_pointers", "4-layer glue through pointers, fresh interpreter, D1's "
         "cache less the 4-layer glue"),
    ]),
    "C2": (("C1", "mlp4_glue_inline"), [
        ("C2", "mlp4_glue_inline", "4-layer glue, fresh interpreter, C1's cache less the "
         "4-layer glue"),
    ]),
}


def cache_dir(work, cache, caches):
    """A fresh NUMBA_CACHE_DIR: empty, or a copy of another entry's."""
    path = Path(tempfile.mkdtemp(prefix="numba-cache-", dir=work))
    if cache is None:
        return path
    entry, drop = cache
    shutil.copytree(caches[entry], path, dirs_exist_ok=True)
    if drop:
        for f in path.rglob(f"{drop}.*"):
            f.unlink()
    return path


def best(results):
    """Per step, over the repetitions of an entry: the shortest first call and the shortest
    steady call; the rest from the repetition with the shortest first call."""
    ok = [r for r in results if not isinstance(r, dict)]
    if not ok:
        return results[0]
    merged = []
    for steps in zip(*ok, strict=True):
        r = dict(min(steps, key=lambda r: r["first"]))
        if "steady" in r:
            r["steady"] = min(s["steady"] for s in steps)
        merged.append(r)
    return merged


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3,
                   help="times the whole set of interpreters is run (default 3)")
    opts = p.parse_args()
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="zygopy-sepcomp-"))
    src, out = work / "src", work / "out"
    src.mkdir()
    out.mkdir()
    write_modules(src)
    runs = {label: [] for label in RUNS}
    try:
        for rep in range(opts.repeats):
            caches = {}
            for label, (cache, rows) in RUNS.items():
                steps = [step for _, step, _ in rows]
                caches[label] = cache_dir(work, cache, caches)
                # one BLAS thread: the matrices are small, and a second thread waiting on a busy
                # core turned some steady calls from 0.2 ms into 80 ms here
                env = dict(os.environ, NUMBA_CACHE_DIR=str(caches[label]),
                           OPENBLAS_NUM_THREADS="1")
                runs[label].append(common.run_child("separate_compilation", "child", str(src),
                                                    str(out), steps, env=env))
                print(rep, label, runs[label][-1], flush=True)
        merged = {label: best(results) for label, results in runs.items()}
        lines = report(merged, opts.repeats, time.perf_counter() - start)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    common.write_section("separate_compilation", "\n".join(lines))
    print("\n".join(lines))


def _row_checks(step, result, refs):
    """Gradient check of one step: against central differences (fused) or the fused gradient."""
    grads = list(np.load(result["grads"]).values())
    model = step.split("_")[0]
    if step.endswith("_fused"):
        refs.setdefault(model, grads)
        err, tol, against = fd_error(model, grads), FD_TOL, "central differences"
    else:
        err, tol, against = match_error(grads, refs[model]), MATCH_TOL, "fused"
    ok = err <= tol and result["dtypes"] == ["float32"] and result["unit_signatures"] <= 1
    return f"{'ok' if ok else 'FAILED'} ({err:.1e} vs {against})"


def report(runs, repeats, elapsed):
    lines = ["## separate_compilation: Numba compile of an MLP gradient, fused vs per-layer units",
             ""]
    lines += common.run_info("separate_compilation.py", False, ["numba", "llvmlite", "numpy"])
    lines += [f"- each set of interpreters run {repeats} times; per row the shortest first call "
              "and the shortest steady call of the repetitions (the machine is shared)."]
    lines += [
        f"- gradient of `mean((dense3(dense2(dense1(x))) - y)**2)`, Dense = relu(x @ W + b) (last "
        f"without relu), float32, batch {BATCH}, sizes 64-128-128-10 (3 layers); the 4-layer "
        "model, 64-64-64-64-10, stands for a different model made of the same layers. Numba code "
        "written as zygopy generates it, in real modules (benchmarks/separate_compilation.py).",
        "- each row's steps run in one fresh interpreter (one BLAS thread) with `NUMBA_CACHE_DIR` "
        "empty, or a copy of the one named; first call: the generated module's import and first "
        "call (Numba imported before), the compile included; LLVM: Numba's own `llvm_lock` timer "
        "of that function (for a glue: linking in and optimising the units' code); steady: best "
        f"of {STEADY_REPEATS} calls; cache: Numba disk-cache hits / misses (glue and units).",
        f"- gradient check: fused against float64 central differences of the NumPy loss (3 "
        f"coordinates per array, tolerance {FD_TOL:g}), the others against the fused gradient of "
        f"their model (max abs difference / max abs, tolerance {MATCH_TOL:g}); also float32 "
        f"throughout and one signature per unit. Whole run: {elapsed:.0f} s.",
        "",
        "| row | what | step | first call | of which LLVM | LLVM module: functions, IR | "
        "steady | cache hits / misses | gradient check |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    refs, by_row = {}, {}
    for label, (_, rows) in RUNS.items():
        result = runs[label]
        if isinstance(result, dict):
            lines.append(f"| {label} | crash: {result.get('error')} ||||||||")
            continue
        for (row, step, what), r in zip(rows, result, strict=True):
            by_row[row] = r
            r["check"] = _row_checks(step, r, refs) if "grads" in r else "—"
            lines.append(_table_row(row, what, step, r))
            if row == "B1 glue":
                units = result[0]
                total = {k: units[k] + r[k] for k in ("first", "llvm", "hits", "misses")}
                total["ir"] = [u + g for u, g in zip(units["ir"], r["ir"], strict=True)]
                total.update(steady=r["steady"], check=r["check"])
                by_row["B1"] = total
                lines.append(_table_row("B1", "units, cold: B1 units + B1 glue", "", total))
    try:
        lines += ["", reading(by_row)]
    except KeyError:
        lines += ["", "(no reading: some rows are missing)"]
    return lines


def _table_row(row, what, step, r):
    t = common.fmt_time
    llvm = t(r["llvm"]) if r["llvm"] else "— (cache)"
    ir = f"{r['ir'][0]}, {r['ir'][1] / 1e6:.2f} MB" if r["ir"][0] else "— (cache)"
    steady = t(r["steady"]) if "steady" in r else "—"
    return (f"| {row} | {what} | {step} | {t(r['first'])} | {llvm} | {ir} | {steady} | "
            f"{r['hits']} / {r['misses']} | {r['check']} |")


def reading(rows):
    """The paragraph under the table, its numbers from this run."""
    t = {k: common.fmt_time(v["first"]) for k, v in rows.items()}
    first = {k: v["first"] for k, v in rows.items()}
    glue = rows["B1 glue"]
    return (
        f"Reading. A new model's gradient costs {t['A4']} of Numba compile when fused and cold "
        f"(A4); with per-layer units already in the disk cache, its glue costs {t['B2']} (B2, "
        f"{common.ratio(first['B2'], first['A4'])} of A4), of which the units' cache loads are "
        f"part. Cold, units cost {t['B1']} against {t['A']} fused (B1 against A, "
        f"{common.ratio(first['B1'], first['A'])}); the four unit functions, the shared layer "
        f"code, are {t['B1 units']} of it ({first['B1 units'] / first['B1']:.0%}). The glue is "
        f"not thin for LLVM: Numba links each callee's LLVM module into its caller and optimises "
        f"the whole module again (numba/core/codegen.py, `CPUCodeLibrary.finalize`), so the "
        f"3-layer glue's module defines {glue['ir'][0]} functions, {glue['ir'][1] / 1e6:.2f} MB "
        f"of IR (the units: {rows['B1 units']['ir'][0]}, "
        f"{rows['B1 units']['ir'][1] / 1e6:.2f} MB), and LLVM is {common.fmt_time(glue['llvm'])} "
        f"of its {t['B1 glue']}. Units marked inline='always' (C) are compiled again in every "
        f"caller and never cached by themselves: a new model in a fresh interpreter costs "
        f"{t['C2']} (C2; fused: {t['A4']}). In one interpreter, the second model compiles in "
        f"{t['A4 after A']} fused, {t['B3']} with units, {t['C3']} inlined: what Numba did "
        f"for the first model there (its one-time setup, the NumPy functions' implementations "
        f"it compiled) stays in memory; a fresh interpreter compiles it again. A whole gradient "
        f"loaded from "
        f"the disk cache: {t['A warm']} fused, {t['B warm']} with units. Steady state, units "
        f"against fused: "
        f"{common.ratio(rows['B1 glue']['steady'], rows['A']['steady'])} (3 layers), "
        f"{common.ratio(rows['B2']['steady'], rows['A4']['steady'])} (4 layers). For zygopy's "
        f"units, then: what they save is the layers' code in the disk cache, across interpreters "
        f"(B2 against A4); what a new model still pays is mostly LLVM on its glue's module, into "
        f"which the units' code is linked again ({common.fmt_time(rows['B2']['llvm'])} of B2's "
        f"{t['B2']}). Called through function pointers (D, Numba's first-class function types), "
        f"the units are linked into nothing: the 3-layer glue's module defines "
        f"{rows['D1 glue']['ir'][0]} functions, {rows['D1 glue']['ir'][1] / 1e6:.2f} MB of IR, "
        f"and compiles in {t['D1 glue']} (B1 glue: {t['B1 glue']}); a second model in the same "
        f"interpreter in {t['D3']} (B3: {t['B3']}). In a fresh interpreter (D2, {t['D2']}) the "
        f"units were compiled again rather than loaded from the disk cache (cache hits / misses "
        f"{rows['D2']['hits']} / {rows['D2']['misses']}), and a steady call, "
        f"{common.fmt_time(rows['D2']['steady'])} against {common.fmt_time(rows['B2']['steady'])} "
        f"(B2), pays for passing the four units through Numba's dispatcher from Python at every "
        f"call: pointer-called units need both solved before they pay.")


if __name__ == "__main__":
    main()

"""Helpers shared by the benchmark scripts: timing, formatting, run information, child
interpreters, and the scripts' sections of RESULTS.md.

Importing this module puts the working tree's zygopy first on sys.path.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # benchmark the working tree's zygopy

RESULTS = BENCH_DIR / "RESULTS.md"


def one_thread_per_library() -> str:
    """One thread for BLAS, OpenMP (PyTorch) and XLA (JAX) unless these variables are set; call
    before NumPy, PyTorch or JAX load. zygopy's generated code runs on one thread, and
    multi-threaded BLAS timings on a small, shared machine vary by 10-100x from run to run.
    -> the settings, for the results."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if "XLA_FLAGS" not in os.environ and os.environ["OMP_NUM_THREADS"] == "1":
        os.environ["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
    threads = ", ".join(f"{v}={os.environ[v]}"
                        for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"))
    return threads + f", XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}"

# steady times are of compiled code: a first call would otherwise be interpreted while it compiles
# (zygopy/backend/tiered.py); first_gradient.py turns it on for the first calls it measures
os.environ.setdefault("ZYGOPY_INTERPRET_WHILE_COMPILING", "0")


# --- measuring ------------------------------------------------------------------------------


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def best_of(fn, repeats):
    """Best wall time of `repeats` calls (gc off) and the last call's value."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        results = [timed(fn) for _ in range(repeats)]
    finally:
        if enabled:
            gc.enable()
    return min(t for t, _ in results), results[-1][1]


def measure(call, quick):
    """Warm up, then best of k calls, k chosen from the cost of one call. -> (time, k, value)"""
    call()  # compile / warm up
    t1, _ = timed(call)
    budget, lo, hi = (1.0, 1, 3) if quick else (5.0, 3, 7)
    k = max(lo, min(hi, int(budget / max(t1, 1e-9))))
    t, value = best_of(call, k)
    return min(t, t1), k + 1, value


def side_by_side(calls: dict, quick) -> dict:
    """Best time of each call, measured in alternating rounds (each round runs every call in
    turn, the order reversed every other round) so that the machine's slow and fast moments fall
    on all of them alike: ratios of the results compare like with like. -> {name: seconds}"""
    for call in calls.values():
        call()  # compile / warm up
    once = {name: timed(call)[0] for name, call in calls.items()}
    rounds = 5 if quick else 15
    per_round = {name: max(1, min(200, int(0.05 / max(t, 1e-9)))) for name, t in once.items()}
    best = dict(once)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for name in (list(calls) if r % 2 == 0 else reversed(list(calls))):
                best[name] = min(best[name], best_of(calls[name], per_round[name])[0])
    finally:
        if enabled:
            gc.enable()
    return best


def error_text(e):
    msg = " ".join(f"{type(e).__name__}: {e}".split()).replace("|", "\\|")
    return (msg[:157] + "...") if len(msg) > 160 else msg


def run_child(module, function, *args, timeout=900, env=None):
    """Call benchmarks/<module>.py's `function(*args)` in a fresh interpreter. The function prints
    one line `RESULT <json>`. -> that object, or {"error"}"""
    code = (f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r}); import {module} as b; "
            f"b.{function}({', '.join(map(repr, args))})")
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    lines = proc.stderr.strip().splitlines()
    return {"error": lines[-1] if lines else f"no result (exit code {proc.returncode})"}


def child_result(result):
    """The last line a child prints, read by run_child."""
    print("RESULT " + json.dumps(result), flush=True)


# --- reporting ----------------------------------------------------------------------------


def fmt_time(t):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"


def fmt_n(n):
    return f"10^{round(math.log10(n))}" if n >= 100 and 10 ** round(math.log10(n)) == n else str(n)


def ratio(t, base, digits=2):
    if not base:
        return "—"
    r = t / base
    return f"{r:.{digits}f}×" if r < 10 else f"{r:.3g}×" if r < 1000 else f"{r:,.0f}×"


def version(dist):
    try:
        v = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        v = "not installed"
        if dist == "zygopy":
            v = "working tree"
    if dist == "zygopy":
        try:
            rev = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            status = ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "zygopy"]
            dirty = subprocess.run(status, capture_output=True, text=True).stdout.strip()
            v += f" (git {rev}{', zygopy/ modified' if dirty else ''})"
        except (OSError, subprocess.CalledProcessError):
            pass
    return v


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_info(script, quick, dists):
    """The date/command, machine and versions lines of a report."""
    versions = ", ".join(f"{d} {version(d)}" for d in dict.fromkeys(dists))
    cmd = f"python benchmarks/{script} " + " ".join(sys.argv[1:])
    return [
        f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
        f"command: `{cmd.strip()}`{' (quick mode)' if quick else ''}",
        f"- machine: {cpu_name()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}",
        f"- versions: {versions}",
    ]


def write_section(name, body):
    """Replace the text between `<!-- name:begin -->` and `<!-- name:end -->` in RESULTS.md
    (appended if absent); the other sections are kept."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def quick_flag(doc, quick_help):
    """Whether --quick was given (the script's only option), with `doc` as its help."""
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=quick_help)
    return p.parse_args().quick


def parse_args(doc, peers, quick_help, peers_note=""):
    """--quick and --peers. -> (quick, the chosen peers in the order of `peers`)"""
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--peers", default=",".join(peers),
                   help=f"comma-separated subset of {','.join(peers)}{peers_note}")
    args = p.parse_args()
    chosen = [s.strip() for s in args.peers.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(peers))
    if unknown:
        p.error(f"unknown peers {unknown}; choose from {peers}")
    return args.quick, [k for k in peers if k in chosen]

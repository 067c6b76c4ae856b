"""Run many generated programs through the checks, in worker processes watched by a watchdog.

Work is split into chunks of consecutive program numbers. A worker process takes one chunk: it
generates the programs, writes them all into one module file, imports it and checks each program,
reporting over a pipe when it starts a program, which path it is on, and the result. Compiled
code that never returns cannot be interrupted, so the parent kills a worker whose program has
run past `program_timeout`, records a hang, and starts a new worker on the rest of the chunk. A
worker that dies (a segfault in compiled code) is recorded as a crash the same way. Each chunk
gets a fresh process, so memory held by compiled functions does not pile up.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from . import check, peer
from .generate import generate, write_module


@dataclass
class Options:
    seed: int = 1
    count: int = 100
    start: int = 0
    # the compiled paths (fused, split) run on programs whose number is a multiple of this; 0: never
    numba_every: int = 1
    jobs: int = 1
    chunk: int = 50
    program_timeout: float = 180.0
    points: int = 2  # smooth input points per program
    attempts: int = 8  # input points drawn at most per program
    workdir: str | None = None
    progress_every: float = 30.0
    peer: bool = False  # also compare with autograd's gradients where it runs the program (peer.py)

    def paths_for(self, index):
        if self.numba_every and index % self.numba_every == 0:
            return ("eval", "eval_wrt", "fused", "split")
        return ("eval", "eval_wrt")


def check_one(module, prog, opts, peer_module=None):
    f = getattr(module, prog.name)
    rng = random.Random(f"zygopy-fuzz-points:{prog.seed}:{prog.index}")
    peer_f = getattr(peer_module, prog.name) if peer_module is not None else None
    return check.check_program(f, prog, opts.paths_for(prog.index), rng, opts.points, opts.attempts,
                               peer_f)


def quiet_numba():
    """Numba's warnings (that a function cannot be cached, say) would flood a long run's log."""
    import warnings
    try:
        from numba.core.errors import NumbaWarning
    except ImportError:
        return
    warnings.simplefilter("ignore", NumbaWarning)


def worker_environment(cache_dir):
    """Set up a worker process: its cache directory, Numba's warnings off. (check.py turns off
    interpreting while compiling, for every user of the checks.)"""
    os.environ["ZYGOPY_CACHE_DIR"] = cache_dir
    quiet_numba()


def _worker(conn, indices, opts: Options, cache_dir):
    worker_environment(cache_dir)
    try:
        t0 = time.perf_counter()
        progs = [generate(opts.seed, i) for i in indices]
        gen_time = (time.perf_counter() - t0) / max(1, len(progs))
        path = Path(opts.workdir) / f"fuzz_s{opts.seed}_p{indices[0]}.py"
        module = write_module(path, progs, f"zygopy_fuzz_s{opts.seed}_p{indices[0]}")
        peer_mod = peer.peer_module(path, module.__name__) if opts.peer else None
        for prog in progs:
            conn.send(("start", prog.index))
            t1 = time.perf_counter()
            try:
                result = check_one(module, prog, opts, peer_mod)
            except Exception as e:  # noqa: BLE001 - a bug in the fuzzer itself
                result = {"index": prog.index, "status": "fuzzer_error",
                          "constructs": dict(prog.constructs),
                          "error": "".join(traceback.format_exception(e))[-3000:],
                          "failures": [], "unsupported": [], "skipped": 0, "points": 0,
                          "times": {}, "paths": []}
            result["times"]["generate"] = gen_time
            result["times"]["total"] = time.perf_counter() - t1
            conn.send(("done", prog.index, result))
        conn.send(("exit",))
    finally:
        conn.close()


def _dead_result(index, status, message, constructs=None):
    return {"index": index, "status": status, "constructs": constructs or {}, "paths": [],
            "failures": [{"path": "?", "kind": status, "message": message, "args": [], "arg": None,
                          "expected": None, "got": None, "detail": "",
                          "signature": f"{status}[worker] {message}"}],
            "unsupported": [], "skipped": 0, "points": 0, "times": {}}


def run(opts: Options, log=print):
    """Check programs start..start+count-1; returns the list of result dicts (in program order)."""
    own_workdir = opts.workdir is None
    if own_workdir:
        opts.workdir = tempfile.mkdtemp(prefix="zygopy-fuzz-")
    cache_dir = os.path.join(opts.workdir, "cache")
    os.makedirs(cache_dir, exist_ok=True)
    ctx = mp.get_context("fork")
    # import zygopy once, before forking: every worker then checks the same code, even if the
    # working tree changes during a long run (the runtime modules too, which generated code
    # would otherwise import from disk at its first compile)
    _import_zygopy()
    indices = list(range(opts.start, opts.start + opts.count))
    chunks = deque(indices[k:k + opts.chunk] for k in range(0, len(indices), opts.chunk))
    active = {}  # conn -> state
    results = {}
    t_start = last_report = time.monotonic()

    def launch(chunk):
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(send, chunk, opts, cache_dir), daemon=True)
        proc.start()
        send.close()
        active[recv] = {"proc": proc, "todo": list(chunk), "current": None,
                        "since": time.monotonic()}

    def requeue_rest(state, reason):
        cur = state["current"]
        # died between programs: blame the next one, so that every restart makes progress
        if cur is None:
            cur = next((i for i in state["todo"] if i not in results), None)
        if cur is not None and cur not in results:
            hung = (f"no result in {opts.program_timeout:.0f} s "
                    "(compiled code that does not return?)")
            results[cur] = _dead_result(cur, "hang" if reason == "hang" else "crash",
                                        f"worker {reason}" if reason != "hang" else hung,
                                        generate(opts.seed, cur).constructs)
        rest = [i for i in state["todo"] if i not in results and i != cur]
        if rest:
            chunks.appendleft(rest)

    try:
        while chunks or active:
            while chunks and len(active) < opts.jobs:
                launch(chunks.popleft())
            ready = wait(list(active), timeout=1.0)
            for conn in ready:
                state = active[conn]
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    state["proc"].join(5)
                    code = state["proc"].exitcode
                    del active[conn]
                    conn.close()
                    if state["todo"] and any(i not in results for i in state["todo"]):
                        requeue_rest(state, f"died (exit code {code})")
                    continue
                if msg[0] == "start":
                    state["current"], state["since"] = msg[1], time.monotonic()
                elif msg[0] == "done":
                    results[msg[1]] = msg[2]
                    state["current"] = None
                elif msg[0] == "exit":
                    state["todo"] = []
            now = time.monotonic()
            for conn, state in list(active.items()):
                if state["current"] is not None and now - state["since"] > opts.program_timeout:
                    state["proc"].kill()
                    state["proc"].join()
                    del active[conn]
                    conn.close()
                    log(f"program {state['current']}: no result after "
                        f"{opts.program_timeout:.0f} s, worker killed")
                    requeue_rest(state, "hang")
            if now - last_report > opts.progress_every:
                last_report = now
                st = Counter(r["status"] for r in results.values())
                log(f"[{now - t_start:7.0f} s] {len(results)}/{len(indices)} programs: " +
                    ", ".join(f"{k} {v}" for k, v in sorted(st.items())))
                sys.stdout.flush()
    finally:
        for state in active.values():
            state["proc"].kill()
        if own_workdir:
            shutil.rmtree(opts.workdir, ignore_errors=True)
            opts.workdir = None
    return [results[i] for i in indices if i in results]


# ---- summaries -----------------------------------------------------------------------------------
@dataclass
class Summary:
    programs: int = 0
    status: Counter = field(default_factory=Counter)
    kind_status: dict = field(default_factory=dict)  # 'scalar' or 'array' -> Counter of outcome
    peer: Counter = field(default_factory=Counter)  # 'agreed', 'skipped: why' -> programs
    constructs: Counter = field(default_factory=Counter)  # programs using each construct
    occurrences: Counter = field(default_factory=Counter)
    points: int = 0
    skipped: int = 0
    path_programs: Counter = field(default_factory=Counter)
    path_status: dict = field(default_factory=dict)  # path -> Counter of outcome
    signatures: dict = field(default_factory=dict)  # signature -> list of (index, failure)
    unsupported: dict = field(default_factory=dict)
    times: dict = field(default_factory=dict)
    fuzzer_errors: list = field(default_factory=list)
    invalid: list = field(default_factory=list)


def summarize(results):
    s = Summary()
    tsum = Counter()
    tcount = Counter()
    for r in results:
        s.programs += 1
        s.status[r["status"]] += 1
        kind = "array" if "array argument" in r.get("constructs", {}) else "scalar"
        s.kind_status.setdefault(kind, Counter())[r["status"]] += 1
        if r.get("peer"):
            s.peer[f"{kind} {r['peer']}"] += 1
        for c, n in r.get("constructs", {}).items():
            s.constructs[c] += 1
            s.occurrences[c] += n
        s.points += r.get("points", 0)
        s.skipped += r.get("skipped", 0)
        if r["status"] == "fuzzer_error":
            s.fuzzer_errors.append((r["index"], r.get("error", "")))
        if r["status"] == "invalid":
            s.invalid.append((r["index"], r.get("invalid", "")))
        checked = r["status"] not in ("invalid", "no_point", "fuzzer_error")
        for path in r.get("paths", []):
            if not checked:
                continue
            s.path_programs[path] += 1
            kinds = {f["kind"] for f in r["failures"] if f["path"] == path}
            unsup = any(f["path"] == path for f in r["unsupported"])
            outcome = ("hang" if "hang" in kinds else "crash" if "crash" in kinds
                       else "mismatch" if kinds else "unsupported" if unsup else "ok")
            s.path_status.setdefault(path, Counter())[outcome] += 1
        for f in r["failures"]:
            s.signatures.setdefault(f["signature"], []).append((r["index"], f))
        for f in r["unsupported"]:
            s.unsupported.setdefault(f["signature"], []).append((r["index"], f))
        for k, v in r.get("times", {}).items():
            if isinstance(v, list):  # [first call, later calls, number of later calls]
                tsum[k + ".first"] += v[0]
                tcount[k + ".first"] += 1
                tsum[k + ".later"] += v[1]
                tcount[k + ".later"] += v[2]
            else:
                tsum[k] += v
                tcount[k] += 1
    s.times = {k: (tsum[k], tcount[k]) for k in tsum}
    # a program counts once per signature
    s.signatures = {sig: _unique_programs(v) for sig, v in s.signatures.items()}
    s.unsupported = {sig: _unique_programs(v) for sig, v in s.unsupported.items()}
    return s


def _unique_programs(items):
    seen, out = set(), []
    for i, f in items:
        if i not in seen:
            seen.add(i)
            out.append((i, f))
    return out


def failing_programs(s: Summary):
    progs = set()
    for items in s.signatures.values():
        progs.update(i for i, _ in items)
    return progs


# ---- shrinking the failures found ----------------------------------------------------------------
def _shrink_worker(conn, seed, index, target, workdir, budget, cache_dir, regress_dir, name):
    worker_environment(cache_dir)
    _import_zygopy()  # once here, so forked candidates start warm

    from . import shrink
    try:
        prog = generate(seed, index)
        res = shrink.shrink(prog.source, prog.name, tuple(target["args"]), target, workdir, budget)
        if res is None:
            conn.send(("not_reproduced", None))
            return
        summary = shrink.describe(res)
        reason = f"fuzzer: {target['signature']}"[:200]
        path = shrink.write_regression(res, name, regress_dir, seed, index, summary, reason)
        res["test_file"] = str(path)
        res["summary"] = summary
        res["last"] = None
        conn.send(("ok", res))
    except Exception as e:  # noqa: BLE001
        conn.send(("error", "".join(traceback.format_exception(e))[-3000:]))
    finally:
        conn.close()


def shrink_failures(summary: Summary, seed, regress_dir, max_shrinks=8, budget=300.0, log=print,
                    names=None):
    """Shrink the first program of each failure signature (at most max_shrinks) into a regression
    test."""
    out = {}
    workdir = tempfile.mkdtemp(prefix="zygopy-shrink-")
    cache_dir = os.path.join(workdir, "cache")
    os.makedirs(cache_dir, exist_ok=True)
    ctx = mp.get_context("fork")
    try:
        # the same error on several paths (eval and eval_wrt, say) is one bug: shrink it once, on
        # the cheapest path, and point the other signatures at that test
        cost = {"eval": 0, "eval_wrt": 1, "split": 2, "fused": 3}
        sigs = sorted(summary.signatures.items(),
                      key=lambda kv: (-len(kv[1]), cost.get(kv[1][0][1]["path"], 9)))
        done = []  # (kind and message without the path, programs, result)
        shrunk = 0
        for sig, items in sigs:
            index, target = items[0]
            pathless = _without_path(sig)
            programs = {i for i, _ in items}
            same = next((r for key, progs, r in done if key == pathless and progs & programs), None)
            if same is not None:
                out[sig] = dict(same, status=f"same bug as {same.get('signature', '?')}")
                continue
            if shrunk >= max_shrinks:
                break
            shrunk += 1
            if not target.get("args"):
                out[sig] = {"status": "not shrunk (no input point recorded)", "index": index}
                continue
            if target["path"] == peer.PEER:  # the shrinker reruns zygopy's paths only
                out[sig] = {"status": f"not shrunk (zygopy and {peer.PEER} disagree: compare by "
                                      "hand)", "index": index}
                continue
            name = (names or {}).get(sig) or _default_name(sig)
            log(f"shrinking program {index} for: {sig}")
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_shrink_worker,
                               args=(send, seed, index, target, workdir, budget, cache_dir,
                                     regress_dir, name))
            proc.start()
            send.close()
            if recv.poll(budget + 300):
                try:
                    kind, res = recv.recv()
                except EOFError:
                    kind, res = "error", f"shrink process died ({proc.exitcode})"
            else:
                kind, res = "error", "shrink process timed out"
            proc.kill()
            proc.join()
            if kind == "ok":
                res["status"] = "shrunk" if res["complete"] else "shrunk (budget ran out)"
                res["index"] = index
                out[sig] = res
                done.append((pathless, programs, res))
                log(f"  -> {res['test_file']} ({res['tried']} candidates, {res['seconds']:.0f} s)")
                log("  " + res["summary"])
                log("    " + res["source"].replace("\n", "\n    "))
            else:
                out[sig] = {"status": kind, "detail": res, "index": index}
                log(f"  -> {kind}: {str(res)[:500]}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def _without_path(sig):
    import re
    return re.sub(r"^(\w+)\[\w+\]", r"\1", sig)


def _default_name(sig):
    import hashlib
    import re
    head = re.match(r"(\w+)\[(\w+)\]", sig)
    base = f"{head.group(2)}_{head.group(1)}" if head else "failure"
    return f"{base}_{hashlib.sha1(sig.encode()).hexdigest()[:6]}"


def _import_zygopy():
    import importlib

    from zygopy.backend.numba_cpu.source import RUNTIME_FILES
    for file in RUNTIME_FILES:
        importlib.import_module("zygopy.backend.numba_cpu." + file.removesuffix(".py"))

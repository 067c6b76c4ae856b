"""The fuzz run's report: text for the terminal and a section of benchmarks/RESULTS.md."""
from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
from pathlib import Path

BEGIN, END = "<!-- fuzz:begin -->", "<!-- fuzz:end -->"


def _fmt_s(seconds):
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"


def environment(repo):
    def git(*args):
        try:
            out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                                 timeout=20)
            return out.stdout.strip()
        except Exception:  # noqa: BLE001
            return ""
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "zygopy")
    versions = []
    for mod in ("numpy", "numba", "llvmlite"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001
            pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu or platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"{platform.system()} {platform.release()}; Python {platform.python_version()}",
        "versions": ", ".join(versions),
        "git": f"git {head}" + (", zygopy/ modified" if dirty else ""),
    }


def time_rows(s):
    t = s.times

    def get(k):
        return t.get(k, (0.0, 0))
    rows = []
    total, n = get("total")
    rows.append(("whole check of a program (worker time)", total, n))
    py, n = get("python")
    rows.append(("plain Python: input points and finite differences", py, n))
    for path, what in (("eval", "code_adjoint (IR, adjoint, source) + evaluator"),
                       ("eval_wrt", "the same with wrt= a subset of the floats"),
                       ("fused", "withgradient: Numba compile of the fused function + run"),
                       ("split",
                        "pullback + back twice: Numba compile of forward and pullback + run")):
        first, nf = get(path + ".first")
        later, nl = get(path + ".later")
        if nf:
            rows.append((f"{path}, first point: {what}", first, nf))
        if nl:
            rows.append((f"{path}, later points (already compiled)", later, nl))
    return rows


def compile_estimates(s):
    """Compile time per path: mean first call minus mean later call (what compiling costs)."""
    out = {}
    for path in ("eval", "eval_wrt", "fused", "split"):
        first, nf = s.times.get(path + ".first", (0.0, 0))
        later, nl = s.times.get(path + ".later", (0.0, 0))
        if nf and nl:
            out[path] = (first / nf - later / nl, later / nl)
    return out


def text_report(s, wall, opts, shrinks):
    lines = []
    p = lines.append
    last = opts.start + opts.count - 1
    p(f"programs tried: {s.programs} (seed {opts.seed}, numbers {opts.start}..{last}); "
      f"wall time {_fmt_s(wall)} with {opts.jobs} job(s)")
    p("program outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(s.status.items())))
    for kind, st in sorted(s.kind_status.items()):
        p(f"  {kind} programs: {sum(st.values())}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(st.items())))
    if s.peer:
        p("autograd, the same programs (agreed: its gradients match zygopy's to 1e-8; skipped: it "
          "cannot run them): " + ", ".join(f"{k} {v}" for k, v in sorted(s.peer.items())))
    p(f"input points checked: {s.points}; points skipped near a kink: {s.skipped}")
    for path in ("eval", "eval_wrt", "fused", "split"):
        st = s.path_status.get(path)
        if st:
            p(f"  {path:5s}: {s.path_programs[path]} programs: "
              + ", ".join(f"{k} {v}" for k, v in sorted(st.items())))
    crash_sigs = sum(_is_crash_sig(g) for g in s.signatures)
    p(f"programs with a mismatch: {s.status.get('mismatch', 0)}, "
      f"with a crash: {s.status.get('crash', 0)}, hangs: {s.status.get('hang', 0)}, "
      f"unsupported: {s.status.get('unsupported', 0)}; failure signatures: "
      f"{len(s.signatures) - crash_sigs} mismatch, {crash_sigs} crash/hang")
    if s.signatures:
        p("failure signatures (programs, first program):")
        for sig, items in sorted(s.signatures.items(), key=lambda kv: -len(kv[1])):
            first_i, first_f = items[0]
            at = " ".join(repr(tuple(first_f["args"])).split())[:300]
            message = first_f["message"][:200]
            p(f"  {len(items):5d}  {sig}   [program {first_i} at {at}: {message!r}]")
    if s.unsupported:
        p("unsupported (refused while compiling) signatures:")
        for sig, items in sorted(s.unsupported.items(), key=lambda kv: -len(kv[1])):
            p(f"  {len(items):5d}  {sig}   [program {items[0][0]}]")
    if s.invalid:
        p(f"invalid programs (generator bugs): {s.invalid[:5]}")
    if s.fuzzer_errors:
        p(f"fuzzer errors: {len(s.fuzzer_errors)}; first: {s.fuzzer_errors[0][1][-1500:]}")
    p("constructs (programs using it / occurrences):")
    for c, n in sorted(s.constructs.items(), key=lambda kv: (-kv[1], kv[0])):
        p(f"  {c:36s} {n:6d} {s.occurrences[c]:8d}")
    p("time:")
    for what, total, n in time_rows(s):
        mean = _fmt_s(total / max(n, 1))
        p(f"  {what:78s} total {_fmt_s(total):>9s}  mean {mean:>9s}  (n={n})")
    for path, (comp, run) in compile_estimates(s).items():
        p(f"  {path}: compile ≈ {_fmt_s(comp)} per program, run ≈ {_fmt_s(run)} per point")
    if shrinks:
        p("shrunk failures:")
        for sig, r in shrinks.items():
            p(f"  {sig}: {r.get('status')} -> {r.get('test_file', '')}")
    return "\n".join(lines)


def _is_crash_sig(sig):
    return sig.startswith(("crash", "hang"))


def markdown(s, wall, opts, shrinks, command, repo, env=None):
    env = env or environment(repo)
    compiled = s.path_programs.get("fused", 0)
    lines = [BEGIN,
             "## fuzz: differential gradient fuzzing of random programs, scalar and with arrays",
             ""]
    p = lines.append
    p(f"- date: {env['date']}; command: `{command}`")
    p(f"- machine: {env['machine']}")
    p(f"- versions: {env['versions']}, zygopy ({env['git']})")
    arrays = sum(s.kind_status.get("array", {}).values())
    p(f"- programs: {s.programs} generated by tools/fuzz/generate.py (seed {opts.seed}): 1-3 float "
      "arguments (sometimes a bool flag) and an int trip count `n` (0-5; 10-30 for one point in "
      "ten), 0-2 helper functions, the constructs below. "
      f"{arrays} of them are array programs (tools/fuzz/generate_arrays.py): 1-2 float arrays of "
      "one length m (2-5 per input point, elements in [-2, 2]), sometimes an m×m matrix, with "
      "element reads, overwriting writes, scatter-adds, slice writes, aliases, loops over arrays "
      "and NumPy calls; every array element is a coordinate of the finite differences, and no "
      f"path may change the caller's arrays. Each program is checked at up to {opts.points} "
      "random input points where finite differences are trustworthy "
      f"(at most {opts.attempts} draws).")
    every = (f"every {opts.numba_every}th program ({compiled} programs)" if opts.numba_every > 1
             else f"every program ({compiled})" if opts.numba_every == 1 else "no program")
    est = compile_estimates(s)
    compile_cost = sum(est[p][0] for p in ("fused", "split") if p in est)
    rate = (f" — Numba compilation ({_fmt_s(compile_cost)} per program for both paths, measured "
            "below) is what limits the rate." if opts.numba_every != 1 and compile_cost else ".")
    p("- paths: **eval** (`evaluate_gradient(code_adjoint(f, ...))`, pure Python) and **eval_wrt** "
      "(the same with `wrt=` a random subset of the float arguments) on every program; **fused** "
      "(`withgradient`, i.e. `gradient`) and **split** (`pullback`, then `back(1.0)` twice, which "
      "must agree, and `back(2.5)`, which must be 2.5 times it), compiled by Numba, on "
      f"{every}{rate}")
    p("- reference: central differences of the plain Python function in float64, steps "
      "h = 1e-4·max(1, |x|) and h/2, Richardson-extrapolated; a point where the two steps (or the "
      "one-sided estimates) disagree lies near a kink and is skipped. Gradient tolerance "
      "3·|d(h) − d(h/2)| + 1e-6·|ref| + 1e-7·max(1, |f|)/max(1, |x|); values within 1e-9 "
      "relative; compiled paths also within 1e-8 of the evaluator. See tools/fuzz/check.py.")
    load = env.get("load")
    shared = (f"; load average {load[0]:.1f} at the start, {load[1]:.1f} at the end (other work "
              "shares the machine)" if load else "")
    p(f"- wall time: {_fmt_s(wall)} with {opts.jobs} worker process(es){shared}")
    p("")
    p("| outcome | programs | scalar programs | array programs |")
    p("|---|---|---|---|")
    labels = [("ok", "all paths agree with finite differences"),
              ("mismatch", "gradient/value mismatch"),
              ("crash", "crash (an error the plain call did not raise, or an internal error)"),
              ("hang", "hang (no result in time)"),
              ("unsupported", "unsupported (refused while compiling: outside the subset)"),
              ("no_point", "no smooth input point found"),
              ("invalid", "invalid program (generator bug)"),
              ("fuzzer_error", "fuzzer error")]
    for key, label in labels:
        p(f"| {label} | {s.status.get(key, 0)} | {s.kind_status.get('scalar', {}).get(key, 0)} | "
          f"{s.kind_status.get('array', {}).get(key, 0)} |")
    scalars = sum(s.kind_status.get("scalar", {}).values())
    p(f"| **programs tried** | **{s.programs}** | **{scalars}** | **{arrays}** |")
    p("")
    p(f"Input points checked: {s.points}; input points skipped near a kink: {s.skipped}.")
    if s.peer:
        agreed = {k: v for k, v in s.peer.items() if k.endswith("agreed")}
        p("")
        skipped = ", ".join(f"{k.split(' ', 1)[0]} {k.split(': ', 1)[1]} {v}"
                            for k, v in sorted(s.peer.items()) if k not in agreed)
        p("A second opinion, autograd (tools/fuzz/peer.py), where it can run the same program: its "
          "gradients must match the evaluator's to 1e-8 (relative). "
          + ", ".join(f"{k}: {v}" for k, v in sorted(agreed.items()))
          + f" programs; skipped, by reason: {skipped} (in-place writes, float()/int() of a traced "
          "value and fmod are beyond it).")
    p("")
    p("| path | programs checked | ok | mismatch | crash | hang | unsupported |")
    p("|---|---|---|---|---|---|---|")
    for path in ("eval", "eval_wrt", "fused", "split"):
        st = s.path_status.get(path, {})
        counts = " | ".join(str(st.get(k, 0)) for k in ("ok", "mismatch", "crash", "hang",
                                                         "unsupported"))
        p(f"| {path} | {s.path_programs.get(path, 0)} | {counts} |")
    p("")
    if s.signatures:
        p("Failures, by signature (a program counts once per signature):")
        p("")
        p("| signature | programs | first program | regression test |")
        p("|---|---|---|---|")
        for sig, items in sorted(s.signatures.items(), key=lambda kv: -len(kv[1])):
            r = (shrinks or {}).get(sig, {})
            test = (Path(r["test_file"]).relative_to(repo) if r.get("test_file")
                    else r.get("status", "not shrunk"))
            p(f"| `{_md(sig)}` | {len(items)} | {items[0][0]} | {test} |")
        p("")
    else:
        p("No mismatches, crashes or hangs.")
        p("")
    if s.unsupported:
        by_count = sorted(s.unsupported.items(), key=lambda kv: -len(kv[1]))
        p("Unsupported (refused while compiling) by message: "
          + "; ".join(f"`{_md(sig)}` ×{len(v)}" for sig, v in by_count))
        p("")
    p("Constructs covered (programs using each / occurrences):")
    p("")
    p("| construct | programs | occurrences |")
    p("|---|---|---|")
    for c, n in sorted(s.constructs.items(), key=lambda kv: (-kv[1], kv[0])):
        p(f"| {_md(c)} | {n} | {s.occurrences[c]} |")
    p("")
    p("Time (worker time, summed over both workers where jobs > 1):")
    p("")
    p("| stage | total | mean | count |")
    p("|---|---|---|---|")
    for what, total, n in time_rows(s):
        p(f"| {what} | {_fmt_s(total)} | {_fmt_s(total / max(n, 1))} | {n} |")
    if est:
        p("")
        p("Compile cost per program (mean first call − mean later call): "
          + "; ".join(f"{path} {_fmt_s(c)} (a later call {_fmt_s(r)})"
                      for path, (c, r) in est.items()) + ".")
    lines.append(END)
    return "\n".join(lines) + "\n"


def _md(text):
    return text.replace("|", "\\|").replace("`", "'")


def write_section(results_path, section):
    path = Path(results_path)
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda m: section, old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + section
    path.write_text(new)

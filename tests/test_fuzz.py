"""Differential fuzzing in CI: random programs, scalar (tools/fuzz/generate.py) and with arrays
(tools/fuzz/generate_arrays.py), whose zygopy gradients must match central finite differences
(tools/fuzz/check.py).

- a seeded batch through the pure-Python adjoint evaluator (no Numba: cheap);
- the small programs of the batch also through the two compiled paths (gradient and pullback);
- the fuzzer itself: it finds injected wrong derivative rules (scalar and array), and shrinks one
  to a tiny program; it files errors from running a program as crashes, not as refusals.

The long run is `python tools/fuzz_gradients.py --seed 1 --count 10000 ...` (see
benchmarks/RESULTS.md).
"""
import math
import random
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from fuzz import check, peer, report, runner, shrink  # noqa: E402
from fuzz.generate import constructs_of, generate, write_module  # noqa: E402

SEED = 20261122
EVAL_PROGRAMS = 300
COMPILED_PROGRAMS = 20
# compile time grows with program size: the compiled paths get the small programs
COMPILED_MAX_LINES = 14


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    mp = pytest.MonkeyPatch()
    mp.setenv("ZYGOPY_CACHE_DIR", str(work / "cache"))
    runner.quiet_numba()
    progs = [generate(SEED, i) for i in range(EVAL_PROGRAMS)]
    module = write_module(work / "fuzz_batch.py", progs, "zygopy_fuzz_ci_batch")
    yield progs, module, work
    mp.undo()


def _failures(results):
    bad = [(r["index"], f["signature"], f["message"][:300], f["args"])
           for r in results for f in r["failures"]]
    bad += [(r["index"], r["status"], r.get("invalid", ""), ())
            for r in results if r["status"] == "invalid"]
    return bad


def _report(bad):
    return "\n".join(f"program {i} (seed {SEED}) at {tuple(args)}: {sig}: {msg}"
                     for i, sig, msg, args in bad)


def _check(progs, module, paths):
    out = []
    for p in progs:
        rng = random.Random(f"zygopy-fuzz-points:{p.seed}:{p.index}")
        out.append(check.check_program(getattr(module, p.name), p, paths, rng))
    return out


def test_evaluator_path_matches_finite_differences(batch):
    progs, module, _ = batch
    results = _check(progs, module, ("eval", "eval_wrt"))
    bad = _failures(results)
    assert not bad, _report(bad)
    s = runner.summarize(results)
    # the generator stays in the subset
    assert s.status["unsupported"] <= len(progs) // 50, s.unsupported
    assert s.status["ok"] >= 0.9 * len(progs)
    assert s.points >= len(progs)
    for construct in ("while", "for range(1 args)", "for range(3 args)", "break", "continue",
                      "early return", "return inside loop", "helper call", "loop-carried tuple",
                      "conditional expression", "and/or in condition", "elif", "nested loop", "min",
                      "max", "abs", "array argument", "element read", "element write (overwrites)",
                      "scatter += into an element", "slice write", "in-place array +=",
                      "array alias (b = a)", "recurrence (write reads the same array)",
                      "for over an array", "for over enumerate(array)", "np.sum", "np.where", "@",
                      "index-array read", "index-array write", "mask read", "mask write",
                      "keepdims=", "axis=", "np.cumprod", ".append()"):
        assert s.constructs[construct] > 0, construct


@pytest.mark.skipif(not peer.available(), reason="autograd is not installed")
def test_autograd_agrees_where_it_runs(batch):
    progs, module, work = batch
    twin = peer.peer_module(work / "fuzz_batch.py", module.__name__)
    results = []
    for p in progs[:100]:
        rng = random.Random(f"zygopy-fuzz-points:{p.seed}:{p.index}")
        results.append(check.check_program(getattr(module, p.name), p, ("eval",), rng,
                                           peer=getattr(twin, p.name)))
    bad = _failures(results)
    assert not bad, _report(bad)
    assert sum(r["peer"] == "agreed" for r in results) >= 50


def test_compiled_paths_match_finite_differences(batch):
    progs, module, _ = batch
    small = [p for p in progs
             if len(p.source.splitlines()) <= COMPILED_MAX_LINES][:COMPILED_PROGRAMS]
    assert len(small) == COMPILED_PROGRAMS
    assert sum(p.n_arrays > 0 for p in small) >= COMPILED_PROGRAMS // 4
    results = _check(small, module, ("eval", "eval_wrt", "fused", "split"))
    bad = _failures(results)
    assert not bad, _report(bad)
    assert sum(r["status"] == "ok" for r in results) >= COMPILED_PROGRAMS - 2


def test_generator_is_deterministic_and_programs_run():
    for i in (0, 7, 123):
        a, b = generate(3, i), generate(3, i)
        assert a.source == b.source and a.constructs == b.constructs
        assert constructs_of(a.source, a.name) == a.constructs
    assert generate(3, 1).source != generate(4, 1).source


def test_kinks_are_detected():
    def f(x, n):
        return abs(x - 0.3) + math.sin(x)
    for x in (0.3, 0.3 + 1e-9, 0.30004, 0.30009, 0.29996):
        point, reason = check.finite_differences(f, (x, 1))
        assert point is None and "kink" in reason, x
    point, _ = check.finite_differences(f, (0.5, 1))
    ref, tol, _, _ = point.refs[0, None]
    assert abs(ref - (1 + math.cos(0.5))) < 1e-9 and tol < 1e-5

    def step(x, n):
        return x if x < 0.3 else x + 1e-3
    assert check.finite_differences(step, (0.3 - 1e-7, 1))[0] is None


def _second_element(x, a):
    return x * a[1]


def _refused(x, n):
    try:  # outside the subset: zygopy refuses it while building the IR
        return math.sin(x) * n
    finally:
        pass


def test_errors_while_running_are_crashes(monkeypatch):
    """Only building may refuse a program: an error from running it is a crash, whatever its class.
    A derivative rule that scatters out of range makes the compiled reverse raise IndexError (with
    the reverse's bounds checks on, ZYGOPY_BOUNDSCHECK=all), which zygopy reports as a ZygopyError
    that is also an IndexError (at run time, where the plain call raised nothing); the evaluator
    is made to raise a refusal class."""
    from zygopy import api
    from zygopy.adjoint import array_rules, rules
    from zygopy.backend.numba_cpu import source
    from zygopy.errors import UnsupportedType
    from zygopy.ir import evaluate
    monkeypatch.setattr(api, "_CACHE", {})
    monkeypatch.setattr(api, "_FAST", {})
    monkeypatch.setattr(api, "_LAST", {})
    monkeypatch.setattr(source, "REVERSE_CHECKED", True)
    monkeypatch.setitem(rules.RULES, "getindex",
                        lambda g, y, a, index: (array_rules.Scatter(index + 100, g), None))

    def refuses(adj, args):
        raise UnsupportedType("raised while running")
    monkeypatch.setattr(evaluate, "evaluate_gradient", refuses)
    point, _ = check.finite_differences(_second_element, (0.7, np.array([0.5, -1.0, 2.0])))
    outcome = check.check_at(_second_element, [point], ("eval", "fused", "split"))
    assert not outcome.unsupported, outcome.unsupported
    assert [(fl.path, fl.kind) for fl in outcome.failures] == [
        ("eval", "crash"), ("fused", "crash"), ("split", "crash")]
    for fl in outcome.failures[1:]:
        assert "IndexError while running" in fl.message


def test_refusals_while_building_are_unsupported():
    point, _ = check.finite_differences(_refused, (0.7, 2))
    outcome = check.check_at(_refused, [point], check.PATHS)
    assert not outcome.failures, outcome.failures
    assert [(fl.path, fl.kind) for fl in outcome.unsupported] == [
        (p, "unsupported") for p in check.PATHS]
    assert all("UnsupportedSyntax" in fl.message for fl in outcome.unsupported)


def test_injected_wrong_rule_is_found_and_shrunk(batch, tmp_path, monkeypatch):
    """Mutation test of the fuzzer: a 0.1% error in d/dx sin(x) must be caught and shrunk."""
    from zygopy import api
    from zygopy.adjoint import rules
    progs, module, _ = batch
    monkeypatch.setitem(rules.RULES, "sin", lambda g, y, x: (g * rules.cos(x) * 1.001,))
    monkeypatch.setattr(api, "_CACHE", {})
    monkeypatch.setattr(api, "_FAST", {})
    monkeypatch.setattr(api, "_LAST", {})
    found = None
    for p in progs[:60]:
        r = _check([p], module, ("eval",))[0]
        if r["failures"]:
            found = p, r["failures"][0]
            break
    assert found is not None, "the injected bug went unnoticed"
    p, failure = found
    assert failure["kind"] == "gradient"
    res = shrink.shrink(p.source, p.name, tuple(failure["args"]), failure, str(tmp_path), budget=60)
    assert res is not None and res["main"] == "f"
    body = [ln for ln in res["source"].splitlines() if ln.strip()]
    assert len(body) <= 4, res["source"]
    assert "sin" in res["source"]
    test_file = shrink.write_regression(res, "injected", tmp_path / "regressions", SEED, p.index,
                                        shrink.describe(res), "injected bug")
    compile(test_file.read_text(), str(test_file), "exec")


def test_injected_wrong_array_rule_is_found(batch, monkeypatch):
    """Mutation test for array programs: a 0.1% error in the gradient of reading `a[i]` must be
    caught."""
    from zygopy import api
    from zygopy.adjoint import array_rules, rules
    progs, module, _ = batch
    monkeypatch.setitem(rules.RULES, "getindex",
                        lambda g, y, a, index: (array_rules.Scatter(index, g * 1.001), None))
    monkeypatch.setattr(api, "_CACHE", {})
    monkeypatch.setattr(api, "_FAST", {})
    monkeypatch.setattr(api, "_LAST", {})
    arrays = [p for p in progs if p.n_arrays][:40]
    found = [r for r in _check(arrays, module, ("eval",)) if r["failures"]]
    assert found, "the injected bug went unnoticed"
    assert found[0]["failures"][0]["kind"] == "gradient"


def test_results_section_is_replaced(tmp_path):
    md = tmp_path / "RESULTS.md"
    md.write_text("# Benchmark results\n\n<!-- other:begin -->\nkeep\n<!-- other:end -->\n")
    report.write_section(md, f"{report.BEGIN}\nfirst\n{report.END}\n")
    report.write_section(md, f"{report.BEGIN}\nsecond\n{report.END}\n")
    text = md.read_text()
    assert "keep" in text and "second" in text and "first" not in text
    assert text.count(report.BEGIN) == 1

"""Differential fuzzing of zygopy's gradients on random scalar programs.

    python tools/fuzz_gradients.py --seed 1 --count 10000 --numba-every 4 --jobs 2 \\
        --results benchmarks/RESULTS.md

Generates `count` programs (tools/fuzz/generate.py), checks each with the pure-Python adjoint
evaluator and every K-th also with the two Numba-compiled paths, against central finite differences
(tools/fuzz/check.py); shrinks the first program of each failure signature into a regression test
under tests/regressions/ (tools/fuzz/shrink.py); prints a report and, with --results, replaces the
section between <!-- fuzz:begin --> and <!-- fuzz:end --> of that file.

    python tools/fuzz_gradients.py --seed 1 --show 123     # print program 123 of seed 1
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# this tree's zygopy, whatever is installed: the report names this tree's commit, and a run from
# a second checkout must test that checkout's code
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from fuzz import peer, report, runner  # noqa: E402
from fuzz.generate import generate  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100, help="number of programs")
    ap.add_argument("--start", type=int, default=0, help="number of the first program")
    ap.add_argument("--numba-every", type=int, default=1, metavar="K",
                    help="check the compiled paths (fused, split) on every K-th program; "
                         "0: never (default 1)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--chunk", type=int, default=50,
                    help="programs per worker process and module file")
    ap.add_argument("--points", type=int, default=2, help="smooth input points per program")
    ap.add_argument("--timeout", type=float, default=180.0,
                    help="seconds before a program counts as a hang")
    ap.add_argument("--results", help="markdown file whose fuzz section is written/replaced")
    ap.add_argument("--json", help="write every program's result to this JSON file")
    ap.add_argument("--shrink", type=int, default=8, metavar="M",
                    help="shrink the first program of up to M failure signatures into regression "
                         "tests (0: none)")
    ap.add_argument("--shrink-budget", type=float, default=300.0, help="seconds per shrink")
    ap.add_argument("--regressions", default=str(REPO / "tests" / "regressions"),
                    help="directory for the regression tests written by shrinking")
    ap.add_argument("--peer", choices=["auto", "on", "off"], default="auto",
                    help="also compare with autograd's gradients "
                         "(auto: where autograd is installed)")
    ap.add_argument("--show", type=int, metavar="I",
                    help="print program I and its constructs, then exit")
    args = ap.parse_args(argv)

    if args.show is not None:
        prog = generate(args.seed, args.show)
        print(prog.source)
        print("# constructs:", dict(prog.constructs))
        return 0

    opts = runner.Options(seed=args.seed, count=args.count, start=args.start,
                          numba_every=args.numba_every, jobs=args.jobs, chunk=args.chunk,
                          program_timeout=args.timeout, points=args.points,
                          peer=args.peer == "on" or (args.peer == "auto" and peer.available()))
    quoted = " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    command = f"python tools/fuzz_gradients.py {quoted}"
    env = report.environment(REPO)  # the zygopy version checked: the one at the start
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"zygopy {env['git']}; {env['versions']}", flush=True)
    t0 = time.monotonic()
    results = runner.run(opts, log=lambda m: print(m, flush=True))
    wall = time.monotonic() - t0
    if load_start is not None:
        env["load"] = (load_start, os.getloadavg()[0])
    summary = runner.summarize(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=repr))
    shrinks = {}
    if args.shrink and summary.signatures:
        shrinks = runner.shrink_failures(summary, args.seed, args.regressions, args.shrink,
                                         args.shrink_budget, log=lambda m: print(m, flush=True))
    print(report.text_report(summary, wall, opts, shrinks))
    if args.results:
        report.write_section(args.results,
                             report.markdown(summary, wall, opts, shrinks, command, REPO, env))
        print(f"wrote the fuzz section of {args.results}")
    bad = sum(summary.status.get(k, 0) for k in ("mismatch", "crash", "hang"))
    return 1 if bad or summary.fuzzer_errors else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())

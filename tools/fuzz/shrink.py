"""Greedy AST delta reduction of a failing program, and the regression test it becomes.

A candidate program is *interesting* when, at its input point, the plain function still runs and
returns a finite float, finite differences are still trustworthy there (no kink), and the failing
zygopy path still fails with the same signature (the same kind of mismatch on the same path, or a
crash with the same normalised error). Each candidate runs in a forked child process with a time
limit, so that a reduction that makes a loop endless, or compiled code that never returns, costs
only that child.

Reductions, tried until none applies: delete a statement; replace an if/while/for by its body (or
an if by its else); drop else branches; replace an expression by one of its operands or by a
constant; replace a condition by True/False; make constants and range bounds smaller; simplify
the input point (smaller n, rounded floats); drop unused parameters and helper functions. Finally
functions are renamed f, helper, helper2, ...
"""
from __future__ import annotations

import ast
import copy
import hashlib
import multiprocessing as mp
import os
import re
import shutil
import textwrap
import time
from pathlib import Path

import numpy as np

from .generate import MODULE_HEADER, import_file

CANDIDATE_TIMEOUT = 60.0  # seconds for one candidate (includes Numba compilation)
# seconds for the plain function and its finite differences: a reduction can make a loop endless
# (generated programs take microseconds)
PLAIN_TIMEOUT = 1.0


# ---- running one candidate -----------------------------------------------------------------------
def _child(conn, source, main, args, path, paths, workdir, tag):
    from . import check
    try:
        file = Path(workdir) / f"cand_{tag}.py"
        file.write_text(MODULE_HEADER + "\n\n" + source)
        try:
            mod = import_file(file, f"zygopy_fuzz_cand_{tag}")
            f = getattr(mod, main)
        except Exception as e:  # noqa: BLE001
            conn.send(("invalid", f"import: {e}"))
            return
        try:
            with check.time_limit(PLAIN_TIMEOUT):
                point, reason = check.finite_differences(f, tuple(args))
        except (check.InvalidProgram, check.Timeout, Exception) as e:  # noqa: BLE001
            conn.send(("invalid", f"plain: {e}"))
            return
        if point is None:
            conn.send(("invalid", reason))
            return
        outcome = check.check_at(f, [point], paths)
        fails = [fl.as_dict() for fl in outcome.failures if fl.path == path]
        conn.send(("ok", fails, {i: r[0] for i, r in point.refs.items()}, point.value))
    except BaseException as e:  # noqa: BLE001
        conn.send(("invalid", f"child: {type(e).__name__}: {e}"))
    finally:
        conn.close()


def run_candidate(source, main, args, path, workdir, tag, timeout=CANDIDATE_TIMEOUT, paths=None):
    """('ok', failures, refs, value) | ('invalid', reason) | ('hang', seconds), run in a forked
    child.

    `paths`: the paths to run (default: just `path`); failures are reported for `path` only."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child,
                       args=(send, source, main, args, path, list(paths or [path]), workdir, tag))
    proc.start()
    send.close()
    try:
        if recv.poll(timeout):
            try:
                result = recv.recv()
            except EOFError:
                result = ("invalid", f"child died with exit code {proc.exitcode}")
        else:
            result = ("hang", timeout)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
        for p in Path(workdir).glob(f"cand_{tag}.py"):
            p.unlink()
    if result[0] == "invalid" and proc.exitcode not in (0, None) and proc.exitcode < 0:
        result = ("died", proc.exitcode)
    return result


# ---- AST edits -----------------------------------------------------------------------------------
def _stmt_lists(node):
    for fieldname in ("body", "orelse"):
        lst = getattr(node, fieldname, None)
        if isinstance(lst, list) and lst and isinstance(lst[0], ast.stmt):
            yield fieldname, lst


def _const(v):
    return ast.Constant(v)


def _float_alternatives(v):
    out = []
    for c in (1.0, 0.0, 0.5, 2.0, round(v, 1), round(v, 2)):
        if c != v and abs(c) <= abs(v) + 1.0 and c not in out:
            out.append(float(c))
    return out


def _is_call_of(node, names):
    f = node.func
    return isinstance(f, ast.Name) and f.id in names


def _each_dropped(node, field):
    """Copies of a call or and/or with one of its three or more operands left out, each in turn."""
    items = getattr(node, field)
    out = []
    for j in range(len(items) if len(items) > 2 else 0):
        c = copy.deepcopy(node)
        del getattr(c, field)[j]
        out.append(c)
    return out


def _expr_alternatives(node, parent_field, params=()):
    """Smaller expressions that may replace `node` (operands first, constants last); a variable
    may also become a parameter of its function (copy propagation)."""
    alts = []
    if isinstance(node, ast.Name):
        alts += [ast.Name(p, ast.Load()) for p in params if p != node.id]
    if isinstance(node, ast.BinOp):
        alts += [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        alts += [node.operand]
    elif isinstance(node, ast.Call):
        if not _is_call_of(node, ("range",)):
            alts += list(node.args) + _each_dropped(node, "args")
    elif isinstance(node, ast.IfExp):
        alts += [node.body, node.orelse]
    elif isinstance(node, ast.BoolOp):
        alts += list(node.values) + _each_dropped(node, "values")
    elif isinstance(node, ast.Compare):
        if len(node.ops) > 1:
            for j in range(len(node.ops)):
                left = node.left if j == 0 else node.comparators[j - 1]
                alts.append(ast.Compare(left, [node.ops[j]], [node.comparators[j]]))
    if not isinstance(node, ast.Constant) and (parent_field == "test"
                                               or isinstance(node, (ast.Compare, ast.BoolOp))):
        alts += [_const(True), _const(False)]
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool):
            pass
        elif isinstance(v, float):
            alts += [_const(c) for c in _float_alternatives(v)]
        elif isinstance(v, int):
            alts += [_const(c) for c in range(0, v) if c <= 2]
    elif isinstance(node, (ast.Name, ast.BinOp, ast.UnaryOp, ast.Call, ast.IfExp, ast.BoolOp)):
        if not (isinstance(node, ast.Call) and _is_call_of(node, ("range",))):
            alts += [_const(1.0), _const(0.5)]
            if isinstance(node, (ast.BinOp, ast.Name)):
                alts += [_const(1), _const(2)]  # range bounds and int expressions
    return alts


def _params_of_nodes(tree):
    """id(node) -> parameter names of the function the node is in."""
    out = {}
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef):
            names = tuple(a.arg for a in fn.args.args)
            for n in ast.walk(fn):
                out[id(n)] = names
    return out


def _children_with_fields(node):
    for fieldname, value in ast.iter_fields(node):
        if isinstance(value, ast.AST):
            yield fieldname, None, value
        elif isinstance(value, list):
            for j, v in enumerate(value):
                if isinstance(v, ast.AST):
                    yield fieldname, j, v


def _edits(tree):
    """Every single edit of the tree, as (kind, node number in ast.walk order, detail)."""
    nodes = list(ast.walk(tree))
    stmt_edits, expr_edits = [], []
    params = _params_of_nodes(tree)
    for i, node in enumerate(nodes):
        for fieldname, lst in _stmt_lists(node):
            for j in reversed(range(len(lst))):
                stmt_edits.append(("del", i, (fieldname, j)))
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Tuple) and isinstance(node.value, ast.Tuple)
                and len(node.value.elts) == len(node.targets[0].elts)):
            for j in range(len(node.value.elts)):
                stmt_edits.append(("untuple", i, j))
        if isinstance(node, (ast.Assign, ast.AugAssign)) and not isinstance(node.value, ast.Tuple):
            # return what it assigns: cuts everything after it
            stmt_edits.append(("return", i, None))
        if isinstance(node, (ast.While, ast.For)):
            stmt_edits.append(("unloop", i, None))
        if isinstance(node, (ast.If, ast.While, ast.For)):
            stmt_edits.append(("unwrap", i, "body"))
            if node.orelse:
                stmt_edits.append(("unwrap", i, "orelse"))
                stmt_edits.append(("drop_else", i, None))
    for i, node in enumerate(nodes):
        for fieldname, j, child in _children_with_fields(node):
            if not isinstance(child, ast.expr) or isinstance(getattr(child, "ctx", None),
                                                             (ast.Store, ast.Del)):
                continue
            if fieldname == "func" or (isinstance(node, ast.Attribute) and fieldname == "value"):
                continue
            for k, _ in enumerate(_expr_alternatives(child, fieldname, params.get(id(child), ()))):
                expr_edits.append(("expr", i, (fieldname, j, k)))
    return stmt_edits + expr_edits


def _apply(tree, edit):
    tree = copy.deepcopy(tree)
    kind, i, detail = edit
    node = list(ast.walk(tree))[i]
    if kind == "del":
        fieldname, j = detail
        lst = getattr(node, fieldname)
        del lst[j]
        if not lst and not (isinstance(node, (ast.If, ast.While, ast.For))
                            and fieldname == "orelse"):
            if isinstance(node, ast.Module):
                return None
            lst.append(ast.Pass())
    elif kind == "unwrap" or kind == "drop_else":
        parent, fieldname, j = _parent_of(tree, node)
        if parent is None:
            return None
        lst = getattr(parent, fieldname)
        if kind == "drop_else":
            node.orelse = []
        else:
            lst[j:j + 1] = getattr(node, detail) or [ast.Pass()]
    elif kind == "unloop":  # the loop body, run once: its own break/continue become pass
        parent, fieldname, j = _parent_of(tree, node)
        if parent is None:
            return None
        body = node.body
        for stmt in body:
            _drop_loop_exits(stmt)
        getattr(parent, fieldname)[j:j + 1] = body
    elif kind == "return":
        parent, fieldname, j = _parent_of(tree, node)
        if parent is None:
            return None
        getattr(parent, fieldname)[j:] = [ast.Return(node.value)]
    elif kind == "untuple":  # a, b = (e1, e2) -> a = e1 (keeping element `detail`)
        target, value = node.targets[0].elts[detail], node.value.elts[detail]
        node.targets = [target]
        node.value = value
    elif kind == "expr":
        fieldname, j, k = detail
        child = getattr(node, fieldname) if j is None else getattr(node, fieldname)[j]
        alts = _expr_alternatives(child, fieldname, _params_of_nodes(tree).get(id(child), ()))
        new = copy.deepcopy(alts[k])
        if j is None:
            setattr(node, fieldname, new)
        else:
            getattr(node, fieldname)[j] = new
    ast.fix_missing_locations(tree)
    return tree


def _drop_loop_exits(node):
    """Replace break/continue that belong to the enclosing loop (not to nested ones) by pass."""
    for fieldname, lst in list(_stmt_lists(node)):
        if isinstance(node, (ast.While, ast.For)) and fieldname == "body":
            continue
        for k, s in enumerate(lst):
            if isinstance(s, (ast.Break, ast.Continue)):
                lst[k] = ast.Pass()
            else:
                _drop_loop_exits(s)


def _parent_of(tree, target):
    for node in ast.walk(tree):
        for fieldname, j, child in _children_with_fields(node):
            if child is target:
                return node, fieldname, j
    return None, None, None


def _literal_cost(v):
    if isinstance(v, bool) or v is None:
        return 0
    if isinstance(v, int):
        return abs(v)
    if isinstance(v, float):
        return 0 if v in (0.0, 1.0) else 1 if v in (0.5, 2.0, -1.0, -0.5) else len(repr(v))
    return 0


def _measure(tree):
    """Size of a program: node count, literal complexity, reads of locals; every accepted edit
    decreases it."""
    nodes = list(ast.walk(tree))
    params = {a.arg for fn in tree.body if isinstance(fn, ast.FunctionDef) for a in fn.args.args}
    local_reads = sum(1 for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                      and n.id not in params)
    return (len(nodes), sum(_literal_cost(n.value) for n in nodes if isinstance(n, ast.Constant)),
            local_reads)


def _used_names(tree):
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


# ---- the reduction loop --------------------------------------------------------------------------
class Shrinker:
    def __init__(self, source, main, args, target, workdir, budget=300.0, log=None):
        """`target`: the failure to keep (a dict from check.Failure.as_dict())."""
        self.tree = ast.parse(source)
        self.main = main
        self.args = tuple(args)
        self.path, self.kind, self.signature = target["path"], target["kind"], target["signature"]
        self.workdir = workdir
        self.deadline = time.monotonic() + budget
        self.seen = {}
        self.tried = 0
        self.log = log or (lambda *a: None)
        self.last = None  # (failures, refs, value) of the latest interesting candidate
        self.tag = hashlib.sha1(f"{source}{args}{os.getpid()}".encode()).hexdigest()[:10]

    def out_of_time(self):
        return time.monotonic() > self.deadline

    def interesting(self, tree, args, main=None):
        main = main or self.main
        try:
            source = ast.unparse(tree)
            compile(MODULE_HEADER + source, "<candidate>", "exec")
        except (SyntaxError, ValueError):
            return False
        key = (source, repr(args), main)
        if key in self.seen:
            return self.seen[key] is not None
        self.tried += 1
        paths = ["eval", self.path] if self.kind == "cross" else [self.path]
        r = run_candidate(source, main, args, self.path, self.workdir, f"{self.tag}_{self.tried}",
                          paths=paths)
        hit = None
        if self.kind == "hang":
            hit = r if r[0] == "hang" else None
        elif r[0] == "ok":
            fails = [fl for fl in r[1] if fl["signature"] == self.signature]
            hit = r if fails else None
        self.seen[key] = hit
        if hit is not None:
            self.last = hit
        return hit is not None

    def run(self):
        t0 = time.monotonic()
        if not self.interesting(self.tree, self.args):
            return None  # does not reproduce on its own
        progress = True
        while progress and not self.out_of_time():
            progress = self._tree_pass()
            progress |= self._args_pass()
        self._rename()
        src = ast.unparse(self.tree)
        self.interesting(self.tree, self.args)  # refresh self.last for the final program
        return {"source": src, "main": self.main, "args": self.args, "path": self.path,
                "kind": self.kind, "signature": self.signature, "last": self.last,
                "tried": self.tried,
                "seconds": time.monotonic() - t0, "complete": not self.out_of_time()}

    def _tree_pass(self):
        changed = False
        i = 0
        edits = _edits(self.tree)
        while not self.out_of_time():
            if i >= len(edits):
                break
            cand = _apply(self.tree, edits[i])
            if (cand is not None and self._still_defines_main(cand)
                    and _measure(cand) < _measure(self.tree) and self.interesting(cand, self.args)):
                self.tree, changed = cand, True
                edits = _edits(self.tree)
                size = len(ast.unparse(self.tree))
                self.log(f"  shrink: {size} chars after {self.tried} candidates")
            else:
                i += 1
        return changed

    def _still_defines_main(self, tree):
        return any(isinstance(n, ast.FunctionDef) and n.name == self.main for n in tree.body)

    def _main_def(self, tree=None):
        tree = tree or self.tree
        return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == self.main)

    def _helpers(self):
        """The program's functions other than the main one."""
        return [n for n in self.tree.body if isinstance(n, ast.FunctionDef) and n.name != self.main]

    def _args_pass(self):
        changed = False
        # helper functions nobody calls
        used = _used_names(self.tree)
        for fn in self._helpers():
            if fn.name not in used:
                cand = copy.deepcopy(self.tree)
                cand.body = [n for n in cand.body
                             if not (isinstance(n, ast.FunctionDef) and n.name == fn.name)]
                if self.interesting(cand, self.args):
                    self.tree, changed = cand, True
        # parameters the main function no longer reads
        used = _used_names(self._main_def())
        for j in reversed(range(len(self._main_def().args.args))):
            if len(self._main_def().args.args) <= 1 or self.out_of_time():
                break
            name = self._main_def().args.args[j].arg
            cand = copy.deepcopy(self.tree)
            cdef = self._main_def(cand)
            del cdef.args.args[j]
            if name in used:  # the parameter becomes a local holding the value it had
                value = ast.parse(literal(self.args[j]), mode="eval").body
                cdef.body.insert(0, ast.Assign([ast.Name(name, ast.Store())], value))
                ast.fix_missing_locations(cand)
            args = self.args[:j] + self.args[j + 1:]
            if self.interesting(cand, args):
                self.tree, self.args, changed = cand, args, True
        # simpler input values
        for j, a in enumerate(self.args):
            if self.out_of_time():
                break
            if isinstance(a, bool):
                continue
            if isinstance(a, np.ndarray):  # elements with fewer digits, the same length
                for digits in (1, 2):
                    c = np.round(a, digits)
                    args = self.args[:j] + (c,) + self.args[j + 1:]
                    if len(literal(c)) < len(literal(a)) and self.interesting(self.tree, args):
                        self.args, changed = args, True
                        break
                continue
            if isinstance(a, int):
                options = list(range(0, a))
            else:  # strictly simpler values only (a shorter literal), so that this pass ends
                simpler = (0.5, 1.0, -0.5, 2.0, round(a, 1), round(a, 2))
                options = [c for c in simpler if len(repr(c)) < len(repr(a))]
            for c in options:
                args = self.args[:j] + (type(a)(c),) + self.args[j + 1:]
                if self.interesting(self.tree, args):
                    self.args, changed = args, True
                    break
        return changed

    def _rename(self):
        names = {self.main: "f"}
        for k, h in enumerate(fn.name for fn in self._helpers()):
            names[h] = "helper" if k == 0 else f"helper{k + 1}"
        cand = copy.deepcopy(self.tree)
        for node in ast.walk(cand):
            if isinstance(node, ast.FunctionDef) and node.name in names:
                node.name = names[node.name]
            elif isinstance(node, ast.Name) and node.id in names:
                node.id = names[node.id]
        if self.interesting(cand, self.args, main="f"):
            self.tree, self.main = cand, "f"


def shrink(source, main, args, target, workdir, budget=300.0, log=None):
    return Shrinker(source, main, args, target, workdir, budget, log).run()


REFERENCE = Path(__file__).resolve().parents[2] / "tests" / "regressions" / "reference.py"


# ---- the regression test -------------------------------------------------------------------------
TEST_TEMPLATE = '''"""Found by the gradient fuzzer
(`python tools/fuzz_gradients.py --seed {seed} ...`, program {index}), then shrunk by
tools/fuzz/shrink.py.

{summary}
"""
import math

import numpy as np
import pytest

from .reference import PATHS, check_gradients

{source}

ARGS = {args}
WRT = {wrt!r}  # the arguments differentiated (the others get None on the eval_wrt path)


FAILS = pytest.mark.xfail(strict=True, reason={reason!r})


@pytest.mark.parametrize("path", [pytest.param(p, marks=FAILS) if p == {path!r} else p
                                  for p in PATHS])
def test_{name}(path):
    check_gradients(f, ARGS, path, WRT if path == "eval_wrt" else {all_active!r})
'''


def write_regression(result, name, directory, seed, index, summary, reason):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    init = directory / "__init__.py"
    if not init.exists():
        init.write_text("")
    # the tests import their finite differences from it
    if not (directory / REFERENCE.name).exists():
        shutil.copyfile(REFERENCE, directory / REFERENCE.name)
    source = result["source"].strip() + "\n"
    # one blank line between statements, then two before each function
    source = "\n\n".join(ast.unparse(n) for n in ast.parse(source).body)
    source = source.replace("\ndef ", "\n\n\ndef ")
    summary = textwrap.fill(summary, 100, break_long_words=False, replace_whitespace=False)
    text = TEST_TEMPLATE.format(seed=seed, index=index, summary=summary,
                                source="\n" + source + "\n", args=literal(tuple(result["args"])),
                                wrt=_wrt(result), path=result["path"],
                                all_active=_active(result["args"]), reason=reason, name=name)
    path = directory / f"test_fuzz_{name}.py"
    path.write_text(text)
    return path


def _wrt(result):
    from .check import wrt_for
    args = tuple(result["args"])
    if result["path"] == "eval_wrt":
        return wrt_for(args)
    return _active(args)


def _active(args):
    from .check import differentiable
    return tuple(i for i, a in enumerate(args) if differentiable(a))


def literal(value):
    """Python source for an argument value: floats, ints, bools, float arrays, tuples of them."""
    if isinstance(value, tuple):
        return "(" + "".join(literal(v) + ", " for v in value).rstrip() + ")"
    if isinstance(value, np.ndarray):
        return f"np.array({value.tolist()!r})"
    return repr(value)


def _clean_message(message, limit=600):
    """An error message without temporary file names and Numba's source excerpts."""
    keep = []
    for ln in message.splitlines():
        ln = re.sub(r'File "[^"]*"(, line \d+)?:?\s*', "", ln).strip()
        numba_excerpt = ln.startswith(("<source elided>", "def ", "^", "During:"))
        if not ln or numba_excerpt or set(ln) <= {"^", " "}:
            continue
        keep.append(ln)
    return " ".join(keep)[:limit]


def describe(result):
    """A one-paragraph description of a shrunk failure: path, kind, expected vs got."""
    last = result.get("last")
    path, kind = result["path"], result["kind"]
    args = tuple(result["args"])
    if kind == "hang":
        return (f"The {path} path does not return at f{args!r} "
                f"(no result in {CANDIDATE_TIMEOUT:.0f} s).")
    fails = [fl for fl in (last[1] if last else []) if fl["signature"] == result["signature"]]
    fl = fails[0] if fails else None
    if fl is None:
        return f"{kind} on the {path} path at f{args!r}."
    if kind == "crash":
        return f"The {path} path raises at f{args!r}: " + _clean_message(fl["message"])
    return (f"{kind} mismatch on the {path} path at f{args!r}: {fl['message']}"
            + (f" ({fl['detail']})" if fl.get("detail") else ""))

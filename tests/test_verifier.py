"""The verifier accepts well-formed IR built by hand and rejects hand-broken IR, saying what is
wrong."""
import pytest

import zygopy
from zygopy.ir.infer import infer_types
from zygopy.ir.ir import Branch, Function, Stmt, Var
from zygopy.ir.passes import pipeline
from zygopy.ir.types import FLOAT, INT
from zygopy.ir.verify import VerifyError, verify


def power_ir():
    """power(x, n) by hand:

    1: (x, n)            br 2 (n, 1.0)
    2: (k, r)            c = k > 0; br 4 unless c; br 3
    3:                   r2 = r * x; k2 = k - 1; br 2 (k2, r2)
    4:                   return r
    """
    fn = Function("power", [], arg_names=["x", "n"])
    x, n = fn.new_var(name="x"), fn.new_var(name="n")
    entry = fn.new_block([x, n])
    k, r = fn.new_var(name="k"), fn.new_var(name="r")
    header = fn.new_block([k, r])
    body, exit_block = fn.new_block(), fn.new_block()
    entry.branches.append(Branch(header.id, [n, 1.0]))
    c = fn.new_var()
    header.stmts.append(Stmt(c, "gt", [k, 0]))
    header.branches += [Branch(exit_block.id, [], cond=c), Branch(body.id)]
    r2, k2 = fn.new_var(name="r"), fn.new_var(name="k")
    body.stmts += [Stmt(r2, "mul", [r, x]), Stmt(k2, "sub", [k, 1])]
    body.branches.append(Branch(header.id, [k2, r2]))
    exit_block.branches.append(Branch(None, [r]))
    names = dict(entry=entry, header=header, body=body, exit=exit_block, x=x, n=n, k=k, r=r, c=c,
                 r2=r2, k2=k2)
    return fn, names


def test_accepts_hand_built_ir():
    fn, _ = power_ir()
    assert verify(fn) is fn
    assert zygopy.evaluate(fn, 1.5, 3) == 1.5 ** 3
    infer_types(fn, [FLOAT, INT])
    assert verify(fn) is fn
    text = str(fn)
    assert "br 4 unless %5" in text and "return %4" in text and "%3 :: int64, %4 :: float64" in text


def test_accepts_unreachable_block_without_dominance():
    """Dominance is not checked in blocks no path reaches (passes remove them)."""
    fn, b = power_ir()
    dead = fn.new_block()
    dead.stmts.append(Stmt(fn.new_var(), "add", [b["r2"], 1.0]))
    dead.branches.append(Branch(b["exit"].id))
    assert verify(fn) is fn


def test_accepts_straight_line_ir():
    fn = Function("f", [])
    x = fn.new_var(FLOAT, "x")
    entry = fn.new_block([x])
    y, z = fn.new_var(), fn.new_var()
    entry.stmts += [Stmt(y, "sin", [x]), Stmt(z, "add", [y, x])]
    entry.branches.append(Branch(None, [z]))
    assert verify(fn) is fn
    assert zygopy.evaluate(fn, 0.0) == 0.0


def broken(problem):
    fn, b = power_ir()
    problem(fn, b)
    return fn


def use_not_dominated(fn, b):
    # the exit block reads r2, which is defined only in the loop body
    b["exit"].branches[-1].args = [b["r2"]]


def use_before_definition_in_block(fn, b):
    # k2 is read by a statement that comes before its definition
    b["body"].stmts = [Stmt(b["r2"], "mul", [b["r"], b["k2"]]), Stmt(b["k2"], "sub", [b["k"], 1])]


def never_defined(fn, b):
    ghost = Var(99, name="ghost")
    b["body"].stmts[0].args = [b["r"], ghost]


def wrong_branch_arg_count(fn, b):
    b["entry"].branches[0].args = [b["n"]]


def branch_to_missing_block(fn, b):
    b["header"].branches[-1].target = 42


def defined_twice(fn, b):
    b["body"].stmts[1] = Stmt(b["r2"], "sub", [b["k"], 1])


def block_arg_defined_twice(fn, b):
    b["exit"].args.append(b["x"])
    b["header"].branches[0].args = [b["x"]]


def no_terminator(fn, b):
    b["body"].branches.clear()


def unconditional_then_more(fn, b):
    b["header"].branches = [Branch(b["body"].id), Branch(b["exit"].id)]


def ends_conditionally(fn, b):
    b["header"].branches = [Branch(b["exit"].id, [], cond=b["c"])]


def conditional_return(fn, b):
    b["header"].branches = [Branch(None, [b["r"]], cond=b["c"]), Branch(b["body"].id)]


def duplicate_block_ids(fn, b):
    b["exit"].id = b["body"].id


def constant_as_block_arg(fn, b):
    b["exit"].args.append(1.0)
    b["header"].branches[0].args = [b["r"]]


BROKEN = [
    (use_not_dominated, r"block 4 uses %\d+ where its definition does not dominate"),
    (use_before_definition_in_block, r"block 3 uses %\d+ where its definition does not dominate"),
    (never_defined, r"block 3 uses %99, which is never defined"),
    (wrong_branch_arg_count, r"block 1 passes 1 arguments to block 2, which takes 2"),
    (branch_to_missing_block, r"block 2 branches to missing block 42"),
    (defined_twice, r"%\d+ is defined twice"),
    (block_arg_defined_twice, r"%1 is defined twice"),
    (no_terminator, r"block 3 has no terminator"),
    (unconditional_then_more, r"block 2: an unconditional branch is followed by more branches"),
    (ends_conditionally, r"block 2 ends with a conditional branch"),
    (conditional_return, r"block 2: conditional return"),
    (duplicate_block_ids, r"two blocks share an id"),
    (constant_as_block_arg, r"defines 1.0, which is not a variable"),
]


@pytest.mark.parametrize("problem, message", BROKEN, ids=[p.__name__ for p, _ in BROKEN])
def test_rejects_broken_ir(problem, message):
    fn = broken(problem)
    with pytest.raises(VerifyError, match=message):
        verify(fn)


def test_check_each_pass_catches_a_broken_pass():
    """With CHECK_EACH_PASS on (conftest.py), a pass that breaks the IR is reported by name."""
    def break_it(fn):
        fn.blocks[-1].branches.clear()
        return True

    fn, _ = power_ir()
    with pytest.raises(AssertionError, match="IR broken after break_it: block 4 has no terminator"):
        pipeline.optimize(fn, passes=[break_it])


def test_compiled_ir_verifies():
    def f(x, n):
        s = 0.0
        for i in range(n):
            s += x * i
        return s

    assert verify(zygopy.code_ir(f, 1.0, 3))

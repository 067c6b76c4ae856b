"""What a pullback may assume about its arrays (backend/numba_cpu/scopes.py): each gradient
slot's array overlaps no other array its element accesses reach, except values that may hold a
slot's memory, which get no scope; an empty slot takes over a gradient taken from another only
where nothing reads that gradient afterwards. Checked on small pullbacks built by hand, where
each rule is the only thing deciding, and on a stencil's generated pullback, whose gradient is
checked against central differences (float64, h = 1e-6: an O(1) function with O(1) third
derivatives, so error ~1e-10; rtol 1e-6 leaves a margin of 10^4, while one gradient written
into another's array changes the result at O(1))."""
import numpy as np
import pytest

import zygopy
from tests.test_carried_arrays import central, swap_two
from zygopy.backend.numba_cpu.scopes import reverse_scopes
from zygopy.ir.ir import Block, Branch, Function, Slot, Stmt, Var
from zygopy.ir.types import ArrayT, Scalar

VECTOR, NUMBER, INDEX = ArrayT("float64", 1), Scalar("float64"), Scalar("int64")


def _var(k, t=VECTOR):
    return Var(k, t)


def _pullback(*blocks):
    return Function("pullback", list(blocks))


def _slot(k):
    return Slot(k, _var(100 + k), VECTOR, lazy=True)


def test_each_slot_has_a_scope_and_what_may_hold_a_slot_has_none():
    a, b = _slot(1), _slot(2)
    x, i, taken, viewed = _var(1), _var(2, INDEX), _var(3), _var(4)
    body = [Stmt(_var(5, NUMBER), "getindex", [x, i]),
            Stmt(None, "accum_at", [a, i, 1.0]),
            Stmt(_var(6, NUMBER), "take_at", [b, i]),
            Stmt(taken, "take", [a, x]),
            Stmt(viewed, "reshape", [taken, (2, -1)]),
            Stmt(_var(7, NUMBER), "getindex", [viewed, i])]
    scopes = reverse_scopes(_pullback(Block(0, [x, i], body, [Branch(None, [x])])))
    assert scopes.place(a) == "'reverse', 2, 0" and scopes.place(b) == "'reverse', 2, 1"
    assert scopes.place(x) == "'reverse', 2, -1"  # a primal array: the shared scope
    assert scopes.place(taken) is None and scopes.place(viewed) is None


def test_a_value_a_block_receives_from_a_slot_has_no_scope():
    a = _slot(1)
    x, taken, received = _var(1), _var(2), _var(3)
    first = Block(0, [x], [Stmt(taken, "take", [a, x])], [Branch(1, [taken])])
    second = Block(1, [received], [], [Branch(None, [received])])
    assert reverse_scopes(_pullback(first, second)).place(received) is None


def _moves(later_use_in, exclusive=False):
    """taken = take(a); accum(b, taken); and a read of `taken` in block `later_use_in` (0: after
    the accum, 1: in the block after it, 2: on a branch not taken after it if `exclusive`)."""
    a, b = _slot(1), _slot(2)
    x, taken, cond = _var(1), _var(2), _var(3, Scalar("bool"))
    move = Stmt(None, "accum", [b, taken])
    read = Stmt(_var(4), "mul", [taken, 2.0])
    entry = Block(0, [x, cond], [Stmt(taken, "take", [a, x])])
    if exclusive:  # the move on one arm, the read on the other
        entry.branches = [Branch(1, [], cond), Branch(2, [])]
        blocks = [entry, Block(1, [], [move], [Branch(None, [x])]),
                  Block(2, [], [read], [Branch(None, [x])])]
    else:
        entry.stmts.append(move)
        entry.branches = [Branch(1, [])]
        after = Block(1, [], [], [Branch(None, [x])])
        (entry if later_use_in == 0 else after).stmts.append(read)
        blocks = [entry, after]
    return move, reverse_scopes(_pullback(*blocks)).adopting


def test_an_empty_slot_takes_over_a_gradient_nothing_reads_after():
    move, adopting = _moves(2, exclusive=True)
    assert move in adopting


def test_a_gradient_read_after_the_move_is_copied():
    for block in (0, 1):
        move, adopting = _moves(block)
        assert move not in adopting


def test_a_gradient_added_again_in_a_loop_is_copied():
    """A loop around the accum alone adds the same gradient each trip: a slot that took it over
    would add into it, and the next trip would add what it had become."""
    a, b = _slot(1), _slot(2)
    x, taken, cond = _var(1), _var(2), _var(3, Scalar("bool"))
    move = Stmt(None, "accum", [b, taken])
    blocks = [Block(0, [x, cond], [Stmt(taken, "take", [a, x])], [Branch(1, [])]),
              Block(1, [], [move, Stmt(None, "accum_at", [b, 0, 1.0])],
                    [Branch(1, [], cond), Branch(None, [x])])]
    assert move not in reverse_scopes(_pullback(*blocks)).adopting
    blocks[1].branches = [Branch(None, [x])]  # no loop: taken over
    assert move in reverse_scopes(_pullback(*blocks)).adopting


def test_a_gradient_from_a_slot_that_is_also_loaded_is_copied():
    """`load` hands on the slot's array and leaves it there: a take may then not be its only
    reference."""
    a, b = _slot(1), _slot(2)
    x, early, taken = _var(1), _var(2), _var(3)
    move = Stmt(None, "accum", [b, taken])
    body = [Stmt(early, "load", [a]), Stmt(taken, "take", [a, x]), move,
            Stmt(_var(4), "mul", [early, 2.0])]
    assert move not in reverse_scopes(_pullback(Block(0, [x], body, [Branch(None, [x])]))).adopting
    body[0] = Stmt(early, "mul", [x, 2.0])  # the same without the load: taken over
    assert move in reverse_scopes(_pullback(Block(0, [x], body, [Branch(None, [x])]))).adopting


def test_a_stencil_moves_its_gradients_and_scopes_its_accesses():
    rng = np.random.default_rng(0)
    u0, c, steps, e = rng.uniform(0.5, 1.5, 12), 0.2, 7, rng.standard_normal(12)
    source = zygopy.code_python(swap_two, u0, c, steps)
    pullback = source[source.index("def swap_two_pullback"):]
    pullback = pullback[:pullback.index("\n\n\n")]
    assert pullback.count("zy_accum_owned(") == 2  # the two buffers' gradients, each trip
    assert "zy_add_at_in(d_" in pullback and ", 'reverse', " in pullback
    du, dc = zygopy.gradient(swap_two, u0, c, steps)[:2]
    assert np.dot(du, e) == pytest.approx(central(swap_two, u0, c, (steps,), e, 0), rel=1e-6)
    assert dc == pytest.approx(central(swap_two, u0, c, (steps,), e, 1), rel=1e-6)

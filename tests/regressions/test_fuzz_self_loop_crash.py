"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 61 --start 2905 --count 1`),
then shrunk by tools/fuzz/shrink.py: both compiled paths crashed, "Variable 'v16' is not defined".

The reverse of the empty inner loop is one block that branches to itself. `natural_loop` took a
self-loop's predecessors, and theirs, for its body, so the structured code put a block of
another branch after the loop, where a value it reads was never assigned.
"""
import pytest

from zygopy.ir.cfg import natural_loops

from .reference import PATHS, check_gradients


def helper(a, b):
    if a <= 1.0:
        v1 = a
    else:
        if b > 1.0 or 1.0 < b:
            for k3 in range(0, 0, 1):
                if 1.0 >= a:
                    return 1.0
        v1 = 1.0
    return v1


def f(x1):
    return helper(x1, x1)


@pytest.mark.parametrize("path", PATHS)
def test_self_loop_in_the_reverse(path):
    check_gradients(f, (0.5,), path, (0,))
    check_gradients(f, (1.5,), path, (0,))


def test_a_self_loop_is_its_own_body():
    from zygopy.api import compiled
    rev = compiled(f, (0.5,)).adjoint.reverse
    loops = natural_loops(rev)
    selfloops = [b.id for b in rev.blocks if b.id in b.successors()]
    assert selfloops and all(loops[h] == {h} for h in selfloops)

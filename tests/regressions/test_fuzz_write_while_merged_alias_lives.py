"""Found by the gradient fuzzer (`python tools/fuzz_gradients.py --seed 61 --start 8123 --count 1`),
then shrunk by tools/fuzz/shrink.py: a silently wrong gradient, d/da0[0] 1.0 where it is 0.

`a1 = a0` on one path makes a1 the same array as a0 there; the write into a0 then changes a1[0]
behind its back, which the adjoint (one gradient per value) cannot follow. The write into a
block argument while a value it may hold is used was refused before; now so is this, the other
way round: a write into a value while a block argument that may hold it is used.
"""
import numpy as np
import pytest

import zygopy


def f(x0, a0):
    a1 = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    if 1.0 < x0:
        pass
    else:
        a1 = a0
    a0[0] *= 0.0
    return a1[0]


def g(x0, a0):  # the same with a copy where the two meet: accepted, and right
    a1 = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    if 1.0 < x0:
        pass
    else:
        a1 = a0.copy()
    a0[0] *= 0.0
    return a1[0] * x0


def test_a_write_while_a_merged_alias_is_used_is_refused():
    with pytest.raises(zygopy.UnsupportedSyntax, match="may be the same array as 'a1'") as e:
        zygopy.gradient(f, 0.5, np.array([1.9, -2.0, 1.5, -0.4, 1.5]))
    assert e.value.filename == __file__


def test_with_a_copy_it_is_right():
    a0 = np.array([1.9, -2.0, 1.5, -0.4, 1.5])
    gx, ga = zygopy.gradient(g, 0.5, a0)
    assert gx == 1.9 and np.array_equal(ga, [0.5, 0, 0, 0, 0])

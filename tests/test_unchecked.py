"""The unchecked element access a reverse pass compiles to (backend/numba_cpu/unchecked.py) reads
and writes the elements NumPy's indexing does: any layout, negative indices from the end (except
a place in a stack, never negative, which is read without that test). A fused
nest's accesses, which say what it stores into, add up its sums in one order wherever its arrays
lie."""
import re

import numpy as np
import pytest
from numba import njit, types

from zygopy.backend.numba_cpu.mathlib import zy_radd
from zygopy.backend.numba_cpu.unchecked import (
    zy_add_at,
    zy_add_at_in,
    zy_at,
    zy_at_in,
    zy_at_top,
    zy_put,
    zy_put_in,
    zy_put_top,
)


@njit
def _read_put_add(a, index, value):
    before = zy_at(a, index)
    zy_put(a, index, value)
    zy_add_at(a, index, value)
    return before


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("shape, index", [((5,), 3), ((5,), -1), ((3, 4), (2, -3)),
                                          ((2, 3, 4), (1, 0, 3)), ((2, 3, 4), (-1, -2, -4))])
@pytest.mark.parametrize("order", ["C", "F"])
def test_like_numpy_indexing(dtype, shape, index, order):
    a = np.asarray(np.arange(np.prod(shape)).reshape(shape), dtype=dtype, order=order)
    expected = a.copy()
    before = expected[index]
    expected[index] = 7
    expected[index] += 7
    assert _read_put_add(a, index, dtype(7)) == before
    assert np.array_equal(a, expected)


@njit
def _top_read_put(a, index, value):
    before = zy_at_top(a, index)
    zy_put_top(a, index, value)
    return before


@pytest.mark.parametrize("shape, index", [((5,), 0), ((5,), 4), ((3, 4), (2, 3))])
def test_a_place_in_a_stack_like_numpy_indexing(shape, index):
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    expected = a.copy()
    expected[index] = 7.0
    assert _top_read_put(a, index, 7.0) == np.arange(np.prod(shape)).reshape(shape)[index]
    assert np.array_equal(a, expected)


def _index_tests(f, *types):
    """The comparisons with zero in f's optimised LLVM: where an index may count from the end."""
    f.compile(types)
    return len(re.findall(r"icmp slt i64 %[^,]+, 0", f.inspect_llvm(types)))


def test_a_place_in_a_stack_is_not_tested_for_counting_from_the_end():
    a = types.float64[::1]
    assert _index_tests(_top_read_put, a, types.int64, types.float64) == 0
    assert _index_tests(_read_put_add, a, types.int64, types.float64) > 0


def test_a_strided_view():
    a = np.arange(20.0).reshape(4, 5)
    view = a[::2, ::-2]
    assert _read_put_add(view, (1, 1), 0.5) == 12.0  # a[2, 2]
    assert a[2, 2] == 1.0 and np.sum(a) == np.sum(np.arange(20.0)) - 11.0


@njit(error_model="numpy")
def _sum_and_store(v, a, out):
    """A fused nest's pattern: a reassociable sum in a loop that also stores an array."""
    total = 0.0
    for i in range(v.shape[0]):
        e = -v[i]
        total = zy_radd(total, e * a[i])
        out[i] = 0.5 * e
    return total


@njit(error_model="numpy")
def _sum_and_store_in_a_nest(v, a, out):
    total = 0.0
    for i in range(v.shape[0]):
        e = -zy_at_in(v, (i,), "n", 1, -1)
        total = zy_radd(total, e * zy_at_in(a, (i,), "n", 1, -1))
        zy_put_in(out, (i,), 0.25 * e, "n", 1, 0)
        zy_add_at_in(out, (i,), 0.25 * e, "n", 1, 0)
    return total


def _sums_by_placement(f, n):
    """f's sums with `out` at each of 40 distances beyond `v` in one buffer, as malloc may place
    small arrays; the stored values each time."""
    rng = np.random.default_rng(n)
    v0, a = rng.standard_normal(n), rng.standard_normal(n)
    sums = set()
    for gap in range(40):
        buffer = np.empty(2 * n + 40)
        v, out = buffer[:n], buffer[n + gap:2 * n + gap]
        v[:] = v0
        sums.add(f(v, a, out))
        assert np.array_equal(out, -0.5 * v0)
    return sums


@pytest.mark.parametrize("n", [8, 10, 24])
def test_a_nest_sums_in_one_order_wherever_its_arrays_lie(n):
    """LLVM vectorises the plain loop behind a run-time test of how far apart `out` and `v` lie,
    and runs its scalar twin, which adds up in another order, where they lie close: its sum
    depends on the placement. The nest's accesses say that `out` overlaps nothing it reads, so
    it has no such test and one sum."""
    if len(_sums_by_placement(_sum_and_store, n)) == 1:
        pytest.skip("LLVM here sums the plain loop in one order too: nothing to compare")
    assert len(_sums_by_placement(_sum_and_store_in_a_nest, n)) == 1

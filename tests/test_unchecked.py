"""The unchecked element access a reverse pass compiles to (backend/numba_cpu/unchecked.py) reads
and writes the elements NumPy's indexing does: any layout, negative indices from the end."""
import numpy as np
import pytest
from numba import njit

from zygopy.backend.numba_cpu.unchecked import zy_add_at, zy_at, zy_put


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


def test_a_strided_view():
    a = np.arange(20.0).reshape(4, 5)
    view = a[::2, ::-2]
    assert _read_put_add(view, (1, 1), 0.5) == 12.0  # a[2, 2]
    assert a[2, 2] == 1.0 and np.sum(a) == np.sum(np.arange(20.0)) - 11.0

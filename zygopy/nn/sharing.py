"""Arrays of a model that share memory: one array in several places (a layer used twice), or views
of one another (a tied weight, `dec.weight = enc.weight.T`). The optimisers train such a group as
one array, and loading checks that a file agrees on the elements they share. Both see each array
of a group as a view into a scratch buffer laid out as the group's memory, so a view's values or
gradient land on the elements it reads (a transpose's gradient transposed back)."""
from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import byte_bounds


def groups(arrays):
    """The indices of the arrays that share memory, in groups of two or more, each in order.
    Only arrays whose byte ranges overlap are compared (disjoint slices of one flat vector are
    not a group)."""
    head = list(range(len(arrays)))  # an array's index -> its group's first index
    members = {k: [k] for k in head}
    reaching = []  # (end, index) of the arrays so far whose bytes reach past the next start
    for (start, end), k in sorted((byte_bounds(a), k) for k, a in enumerate(arrays) if a.size):
        reaching = [(e, j) for e, j in reaching if e > start]
        for _, j in reaching:
            if head[j] != head[k] and np.shares_memory(arrays[j], arrays[k]):
                keep, gone = sorted((head[j], head[k]))
                for m in members.pop(gone):
                    head[m] = keep
                    members[keep].append(m)
        reaching.append((end, k))
    return [sorted(m) for m in members.values() if len(m) > 1]


def whole(arrays):
    """The index of the array of a group that the others are views of: one whose elements fill
    the group's memory, each once. None where there is none, or where the others are not views
    of its elements (another dtype, an element repeated): their gradients could not be added up
    in its layout."""
    start, end = _bounds(arrays)
    kind = arrays[0].dtype
    for a in arrays:
        if (a.dtype != kind or _repeats(a)
                or any(n % kind.itemsize for n in (a.ctypes.data - start, *a.strides))):
            return None
    return next((i for i, a in enumerate(arrays)
                 if a.nbytes == end - start and byte_bounds(a) == (start, end)), None)


def summed(owner, parts):
    """The gradient of `owner` given those of the arrays that are views of it (`parts`: pairs of
    an array and its gradient or None, the owner among them): each added in where its view lies.
    None where none has a gradient."""
    parts = [(a, g) for a, g in parts if g is not None]
    if not parts:
        return None
    start = byte_bounds(owner)[0]
    total = np.zeros(owner.nbytes, np.uint8)
    for a, g in parts:
        into = _view(total, start, a)
        into += g
    return _view(total, start, owner)


def agree(arrays, values):
    """Whether values given for arrays sharing memory agree on each element they share: written
    in turn into a scratch copy of the memory, each reads back as given."""
    start, end = _bounds(arrays)
    scratch = np.zeros(end - start, np.uint8)
    for a, v in zip(arrays, values, strict=True):
        _view(scratch, start, a)[...] = v
    return all(_view(scratch, start, a).tobytes() == v.tobytes()
               for a, v in zip(arrays, values, strict=True))


def _bounds(arrays):
    bounds = [byte_bounds(a) for a in arrays]
    return min(b[0] for b in bounds), max(b[1] for b in bounds)


def _view(buffer, start, a):
    """`a`'s elements in `buffer`, a scratch copy of the memory from byte `start`."""
    return np.ndarray(a.shape, a.dtype, buffer, a.ctypes.data - start, a.strides)


def _repeats(a):
    """Whether two elements of `a` may be one (a broadcast view), by the usual sufficient test:
    sorted by stride, each dimension steps past all that the smaller ones reach."""
    reach = 0
    for stride, n in sorted((abs(s), n) for s, n in zip(a.strides, a.shape, strict=True)
                            if n > 1):
        if stride < reach + a.itemsize:
            return True
        reach += stride * (n - 1)
    return False

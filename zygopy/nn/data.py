"""Mini-batches of arrays that share their first axis."""
import math

import numpy as np

__all__ = ["DataLoader"]


class DataLoader:
    """Iterates over (x_batch, y_batch, ...) tuples: `DataLoader((x, y), batchsize=32,
    shuffle=True, rng=np.random.default_rng(0))`. Each epoch is a fresh shuffle from `rng`; the
    last batch is smaller when the size does not divide (dropped with partial=False)."""

    def __init__(self, data, batchsize=32, shuffle=False, rng=None, partial=True):
        self.data = tuple(data) if isinstance(data, (tuple, list)) else (data,)
        sizes = {len(a) for a in self.data}
        if len(sizes) != 1:
            raise ValueError(f"DataLoader: the arrays' first axes differ: {sorted(sizes)}")
        if batchsize < 1:
            raise ValueError(f"DataLoader: batchsize must be at least 1, got {batchsize}")
        self.n = sizes.pop()
        self.batchsize, self.shuffle, self.partial = batchsize, shuffle, partial
        self.rng = np.random.default_rng() if rng is None else rng

    def __len__(self):
        whole = self.n // self.batchsize
        return math.ceil(self.n / self.batchsize) if self.partial else whole

    def __iter__(self):
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        for k in range(len(self)):
            idx = order[k * self.batchsize:(k + 1) * self.batchsize]
            batch = tuple(a[idx] for a in self.data)
            yield batch if len(batch) > 1 else batch[0]

"""Layers: a class holding arrays plus a `__call__` in ordinary NumPy (Flux's design). zygopy
differentiates the calls; there is no hand-written backward anywhere.

Layouts are batch-first: vectors (batch, features), images (batch, height, width, channels)
("NHWC"), sequences (time, batch, features). A Dense weight is (in, out) so that `x @ weight` is
one matrix product on contiguous operands; a Conv kernel is (kh, kw, in, out).
"""
import numpy as np

from ..ir.nn_primitives import conv2d, maxpool2d
from .activations import identity
from .init import glorot_uniform

__all__ = ["conv2d", "maxpool2d", "Dense", "Chain", "Conv", "MaxPool", "MeanPool", "GlobalMeanPool",
           "flatten", "SkipConnection"]


def _rng(rng):
    return np.random.default_rng() if rng is None else rng


def _pair(k):
    return (k, k) if isinstance(k, int) else tuple(k)


class Dense:
    """y = activation(x @ weight + bias), weight of shape (in, out)."""

    def __init__(self, n_in, n_out, activation=identity, *, bias=True, rng=None,
                 dtype=np.float32, init=glorot_uniform):
        self.weight = init(_rng(rng), (n_in, n_out), dtype)
        self.bias = np.zeros(n_out if bias else 0, dtype)
        self.activation = activation

    def __call__(self, x):
        y = x @ self.weight
        if self.bias.size > 0:
            y = y + self.bias
        return self.activation(y)


class Chain:
    """Layers applied in turn. Indexable (`model[0]`, `model['encoder']`), sliceable
    (`model[:2]` is a Chain), named when built with keywords: `Chain(enc=..., dec=...)`."""

    def __init__(self, *layers, **named):
        if layers and named:
            raise TypeError("Chain takes layers either all positional or all named")
        self.layers = tuple(layers) + tuple(named.values())
        self.names = tuple(named)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, i):
        if isinstance(i, str):
            if i not in self.names:
                raise KeyError(f"no layer named {i!r}; the names are {self.names}")
            return self.layers[self.names.index(i)]
        if isinstance(i, slice):
            if self.names:
                return Chain(**dict(zip(self.names[i], self.layers[i], strict=True)))
            return Chain(*self.layers[i])
        return self.layers[i]


class Conv:
    """A 2-d convolution (cross-correlation, as in PyTorch and Flux) of NHWC images."""

    def __init__(self, kernel, channels, activation=identity, *, stride=1, padding=0,
                 dilation=1, rng=None, dtype=np.float32, init=glorot_uniform):
        (kh, kw), (cin, cout) = _pair(kernel), channels
        self.weight = init(_rng(rng), (kh, kw, cin, cout), dtype)
        self.bias = np.zeros(cout, dtype)
        self.activation = activation
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def __call__(self, x):
        y = conv2d(x, self.weight, self.stride, self.padding, self.dilation)
        return self.activation(y + self.bias)


class MaxPool:
    """The maximum over each k x k tile (stride k); a ragged edge is dropped."""

    def __init__(self, k=2):
        self.k = k

    def __call__(self, x):
        return maxpool2d(x, self.k)


def _tiles(x, k):
    """NHWC images cut into k x k tiles: (n, h // k, k, w // k, k, c); a ragged edge is dropped."""
    n, h, w, c = x.shape
    oh, ow = h // k, w // k
    return np.copy(x[:, :oh * k, :ow * k, :]).reshape(n, oh, k, ow, k, c)


class MeanPool:
    """The mean over each k x k tile (stride k)."""

    def __init__(self, k=2):
        self.k = k

    def __call__(self, x):
        return np.mean(np.mean(_tiles(x, self.k), axis=4), axis=2)


class GlobalMeanPool:
    """The mean over all positions of each channel: (n, h, w, c) -> (n, c)."""

    def __call__(self, x):
        return np.mean(np.mean(x, axis=2), axis=1)


def flatten(x):
    """(n, ...) -> (n, features)."""
    return x.reshape(x.shape[0], x.size // x.shape[0])


class SkipConnection:
    """connection(layer(x), x): a residual block with `connection=np.add`."""

    def __init__(self, layer, connection):
        self.layer = layer
        self.connection = connection

    def __call__(self, x):
        return self.connection(self.layer(x), x)

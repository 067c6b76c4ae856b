"""Layers: a class holding arrays plus a `__call__` in ordinary NumPy (Flux's design). zygopy
differentiates the calls; there is no hand-written backward anywhere.

Layouts are batch-first: vectors (batch, features), images (batch, height, width, channels)
("NHWC"), sequences (time, batch, features). A Dense weight is (in, out) so that `x @ weight` is
one matrix product on contiguous operands; a Conv kernel is (kh, kw, in, out).
"""
import math

import numpy as np

from ..ir.nn_primitives import (
    conv2d,
    conv2d_grad_input,
    maxpool2d,
    random_uniform,
    record_statistics,
)
from ..trees import NOT_CONTAINERS
from .activations import identity, softmax
from .init import glorot_uniform

__all__ = ["conv2d", "maxpool2d", "conv_transpose2d", "Dense", "Chain", "Conv", "ConvTranspose",
           "MaxPool", "MeanPool", "GlobalMeanPool", "AdaptiveMeanPool", "flatten", "SkipConnection",
           "Parallel", "LayerNorm", "BatchNorm", "Dropout", "Embedding", "MultiHeadAttention",
           "trainmode", "testmode", "resample", "buffers", "fold_statistics"]


def _rng(rng):
    return np.random.default_rng() if rng is None else rng


def _pair(k):
    return (k, k) if isinstance(k, int) else tuple(k)


class Dense:
    """y = activation(x @ weight + bias), weight of shape (in, out)."""

    def __init__(self, n_in, n_out, activation=identity, *, bias=True, rng=None,
                 dtype=np.float32, init=glorot_uniform):
        self.weight = init(_rng(rng), (n_in, n_out), dtype)
        # None without one: known while compiling, so the compiled code has no branch on it
        self.bias = np.zeros(n_out, dtype) if bias else None
        self.activation = activation

    def __call__(self, x):
        y = x @ self.weight
        if self.bias is not None:
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
        self.weight = init(_rng(rng), self.kernel_shape(kh, kw, cin, cout), dtype)
        self.bias = np.zeros(cout, dtype)
        self.activation = activation
        self.stride, self.padding, self.dilation = stride, padding, dilation

    @staticmethod
    def kernel_shape(kh, kw, cin, cout):
        return kh, kw, cin, cout

    def __call__(self, x):
        y = conv2d(x, self.weight, self.stride, self.padding, self.dilation)
        return self.activation(y + self.bias)


class MaxPool:
    """The maximum over each k x k tile (stride k); a ragged edge is dropped."""

    def __init__(self, k=2):
        self.k = k

    def __call__(self, x):
        _one_tile_at_least(x, self.k)
        return maxpool2d(x, self.k)


def _one_tile_at_least(x, k):
    if x.shape[1] < k or x.shape[2] < k:  # else an empty image, silently
        raise ValueError(f"a pooling tile of {k} x {k} is larger than the {x.shape[1]} x "
                         f"{x.shape[2]} image")


def _tiles(x, k):
    """NHWC images cut into k x k tiles: (n, h // k, k, w // k, k, c); a ragged edge is dropped."""
    _one_tile_at_least(x, k)
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


def conv_transpose2d(x, w, stride, padding, dilation):
    """The transpose of conv2d (its gradient with respect to the input) for a kernel w of shape
    (kh, kw, out, in): (n, h, w, in) -> (n, (h - 1) stride - 2 padding + dilation (kh - 1) + 1,
    ..., out)."""
    n, h, wd, _ = x.shape
    kh, kw, cout, _ = w.shape
    oh = (h - 1) * stride - 2 * padding + dilation * (kh - 1) + 1
    ow = (wd - 1) * stride - 2 * padding + dilation * (kw - 1) + 1
    return conv2d_grad_input(x, w, (n, oh, ow, cout), stride, padding, dilation)


class ConvTranspose(Conv):
    """A transposed 2-d convolution (upsampling by `stride`), kernel (kh, kw, out, in); built
    as Conv is."""

    @staticmethod
    def kernel_shape(kh, kw, cin, cout):
        return kh, kw, cout, cin

    def __call__(self, x):
        y = conv_transpose2d(x, self.weight, self.stride, self.padding, self.dilation)
        return self.activation(y + self.bias)


class AdaptiveMeanPool:
    """The mean over equal tiles giving an `out` x `out` image; the input's height and width
    must be multiples of `out`."""

    def __init__(self, out):
        self.out = out

    def __call__(self, x):
        n, h, w, c = x.shape
        if h % self.out != 0 or w % self.out != 0:
            raise ValueError(f"AdaptiveMeanPool({self.out}) of a {h} x {w} image: its height "
                             f"and width must be multiples of {self.out}")
        tiles = x.reshape(n, self.out, h // self.out, self.out, w // self.out, c)
        return np.mean(tiles, axis=(2, 4))


class LayerNorm:
    """Normalises over the last axis, then scales and shifts (learned, per feature)."""

    def __init__(self, features, eps=1e-5, dtype=np.float32):
        self.scale = np.ones(features, dtype)
        self.bias = np.zeros(features, dtype)
        self.eps = eps

    def __call__(self, x):
        mu = np.mean(x, axis=-1, keepdims=True)
        d = x - mu
        var = np.mean(d * d, axis=-1, keepdims=True)
        return d / np.sqrt(var + self.eps) * self.scale + self.bias


class BatchNorm:
    """Normalises each channel (the last axis) over all the others, by the batch's mean and
    variance while training (`trainmode`) and by running averages of them in test mode; then
    scales and shifts (learned, per channel).

    The running averages are state, not parameters: optimisers leave them alone, and each
    optimiser `update` moves them once towards the statistics its step's forward pass recorded
    (PyTorch's convention: new = (1 - momentum) * old + momentum * batch, the variance
    unbiased). A forward pass alone, gradient or not, changes nothing that is kept."""
    buffers = ("running_mean", "running_var", "batch_statistics")

    def __init__(self, channels, momentum=0.1, eps=1e-5, dtype=np.float32):
        self.scale = np.ones(channels, dtype)
        self.bias = np.zeros(channels, dtype)
        self.running_mean = np.zeros(channels, dtype)
        self.running_var = np.ones(channels, dtype)
        # rows: the last training batch's mean, biased variance and element count (0: none)
        self.batch_statistics = np.zeros((3, channels), dtype)
        self.momentum, self.eps, self.active = momentum, eps, False

    def __call__(self, x):
        # branch-free, as Dropout: both statistics are computed, the mode picks one; on rows
        # (one per position) and per-channel vectors, whatever the rank of x
        rows = x.reshape(-1, x.shape[-1])
        if self.active and rows.shape[0] < 2:  # as PyTorch: one value has no variance
            raise ValueError("BatchNorm: training takes more than one value per channel (a "
                             "batch of one row): normalise over a larger batch")
        batch_mean = np.mean(rows, axis=0)
        centred = rows - batch_mean
        batch_var = np.mean(centred * centred, axis=0)
        record_statistics(self.batch_statistics, batch_mean, batch_var,
                          rows.shape[0] * self.active)
        training = 1.0 * self.active
        mean = training * batch_mean + (1.0 - training) * self.running_mean
        var = training * batch_var + (1.0 - training) * self.running_var
        gain = self.scale / np.sqrt(var + self.eps)
        return ((rows - mean) * gain + self.bias).reshape(x.shape)

    def fold_statistics(self):
        mean, var, count = self.batch_statistics
        n = count[0]
        if n == 0:
            return
        m = self.momentum
        self.running_mean[:] = (1 - m) * self.running_mean + m * mean
        self.running_var[:] = (1 - m) * self.running_var + m * var * (n / max(n - 1, 1))
        self.batch_statistics[2] = 0


class Dropout:
    """Zeroes each element with probability p while training (`trainmode`), scaling the rest
    by 1 / (1 - p); the identity in test mode. Masks come from a counter-based generator keyed
    by `seed`, which `train` advances each step (`resample`): the same mask in the evaluator
    and in compiled code, nothing stored."""

    def __init__(self, p=0.5, seed=0):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.seed, self.active = p, seed, False

    def __call__(self, x):
        # branch-free (a branch here would have the compiled code repeat all that follows it
        # once per path): in test mode the threshold is 0 and every element is kept, unscaled
        p = self.p * self.active
        keep = random_uniform(x, self.seed) >= p
        return np.where(keep, x / (1.0 - p), 0.0)

    def resample(self, rng):
        self.seed = int(rng.integers(0, 2 ** 62))


class Embedding:
    """Rows of a (vocabulary, features) table picked by integer tokens of any shape."""

    def __init__(self, vocabulary, features, *, rng=None, dtype=np.float32):
        self.weight = _rng(rng).standard_normal((vocabulary, features)).astype(dtype)

    def __call__(self, tokens):
        return self.weight[tokens]


class Parallel:
    """Each layer applied to the same input, the results joined pairwise by `connection`
    (`np.add`, or a function concatenating two arrays)."""

    def __init__(self, connection, *layers):
        self.connection = connection
        self.layers = tuple(layers)

    def __call__(self, x):
        out = self.layers[0](x)
        for layer in self.layers[1:]:
            out = self.connection(out, layer(x))
        return out


def _walk(value, visit, seen=None):
    """visit(obj) for every object (layer) in a model's tree, once each."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, (tuple, list)):
        for v in value:
            _walk(v, visit, seen)
    elif hasattr(value, "__dict__") and not isinstance(value, NOT_CONTAINERS):
        visit(value)
        for v in vars(value).values():
            _walk(v, visit, seen)


def trainmode(model, active=True):
    """Dropout (and any layer with an `active` flag) on while training, off for testing."""
    _walk(model, lambda layer: setattr(layer, "active", active)
          if isinstance(getattr(layer, "active", None), bool) else None)
    return model


def testmode(model):
    return trainmode(model, False)


def buffers(model):
    """The ids of a model's arrays that are state rather than parameters (a layer lists them in
    its `buffers`): optimisers do not train them."""
    found = set()
    _walk(model, lambda layer: found.update(id(getattr(layer, name))
                                            for name in getattr(type(layer), "buffers", ())))
    return found


def fold_statistics(model):
    """Every BatchNorm's running averages moved towards the statistics its last training forward
    recorded (once: the record is then cleared). The optimiser's `update` calls it."""
    _walk(model, lambda layer: layer.fold_statistics()
          if hasattr(layer, "fold_statistics") else None)


# the process's stream of Dropout masks, where none is given: one for the process, so that each
# step (and a second call of train) draws new masks (a generator made at each call repeated them)
MASKS = np.random.default_rng(0)


def resample(model, rng=MASKS):
    """New random masks for every layer that draws them (Dropout), for the next training step
    (`update` draws them after each step)."""
    _walk(model, lambda layer: layer.resample(rng) if hasattr(layer, "resample") else None)


class MultiHeadAttention:
    """Self-attention over (batch, sequence, features) with `heads` heads (Vaswani et al. 2017):
    projections to queries, keys and values of heads x (features / heads), a softmax over the
    keys per head, then the output projection. Projections are (features, heads, head size), so
    the heads split without a reshape; with `causal`, position i attends to positions <= i."""

    def __init__(self, features, heads, *, causal=False, rng=None, dtype=np.float32,
                 init=glorot_uniform):
        if features % heads:
            raise ValueError(f"MultiHeadAttention: {features} features do not split into "
                             f"{heads} heads")
        r, k = _rng(rng), features // heads
        self.Wq, self.Wk, self.Wv = (init(r, (features, features), dtype).reshape(
            features, heads, k) for _ in range(3))
        self.bq, self.bk, self.bv = (np.zeros((heads, k), dtype) for _ in range(3))
        self.Wo = init(r, (features, features), dtype)
        self.bo = np.zeros(features, dtype)
        self.causal = causal

    def __call__(self, x):
        b, t, d = x.shape
        q = np.einsum("btd,dhk->bhtk", x, self.Wq) + self.bq[:, None, :]
        k = np.einsum("btd,dhk->bhtk", x, self.Wk) + self.bk[:, None, :]
        v = np.einsum("btd,dhk->bhtk", x, self.Wv) + self.bv[:, None, :]
        # math.sqrt: a Python float keeps float32 scores float32 (np.sqrt gives a float64 scalar)
        scores = np.einsum("bhqk,bhsk->bhqs", q, k) / math.sqrt(q.shape[-1])
        if self.causal:
            later = np.arange(t)[None, :] > np.arange(t)[:, None]
            scores = np.where(later, -1e30, scores)
        weights = softmax(scores, axis=-1)
        out = np.einsum("bhqs,bhsk->bqhk", weights, v).reshape(b, t, d)
        return out @ self.Wo + self.bo

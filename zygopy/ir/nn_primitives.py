"""Neural-network primitives: 2-d convolution and max pooling of NHWC images, the sigmoid, the
softmax and logsumexp.

A convolution written as NumPy slices and products is ordinary code zygopy can differentiate, but
it makes a large program for Numba to compile and stores a patch per kernel tap; as primitives
they are one compiled kernel each (backend/numba_cpu/nn_kernels.py), compiled once and shared by
every model, with their derivatives as primitives too. The functions here are their meaning on NumPy
arrays (what the evaluator runs) and what users call: `zygopy.nn.conv2d(x, w, stride, padding,
dilation)`, `zygopy.nn.maxpool2d(x, k)`.

The sigmoid is one elementwise primitive, as in JAX and PyTorch, rather than the code of its
overflow-free formula: its derivative y (1 - y) reads only its result, where differentiating the
formula stores a branch's worth of intermediates (an LSTM step has three sigmoids). So is the
softmax along an axis, and logsumexp (both recognised in their usual formulas,
ir/passes/recognise.py): their derivatives read only their results (and logsumexp's operand), and
the maximum subtracted to keep exp finite, which changes nothing in exact arithmetic, is not
differentiated through.
"""
from __future__ import annotations

import math

import numpy as np

from .array_primitives import NUMPY_FUNCTIONS, REDUCE
from .primitives import INT, _elementwise, _float_of, declare, promote
from .types import NONE, ArrayT, TupleT


def _out_size(n, k, stride, padding, dilation):
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _taps(x, kh, kw, stride, padding, dilation):
    """(i, j, the strided view of the padded x that kernel tap (i, j) reads), for each tap."""
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    oh = _out_size(x.shape[1], kh, stride, padding, dilation)
    ow = _out_size(x.shape[2], kw, stride, padding, dilation)
    for i in range(kh):
        for j in range(kw):
            yield i, j, (slice(None), slice(i * dilation, i * dilation + (oh - 1) * stride + 1,
                                            stride),
                         slice(j * dilation, j * dilation + (ow - 1) * stride + 1, stride),
                         slice(None)), xp


def conv2d(x, w, stride, padding, dilation):
    """Cross-correlation of x (n, h, w, c) with a kernel w (kh, kw, c, out): (n, oh, ow, out)."""
    _check(x, w, stride, padding, dilation)
    out = 0.0
    for i, j, at, xp in _taps(x, w.shape[0], w.shape[1], stride, padding, dilation):
        out = out + xp[at] @ w[i, j]
    return np.asarray(out, dtype=np.result_type(x, w))


def conv2d_grad_input(g, w, x_shape, stride, padding, dilation):
    xp = np.zeros((x_shape[0], x_shape[1] + 2 * padding, x_shape[2] + 2 * padding, x_shape[3]),
                  g.dtype)
    for i, j, at, _ in _taps(np.zeros(x_shape, g.dtype), w.shape[0], w.shape[1], stride,
                             padding, dilation):
        xp[at] += g @ w[i, j].T
    return xp[:, padding:padding + x_shape[1], padding:padding + x_shape[2], :]


def conv2d_grad_weight(g, x, w_shape, stride, padding, dilation):
    gw = np.zeros(w_shape, g.dtype)
    g2 = g.reshape(-1, g.shape[-1])
    for i, j, at, xp in _taps(x, w_shape[0], w_shape[1], stride, padding, dilation):
        gw[i, j] = xp[at].reshape(-1, x.shape[-1]).T @ g2
    return gw


def _check(x, w, stride, padding, dilation):
    if stride < 1 or dilation < 1 or padding < 0:
        raise ValueError(f"conv2d needs stride >= 1, dilation >= 1 and padding >= 0, got "
                         f"{stride}, {dilation} and {padding}")
    if x.shape[3] != w.shape[2]:
        raise ValueError(f"conv2d: the input has {x.shape[3]} channels, the kernel expects "
                         f"{w.shape[2]}")


def _tiles(x, k):
    n, h, w, c = x.shape
    return x[:, :h // k * k, :w // k * k, :].reshape(n, h // k, k, w // k, k, c)


def maxpool2d(x, k):
    """The maximum over each k x k tile of x (n, h, w, c), stride k; a ragged edge is dropped."""
    return _tiles(x, k).max(axis=(2, 4))


def _first_maxima(x, k):
    """Per output element, a one-hot (n, oh, ow, c, k*k) mask of its tile's first maximum, in
    row-major order."""
    flat = _tile_elements(x, k)
    return np.arange(k * k) == np.argmax(flat, axis=-1)[..., None]


def _tile_elements(x, k):
    """The tiles of x as (n, oh, ow, c, k*k)."""
    t = _tiles(x, k)
    n, oh, _, ow, _, c = t.shape
    return t.transpose(0, 1, 3, 5, 2, 4).reshape(n, oh, ow, c, k * k)


def maxpool2d_gather(d, x, k):
    """d (shaped like x) at each tile's first maximum of x: the tangent of maxpool2d along d, and
    the transpose of maxpool2d_grad."""
    return np.sum(_first_maxima(x, k) * _tile_elements(d, k), axis=-1)


def maxpool2d_grad(g, x, k):
    """The gradient reaches the first maximum of each tile (as PyTorch's and Flux's do)."""
    n, oh, ow, c = g.shape
    hit = _first_maxima(x, k)
    tiles = (hit * g[..., None]).reshape(n, oh, ow, c, k, k).transpose(0, 1, 4, 2, 5, 3)
    out = np.zeros(x.shape, g.dtype)
    out[:, :oh * k, :ow * k, :] = tiles.reshape(n, oh * k, ow * k, c)
    return out


def _image(t, what):
    if not (isinstance(t, ArrayT) and t.ndim == 4 and t.is_float):
        raise TypeError(f"{what} needs a 4-d float array (batch, height, width, channels), got {t}")
    return t


def _ints(ts, what):
    if any(t != INT for t in ts):
        raise TypeError(f"{what}: stride, padding, dilation and pool sizes are integers, got "
                        f"{', '.join(map(str, ts))}")


def _conv_type(ts, args):
    _ints(ts[2:], "conv2d")
    return ArrayT(promote([_image(ts[0], "conv2d"), _image(ts[1], "conv2d's kernel")]), 4)


def _grad_type(ts, args):
    _ints([e for t in ts[2:] for e in (t.elts if isinstance(t, TupleT) else (t,))],
          "a conv2d gradient")
    return ArrayT(ts[0].dtype, 4)


declare("conv2d", conv2d, _conv_type, arity=5)
declare("conv2d_grad_input", conv2d_grad_input, _grad_type, arity=6)
declare("conv2d_grad_weight", conv2d_grad_weight, _grad_type, arity=6)
declare("maxpool2d", maxpool2d, lambda ts, args: (_ints(ts[1:], "maxpool2d"),
                                                    _image(ts[0], "maxpool2d"))[1], arity=2)
declare("maxpool2d_grad", maxpool2d_grad, lambda ts, args: ArrayT(ts[0].dtype, 4), arity=3)
declare("maxpool2d_gather", maxpool2d_gather, lambda ts, args: ArrayT(ts[0].dtype, 4), arity=3)
NUMPY_FUNCTIONS.update({conv2d: "conv2d", maxpool2d: "maxpool2d"})


def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise, never computing exp of a large positive number."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0, e) / (1.0 + e)


def _sigmoid_number(x):
    e = math.exp(-abs(x))
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


declare("sigmoid", _elementwise(_sigmoid_number, sigmoid), _float_of, elementwise=True)
NUMPY_FUNCTIONS[sigmoid] = "sigmoid"


def softmax(x, axis):
    """exp(x) / sum(exp(x)) along an axis, from x less its maximum there, so exp never overflows."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _softmax_type(ts, args):
    if not (isinstance(ts[0], ArrayT) and ts[0].is_float) or ts[1] != INT:
        raise TypeError(f"softmax(x, axis) needs a float array and an int, got {ts[0]} and {ts[1]}")
    return ts[0]


declare("softmax", softmax, _softmax_type, arity=2)


def logsumexp(x, axis, keepdims):
    """log(sum(exp(x))) along an axis, from x less its maximum there, so exp never overflows."""
    greatest = np.max(x, axis=axis, keepdims=True)
    y = greatest + np.log(np.sum(np.exp(x - greatest), axis=axis, keepdims=True))
    return y if keepdims else np.squeeze(y, axis=axis)


def _logsumexp_type(ts, args):
    x = ts[0]
    if not (isinstance(x, ArrayT) and x.is_float) or ts[1] != INT:
        raise TypeError(f"logsumexp(x, axis) needs a float array and an int, got {x} and {ts[1]}")
    return ArrayT(x.dtype, x.ndim if args[2] is True else x.ndim - 1)


declare("logsumexp", logsumexp, _logsumexp_type, params=REDUCE, positional=1)


# --- counter-based random numbers (Dropout's masks): a pure function of (shape, seed), the
# same in the evaluator and in compiled code, so a mask needs no state and is never stored

_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def random_uniform(like, seed):
    """Uniform numbers in [0, 1), one per element of `like` (in its dtype), from SplitMix64
    (Steele et al. 2014) of (seed, element index)."""
    with np.errstate(over="ignore"):
        z = (np.arange(like.size, dtype=np.uint64)
             + np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * np.uint64(_GOLDEN))
        z = z + np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return u.astype(like.dtype).reshape(like.shape)


def _uniform_type(ts, args):
    if not (isinstance(ts[0], ArrayT) and ts[0].is_float) or ts[1] != INT:
        raise TypeError(f"random_uniform(like, seed) needs a float array and an int, got "
                        f"{ts[0]} and {ts[1]}")
    return ts[0]


declare("random_uniform", random_uniform, _uniform_type, arity=2)
NUMPY_FUNCTIONS[random_uniform] = "random_uniform"
NUMPY_FUNCTIONS[conv2d_grad_input] = "conv2d_grad_input"  # ConvTranspose calls it


# --- BatchNorm's batch statistics: written in place into the layer's buffer while the forward
# runs (the only write into a caller's array zygopy makes, and not differentiated). An overwrite,
# so a forward run twice in one step (a tape resized, an interpreted run cut short) records the
# same; the optimiser's `update` folds the record into the running averages once per step.

def record_statistics(buffer, mean, var, count):
    """buffer[0] = mean, buffer[1] = var, buffer[2] = count (0: nothing recorded)."""
    buffer[0] = mean
    buffer[1] = var
    buffer[2] = count


def _record_type(ts, args):
    if not (isinstance(ts[0], ArrayT) and ts[0].ndim == 2 and ts[0].is_float):
        raise TypeError(f"record_statistics needs a 2-d float buffer, got {ts[0]}")
    return NONE


declare("record_statistics", record_statistics, _record_type, arity=4, pure=False,
        writes=True)
NUMPY_FUNCTIONS[record_statistics] = "record_statistics"

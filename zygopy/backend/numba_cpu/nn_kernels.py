"""Compiled kernels of the neural-network primitives (ir/nn_primitives.py), NHWC layout.

A convolution is lowered as im2col: the patches each output reads are gathered into one matrix
(zeros where a patch reaches into the padding), so that the work is one BLAS matrix product; the
weight gradient is the transposed product with the same patches, and the input gradient the
product with the kernel scattered back (col2im). Compiled once per dtype, cached on disk, shared
by every generated module.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from .mathlib import CACHED

JIT = dict(cache=CACHED, nogil=True)
# a kernel per primitive of arrays.KERNELS, named zy_<primitive>; generated modules import the
# public names (helpers are private)


@njit(**JIT)
def _geometry(x_shape, kh, kw, stride, padding, dilation):
    if stride < 1 or dilation < 1 or padding < 0:
        raise ValueError("conv2d needs stride >= 1, dilation >= 1 and padding >= 0")
    oh = (x_shape[1] + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (x_shape[2] + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    return oh, ow


@njit(**JIT)
def _patches(image, cols, kh, kw, oh, ow, stride, padding, dilation, gather):
    """Each output position's patch of `image` (NHWC) against its row of `cols` (a column per
    kernel tap and channel; taps in the padding are skipped): gather copies the patch into the
    row (im2col), otherwise the row is added back onto the patch (col2im)."""
    n, h, w, c = image.shape
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                row = (b * oh + oy) * ow + ox
                for i in range(kh):
                    y = oy * stride + i * dilation - padding
                    if y < 0 or y >= h:
                        continue
                    for j in range(kw):
                        xx = ox * stride + j * dilation - padding
                        if xx < 0 or xx >= w:
                            continue
                        base = (i * kw + j) * c
                        for ch in range(c):
                            if gather:
                                cols[row, base + ch] = image[b, y, xx, ch]
                            else:
                                image[b, y, xx, ch] += cols[row, base + ch]


def _writable(a):
    """`a`, or a copy of it where it is read-only: Numba types _patches' col2im arm, a write into
    the image, even where im2col runs it (a read-only input, np.broadcast_to's view, failed to
    compile)."""
    raise NotImplementedError  # compiled through the overload below


@overload(_writable, jit_options=dict(nogil=True), inline="always")
def _writable_overload(a):
    if isinstance(a, types.Array) and not a.mutable:
        return lambda a: a.copy()
    return lambda a: a


@njit(**JIT)
def _im2col(x, kh, kw, oh, ow, stride, padding, dilation):
    cols = np.zeros((x.shape[0] * oh * ow, kh * kw * x.shape[3]), x.dtype)
    _patches(_writable(x), cols, kh, kw, oh, ow, stride, padding, dilation, True)
    return cols


@njit(**JIT)
def zy_conv2d(x, w, stride, padding, dilation):
    kh, kw, c, out = w.shape
    if x.shape[3] != c:
        raise ValueError("conv2d: the input's channels differ from the kernel's")
    oh, ow = _geometry(x.shape, kh, kw, stride, padding, dilation)
    cols = _im2col(x, kh, kw, oh, ow, stride, padding, dilation)
    y = cols @ np.ascontiguousarray(w).reshape(kh * kw * c, out).astype(cols.dtype)
    return y.reshape(x.shape[0], oh, ow, out)


@njit(**JIT)
def zy_conv2d_grad_weight(g, x, w_shape, stride, padding, dilation):
    kh, kw, c, out = w_shape
    oh, ow = g.shape[1], g.shape[2]
    cols = _im2col(x.astype(g.dtype), kh, kw, oh, ow, stride, padding, dilation)
    gw = cols.T @ np.ascontiguousarray(g).reshape(-1, out)
    return gw.reshape(kh, kw, c, out)


@njit(**JIT)
def zy_conv2d_grad_input(g, w, x_shape, stride, padding, dilation):
    kh, kw, c, out = w.shape
    n, h, wd = x_shape[0], x_shape[1], x_shape[2]
    oh, ow = g.shape[1], g.shape[2]
    wmat = np.ascontiguousarray(w).reshape(kh * kw * c, out).astype(g.dtype)
    dcols = np.ascontiguousarray(g).reshape(-1, out) @ wmat.T
    gx = np.zeros((n, h, wd, c), g.dtype)
    _patches(gx, dcols, kh, kw, oh, ow, stride, padding, dilation, False)
    return gx


@njit(**JIT)
def zy_maxpool2d(x, k):
    n, h, w, c = x.shape
    oh, ow = h // k, w // k
    out = np.empty((n, oh, ow, c), x.dtype)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for ch in range(c):
                    m = x[b, oy * k, ox * k, ch]
                    for i in range(k):
                        for j in range(k):
                            v = x[b, oy * k + i, ox * k + j, ch]
                            if v > m:
                                m = v
                    out[b, oy, ox, ch] = m
    return out


@njit(**JIT)
def _first_maximum(x, b, oy, ox, ch, k):
    """(row, column) in its tile of the tile's first maximum, in row-major order."""
    bi, bj = 0, 0
    m = x[b, oy * k, ox * k, ch]
    for i in range(k):
        for j in range(k):
            v = x[b, oy * k + i, ox * k + j, ch]
            if v > m:
                m, bi, bj = v, i, j
    return bi, bj


@njit(**JIT)
def zy_maxpool2d_grad(g, x, k):
    """Each tile's gradient goes to its first maximum."""
    n, oh, ow, c = g.shape
    out = np.zeros(x.shape, g.dtype)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for ch in range(c):
                    bi, bj = _first_maximum(x, b, oy, ox, ch, k)
                    out[b, oy * k + bi, ox * k + bj, ch] = g[b, oy, ox, ch]
    return out


@njit(**JIT)
def zy_maxpool2d_gather(d, x, k):
    """d at each tile's first maximum of x."""
    n, h, w, c = x.shape
    out = np.empty((n, h // k, w // k, c), d.dtype)
    for b in range(n):
        for oy in range(h // k):
            for ox in range(w // k):
                for ch in range(c):
                    bi, bj = _first_maximum(x, b, oy, ox, ch, k)
                    out[b, oy, ox, ch] = d[b, oy * k + bi, ox * k + bj, ch]
    return out


@njit(**JIT)
def zy_random_uniform(like, seed):
    """ir/nn_primitives.random_uniform, compiled: the same numbers."""
    out = np.empty(like.size, like.dtype)
    base = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
    for i in range(like.size):
        z = np.uint64(i) + base + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        out[i] = np.float64(z >> np.uint64(11)) * 2.0 ** -53
    return out.reshape(like.shape)


@njit(**JIT)
def zy_record_statistics(buffer, mean, var, count):
    """ir/nn_primitives.record_statistics, compiled."""
    buffer[0, :] = mean
    buffer[1, :] = var
    buffer[2, :] = count

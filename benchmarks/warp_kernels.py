"""The examples of tests/kernel_examples.py written for NVIDIA Warp, run on its CPU device, for
benchmarks/kernels.py. Each body is the zygopy kernel's, in Warp's dialect (typed arrays, float64
literals, atomic adds)."""
from __future__ import annotations

import numpy as np
import warp as wp

wp.config.quiet = True
wp.init()

F = wp.float64
Vec = wp.array(dtype=wp.float64)
Mat = wp.array2d(dtype=wp.float64)


@wp.kernel
def swish(x: Vec, beta: Vec, out: Vec):
    i = wp.tid()
    v = x[i]
    out[i] = v / (F(1.0) + wp.exp(-beta[0] * v))


@wp.kernel
def conv1d(x: Vec, w: Vec, out: Vec):
    i = wp.tid()
    s = F(0.0)
    for k in range(w.shape[0]):
        s += x[i + k] * w[k]
    out[i] = s


@wp.kernel
def softmax_rows(x: Mat, out: Mat):
    i = wp.tid()
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        m = wp.max(m, x[i, j])
    s = F(0.0)
    for j in range(x.shape[1]):
        s += wp.exp(x[i, j] - m)
    for j in range(x.shape[1]):
        out[i, j] = wp.exp(x[i, j] - m) / s


@wp.kernel
def attention(q: Mat, k: Mat, v: Mat, out: Mat):
    i = wp.tid()
    m = F(-1e300)
    total = F(0.0)
    for j in range(k.shape[0]):
        s = F(0.0)
        for d in range(q.shape[1]):
            s += q[i, d] * k[j, d]
        if s > m:
            total = total * wp.exp(m - s) + F(1.0)
            m = s
        else:
            total += wp.exp(s - m)
    for j in range(k.shape[0]):
        s = F(0.0)
        for d in range(q.shape[1]):
            s += q[i, d] * k[j, d]
        p = wp.exp(s - m) / total
        for c in range(v.shape[1]):
            wp.atomic_add(out, i, c, p * v[j, c])


@wp.kernel
def pair_forces(p: Vec, strength: Vec, force: Vec):
    i = wp.tid()
    for j in range(i + 1, p.shape[0]):
        r = p[j] - p[i]
        f = strength[0] * r / wp.pow(r * r + F(0.1), F(1.5))
        wp.atomic_add(force, i, f)
        wp.atomic_sub(force, j, f)


# name -> (kernel, the output's shape from the inputs, threads)
KERNELS = {
    "swish": (swish, lambda x, beta: x.shape, lambda x, beta: x.shape[0]),
    "conv1d": (conv1d, lambda x, w: (x.shape[0] - w.shape[0] + 1,),
               lambda x, w: x.shape[0] - w.shape[0] + 1),
    "softmax_rows": (softmax_rows, lambda x: x.shape, lambda x: x.shape[0]),
    "attention": (attention, lambda q, k, v: (q.shape[0], v.shape[1]), lambda q, k, v: q.shape[0]),
    "pair_forces": (pair_forces, lambda p, strength: p.shape, lambda p, strength: p.shape[0]),
}


def run(name, inputs, gout, backward):
    """(the output, the inputs' gradients given the output's `gout` when `backward`, else None)
    of the example `name` on Warp's CPU device."""
    kernel, shape, threads = KERNELS[name]
    arrays = [wp.array(a, dtype=F, device="cpu", requires_grad=backward) for a in inputs]
    out = wp.zeros(shape(*inputs), dtype=F, device="cpu", requires_grad=backward)
    if not backward:
        wp.launch(kernel, dim=threads(*inputs), inputs=arrays, outputs=[out], device="cpu")
        return out.numpy(), None
    tape = wp.Tape()
    with tape:
        wp.launch(kernel, dim=threads(*inputs), inputs=arrays, outputs=[out], device="cpu")
    tape.backward(grads={out: wp.array(np.ascontiguousarray(gout), dtype=F, device="cpu")})
    return out.numpy(), [a.grad.numpy() for a in arrays]

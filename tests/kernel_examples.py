"""Per-element kernels the kernel tests run on the CPU, under the CUDA simulator and through
compile_ptx: each with inputs to try it on and whether its backward needs atomic additions."""
import math

import numpy as np

import zygopy


@zygopy.kernel
def swish(i, out, x, beta):
    """A fused activation with a learned parameter: x * sigmoid(beta * x)."""
    v = x[i]
    out[i] = v / (1.0 + math.exp(-beta[0] * v))


@zygopy.kernel
def softplus(i, out, x, sharpness):
    """A smooth ReLU whose sharpness is a learned float, not an array: log(1 + e^(s x)) / s."""
    out[i] = math.log(1.0 + math.exp(sharpness * x[i])) / sharpness


@zygopy.kernel(shape=lambda x, w: x.shape[0] - w.shape[0] + 1)
def conv1d(i, out, x, w):
    s = 0.0
    for k in range(w.shape[0]):
        s += x[i + k] * w[k]
    out[i] = s


@zygopy.kernel
def softmax_rows(i, out, x):
    """One thread per row."""
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        m = max(m, x[i, j])
    s = 0.0
    for j in range(x.shape[1]):
        s += math.exp(x[i, j] - m)
    for j in range(x.shape[1]):
        out[i, j] = math.exp(x[i, j] - m) / s


@zygopy.kernel(shape=lambda q, k, v: (q.shape[0], v.shape[1]))
def attention(i, out, q, k, v):
    """One query per thread, loops over the keys: softmax of the scores q[i] . k[j] (its
    maximum and sum found in one pass, rescaling the sum when the maximum grows), then the
    weighted sum of the values, the scores computed again rather than kept."""
    m = -1e300
    total = 0.0
    for j in range(k.shape[0]):
        s = 0.0
        for d in range(q.shape[1]):
            s += q[i, d] * k[j, d]
        if s > m:
            total = total * math.exp(m - s) + 1.0
            m = s
        else:
            total += math.exp(s - m)
    for j in range(k.shape[0]):
        s = 0.0
        for d in range(q.shape[1]):
            s += q[i, d] * k[j, d]
        p = math.exp(s - m) / total
        for c in range(v.shape[1]):
            out[i, c] += p * v[j, c]


@zygopy.kernel
def pair_forces(i, force, p, strength):
    """Softened inverse-square forces between particles on a line: thread i takes the pairs
    (i, j > i) and adds into both particles' forces."""
    for j in range(i + 1, p.shape[0]):
        r = p[j] - p[i]
        f = strength[0] * r / (r * r + 0.1) ** 1.5
        force[i] += f
        force[j] -= f


@zygopy.kernel
def damped_orbit(i, out, x, a, steps):
    """A loop of run-time trip count with loop-carried state and a branch on it: the shape of
    the loop whose gradient NVIDIA Warp gets wrong."""
    y = x[i]
    s = 0.0
    for _ in range(steps[i]):
        y = a[0] * y + 0.5 * math.sin(y)
        if y > 0.5:
            s += y * y
        else:
            s -= 0.1 * y
    out[i] = s


def _inputs(rng):
    return {
        "swish": (swish, (rng.normal(size=7), np.array([0.8]))),
        "softplus": (softplus, (rng.normal(size=6), 1.7)),
        "conv1d": (conv1d, (rng.normal(size=9), rng.normal(size=3))),
        "softmax_rows": (softmax_rows, (rng.normal(size=(3, 4)),)),
        "attention": (attention, (rng.normal(size=(3, 2)), rng.normal(size=(4, 2)),
                                  rng.normal(size=(4, 3)))),
        "pair_forces": (pair_forces, (np.sort(rng.uniform(0, 4, size=5)), np.array([0.7]))),
        "damped_orbit": (damped_orbit, (rng.uniform(0.2, 1.5, size=4), np.array([0.9]),
                                        np.array([3, 0, 7, 12]))),
    }


def examples(seed=0):
    """name -> (kernel, inputs)."""
    return _inputs(np.random.default_rng(seed))


# names of the inputs whose gradients several threads add into (atomics on the GPU)
SHARED = {"swish": True, "softplus": True, "conv1d": True, "softmax_rows": False, "attention": True,
          "pair_forces": True,
          "damped_orbit": True}


def reference(name, *inputs):
    """The examples' outputs computed with NumPy, element by element: the truth for the
    forward kernels."""
    if name == "swish":
        x, beta = inputs
        return x / (1.0 + np.exp(-beta[0] * x))
    if name == "softplus":
        x, s = inputs
        return np.log1p(np.exp(s * x)) / s
    if name == "conv1d":
        x, w = inputs
        return np.correlate(x, w, mode="valid")
    if name == "softmax_rows":
        (x,) = inputs
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "attention":
        q, k, v = inputs
        scores = q @ k.T
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)) @ v
    if name == "pair_forces":
        p, strength = inputs
        force = np.zeros_like(p)
        for i in range(len(p)):
            for j in range(i + 1, len(p)):
                r = p[j] - p[i]
                f = strength[0] * r / (r * r + 0.1) ** 1.5
                force[i] += f
                force[j] -= f
        return force
    if name == "damped_orbit":
        x, a, steps = inputs
        out = np.zeros_like(x)
        for i in range(len(x)):
            y, s = x[i], 0.0
            for _ in range(steps[i]):
                y = a[0] * y + 0.5 * math.sin(y)
                s += y * y if y > 0.5 else -0.1 * y
            out[i] = s
        return out
    raise KeyError(name)

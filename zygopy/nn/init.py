"""Weight initialisers: each takes a seeded `numpy.random.Generator`, a shape and a dtype.

Fan-in and fan-out follow the layers' layouts: a Dense weight is (in, out), a Conv kernel
(kh, kw, in, out), so the last axis is always the output's."""
import math

import numpy as np

__all__ = ["glorot_uniform", "glorot_normal", "kaiming_uniform", "kaiming_normal", "orthogonal"]


SQRT2 = math.sqrt(2.0)  # the gain for ReLU


def _fans(shape):
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    fan_in = shape[-2] * receptive if len(shape) > 1 else shape[0]
    return fan_in, shape[-1] * receptive


def glorot_uniform(rng, shape, dtype=np.float32, gain=1.0):
    fan_in, fan_out = _fans(shape)
    s = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-s, s, shape).astype(dtype)


def glorot_normal(rng, shape, dtype=np.float32, gain=1.0):
    fan_in, fan_out = _fans(shape)
    return (gain * math.sqrt(2.0 / (fan_in + fan_out)) * rng.standard_normal(shape)).astype(dtype)


def kaiming_uniform(rng, shape, dtype=np.float32, gain=SQRT2):
    s = gain * math.sqrt(3.0 / _fans(shape)[0])
    return rng.uniform(-s, s, shape).astype(dtype)


def kaiming_normal(rng, shape, dtype=np.float32, gain=SQRT2):
    return (gain / math.sqrt(_fans(shape)[0]) * rng.standard_normal(shape)).astype(dtype)


def orthogonal(rng, shape, dtype=np.float32, gain=1.0):
    """Rows or columns orthonormal (Saxe et al. 2014), over the last axis against the rest."""
    rows, cols = math.prod(shape[:-1]), shape[-1]
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))  # a uniform distribution over orthogonal matrices
    q = q if rows >= cols else q.T
    return (gain * q).reshape(shape).astype(dtype)

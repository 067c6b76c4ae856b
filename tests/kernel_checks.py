"""Checks of a kernel against the truth, shared by the CPU tests and the CUDA-simulator run:
its forward against NumPy, its backward against central finite differences."""
import numpy as np

STEP = 1e-6  # central differences in float64
RTOL, ATOL = 1e-5, 1e-7


def finite_difference_vjp(forward, inputs, gout):
    """d/d(inputs) of sum(gout * forward(*inputs)) by central differences; None for integer
    inputs."""
    def loss(args):
        return float(np.sum(gout * forward(*args)))
    grads = []
    for k, x in enumerate(inputs):
        if isinstance(x, float):
            up, down = list(inputs), list(inputs)
            up[k], down[k] = x + STEP, x - STEP
            grads.append((loss(up) - loss(down)) / (2 * STEP))
            continue
        if x.dtype.kind != "f":
            grads.append(None)
            continue
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            up = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
            down = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
            up[k][idx] += STEP
            down[k][idx] -= STEP
            g[idx] = (loss(up) - loss(down)) / (2 * STEP)
        grads.append(g)
    return grads


def assert_close_gradients(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)

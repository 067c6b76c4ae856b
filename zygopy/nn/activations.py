"""Activation functions: plain NumPy on arrays, differentiated by zygopy like any user code.

Each is written to stay finite where a textbook formula overflows (exp of a large argument in the
branch `np.where` does not take)."""
import math

import numpy as np

from ..ir.nn_primitives import sigmoid  # a primitive: its derivative reads y alone

__all__ = ["relu", "leakyrelu", "elu", "gelu", "sigmoid", "softplus", "swish", "identity",
           "softmax", "logsoftmax"]


def relu(x):
    return np.maximum(0.0, x)  # a tie sends the gradient to the first: 0 at x = 0, as PyTorch's


def leakyrelu(x, a=0.01):
    return np.where(x > 0.0, x, a * x)


def elu(x, a=1.0):
    return np.where(x > 0.0, x, a * np.expm1(np.minimum(x, 0.0)))


def gelu(x):
    """The tanh approximation (Hendrycks and Gimpel), as Flux's and PyTorch's `tanh` variant."""
    c = math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x * x * x)))


def softplus(x):
    return np.logaddexp(x, 0.0)  # smooth: its gradient is sigmoid(x), 0.5 at 0


def swish(x):
    return x * sigmoid(x)


def identity(x):
    return x


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def logsoftmax(x, axis=-1):
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))

"""Loss functions of a prediction ŷ against a target y: mse, mae and huber average over every
element (Flux's and PyTorch's default), the classification losses over the batch (the first
axis). Written in plain NumPy; zygopy differentiates them with the model.

Classification losses take one-hot (or probability) targets of ŷ's shape; the `*_labels`
variants take integer class labels of shape (batch,). A target of another shape is an error, as
in Flux: broadcast, a (4, 1) prediction against (4,) targets would compare every pair."""
import numpy as np

from .activations import logsoftmax, softplus

__all__ = ["mse", "mae", "huber", "crossentropy", "logitcrossentropy", "logitcrossentropy_labels",
           "binarycrossentropy", "logitbinarycrossentropy", "kldivergence"]


def _matching(yhat, y):
    if yhat.shape != y.shape:
        raise ValueError(f"the loss's prediction has shape {yhat.shape} and its target "
                         f"{y.shape}; they must match")


def mse(yhat, y):
    _matching(yhat, y)
    return np.mean((yhat - y) ** 2)


def mae(yhat, y):
    _matching(yhat, y)
    return np.mean(np.abs(yhat - y))


def huber(yhat, y, delta=1.0):
    """Quadratic within delta of the target, linear beyond (continuous slope at the seam)."""
    _matching(yhat, y)
    r = np.abs(yhat - y)
    small = np.minimum(r, delta)
    return np.mean(0.5 * small * small + delta * (r - small))


def crossentropy(p, y, eps=1e-7):
    """Of predicted probabilities p (rows summing to one) against one-hot targets."""
    _matching(p, y)
    return -np.sum(y * np.log(p + eps)) / p.shape[0]


def logitcrossentropy(logits, y):
    """crossentropy(softmax(logits), y), computed stably from the logits."""
    _matching(logits, y)
    return -np.sum(y * logsoftmax(logits)) / logits.shape[0]


def logitcrossentropy_labels(logits, labels):
    """logitcrossentropy against integer class labels of shape (batch,)."""
    n = logits.shape[0]
    if labels.shape != (n,):
        raise ValueError(f"logitcrossentropy_labels: the labels have shape {labels.shape}, not "
                         f"({n},): one class label per row of the prediction")
    return -np.mean(logsoftmax(logits)[np.arange(n), labels])


def binarycrossentropy(p, y, eps=1e-7):
    _matching(p, y)
    return -np.mean(y * np.log(p + eps) + (1.0 - y) * np.log(1.0 - p + eps))


def logitbinarycrossentropy(logits, y):
    """binarycrossentropy(sigmoid(logits), y), computed stably from the logits."""
    _matching(logits, y)
    return np.mean((1.0 - y) * logits + softplus(-logits))


def kldivergence(p, q, eps=1e-7):
    """KL(q || p) of predicted distributions p against target distributions q, rows summing to
    one (Flux's argument order: prediction first)."""
    _matching(p, q)
    return np.sum(q * (np.log(q + eps) - np.log(p + eps))) / p.shape[0]

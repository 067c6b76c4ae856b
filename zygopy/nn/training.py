"""Training: `train(loss, model, data, state)` runs epochs of gradient steps with a progress bar.

`loss(model, *batch)` is differentiated by zygopy; `state` comes from `optimisers.setup`. Each
step checks the loss and the gradients: a NaN or infinity stops training with an error naming the
step and the array whose gradient went bad, before the model is changed."""
from __future__ import annotations

import math

import numpy as np

from ..api import withgradient
from ..errors import ZygopyError
from . import sharing
from .layers import MASKS, buffers, resample, testmode, trainmode
from .optimisers import update
from .saving import named_arrays

__all__ = ["NonFinite", "train", "early_stopping", "summary"]


class NonFinite(ZygopyError):
    """A loss or gradient that is NaN or infinite: training stopped before applying it."""


def train(loss, model, data, state, epochs=1, callbacks=(), progress=True, rng=None):
    """Returns the loss of every step. Each callback is called after every epoch as
    `cb(epoch, mean_loss)`; one that returns True stops training. The model is in train mode
    while training (Dropout active, new masks each step drawn from `rng`), and in test mode for
    the callbacks and after. `data` is any iterable of batches; over several epochs, one that can
    be iterated again (a list, a loader), not a generator."""
    from tqdm.auto import tqdm

    if epochs > 1 and iter(data) is data:
        raise TypeError("train: data is an iterator (a generator, say), which the first epoch "
                        f"would use up, and {epochs} epochs were asked for: pass a list of "
                        "batches or an object that iterates again")
    rng = MASKS if rng is None else rng
    trainmode(model)
    try:
        return _epochs(loss, model, data, state, epochs, callbacks, progress, rng, tqdm)
    finally:
        testmode(model)


def _epochs(loss, model, data, state, epochs, callbacks, progress, rng, tqdm):
    history, step = [], 0
    for epoch in range(1, epochs + 1):
        bar = tqdm(data, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress)
        total, steps = 0.0, 0
        for batch in bar:
            batch = batch if isinstance(batch, tuple) else (batch,)
            step, steps = step + 1, steps + 1
            resample(model, rng)
            value, grads = withgradient(loss, model, *batch, wrt=(0,))  # the model's only
            _check(value, grads[0], step)
            update(state, model, grads[0])
            history.append(float(value))
            total += float(value)
            bar.set_postfix(loss=f"{float(value):.4f}")
        bar.close()
        mean = total / max(steps, 1)
        if progress:
            print(f"epoch {epoch}/{epochs}: loss {mean:.4f}")
        testmode(model)  # a callback measuring the model (a validation loss) sees it as used
        try:
            if any(cb(epoch, mean) for cb in callbacks):
                break
        finally:
            trainmode(model)
    return history


def _check(value, grads, step):
    if not math.isfinite(float(value)):
        raise NonFinite(f"step {step}: the loss is {float(value)}; the model was not updated")
    for name, g in named_arrays(grads).items():
        if not np.all(np.isfinite(g)):
            raise NonFinite(f"step {step}: the gradient of {name} has {np.sum(~np.isfinite(g))} "
                            "non-finite elements; the model was not updated")


def early_stopping(metric, patience=3):
    """A callback that stops when `metric()` (lower is better, e.g. a validation loss) has not
    improved for `patience` epochs."""
    best, waited = [math.inf], [0]

    def cb(epoch, mean_loss):
        value = metric()
        if value < best[0]:
            best[0], waited[0] = value, 0
            return False
        waited[0] += 1
        return waited[0] >= patience
    return cb


def summary(model, x):
    """A table of the model's layers (a Chain's, or the model as one), each layer's output shape
    for the example input `x`, and parameter counts; returns it as text."""
    layers = list(getattr(model, "layers", [model]))
    names = getattr(model, "names", ()) or [str(i) for i in range(len(layers))]
    rows, state = [], buffers(model)
    for name, layer in zip(names, layers, strict=True):
        x = layer(x)
        count = sum(a.size for a in named_arrays(layer).values() if id(a) not in state)
        label = getattr(layer, "__name__", None) or type(layer).__name__
        rows.append((f"{name}: {label}", str(tuple(np.shape(x))), f"{count:,}"))
    trained = [a for a in named_arrays(model).values() if id(a) not in state]
    total = sum(a.size for a in trained)  # an array shared or tied between layers counts once,
    for group in sharing.groups(trained):  # as in PyTorch's parameters()
        total -= sum(trained[k].size for k in group) - max(trained[k].size for k in group)
    rows.append(("total", "", f"{total:,}"))
    if state:
        kept = sum(a.size for a in named_arrays(model).values() if id(a) in state)
        rows.append(("state, not trained", "", f"{kept:,}"))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{a:<{width[0]}}  {b:<{width[1]}}  {c:>{width[2]}}" for a, b, c in rows)


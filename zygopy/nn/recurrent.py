"""Recurrent cells and the layer that runs one over a sequence. Sequences are time-major:
(time, batch, features). A cell maps (state, x) to (state, output); the loop over time stays a
loop in the compiled code, whatever the sequence's length."""
import numpy as np

from .activations import sigmoid
from .init import glorot_uniform, orthogonal
from .layers import _rng

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "Recurrence", "last", "RNN", "LSTM", "GRU"]


def _weights(r, n_in, n_hidden, gates, dtype):
    """Input weights (n_in, gates * n_hidden), Glorot; recurrent weights orthogonal per gate."""
    wx = glorot_uniform(r, (n_in, gates * n_hidden), dtype)
    wh = np.concatenate([orthogonal(r, (n_hidden, n_hidden), dtype) for _ in range(gates)], axis=1)
    return wx, wh


def _zeros(x, like):
    """Zeros of shape (batch, like.size) in the dtype x and `like` promote to."""
    return np.zeros_like(x[:, :1]) + np.zeros_like(like)


class RNNCell:
    """h' = activation(x @ Wx + h @ Wh + b)."""

    def __init__(self, n_in, n_hidden, activation=np.tanh, *, rng=None, dtype=np.float32):
        r = _rng(rng)
        self.Wx = glorot_uniform(r, (n_in, n_hidden), dtype)
        self.Wh = orthogonal(r, (n_hidden, n_hidden), dtype)
        self.b = np.zeros(n_hidden, dtype)
        self.activation = activation

    def initial(self, x):
        return _zeros(x, self.b)

    def __call__(self, h, x):
        h = self.activation(x @ self.Wx + h @ self.Wh + self.b)
        return h, h


class LSTMCell:
    """Hochreiter and Schmidhuber's cell with a forget gate; the state is (h, c). Gates in the
    order input, forget, cell, output (PyTorch's); the forget gate's bias starts at 1."""

    def __init__(self, n_in, n_hidden, *, rng=None, dtype=np.float32):
        r = _rng(rng)
        self.Wx, self.Wh = _weights(r, n_in, n_hidden, 4, dtype)
        self.b = np.zeros(4 * n_hidden, dtype)
        self.b[n_hidden:2 * n_hidden] = 1.0
        self.n = n_hidden

    def initial(self, x):
        h = _zeros(x, self.b[:self.n])
        return h, h

    def __call__(self, state, x):
        h, c = state
        n = self.n
        z = x @ self.Wx + h @ self.Wh + self.b
        i = sigmoid(z[:, :n])
        f = sigmoid(z[:, n:2 * n])
        g = np.tanh(z[:, 2 * n:3 * n])
        o = sigmoid(z[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        return (h, c), h


class GRUCell:
    """Cho et al.'s gated recurrent unit, PyTorch's formulation (reset gate inside the
    candidate's recurrent term); gates in the order reset, update, candidate."""

    def __init__(self, n_in, n_hidden, *, rng=None, dtype=np.float32):
        r = _rng(rng)
        self.Wx, self.Wh = _weights(r, n_in, n_hidden, 3, dtype)
        self.bx = np.zeros(3 * n_hidden, dtype)
        self.bh = np.zeros(3 * n_hidden, dtype)
        self.n = n_hidden

    def initial(self, x):
        return _zeros(x, self.bx[:self.n])

    def __call__(self, h, x):
        n = self.n
        a = x @ self.Wx + self.bx
        b = h @ self.Wh + self.bh
        r = sigmoid(a[:, :n] + b[:, :n])
        z = sigmoid(a[:, n:2 * n] + b[:, n:2 * n])
        cand = np.tanh(a[:, 2 * n:] + r * b[:, 2 * n:])
        h = (1.0 - z) * cand + z * h
        return h, h


class Recurrence:
    """Runs a cell over a (time, batch, features) sequence from its zero state: the outputs of
    every step, stacked (time, batch, hidden). Follow it with `last` for the final one."""

    def __init__(self, cell):
        self.cell = cell

    def __call__(self, xs):
        state = self.cell.initial(xs[0])
        outputs = []
        for t in range(xs.shape[0]):
            state, y = self.cell(state, xs[t])
            outputs.append(y)
        return np.stack(outputs)


def last(xs):
    """The last step of a time-major sequence."""
    return xs[-1]


def RNN(n_in, n_hidden, activation=np.tanh, *, rng=None, dtype=np.float32):
    return Recurrence(RNNCell(n_in, n_hidden, activation, rng=rng, dtype=dtype))


def LSTM(n_in, n_hidden, *, rng=None, dtype=np.float32):
    return Recurrence(LSTMCell(n_in, n_hidden, rng=rng, dtype=dtype))


def GRU(n_in, n_hidden, *, rng=None, dtype=np.float32):
    return Recurrence(GRUCell(n_in, n_hidden, rng=rng, dtype=dtype))

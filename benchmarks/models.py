"""Model workloads written as a user would: layers are small classes holding arrays, with a
`__call__` in plain NumPy. Shared by the first-gradient and model-step benchmarks."""
import math

import numpy as np


def relu(x):
    return np.maximum(x, 0.0)


class Dense:
    def __init__(self, n_in, n_out, rng, activation=relu, dtype=np.float32):
        self.W = rng.normal(0.0, 1.0 / math.sqrt(n_in), (n_in, n_out)).astype(dtype)
        self.b = np.zeros(n_out, dtype)
        self.activation = activation

    def __call__(self, x):
        return self.activation(x @ self.W + self.b)


def identity(x):
    return x


class Chain:
    def __init__(self, *layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def mse(model, x, y):
    return np.mean((model(x) - y) ** 2)


def mlp(rng, dtype=np.float32, batch=128):
    model = Chain(Dense(64, 128, rng, dtype=dtype), Dense(128, 128, rng, dtype=dtype),
                  Dense(128, 10, rng, identity, dtype))
    x = rng.normal(size=(batch, 64)).astype(dtype)
    y = rng.normal(size=(batch, 10)).astype(dtype)
    return mse, (model, x, y)


def mlp4(rng, dtype=np.float32, batch=128):
    """Another model of the same layer classes: 64-64-64-64-10."""
    model = Chain(Dense(64, 64, rng, dtype=dtype), Dense(64, 64, rng, dtype=dtype),
                  Dense(64, 64, rng, dtype=dtype), Dense(64, 10, rng, identity, dtype))
    x = rng.normal(size=(batch, 64)).astype(dtype)
    y = rng.normal(size=(batch, 10)).astype(dtype)
    return mse, (model, x, y)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class LSTMCell:
    def __init__(self, n_in, n_hidden, rng, dtype=np.float32):
        s = 1.0 / math.sqrt(n_hidden)
        self.Wx = rng.uniform(-s, s, (n_in, 4 * n_hidden)).astype(dtype)
        self.Wh = rng.uniform(-s, s, (n_hidden, 4 * n_hidden)).astype(dtype)
        self.b = np.zeros(4 * n_hidden, dtype)
        self.n = n_hidden

    def __call__(self, h, c, x):
        z = x @ self.Wx + h @ self.Wh + self.b
        n = self.n
        i = sigmoid(z[:, :n])
        f = sigmoid(z[:, n:2 * n])
        g = np.tanh(z[:, 2 * n:3 * n])
        o = sigmoid(z[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        return h, c


class Sequence:
    def __init__(self, cell, head):
        self.cell = cell
        self.head = head

    def __call__(self, xs):
        h = np.zeros((xs.shape[1], self.cell.n), np.float32)
        c = np.zeros((xs.shape[1], self.cell.n), np.float32)
        for t in range(xs.shape[0]):
            h, c = self.cell(h, c, xs[t])
        return self.head(h)


def lstm(rng, dtype=np.float32, steps=50, batch=16, n_in=8, hidden=32):
    model = Sequence(LSTMCell(n_in, hidden, rng, dtype), Dense(hidden, 1, rng, identity, dtype))
    xs = rng.normal(size=(steps, batch, n_in)).astype(dtype)
    y = rng.normal(size=(batch, 1)).astype(dtype)
    return mse, (model, xs, y)


class Conv:
    """3x3 valid convolution of (batch, height, width, channels) images, written with loops over
    pixels and the kernel's offsets, and matrix products over channels."""

    def __init__(self, c_in, c_out, rng, dtype=np.float32):
        self.W = rng.normal(0.0, 1.0 / math.sqrt(9 * c_in), (3, 3, c_in, c_out)).astype(dtype)
        self.b = np.zeros(c_out, dtype)

    def __call__(self, x):
        n, h, w, _ = x.shape
        out = np.zeros((n, h - 2, w - 2, self.W.shape[3]), np.float32)
        for i in range(h - 2):
            for j in range(w - 2):
                for di in range(3):
                    for dj in range(3):
                        out[:, i, j, :] += x[:, i + di, j + dj, :] @ self.W[di, dj]
        return relu(out + self.b)


class ConvNet:
    def __init__(self, rng, dtype=np.float32):
        self.conv = Conv(1, 8, rng, dtype)
        self.dense = Dense(6 * 6 * 8, 10, rng, identity, dtype)

    def __call__(self, x):
        y = self.conv(x)
        return self.dense(y.reshape((x.shape[0], 6 * 6 * 8)))


def cnn(rng, dtype=np.float32, batch=32):
    model = ConvNet(rng, dtype)
    x = rng.normal(size=(batch, 8, 8, 1)).astype(dtype)
    y = rng.normal(size=(batch, 10)).astype(dtype)
    return mse, (model, x, y)


def small(x, y):
    return math.sin(x) * y + x * x


def scalar(rng):
    return small, (0.7, 1.3)


WORKLOADS = {"scalar": scalar, "mlp": mlp, "lstm": lstm, "cnn": cnn}
SECOND_MODELS = {"mlp": mlp4}  # a different model built of the same layers

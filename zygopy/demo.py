"""`python -m zygopy.demo`: a tour of what zygopy does, from a scalar loop to a small model."""
import math
import time

import numpy as np

import zygopy


def power(x, n):
    r = 1.0
    while n > 0:
        r = r * x
        n -= 1
    return r


def wavy(x, n):
    s = 0.0
    y = x
    for _ in range(n):
        y = math.sin(y * 1.1 + 0.3)
        if y > 0.5:
            s += y * y
        else:
            s += 0.5 * y
    return s


class Dense:
    def __init__(self, n_in, n_out, rng, activation=np.tanh):
        self.W = rng.normal(0.0, 1.0 / math.sqrt(n_in), (n_out, n_in))
        self.b = np.zeros(n_out)
        self.activation = activation

    def __call__(self, x):
        return self.activation(self.W @ x + self.b)


class Chain:
    def __init__(self, *layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def loss(model, x, y):
    return np.mean((model(x) - y) ** 2)


def main():
    print("The IR of power(x, n) for (float, int): a loop stays a loop.\n")
    print(zygopy.code_ir(power, 2.0, 3))
    print("\nIts adjoint: the forward records (push!), the reverse replays (pop!).\n")
    print(zygopy.code_adjoint(power, 2.0, 3))

    h = 1e-6
    t0 = time.perf_counter()
    dx, dn = zygopy.gradient(wavy, 0.7, 1_000_000)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    zygopy.gradient(wavy, 0.7, 1_000_000)
    again = time.perf_counter() - t0
    fd = (wavy(0.7 + h, 1000) - wavy(0.7 - h, 1000)) / (2 * h)
    print(f"\nd wavy(x, 10^6)/dx at 0.7 = {dx:.12f} (n gets {dn}); first call {first:.2f} s, then "
          f"{again * 1e3:.1f} ms")
    print(f"central finite difference at n = 1000: {fd:.12f}")

    rng = np.random.default_rng(0)
    model = Chain(Dense(3, 8, rng), Dense(8, 2, rng, np.sin))
    x, y = rng.normal(size=3), np.array([0.5, -0.25])
    for step in range(200):
        value, (g, _, _) = zygopy.withgradient(loss, model, x, y)
        for layer, grad in zip(model.layers, g.layers, strict=True):
            layer.W -= 0.1 * grad.W
            layer.b -= 0.1 * grad.b
        if step % 50 == 0:
            print(f"step {step:3d}: loss {value:.6f}")
    print(f"step 200: loss {loss(model, x, y):.6f}  "
          "(a two-layer model trained with its own gradients)")


if __name__ == "__main__":
    main()

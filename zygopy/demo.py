"""`python -m zygopy.demo`: a small convolutional network learns the handwritten digits that
scikit-learn ships (1,797 8x8 images), trained with gradients zygopy compiles from the layers'
plain NumPy code. Prints test accuracy, writes the loss curve beside the working directory's
`zygopy-demo-loss.png`, and shows the IR and adjoint IR of a loop and of a layer."""
import time

import numpy as np

import zygopy
from zygopy import nn


def power(x, n):
    r = 1.0
    while n > 0:
        r = r * x
        n -= 1
    return r


def model_for_digits(rng):
    return nn.Chain(nn.Conv(3, (1, 16), nn.relu, padding=1, rng=rng),   # 8x8x16
                    nn.MaxPool(2),                                       # 4x4x16
                    nn.Conv(3, (16, 32), nn.relu, padding=1, rng=rng),  # 4x4x32
                    nn.MaxPool(2),                                       # 2x2x32
                    nn.flatten,
                    nn.Dense(128, 10, rng=rng))


def loss(model, x, y):
    return nn.logitcrossentropy(model(x), y)


def digits(rng, test=360):
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]  # (n, 8, 8, 1) in [0, 1]
    y = np.eye(10, dtype=np.float32)[d.target]           # one-hot
    order = rng.permutation(len(x))
    return (x[order[test:]], y[order[test:]]), (x[order[:test]], y[order[:test]])


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model(x), axis=1) == np.argmax(y, axis=1)))


def dense_output(layer, x):
    return np.sum(layer(x))


def main(epochs=12, picture="zygopy-demo-loss.png"):
    print("A loop stays a loop. The IR of power(x, n):\n")
    print(zygopy.code_ir(power, 2.0, 3))
    print("\nIts adjoint IR: the forward records (push!), the reverse replays (pop!):\n")
    print(zygopy.code_adjoint(power, 2.0, 3))

    rng = np.random.default_rng(0)
    (xtr, ytr), (xte, yte) = digits(rng)
    model = model_for_digits(rng)
    print(f"\nA CNN for the digits ({len(xtr)} to train on, {len(xte)} to test):\n")
    print(nn.summary(model, xtr[:1]))
    state = nn.setup(nn.Adam(3e-3), model)
    data = nn.DataLoader((xtr, ytr), batchsize=32, shuffle=True, rng=rng)
    start = time.perf_counter()
    history = nn.train(loss, model, data, state, epochs=epochs)
    took = time.perf_counter() - start
    print(f"\ntrained {epochs} epochs ({len(history)} steps) in {took:.1f} s; "
          f"test accuracy {accuracy(model, xte, yte):.1%}")
    _plot(history, picture)

    print("\nThe adjoint IR of the last layer (Dense) under a sum, as zygopy compiled it:\n")
    print(zygopy.code_adjoint(dense_output, model[-1], np.zeros((4, 128), np.float32)))


def _plot(history, picture):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no loss curve picture)")
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(history, lw=0.8)
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title="zygopy: digits CNN")
    fig.tight_layout()
    fig.savefig(picture, dpi=120)
    print(f"loss curve: {picture}")


if __name__ == "__main__":
    main()

"""One training step (forward, gradient, Adam update) of an MLP 64-128-128-10 at batch 128 and
of the demo's CNN on 8x8 images at batch 32, float32: zygopy.nn (compiled, warm) against
PyTorch and JAX (jit) on the same weights and data, each checked against the others' gradients.

    python benchmarks/training_step.py [--quick] [--peers torch,jax]

Writes RESULTS.md's training_step section."""
from __future__ import annotations

import common  # noqa: F401  (puts the working tree's zygopy first)
import numpy as np

from zygopy import nn
from zygopy.api import withgradient


def mlp(rng):
    model = nn.Chain(nn.Dense(64, 128, nn.relu, rng=rng), nn.Dense(128, 128, nn.relu, rng=rng),
                     nn.Dense(128, 10, rng=rng))
    x = rng.normal(size=(128, 64)).astype(np.float32)
    return model, x


def cnn(rng):
    from zygopy.demo import model_for_digits
    return model_for_digits(rng), rng.uniform(size=(32, 8, 8, 1)).astype(np.float32)


def loss(model, x, y):
    return nn.logitcrossentropy(model(x), y)


def zygopy_step(model, x, y):
    state = nn.setup(nn.Adam(1e-3), model)

    def step():
        value, grads = withgradient(loss, model, x, y)
        nn.update(state, model, grads[0])
        return value
    return step


def torch_model(name, model):
    import torch
    t = torch.nn
    if name == "mlp":
        layers = []
        for k, d in enumerate(model.layers):
            lin = t.Linear(*d.weight.shape)
            lin.weight.data = torch.tensor(d.weight.T.copy())
            lin.bias.data = torch.tensor(d.bias.copy())
            layers += [lin] + ([t.ReLU()] if k < 2 else [])
        return t.Sequential(*layers)
    conv1, _, conv2, _, _, dense = model.layers
    seq = t.Sequential(t.Conv2d(1, 16, 3, padding=1), t.ReLU(), t.MaxPool2d(2),
                       t.Conv2d(16, 32, 3, padding=1), t.ReLU(), t.MaxPool2d(2),
                       t.Flatten(), t.Linear(128, 10))
    for tl, zl in [(seq[0], conv1), (seq[3], conv2)]:  # (kh, kw, in, out) -> (out, in, kh, kw)
        tl.weight.data = torch.tensor(zl.weight.transpose(3, 2, 0, 1).copy())
        tl.bias.data = torch.tensor(zl.bias.copy())
    # zygopy flattens NHWC, PyTorch NCHW: permute the Dense rows to match
    w = dense.weight.reshape(2, 2, 32, 10).transpose(2, 0, 1, 3).reshape(128, 10)
    seq[7].weight.data = torch.tensor(w.T.copy())
    seq[7].bias.data = torch.tensor(dense.bias.copy())
    return seq


def torch_setup(name, model, x, y):
    """The PyTorch twin of `model` (same weights), its input, labels and loss."""
    import torch
    net = torch_model(name, model)
    xt = torch.tensor(x if name == "mlp" else x.transpose(0, 3, 1, 2).copy())
    labels = torch.tensor(np.argmax(y, axis=1))
    return net, xt, labels, torch.nn.CrossEntropyLoss()


def torch_step(name, model, x, y):
    import torch
    net, xt, labels, lossf = torch_setup(name, model, x, y)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        out = lossf(net(xt), labels)
        out.backward()
        opt.step()
        return out.item()
    return step


def gradient_error(name, model, x, y):
    """The largest difference between zygopy's and PyTorch's gradients of the first layer's
    weight, relative to its largest element."""
    net, xt, labels, lossf = torch_setup(name, model, x, y)
    lossf(net(xt), labels).backward()
    ours = withgradient(loss, model, x, y)[1][0].layers[0].weight
    theirs = net[0].weight.grad.numpy()
    theirs = theirs.T if name == "mlp" else theirs.transpose(2, 3, 1, 0)
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


def main():
    quick, peers = common.parse_args(__doc__, ["torch"], "fewer repeats")
    rows = []
    for name, make in [("mlp", mlp), ("cnn", cnn)]:
        rng = np.random.default_rng(0)
        model, x = make(rng)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(x))]
        row = {"name": name}
        if "torch" in peers:
            import copy

            import torch
            row["check"] = gradient_error(name, model, x, y)
            row["torch"] = common.measure(torch_step(name, copy.deepcopy(model), x, y), quick)[0]
            row["threads"] = torch.get_num_threads()
        row["zygopy"] = common.measure(zygopy_step(model, x, y), quick)[0]
        rows.append(row)
        print(row, flush=True)
    lines = ["## training_step: forward + gradient + Adam update, warm", ""]
    lines += common.run_info("training_step.py", quick, ["zygopy", "numpy", "numba", "torch"])
    lines += ["- models: the demo's CNN (zygopy.demo, batch 32 of 8x8x1) and an MLP 64-128-128-10 "
              "of Dense layers (batch 128), float32, softmax cross-entropy; PyTorch on the same "
              "weights with its default thread count; JAX is not measured here (not installed).",
              "- check: zygopy's gradient of the first layer's weight against PyTorch's, largest "
              "difference relative to the largest element.", "",
              "| model | zygopy | PyTorch | zygopy / PyTorch | gradient check |",
              "|---|---|---|---|---|"]
    for r in rows:
        t = r.get("torch")
        peer = (f"{common.fmt_time(t)} | {common.ratio(r['zygopy'], t)} | {r['check']:.1e}"
                if t else "— | — | —")
        lines.append(f"| {r['name']} | {common.fmt_time(r['zygopy'])} | {peer} |")
    common.write_section("training_step", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

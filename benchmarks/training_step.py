"""One training step (forward, gradient, Adam update) of an MLP 64-128-128-10 at batch 128, of
the demo's CNN on 8x8 images at batch 32 and of an LSTM over 50 steps at batch 16, float32:
zygopy.nn (compiled, warm) against PyTorch and JAX (jit) on the same weights and data, each
checked against the others' gradients; each model timed in five fresh interpreters (medians).

    python benchmarks/training_step.py [--quick] [--peers torch,jax]

Writes RESULTS.md's training_step section."""
from __future__ import annotations

import copy
import statistics
import sys

import common  # (puts the working tree's zygopy first)

THREADS = common.one_thread_per_library()  # the same for every library, before they load

import numpy as np  # noqa: E402

from zygopy import nn  # noqa: E402
from zygopy.api import withgradient  # noqa: E402


def mlp(rng):
    model = nn.Chain(nn.Dense(64, 128, nn.relu, rng=rng), nn.Dense(128, 128, nn.relu, rng=rng),
                     nn.Dense(128, 10, rng=rng))
    x = rng.normal(size=(128, 64)).astype(np.float32)
    return model, x


def cnn(rng):
    from zygopy.demo import model_for_digits
    return model_for_digits(rng), rng.uniform(size=(32, 8, 8, 1)).astype(np.float32)


def lstm(rng):
    """An LSTM over 50 steps (batch 16, 8 inputs, hidden 32), its last output classified."""
    model = nn.Chain(nn.LSTM(8, 32, rng=rng), nn.last, nn.Dense(32, 10, rng=rng))
    return model, rng.normal(size=(50, 16, 8)).astype(np.float32)


def loss(model, x, y):
    return nn.logitcrossentropy(model(x), y)


def zygopy_step(model, x, y):
    state = nn.setup(nn.Adam(1e-3), model)

    def step():
        value, grads = withgradient(loss, model, x, y, wrt=(0,))
        nn.update(state, model, grads[0])
        return value
    return step


class TorchLSTM:
    """PyTorch's LSTM (one layer, gates in zygopy's order) and a Linear on its last output."""

    def __init__(self, model):
        import torch
        cell, dense = model.layers[0].cell, model.layers[2]
        self.lstm = torch.nn.LSTM(cell.Wx.shape[0], cell.n)
        self.lstm.weight_ih_l0.data = torch.tensor(cell.Wx.T.copy())
        self.lstm.weight_hh_l0.data = torch.tensor(cell.Wh.T.copy())
        self.lstm.bias_ih_l0.data = torch.tensor(cell.b.copy())
        self.lstm.bias_hh_l0.data = torch.zeros_like(self.lstm.bias_hh_l0)
        self.dense = torch.nn.Linear(*dense.weight.shape)
        self.dense.weight.data = torch.tensor(dense.weight.T.copy())
        self.dense.bias.data = torch.tensor(dense.bias.copy())

    def __call__(self, x):
        return self.dense(self.lstm(x)[0][-1])

    def parameters(self):
        return [*self.lstm.parameters(), *self.dense.parameters()]

    def zero_grad(self):
        self.lstm.zero_grad()
        self.dense.zero_grad()

    def first_weight_grad(self):
        return self.lstm.weight_ih_l0.grad.numpy().T


def torch_model(name, model):
    import torch
    t = torch.nn
    if name == "lstm":
        return TorchLSTM(model)
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
    xt = torch.tensor(x.transpose(0, 3, 1, 2).copy() if name == "cnn" else x)
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


def jax_setup(name, model, x, y):
    """The JAX twin of `model` (same weights, NHWC as ours): (params, jitted loss)."""
    import jax
    import jax.numpy as jnp

    dense = [layer for layer in model.layers if isinstance(layer, nn.Dense)]
    convs = [layer for layer in model.layers if isinstance(layer, nn.Conv)]
    params = [(jnp.asarray(d.weight), jnp.asarray(d.bias)) for d in convs + dense]
    if name == "lstm":
        cell = model.layers[0].cell
        params = [(jnp.asarray(cell.Wx), jnp.asarray(cell.Wh), jnp.asarray(cell.b))] + params

    def lstm_forward(params, xs):
        (wx, wh, b), (w, bias) = params
        n = wh.shape[0]

        def step(state, x):
            h, c = state
            z = x @ wx + h @ wh + b
            i, f = jax.nn.sigmoid(z[:, :n]), jax.nn.sigmoid(z[:, n:2 * n])
            g, o = jnp.tanh(z[:, 2 * n:3 * n]), jax.nn.sigmoid(z[:, 3 * n:])
            c = f * c + i * g
            h = o * jnp.tanh(c)
            return (h, c), None
        zeros = jnp.zeros((xs.shape[1], n), xs.dtype)
        (h, _), _ = jax.lax.scan(step, (zeros, zeros), xs)
        return h @ w + bias

    def forward(params, x):
        if name == "lstm":
            return lstm_forward(params, x)
        k = 0
        for _ in convs:
            w, b = params[k]
            x = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            x = jax.nn.relu(x + b)
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                      "VALID")
            k += 1
        x = x.reshape(x.shape[0], -1)
        for j in range(len(dense)):
            w, b = params[k + j]
            x = x @ w + b
            if j < len(dense) - 1:
                x = jax.nn.relu(x)
        return x

    def loss_fn(params, x, y):
        return -jnp.sum(y * jax.nn.log_softmax(forward(params, x))) / y.shape[0]
    return params, loss_fn


def jax_step(name, model, x, y):
    """jit(value_and_grad) and an Adam update, both compiled (the update written out: Kingma
    and Ba's, as zygopy's and PyTorch's)."""
    import jax
    import jax.numpy as jnp
    params, loss_fn = jax_setup(name, model, x, y)
    grad = jax.value_and_grad(loss_fn)

    @jax.jit
    def step(params, m, v, t, x, y):
        value, g = grad(params, x, y)
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        lr = 1e-3 * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        params = jax.tree_util.tree_map(lambda p, m, v: p - lr * m / (jnp.sqrt(v) + 1e-8),
                                        params, m, v)
        return value, params, m, v

    state = {"p": params, "m": jax.tree_util.tree_map(jnp.zeros_like, params),
             "v": jax.tree_util.tree_map(jnp.zeros_like, params), "t": 0}
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def run():
        state["t"] += 1
        value, state["p"], state["m"], state["v"] = step(state["p"], state["m"], state["v"],
                                                         state["t"], xj, yj)
        return float(value)
    return run


def jax_gradient_error(name, model, x, y):
    import jax
    params, loss_fn = jax_setup(name, model, x, y)
    theirs = jax.grad(loss_fn)(params, x, y)[0][0]
    ours = first_weight(withgradient(loss, model, x, y)[1][0])
    return float(np.max(np.abs(ours - np.asarray(theirs))) / np.max(np.abs(theirs)))


def first_weight(model):
    """The first layer's weight (an LSTM's input weights)."""
    first = model.layers[0]
    return first.cell.Wx if isinstance(first, nn.Recurrence) else first.weight


def gradient_error(name, model, x, y):
    """The largest difference between zygopy's and PyTorch's gradients of the first layer's
    weight, relative to its largest element."""
    net, xt, labels, lossf = torch_setup(name, model, x, y)
    lossf(net(xt), labels).backward()
    ours = first_weight(withgradient(loss, model, x, y)[1][0])
    if name == "lstm":
        theirs = net.first_weight_grad()
    else:
        theirs = net[0].weight.grad.numpy()
        theirs = theirs.T if name == "mlp" else theirs.transpose(2, 3, 1, 0)
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


# each model is timed in this many fresh interpreters: where arrays land in memory differs from
# one process to the next, and moved the MLP step by up to 15% between runs of the same code
# (an elementwise pass over a 128x128 float32 array took 5 or 13 us depending on the process)
PROCESSES = 5
MODELS = {"mlp": mlp, "cnn": cnn, "lstm": lstm}


def measure_model(name, peers, quick):
    """The steps of one model, side by side, and the gradient checks: a row of the table."""
    rng = np.random.default_rng(0)
    model, x = MODELS[name](rng)
    batch = x.shape[1] if name == "lstm" else x.shape[0]
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    row, steps = {}, {}
    if "torch" in peers:
        row["check"] = gradient_error(name, model, x, y)
        steps["torch"] = torch_step(name, copy.deepcopy(model), x, y)
    if "jax" in peers:
        row["jax_check"] = jax_gradient_error(name, model, x, y)
        steps["jax"] = jax_step(name, copy.deepcopy(model), x, y)
    steps["zygopy"] = zygopy_step(model, x, y)
    row.update(common.side_by_side(steps, quick))
    return row


def child(name, peers, quick):
    common.child_result(measure_model(name, peers, quick))


def spread(ratios):
    """A ratio measured in each process: its median and range."""
    return (f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"
            if len(ratios) > 1 else f"{ratios[0]:.2f}×")


def main():
    quick, peers = common.parse_args(__doc__, ["torch", "jax"], "fewer repeats, one process")
    processes = 1 if quick else PROCESSES
    rows = []
    for name in MODELS:
        runs = [common.run_child("training_step", "child", name, peers, quick)
                for _ in range(processes)]
        failed = [run["error"] for run in runs if "error" in run]
        if failed:
            sys.exit(f"{name}: {failed[0]}")
        row = {"name": name, "runs": runs}
        for key in runs[0]:
            pick = max if key.endswith("check") else statistics.median
            row[key] = pick(run[key] for run in runs)
        rows.append(row)
        print(name, runs, flush=True)
    lines = ["## training_step: forward + gradient + Adam update, warm", ""]
    lines += common.run_info("training_step.py", quick,
                             ["zygopy", "numpy", "numba", "torch", "jax"])
    lines += ["- models: the demo's CNN (zygopy.demo, batch 32 of 8x8x1), an MLP 64-128-128-10 "
              "of Dense layers (batch 128) and an LSTM (8 inputs, hidden 32) over 50 steps at "
              "batch 16 with a Dense 32-10 on its last output; float32, softmax cross-entropy; "
              "PyTorch on the same weights (torch.nn.LSTM); JAX: "
              "jit of value_and_grad and an Adam update in one compiled step "
              "(lax.conv_general_dilated, reduce_window, lax.scan).",
              "- steps: each library's gradient with respect to the model's parameters only "
              "(zygopy: `withgradient(loss, model, x, y, wrt=(0,))`, as `nn.train` does; JAX: "
              "`value_and_grad` of the parameters; PyTorch: the data needs no gradient), then "
              "an Adam update.",
              f"- threads: one per library ({THREADS}); the three steps timed in alternating "
              "rounds (common.side_by_side), best of each, in each of "
              f"{processes} fresh interpreters: a time is the median over the processes, a "
              "ratio its median (range) over them.",
              "- check: zygopy's gradient of the first layer's weight against each peer's, "
              "largest difference relative to the largest element (the largest over the "
              "processes).", "",
              "| model | zygopy | PyTorch | zygopy / PyTorch | JAX | zygopy / JAX | "
              "gradient check (PyTorch, JAX) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = []
        for peer in ("torch", "jax"):
            t = r.get(peer)
            cells += ([common.fmt_time(t), spread([run["zygopy"] / run[peer]
                                                   for run in r["runs"]])]
                      if t else ["—", "—"])
        checks = ", ".join(f"{r[k]:.1e}" for k in ("check", "jax_check") if k in r) or "—"
        lines.append(f"| {r['name']} | {common.fmt_time(r['zygopy'])} | {' | '.join(cells)} | "
                     f"{checks} |")
    common.write_section("training_step", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

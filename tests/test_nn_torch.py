"""zygopy.nn's layers, activations and losses against PyTorch's on the same weights (forward
values): skipped where PyTorch is not installed (it is in the `bench` extra)."""
import numpy as np
import pytest

from zygopy import nn

from .nn_support import interpreted_gradient

torch = pytest.importorskip("torch")
F = torch.nn.functional


def rng(seed=0):
    return np.random.default_rng(seed)


def t(a):
    return torch.tensor(np.ascontiguousarray(a))


def nchw(a):
    return t(a.transpose(0, 3, 1, 2))


def close(ours, theirs, tol=1e-10):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=tol, atol=tol)


def test_dense():
    d = nn.Dense(5, 3, rng=rng(), dtype=np.float64)
    d.bias[:] = rng(1).normal(size=3)
    x = rng(2).normal(size=(4, 5))
    close(d(x), F.linear(t(x), t(d.weight.T), t(d.bias)))


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv(stride, padding, dilation):
    c = nn.Conv((3, 2), (2, 4), stride=stride, padding=padding, dilation=dilation, rng=rng(),
                dtype=np.float64)
    c.bias[:] = rng(1).normal(size=4)
    x = rng(2).normal(size=(2, 7, 6, 2))
    theirs = F.conv2d(nchw(x), t(c.weight.transpose(3, 2, 0, 1)), t(c.bias), stride=stride,
                      padding=padding, dilation=dilation)
    close(c(x), theirs.permute(0, 2, 3, 1))


def test_conv_transpose():
    c = nn.ConvTranspose(3, (2, 4), stride=2, padding=1, rng=rng(), dtype=np.float64)
    x = rng(2).normal(size=(2, 4, 5, 2))
    # ours (kh, kw, out, in); PyTorch's (in, out, kh, kw)
    theirs = F.conv_transpose2d(nchw(x), t(c.weight.transpose(3, 2, 0, 1)), t(c.bias), stride=2,
                                padding=1)
    close(c(x), theirs.permute(0, 2, 3, 1))


def test_pools():
    x = rng().normal(size=(2, 6, 4, 3))
    close(nn.MaxPool(2)(x), F.max_pool2d(nchw(x), 2).permute(0, 2, 3, 1))
    close(nn.MeanPool(2)(x), F.avg_pool2d(nchw(x), 2).permute(0, 2, 3, 1))
    close(nn.AdaptiveMeanPool(2)(x), F.adaptive_avg_pool2d(nchw(x), 2).permute(0, 2, 3, 1))
    close(nn.GlobalMeanPool()(x), F.adaptive_avg_pool2d(nchw(x), 1).flatten(1))
    # flatten: the same numbers as PyTorch's nn.Flatten of the NHWC array
    close(nn.flatten(x), torch.nn.Flatten()(t(x)))


def test_layernorm():
    ln = nn.LayerNorm(5, dtype=np.float64)
    ln.scale[:], ln.bias[:] = rng(1).uniform(0.5, 1.5, 5), rng(2).normal(size=5)
    x = rng().normal(size=(3, 5))
    close(ln(x), F.layer_norm(t(x), (5,), t(ln.scale), t(ln.bias), eps=1e-5))


def test_batchnorm_statistics_follow_pytorchs():
    """Training outputs and gradients, the running averages after three optimiser steps (each
    folding its own batch's statistics) and test-mode outputs, against BatchNorm2d fed the same
    batches."""
    bn = nn.trainmode(nn.BatchNorm(3, momentum=0.2, dtype=np.float64))
    bn.scale[:], bn.bias[:] = rng(1).uniform(0.5, 1.5, 3), rng(2).normal(size=3)
    ref = torch.nn.BatchNorm2d(3, momentum=0.2, dtype=torch.float64)
    ref.weight.data, ref.bias.data = t(bn.scale), t(bn.bias)
    state = nn.setup(nn.Descent(0.0), bn)  # the parameters stay; the statistics move
    for step in range(3):
        x = rng(10 + step).normal(loc=step, scale=1 + step, size=(4, 5, 2, 3))
        xt = nchw(x).requires_grad_()
        theirs = ref(xt).permute(0, 2, 3, 1)
        (theirs ** 3).sum().backward()
        _, (g, gx) = interpreted_gradient(lambda m, x: np.sum(m(x) ** 3), bn, x)
        close(bn(x), theirs, 1e-9)
        close(gx, xt.grad.permute(0, 2, 3, 1), 1e-8)
        close(g.scale, ref.weight.grad, 1e-8)
        ref.weight.grad = ref.bias.grad = None
        nn.update(state, bn, g)
    close(bn.running_mean, ref.running_mean)
    close(bn.running_var, ref.running_var)
    ref.eval()
    x = rng(20).normal(size=(2, 3, 2, 3))
    close(nn.testmode(bn)(x), ref(nchw(x)).permute(0, 2, 3, 1))


def test_embedding():
    e = nn.Embedding(10, 4, rng=rng(), dtype=np.float64)
    tokens = rng(1).integers(0, 10, (3, 5))
    close(e(tokens), F.embedding(t(tokens), t(e.weight)))


ACTIVATIONS = {"relu": F.relu, "leakyrelu": lambda x: F.leaky_relu(x, 0.01), "elu": F.elu,
               "gelu": lambda x: F.gelu(x, approximate="tanh"), "sigmoid": torch.sigmoid,
               "softplus": F.softplus, "swish": F.silu, "softmax": lambda x: F.softmax(x, -1),
               "logsoftmax": lambda x: F.log_softmax(x, -1)}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation(name):
    x = rng().normal(size=(4, 6)) * 4
    close(getattr(nn, name)(x), ACTIVATIONS[name](t(x)))


def test_losses():
    r = rng()
    yhat, y = r.normal(size=(6, 4)), r.normal(size=(6, 4))
    close(nn.mse(yhat, y), F.mse_loss(t(yhat), t(y)))
    close(nn.mae(yhat, y), F.l1_loss(t(yhat), t(y)))
    close(nn.huber(yhat, y, 0.7), F.huber_loss(t(yhat), t(y), delta=0.7))
    labels = r.integers(0, 4, 6)
    onehot = np.eye(4)[labels]
    close(nn.logitcrossentropy(yhat, onehot), F.cross_entropy(t(yhat), t(labels)))
    p = 1 / (1 + np.exp(-yhat))
    b = r.integers(0, 2, (6, 4)).astype(np.float64)
    close(nn.logitbinarycrossentropy(yhat, b), F.binary_cross_entropy_with_logits(t(yhat), t(b)))
    close(nn.binarycrossentropy(p, b, eps=0.0), F.binary_cross_entropy(t(p), t(b)))
    q = nn.softmax(r.normal(size=(6, 4)))
    pr = nn.softmax(yhat)
    close(nn.kldivergence(pr, q, eps=0.0),
          F.kl_div(t(np.log(pr)), t(q), reduction="batchmean"))


def _torch_cell(kind, cell):
    n_in, n = cell.Wx.shape[0], cell.Wh.shape[0]
    tc = {"RNN": torch.nn.RNNCell, "LSTM": torch.nn.LSTMCell, "GRU": torch.nn.GRUCell}[kind](
        n_in, n, dtype=torch.float64)
    tc.weight_ih.data, tc.weight_hh.data = t(cell.Wx.T), t(cell.Wh.T)
    if kind == "GRU":
        tc.bias_ih.data, tc.bias_hh.data = t(cell.bx), t(cell.bh)
    else:
        tc.bias_ih.data, tc.bias_hh.data = t(cell.b), t(np.zeros_like(cell.b))
    return tc


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent(kind):
    layer = getattr(nn, kind)(3, 4, rng=rng(), dtype=np.float64)
    cell = layer.cell
    for name in ("b", "bx", "bh"):
        if hasattr(cell, name):
            getattr(cell, name)[:] = rng(5).normal(size=getattr(cell, name).shape)
    xs = rng(1).normal(size=(5, 2, 3))
    tc = _torch_cell(kind, cell)
    h = torch.zeros(2, 4, dtype=torch.float64)
    state = (h, h) if kind == "LSTM" else h
    outs = []
    for x in xs:
        state = tc(t(x), state)
        outs.append(state[0] if kind == "LSTM" else state)
    close(layer(xs), torch.stack(outs))


def test_multi_head_attention():
    d, h = 6, 2
    m = nn.MultiHeadAttention(d, h, rng=rng(), dtype=np.float64)
    for name in ("bq", "bk", "bv", "bo"):
        getattr(m, name)[...] = rng(4).normal(size=getattr(m, name).shape)
    x = rng(1).normal(size=(2, 5, d))
    mha = torch.nn.MultiheadAttention(d, h, batch_first=True, dtype=torch.float64)
    w = [a.reshape(d, d).T for a in (m.Wq, m.Wk, m.Wv)]
    mha.in_proj_weight.data = t(np.concatenate(w))
    mha.in_proj_bias.data = t(np.concatenate([b.reshape(-1) for b in (m.bq, m.bk, m.bv)]))
    mha.out_proj.weight.data, mha.out_proj.bias.data = t(m.Wo.T), t(m.bo)
    xt = t(x)
    close(m(x), mha(xt, xt, xt, need_weights=False)[0])
    m.causal = True
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    close(m(x), mha(xt, xt, xt, attn_mask=mask, need_weights=False)[0])

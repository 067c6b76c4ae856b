"""zygopy.nn's layers, activations and losses: gradients against central finite differences
(float64, small sizes, through the evaluator of the adjoint IR so that no test waits on Numba),
the compiled convolution and pooling kernels against their NumPy definitions, and one model's
compiled gradient against the evaluator's."""
import numpy as np
import pytest

import zygopy
from zygopy import nn
from zygopy.backend import tiered
from zygopy.backend.numba_cpu import nn_kernels
from zygopy.ir import nn_primitives

from .nn_support import assert_matches_finite_differences, interpreted_gradient

F64 = np.float64


def rng(seed=0):
    return np.random.default_rng(seed)


def total(layer, x, w):
    """A scalar of the layer's output whose gradient differs at every output element."""
    return np.sum(layer(x) * w)


def weights_for(layer, x):
    return rng(9).normal(size=np.shape(layer(x)))


GEOMETRIES = [(1, 0, 1), (1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 0, 2), (3, 1, 1)]


@pytest.mark.parametrize("stride,padding,dilation", GEOMETRIES)
def test_conv_kernel_matches_its_definition(stride, padding, dilation):
    r = rng()
    x, w = r.normal(size=(2, 7, 6, 3)), r.normal(size=(3, 2, 3, 4))
    y = nn_primitives.conv2d(x, w, stride, padding, dilation)
    np.testing.assert_allclose(nn_kernels.zy_conv2d(x, w, stride, padding, dilation), y,
                               rtol=1e-12, atol=1e-12)
    # the definition itself, one output element written out
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    b, i, j, o = 1, y.shape[1] - 1, y.shape[2] - 1, 2
    direct = sum(xp[b, i * stride + p * dilation, j * stride + q * dilation, c] * w[p, q, c, o]
                 for p in range(3) for q in range(2) for c in range(3))
    assert y[b, i, j, o] == pytest.approx(direct, rel=1e-12)
    g = r.normal(size=y.shape)
    np.testing.assert_allclose(
        nn_kernels.zy_conv2d_grad_input(g, w, x.shape, stride, padding, dilation),
        nn_primitives.conv2d_grad_input(g, w, x.shape, stride, padding, dilation), atol=1e-12)
    np.testing.assert_allclose(
        nn_kernels.zy_conv2d_grad_weight(g, x, w.shape, stride, padding, dilation),
        nn_primitives.conv2d_grad_weight(g, x, w.shape, stride, padding, dilation), atol=1e-12)


def test_maxpool_kernel_matches_its_definition():
    x = rng().normal(size=(2, 5, 7, 3))  # ragged edges are dropped
    y = nn_primitives.maxpool2d(x, 2)
    assert y.shape == (2, 2, 3, 3)
    assert y[1, 1, 2, 0] == x[1, 2:4, 4:6, 0].max()
    np.testing.assert_array_equal(nn_kernels.zy_maxpool2d(x, 2), y)
    g = rng(1).normal(size=y.shape)
    np.testing.assert_array_equal(nn_kernels.zy_maxpool2d_grad(g, x, 2),
                                  nn_primitives.maxpool2d_grad(g, x, 2))
    d = rng(2).normal(size=x.shape)
    gathered = nn_primitives.maxpool2d_gather(d, x, 2)
    assert gathered[1, 1, 2, 0] == d[1, 2:4, 4:6, 0].flat[np.argmax(x[1, 2:4, 4:6, 0])]
    np.testing.assert_array_equal(nn_kernels.zy_maxpool2d_gather(d, x, 2), gathered)
    # the gather is the scatter's transpose: <gather(d), g> = <d, scatter(g)>
    np.testing.assert_allclose(np.sum(gathered * g),
                               np.sum(d * nn_primitives.maxpool2d_grad(g, x, 2)), rtol=1e-12)


@pytest.mark.parametrize("stride,padding,dilation", GEOMETRIES[:4])
def test_conv_layer_gradients(stride, padding, dilation):
    layer = nn.Conv((3, 2), (2, 3), np.tanh, stride=stride,
                    padding=padding, dilation=dilation, rng=rng(), dtype=F64)
    layer.bias[:] = rng(2).normal(size=3)
    x = rng(1).normal(size=(2, 6, 5, 2))
    w = weights_for(layer, x)
    _, (g, gx, _) = interpreted_gradient(total, layer, x, w)
    assert_matches_finite_differences(total, [layer, x, w], 0, g)
    assert_matches_finite_differences(total, [layer, x, w], 1, gx)


# each builds its layer in the dtype given, with the shape of an input
LAYERS = {
    "dense": lambda dt: (nn.Dense(4, 3, nn.sigmoid, rng=rng(), dtype=dt), (5, 4)),
    "dense_no_bias": lambda dt: (nn.Dense(4, 3, bias=False, rng=rng(), dtype=dt), (5, 4)),
    "maxpool": lambda dt: (nn.MaxPool(2), (2, 4, 5, 3)),
    "meanpool": lambda dt: (nn.MeanPool(2), (2, 4, 5, 3)),
    "globalmeanpool": lambda dt: (nn.GlobalMeanPool(), (2, 3, 4, 3)),
    "chain": lambda dt: (nn.Chain(nn.Conv(3, (2, 4), nn.relu, padding=1, rng=rng(), dtype=dt),
                               nn.MaxPool(2), nn.flatten,
                               nn.Dense(16, 3, nn.gelu, rng=rng(1), dtype=dt)), (2, 4, 4, 2)),
    "skip": lambda dt: (nn.SkipConnection(nn.Dense(4, 4, np.tanh, rng=rng(), dtype=dt), np.add),
                     (3, 4)),
    "parallel": lambda dt: (nn.Parallel(np.add, nn.Dense(4, 3, np.tanh, rng=rng(), dtype=dt),
                                     nn.Dense(4, 3, nn.elu, rng=rng(1), dtype=dt)), (3, 4)),
    "convtranspose": lambda dt: (nn.ConvTranspose(3, (2, 3), np.tanh, stride=2, padding=1,
                                               rng=rng(), dtype=dt), (2, 3, 4, 2)),
    "adaptivemeanpool": lambda dt: (nn.AdaptiveMeanPool(2), (2, 4, 6, 3)),
    "layernorm": lambda dt: (_shifted(nn.LayerNorm(5, dtype=dt)), (3, 5)),
    "batchnorm_train": lambda dt: (nn.trainmode(_shifted(nn.BatchNorm(3, dtype=dt))),
                                   (4, 2, 3, 3)),
    "batchnorm_test": lambda dt: (_with_statistics(_shifted(nn.BatchNorm(3, dtype=dt))),
                                  (5, 3)),
    "rnn": lambda dt: (nn.RNN(3, 4, rng=rng(), dtype=dt), (5, 2, 3)),
    "lstm": lambda dt: (nn.LSTM(3, 4, rng=rng(), dtype=dt), (5, 2, 3)),
    "gru": lambda dt: (nn.GRU(3, 4, rng=rng(), dtype=dt), (5, 2, 3)),
    "dropout": lambda dt: (nn.trainmode(nn.Dropout(0.4, seed=11)), (4, 5)),
    "attention": lambda dt: (_biased(nn.MultiHeadAttention(6, 2, rng=rng(), dtype=dt)), (2, 4, 6)),
    "causal_attention": lambda dt: (_biased(nn.MultiHeadAttention(6, 3, causal=True, rng=rng(),
                                                               dtype=dt)), (2, 4, 6)),
}


def _biased(layer):
    for name in ("bq", "bk", "bv", "bo"):
        getattr(layer, name)[...] = rng(4).normal(size=getattr(layer, name).shape)
    return layer


def _shifted(layer):
    """A layer whose scale and shift are not at their initial 1 and 0 (a test that could not
    tell them apart would pass with a rule that confuses them)."""
    layer.scale[:] = rng(7).uniform(0.5, 1.5, layer.scale.shape)
    layer.bias[:] = rng(8).normal(size=layer.bias.shape)
    return layer


def _with_statistics(layer):
    layer.running_mean[:] = rng(5).normal(size=layer.running_mean.shape)
    layer.running_var[:] = rng(6).uniform(0.5, 2.0, layer.running_var.shape)
    return layer


@pytest.mark.parametrize("name", LAYERS)
def test_layer_gradients(name):
    layer, shape = LAYERS[name](F64)
    x = rng(3).normal(size=shape)
    w = weights_for(layer, x)
    _, (g, gx, _) = interpreted_gradient(total, layer, x, w)
    assert_matches_finite_differences(total, [layer, x, w], 1, gx)
    if nn.saving.named_arrays(layer):
        assert_matches_finite_differences(total, [layer, x, w], 0, g)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_works_in_float32(name):
    """The same layer in float32: outputs and gradients stay float32 (no silent promotion) and
    agree with float64's to float32's precision."""
    (l32, shape), (l64, _) = LAYERS[name](np.float32), LAYERS[name](F64)
    x = rng(3).normal(size=shape)
    w = weights_for(l64, x)
    y32, (g32, gx32, _) = interpreted_gradient(total, l32, x.astype(np.float32),
                                               w.astype(np.float32))
    y64, (g64, gx64, _) = interpreted_gradient(total, l64, x, w)
    assert l32(x.astype(np.float32)).dtype == np.float32 and gx32.dtype == np.float32
    assert y32 == pytest.approx(y64, rel=1e-4, abs=1e-4)
    np.testing.assert_allclose(gx32, gx64, rtol=2e-3, atol=2e-3)
    for name, a in nn.saving.named_arrays(g32).items():
        assert a.dtype == np.float32, name
        np.testing.assert_allclose(a, nn.saving.named_arrays(g64)[name], rtol=2e-3, atol=2e-3)


ACTIVATIONS = ["relu", "leakyrelu", "elu", "gelu", "sigmoid", "softplus", "swish", "identity"]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradients(name):
    f = getattr(nn, name)
    x = rng().normal(size=(3, 5)) * 3
    x[np.abs(x) < 0.1] += 0.3  # away from the kinks at 0

    def loss(x):
        return np.sum(f(x) * np.cos(x))
    _, (gx,) = interpreted_gradient(loss, x)
    assert_matches_finite_differences(loss, [x], 0, gx)


# at 0: softplus is smooth, sigmoid(0) = 0.5; relu and leakyrelu take PyTorch's and Flux's
# subgradient there (the slope of the left side); the others are smooth
AT_ZERO = {"relu": 0.0, "leakyrelu": 0.01, "elu": 1.0, "gelu": 0.5, "sigmoid": 0.25,
           "softplus": 0.5, "swish": 0.5, "identity": 1.0}


@pytest.mark.parametrize("route", ["interpreted", "compiled"])
@pytest.mark.parametrize("name", AT_ZERO)
def test_activation_gradients_at_zero(name, route, monkeypatch):
    """softplus, written max(x, 0) + log1p(exp(-|x|)), took the kink subgradients of its two parts
    at 0, which do not cancel: 1.0 for 0.5. relu's was 1 (a zero-background image's pixels are
    exactly 0 at a zero-bias layer), where PyTorch and Flux take 0."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", route == "interpreted")
    f = getattr(nn, name)

    def total(x):
        return np.sum(f(x))
    (g,) = zygopy.gradient(total, np.zeros(1))
    assert g[0] == pytest.approx(AT_ZERO[name], rel=1e-12)


def test_sigmoid_and_softplus_stay_finite_far_out():
    x = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    assert np.all(np.isfinite(nn.sigmoid(x))) and np.all(np.isfinite(nn.softplus(x)))
    np.testing.assert_allclose(nn.sigmoid(x), 1 / (1 + np.exp(-np.clip(x, -700, 700))),
                               atol=1e-300)
    np.testing.assert_allclose(nn.softplus(x)[1:4], np.log1p(np.exp(x[1:4])))


def sigmoid_loss(x, w):
    return np.sum(w * nn.sigmoid(x)) + nn.sigmoid(x[0] * x[1])


def test_sigmoid_is_one_primitive():
    """nn.sigmoid is one primitive whose derivative reads its result, not its formula's
    intermediates; compiled, its value and gradient (reverse and forward mode) match the analytic
    ones far out, where exp overflows, and near 0, in float64, and float32 stays float32."""
    x = np.array([-800.0, -40.0, -3.5, -1.0, -1e-3, 0.0, 0.3, 2.0, 40.0, 800.0])
    w = rng().normal(size=x.shape)
    source = str(zygopy.code_ir(sigmoid_loss, x, w))
    assert "sigmoid(" in source and "exp(" not in source and "select(" not in source, source
    value, (gx, gw) = zygopy.withgradient(sigmoid_loss, x, w)
    with np.errstate(over="ignore"):
        s, p = 1 / (1 + np.exp(-x)), 1 / (1 + np.exp(-x[0] * x[1]))
    ds = s * (1 - s)
    want = w * ds
    want[:2] += p * (1 - p) * x[1::-1]
    assert value == pytest.approx(np.sum(w * s) + p, rel=1e-14)
    np.testing.assert_allclose(gx, want, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(gw, s, rtol=1e-14, atol=1e-300)
    assert_matches_finite_differences(sigmoid_loss, [x[2:8].copy(), w[2:8].copy()], 0,
                                      zygopy.gradient(sigmoid_loss, x[2:8], w[2:8])[0])
    tangent = rng().normal(size=x.shape)
    _, jvp = zygopy.jvp(lambda x: nn.sigmoid(x) * w, (x,), (tangent,))
    np.testing.assert_allclose(jvp, w * ds * tangent, rtol=1e-13, atol=1e-300)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    g32 = zygopy.gradient(sigmoid_loss, x32, w32)
    assert g32[0].dtype == np.float32 and nn.sigmoid(x32).dtype == np.float32
    np.testing.assert_allclose(g32[0], gx, rtol=1e-5, atol=1e-6)


def _targets(kind, shape, r):
    if kind == "onehot":
        return np.eye(shape[1])[r.integers(0, shape[1], shape[0])]
    if kind == "prob":
        p = r.uniform(0.1, 1.0, shape)
        return p / p.sum(axis=1, keepdims=True)
    if kind == "binary":
        return r.integers(0, 2, shape).astype(F64)
    return r.normal(size=shape)


LOSSES = [("mse", "real", "real"), ("mae", "real", "real"), ("huber", "real", "real"),
          ("crossentropy", "prob", "onehot"), ("binarycrossentropy", "unit", "binary"),
          ("logitbinarycrossentropy", "real", "binary"), ("kldivergence", "prob", "prob")]


@pytest.mark.parametrize("name,pred,target", LOSSES)
def test_loss_gradients(name, pred, target):
    r = rng()
    shape = (4, 3)
    yhat = (_targets("prob", shape, r) if pred == "prob" else r.uniform(0.1, 0.9, shape)
            if pred == "unit" else r.normal(size=shape) * 2)
    y = _targets(target, shape, r)
    if name == "mae":
        yhat = y + np.where(r.uniform(size=shape) > 0.5, 1, -1) * r.uniform(0.1, 1.0, shape)
    f = getattr(nn, name)

    def loss(yhat, y):  # called as users do, inside their loss
        return f(yhat, y)
    _, (g, _) = interpreted_gradient(loss, yhat, y)
    assert_matches_finite_differences(loss, [yhat, y], 0, g)


def test_embedding_and_integer_label_losses():
    emb = nn.Embedding(7, 3, rng=rng(), dtype=F64)
    tokens = np.array([[1, 4, 4], [6, 0, 1]])  # repeated tokens: their gradients add up
    w = rng(1).normal(size=(2, 3, 3))
    _, (g, _, _) = interpreted_gradient(total, emb, tokens, w)
    assert_matches_finite_differences(total, [emb, tokens, w], 0, g)
    logits, labels = rng(2).normal(size=(5, 4)), np.array([0, 3, 3, 1, 2])

    def loss(logits, labels):
        return nn.logitcrossentropy_labels(logits, labels)
    value, (g, _) = interpreted_gradient(loss, logits, labels)
    assert value == pytest.approx(nn.logitcrossentropy(logits, np.eye(4)[labels]), rel=1e-12)
    assert_matches_finite_differences(loss, [logits, labels], 0, g)


def test_chain_indexing_and_names():
    a, b, c = nn.Dense(2, 3, rng=rng()), nn.Dense(3, 3, rng=rng()), nn.Dense(3, 1, rng=rng())
    m = nn.Chain(enc=a, mid=b, dec=c)
    assert m["mid"] is b and m[0] is a and len(m) == 3 and list(m) == [a, b, c]
    head = m[:2]
    assert isinstance(head, nn.Chain) and head.names == ("enc", "mid") and head[1] is b
    x = np.ones((2, 2), np.float32)
    np.testing.assert_array_equal(m(x), c(b(a(x))))
    with pytest.raises(KeyError, match="no layer named 'out'"):
        m["out"]
    with pytest.raises(TypeError, match="all positional or all named"):
        nn.Chain(a, dec=c)


def test_summary_lists_shapes_and_parameters():
    m = nn.Chain(nn.Conv(3, (1, 4), nn.relu, padding=1, rng=rng()), nn.MaxPool(2), nn.flatten,
                 nn.Dense(64, 10, rng=rng()))
    text = nn.summary(m, np.zeros((2, 8, 8, 1), np.float32))
    assert "(2, 8, 8, 4)" in text and "(2, 4, 4, 4)" in text and "(2, 10)" in text
    assert "total" in text and f"{3 * 3 * 4 + 4 + 64 * 10 + 10:,}" in text


def test_summary_counts_a_shared_or_tied_weight_once():
    """As PyTorch's sum(p.numel() for p in model.parameters()): a layer used twice, and a weight
    tied as a transposed view, are one array (the total said 2 x 3 more)."""
    enc, dec = nn.Dense(3, 2, rng=rng()), nn.Dense(2, 3, rng=rng())
    dec.weight = enc.weight.T
    tied = nn.summary(nn.Chain(enc, dec), np.zeros((1, 3), np.float32))
    assert tied.splitlines()[-1].split() == ["total", f"{6 + 2 + 3}"]
    square = nn.Dense(3, 3, rng=rng())
    twice = nn.summary(nn.Chain(square, square), np.zeros((1, 3), np.float32))
    assert twice.splitlines()[-1].split() == ["total", f"{9 + 3}"]


def test_compiled_model_gradient_agrees_with_the_evaluator():
    """The convolution, pooling and dropout kernels inside compiled code (one model, compiled
    once: compiling is what makes this test slow): the same values, gradients and masks."""
    model = nn.Chain(nn.Conv(3, (2, 3), nn.relu, stride=1, padding=1, rng=rng(), dtype=F64),
                     nn.MaxPool(2), nn.flatten, nn.trainmode(nn.Dropout(0.3, seed=5)),
                     nn.Dense(12, 2, rng=rng(1), dtype=F64))
    x, y = rng(2).normal(size=(2, 4, 4, 2)), rng(3).normal(size=(2, 2))

    def loss(m, x, y):
        return nn.mse(m(x), y)
    value, (g, gx, _) = zygopy.withgradient(loss, model, x, y)
    v2, (h, hx, _) = interpreted_gradient(loss, model, x, y)
    assert value == pytest.approx(v2, rel=1e-12)
    np.testing.assert_allclose(gx, hx, rtol=1e-10, atol=1e-12)
    for name, a in nn.saving.named_arrays(g).items():
        np.testing.assert_allclose(a, nn.saving.named_arrays(h)[name], rtol=1e-10, atol=1e-12)
    assert_matches_finite_differences(loss, [model, x, y], 0, g)


def _recording(buffer, x):
    mean = np.mean(x, axis=0)
    nn_primitives.record_statistics(buffer, mean, mean * mean, x.shape[0])
    return np.sum(np.sin(x))


@pytest.mark.parametrize("route", ["compiled", "evaluator"])
def test_statistics_are_recorded_into_the_callers_buffer(route):
    """BatchNorm's one write into a caller's array lands there on both routes, and leaves the
    gradient alone."""
    buffer, x = np.zeros((3, 2)), rng().normal(size=(4, 2))
    compute = zygopy.withgradient if route == "compiled" else interpreted_gradient
    _, (_, gx) = compute(_recording, buffer, x)
    np.testing.assert_allclose(gx, np.cos(x), rtol=1e-12)
    mean = x.mean(axis=0)
    np.testing.assert_allclose(buffer, [mean, mean * mean, [4, 4]], rtol=1e-12)


def test_conv_transpose_is_the_transpose_of_conv():
    """<conv2d(x, w), y> = <x, conv_transpose2d(y, w)>: the defining property."""
    x, w = rng().normal(size=(2, 7, 9, 3)), rng(1).normal(size=(3, 3, 3, 4))
    y = nn_primitives.conv2d(x, w, 2, 1, 1)  # sizes that stride 2 divides: no ragged edge
    v = rng(2).normal(size=y.shape)
    t = nn.conv_transpose2d(v, w, 2, 1, 1)
    assert t.shape == x.shape
    assert np.sum(y * v) == pytest.approx(np.sum(x * t), rel=1e-12)


def test_dropout_masks_are_seeded_and_off_in_test_mode():
    d = nn.trainmode(nn.Dropout(0.5, seed=3))
    x = np.ones((100, 100))
    y = d(x)
    assert set(np.unique(y)) == {0.0, 2.0} and abs(np.mean(y == 0) - 0.5) < 0.02
    np.testing.assert_array_equal(d(x), y)  # the same seed, the same mask
    d.resample(rng())
    assert not np.array_equal(d(x), y)
    nn.testmode(d)
    np.testing.assert_array_equal(d(x), x)
    m = nn.Chain(nn.Dense(2, 2, rng=rng()), nn.Dropout(0.1))
    nn.trainmode(m)
    assert m[1].active and not isinstance(m[0], nn.Dropout)
    nn.testmode(m)
    assert not m[1].active


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_sequence_task_trains(kind, monkeypatch):
    """Predict the running sum's sign of a random +-1 sequence at every step: needs memory.
    (Interpreted: the training loop is under test; compiled layers are tested above.)"""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    r = rng()
    xs = r.choice([-1.0, 1.0], size=(12, 64, 1))
    ys = (np.cumsum(xs, axis=0) > 0).astype(F64)
    model = nn.Chain(getattr(nn, kind)(1, 8, rng=r, dtype=F64),
                     _TimeDense(nn.Dense(8, 1, rng=r, dtype=F64)))

    def loss(m, xs, ys):
        return nn.logitbinarycrossentropy(m(xs), ys)
    before = loss(model, xs, ys)
    state = nn.setup(nn.Adam(0.05), model)
    nn.train(loss, model, [(xs, ys)] * 60, state, progress=False)
    after = loss(model, xs, ys)
    assert after < 0.35 < before, (before, after)


class _TimeDense:
    """A Dense layer applied at every step of a (time, batch, features) sequence."""

    def __init__(self, dense):
        self.dense = dense

    def __call__(self, xs):
        t, b, f = xs.shape
        return self.dense(xs.reshape(t * b, f)).reshape(t, b, -1)


LOSSES = ["mse", "mae", "huber", "crossentropy", "logitcrossentropy", "binarycrossentropy",
          "logitbinarycrossentropy", "kldivergence"]


@pytest.mark.parametrize("route", ["interpreted", "compiled"])
@pytest.mark.parametrize("name", LOSSES)
def test_a_target_of_another_shape_is_refused(name, route, monkeypatch):
    """Broadcast, a (4, 1) prediction against (4,) targets compared every pair: mse 0.6755 where
    the elementwise mean is 0.4577, silently (Flux raises; PyTorch warns)."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", route == "interpreted")
    loss = getattr(nn, name)

    def total(yhat, y):
        return loss(yhat, y)
    yhat = rng().uniform(0.1, 0.9, size=(4, 1))
    with pytest.raises(ValueError, match="prediction has shape \\(4, 1\\) and its target "
                       "\\(4,\\)"):
        zygopy.gradient(total, yhat, yhat[:, 0] * 0.5)
    zygopy.gradient(total, yhat, yhat * 0.5)  # matching: as before


def test_labels_of_another_shape_are_refused():
    """One-hot targets given to the labels' loss (or labels to the one-hot loss) are refused."""
    logits = rng().normal(size=(3, 3))
    with pytest.raises(ValueError, match="labels have shape \\(3, 3\\), not \\(3,\\)"):
        zygopy.gradient(lambda z, y: nn.logitcrossentropy_labels(z, y), logits,
                        np.eye(3, dtype=np.int64))
    with pytest.raises(ValueError, match="target \\(3,\\)"):
        zygopy.gradient(lambda z, y: nn.logitcrossentropy(z, y), logits, np.array([0, 2, 1]))


@pytest.mark.parametrize("layer, size, match", [
    (nn.MaxPool(3), 2, "a pooling tile of 3 x 3 is larger than the 2 x 2 image"),
    (nn.MeanPool(3), 2, "a pooling tile of 3 x 3 is larger than the 2 x 2 image"),
    (nn.AdaptiveMeanPool(3), 8, "AdaptiveMeanPool\\(3\\) of a 8 x 8 image: its height"),
], ids=["MaxPool", "MeanPool", "AdaptiveMeanPool"])
def test_pools_that_do_not_fit_the_image_are_errors(layer, size, match):
    """MaxPool(3) of a 2 x 2 image returned an empty array, silently (PyTorch raises);
    AdaptiveMeanPool(3) of an 8 x 8 one said "cannot reshape array of size 128"."""
    x = rng().normal(size=(2, size, size, 4))

    def total(layer, x):
        return np.sum(layer(x))
    with pytest.raises(ValueError, match=match):
        zygopy.gradient(total, layer, x)
    with pytest.raises(ValueError, match=match):
        layer(x)


@pytest.mark.parametrize("route", ["compiled", "evaluator", "python"])
def test_batchnorm_training_on_one_row_is_an_error(route):
    """A batch of one row has no variance to normalise by: PyTorch's BatchNorm raises in training
    ("Expected more than 1 value per channel"); here it trained silently, every output its bias
    and every input gradient 0. In test mode the running statistics serve, as there."""
    model, x = nn.trainmode(nn.BatchNorm(3, dtype=np.float64)), rng().normal(size=(1, 3))

    def loss(m, x):
        return np.sum(m(x) ** 2)

    compute = {"compiled": zygopy.withgradient, "evaluator": interpreted_gradient,
               "python": lambda f, *a: f(*a)}[route]
    with pytest.raises(ValueError, match="more than one value per channel"):
        compute(loss, model, x)
    nn.testmode(model)
    value = compute(loss, model, x)
    expected = np.sum((x / np.sqrt(1 + model.eps)) ** 2)
    assert (value if route == "python" else value[0]) == pytest.approx(expected, rel=1e-12)


def _squared(m, x):
    return np.sum(m(x) ** 2)


def test_conv_of_a_read_only_input():
    """A read-only input (and np.broadcast_to's view, which is one) failed to compile ('internal
    error': Numba typed the im2col kernel's write into its image). Values as Python's; the
    gradients against central differences and, for the input, its writable copy's."""
    conv = nn.Conv((3, 3), (2, 3), dtype=F64, rng=rng())
    x = rng(1).normal(size=(2, 5, 5, 2))
    x.flags.writeable = False
    for given in (x, np.broadcast_to(x[:1], x.shape)):
        value, (g, gx) = zygopy.withgradient(_squared, conv, given)
        assert value == pytest.approx(_squared(conv, given), rel=1e-12)
        assert_matches_finite_differences(_squared, [conv, given.copy()], 0, g)
        np.testing.assert_allclose(gx, zygopy.gradient(_squared, conv, given.copy())[1],
                                   rtol=1e-12)

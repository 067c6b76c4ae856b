"""zygopy.nn's optimisers (against NumPy transcriptions of their published updates, and against
PyTorch's where it is installed), saving and loading (round trip; corrupt, truncated and foreign
files), the DataLoader, and training (the loss falls; a NaN stops it cleanly)."""
import copy
import math
import os

import numpy as np
import pytest

import zygopy
from zygopy import nn
from zygopy.backend import tiered

from .nn_support import expect_rejected


def rng(seed=0):
    return np.random.default_rng(seed)


class Pair:
    def __init__(self, r):
        self.w = r.normal(size=(3, 2))
        self.b = r.normal(size=2)
        self.n = 4  # not trainable: an int


def reference_steps(name, x, gs, **kw):
    """The published update rules, transcribed plainly."""
    x, out = x.copy(), []
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for t, g in enumerate(gs, start=1):
        if name == "Descent":
            x -= kw["eta"] * g
        elif name == "Momentum":  # Polyak: v = rho v + eta g
            m = kw["rho"] * m + kw["eta"] * g
            x -= m
        elif name == "Nesterov":  # Sutskever et al. 2013, as Optimisers.jl writes it
            step = -kw["rho"] ** 2 * m + (1 + kw["rho"]) * kw["eta"] * g
            m = kw["rho"] * m - kw["eta"] * g
            x -= step
        elif name == "RMSProp":
            v = kw["rho"] * v + (1 - kw["rho"]) * g * g
            x -= kw["eta"] * g / (np.sqrt(v) + kw["eps"])
        elif name in ("Adam", "AdamW"):  # Kingma and Ba, Algorithm 1; Loshchilov and Hutter
            b1, b2 = kw["beta"]
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            decay = kw["eta"] * kw.get("decay", 0.0) * x
            x = x - kw["eta"] * mhat / (np.sqrt(vhat) + kw["eps"]) - decay
        out.append(x.copy())
    return out


RULES = [("Descent", dict(eta=0.1)), ("Momentum", dict(eta=0.05, rho=0.9)),
         ("Nesterov", dict(eta=0.05, rho=0.9)), ("RMSProp", dict(eta=0.01, rho=0.9, eps=1e-8)),
         ("Adam", dict(eta=0.01, beta=(0.9, 0.999), eps=1e-8)),
         ("AdamW", dict(eta=0.01, beta=(0.9, 0.999), decay=0.1, eps=1e-8))]


@pytest.mark.parametrize("name,kw", RULES)
def test_rule_matches_its_published_update(name, kw):
    model = Pair(rng())
    w0 = model.w.copy()
    gs = [rng(k).normal(size=(3, 2)) for k in range(1, 6)]
    state = nn.setup(getattr(nn, name)(**kw), model)
    expected = reference_steps(name, w0, gs, **kw)
    for g, e in zip(gs, expected, strict=True):
        grads = Pair(rng())
        grads.w, grads.b, grads.n = g, np.zeros(2), None
        nn.update(state, model, grads)
        np.testing.assert_allclose(model.w, e, rtol=1e-12, atol=1e-14)
    assert model.n == 4


@pytest.mark.parametrize("name,kw", RULES)
def test_a_float32_model_steps_in_float32(name, kw):
    """A float32 model's update computes in float32 (the kernels' constants in its dtype, as
    PyTorch's and JAX's optimisers compute): 5 steps within float32 rounding of the published
    update computed in float64 (a few units of 2^-24 relative to a step of O(eta) per step; a
    wrong constant is off by O(eta)), its arrays and states float32 still."""
    model = Pair(rng())
    model.w, model.b = model.w.astype(np.float32), model.b.astype(np.float32)
    gs = [rng(k).normal(size=(3, 2)).astype(np.float32) for k in range(1, 6)]
    state = nn.setup(getattr(nn, name)(**kw), model)
    expected = reference_steps(name, model.w.astype(np.float64), gs, **kw)
    for g, e in zip(gs, expected, strict=True):
        grads = Pair(rng())
        grads.w, grads.b, grads.n = g, np.zeros(2, np.float32), None
        nn.update(state, model, grads)
        assert model.w.dtype == np.float32
        np.testing.assert_allclose(model.w, e, rtol=1e-5, atol=1e-6 * kw["eta"])
    assert all(a.dtype == np.float32 for s in state.states if s for a in s
               if a.dtype.kind == "f")


def test_a_schedule_may_give_numpy_numbers():
    """A learning-rate schedule returning a 0-d array or a NumPy scalar steps as the same Python
    float does (Adam's constants are cached by value, which a 0-d array is not hashable as)."""
    results = []
    for eta in (lambda t: 0.01 / t, lambda t: np.array(0.01 / t), lambda t: np.float32(0.01) / t):
        model = Pair(rng())
        state = nn.setup(nn.Adam(eta), model)
        for k in range(1, 4):
            grads = Pair(rng(k))
            grads.n = None
            nn.update(state, model, grads)
        results.append(model.w)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], results[2], rtol=1e-6)  # 0.01 rounded to float32


TORCH = {"Descent": ("SGD", lambda kw: dict(lr=kw["eta"])),
         "Momentum": ("SGD", lambda kw: dict(lr=kw["eta"], momentum=kw["rho"])),
         "RMSProp": ("RMSprop", lambda kw: dict(lr=kw["eta"], alpha=kw["rho"], eps=kw["eps"])),
         "Adam": ("Adam", lambda kw: dict(lr=kw["eta"], betas=kw["beta"], eps=kw["eps"])),
         "AdamW": ("AdamW", lambda kw: dict(lr=kw["eta"], betas=kw["beta"], eps=kw["eps"],
                                            weight_decay=kw["decay"]))}


@pytest.mark.parametrize("name,kw", [r for r in RULES if r[0] in TORCH])
def test_rule_matches_pytorch(name, kw):
    torch = pytest.importorskip("torch")
    model = Pair(rng())
    p = torch.nn.Parameter(torch.tensor(model.w.copy()))
    cls, args = TORCH[name]
    opt = getattr(torch.optim, cls)([p], **args(kw))
    state = nn.setup(getattr(nn, name)(**kw), model)
    for k in range(1, 6):
        g = rng(k).normal(size=(3, 2))
        p.grad = torch.tensor(g.copy())
        opt.step()
        grads = Pair(rng())
        grads.w, grads.b, grads.n = g, np.zeros(2), None
        nn.update(state, model, grads)
        # PyTorch's momentum buffer holds g, ours eta*g: equal updates while eta is constant
        np.testing.assert_allclose(model.w, p.detach().numpy(), rtol=1e-10, atol=1e-12)


class Tied:
    """One array in two places (weights tied between layers)."""
    def __init__(self, r):
        self.first = r.normal(size=(3, 3))
        self.second = self.first
        self.b = r.normal(size=3)


@pytest.mark.parametrize("name, kw", [RULES[0], RULES[4]])
def test_tied_weights_take_one_step_from_their_summed_gradient(name, kw):
    model, g = Tied(rng()), Tied(rng(1))
    g.second = rng(2).normal(size=(3, 3))  # a gradient per place, as zygopy.gradient gives
    expected = reference_steps(name, model.first, [g.first + g.second], **kw)[0]
    state = nn.setup(getattr(nn, name)(**kw), model)
    nn.update(state, model, g)
    assert model.second is model.first
    np.testing.assert_allclose(model.first, expected, rtol=1e-12, atol=1e-14)
    nn.freeze(state, model.second)  # either place names the array
    before = model.first.copy()
    nn.update(state, model, g)
    np.testing.assert_array_equal(model.first, before)


def autoencoder(seed=0):
    """A decoder whose weight is the encoder's, transposed: a view, not a copy."""
    enc = nn.Dense(4, 3, np.tanh, rng=rng(seed), dtype=np.float64)
    dec = nn.Dense(3, 4, rng=rng(seed + 1), dtype=np.float64)
    dec.weight = enc.weight.T
    return nn.Chain(enc, dec)


def reconstruction(model, x):
    return nn.mse(model(x), x)


@pytest.mark.parametrize("name,kw", [r for r in RULES if r[0] in TORCH])
def test_a_weight_tied_as_a_view_has_one_state_as_in_pytorch(name, kw, monkeypatch):
    """A weight and its transpose, held by two layers, had a state each (setup knew ties by
    identity only): Adam drifted from PyTorch's one parameter used twice by 0.05 in 5 steps,
    silently. Now they are one array with one state, stepped by the sum of their gradients."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    model, x = autoencoder(), rng(2).normal(size=(8, 4))
    enc, dec = model
    w, b1, b2 = (torch.nn.Parameter(torch.tensor(a.copy())) for a in (enc.weight, enc.bias,
                                                                      dec.bias))
    cls, args = TORCH[name]
    opt = getattr(torch.optim, cls)([w, b1, b2], **args(kw))
    state = nn.setup(getattr(nn, name)(**kw), model)
    assert sum(s is not None for s in state.states) == 3
    xt = torch.tensor(x)
    for _ in range(5):
        nn.update(state, model, zygopy.gradient(reconstruction, model, x)[0])
        opt.zero_grad()
        torch.mean((torch.tanh(xt @ w + b1) @ w.T + b2 - xt) ** 2).backward()
        opt.step()
        np.testing.assert_allclose(enc.weight, w.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dec.bias, b2.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert dec.weight.base is enc.weight


def test_a_slice_tied_to_an_array_trains_with_it_and_overlapping_slices_are_refused():
    """The gradient of a view of part of an array lands on that part; two slices that overlap,
    of an array the model does not hold, have no one array to train."""
    kw = dict(eta=0.01, beta=(0.9, 0.999), eps=1e-8)
    model, g = Pair(rng()), Pair(rng(1))
    model.b, g.b, g.n = model.w[1], rng(2).normal(size=2), None
    summed = g.w.copy()
    summed[1] += g.b
    expected = reference_steps("Adam", model.w, [summed], **kw)[0]
    state = nn.setup(nn.Adam(**kw), model)
    nn.update(state, model, g)
    np.testing.assert_allclose(model.w, expected, rtol=1e-12)
    np.testing.assert_array_equal(model.b, model.w[1])
    nn.freeze(state, model.b)  # the view names the array it is part of
    before = model.w.copy()
    nn.update(state, model, g)
    np.testing.assert_array_equal(model.w, before)
    model.b = model.b.copy()  # untied after setup: its gradient would go to model.w
    with pytest.raises(ValueError, match="no longer shares memory"):
        nn.update(state, model, g)
    memory = rng().normal(size=(4, 2))
    model.w, model.b = memory[:3], memory[2:]
    with pytest.raises(nn.UntrainableTie, match="w, b share memory"):
        nn.setup(nn.Adam(), model)


def test_chained_rules_clipping_decay_schedules_and_freezing():
    model = Pair(rng())
    g = Pair(rng(1))
    g.w = np.full((3, 2), 4.0)
    g.b, g.n = np.full(2, -4.0), None
    norm = math.sqrt(8 * 16.0)
    state = nn.setup(nn.chain(nn.ClipNorm(1.0), nn.Descent(0.5)), model)
    w0 = model.w.copy()
    nn.update(state, model, g)
    np.testing.assert_allclose(model.w, w0 - 0.5 * 4.0 / norm)
    state = nn.setup(nn.chain(nn.ClipGrad(1.0), nn.WeightDecay(0.1), nn.Descent(0.5)), model)
    w0 = model.w.copy()
    nn.update(state, model, g)
    np.testing.assert_allclose(model.w, w0 - 0.5 * (1.0 + 0.1 * w0))
    state = nn.setup(nn.Descent(nn.exponential(1.0, 0.5)), model)
    nn.freeze(state, model.b)
    b0, w0 = model.b.copy(), model.w.copy()
    nn.update(state, model, g)
    nn.update(state, model, g)
    np.testing.assert_array_equal(model.b, b0)
    np.testing.assert_allclose(model.w, w0 - (1.0 + 0.5) * 4.0)
    nn.thaw(state, model.b)
    nn.update(state, model, g)
    np.testing.assert_allclose(model.b, b0 + 0.25 * 4.0)
    assert nn.cosine(1.0, 10)(1) == 1.0 and nn.cosine(1.0, 10)(11) == pytest.approx(0.0)
    assert nn.warmup(1.0, 4)(2) == 0.5


def test_optimisers_leave_batchnorm_statistics_to_the_forward_pass():
    """Running averages are state: AdamW's decay and steps leave them alone; they move only by
    the statistics a training forward recorded, once per update, by the published formula."""
    model = nn.Chain(nn.Dense(3, 4, rng=rng(), dtype=np.float64),
                     nn.trainmode(nn.BatchNorm(4, momentum=0.5, dtype=np.float64)))
    bn = model[1]
    state = nn.setup(nn.AdamW(0.1, decay=0.5), model)
    grads = copy.deepcopy(model)  # a gradient of the model's shape: ones everywhere
    for a in nn.saving.named_arrays(grads).values():
        a[...] = 1.0
    nn.update(state, model, grads)
    np.testing.assert_array_equal(bn.running_mean, 0.0)  # nothing recorded yet
    np.testing.assert_array_equal(bn.running_var, 1.0)
    x = rng(1).normal(size=(6, 3))
    h = model[0](x)
    model(x)  # a training forward records this batch
    nn.update(state, model, grads)
    np.testing.assert_allclose(bn.running_mean, 0.5 * h.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.5 + 0.5 * h.var(axis=0, ddof=1), rtol=1e-12)
    before = bn.running_mean.copy()
    nn.update(state, model, grads)  # the record is folded once
    np.testing.assert_array_equal(bn.running_mean, before)
    assert "state, not trained" in nn.summary(model, x)


def test_update_rejects_a_different_model():
    state = nn.setup(nn.Adam(), Pair(rng()))
    with pytest.raises(ValueError, match="structure differs"):
        nn.update(state, (np.zeros(2),), (np.zeros(2),))


def model_for_saving(dtype=np.float32):
    r = rng()
    return nn.Chain(nn.Conv(3, (1, 2), nn.relu, padding=1, rng=r, dtype=dtype), nn.MaxPool(2),
                    nn.flatten, nn.Dense(8, 3, rng=r, dtype=dtype))


def test_save_load_round_trip(tmp_path):
    a, b = model_for_saving(), model_for_saving()
    for arr in nn.saving.named_arrays(b).values():
        arr[...] = 0
    x = rng(1).normal(size=(2, 4, 4, 1)).astype(np.float32)
    path = tmp_path / "m.safetensors"
    nn.save(path, a)
    nn.load(path, b)
    np.testing.assert_array_equal(a(x), b(x))
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]  # no temporary left behind


def test_saved_file_is_standard_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    a = model_for_saving()
    nn.save(tmp_path / "m.safetensors", a)
    loaded = st.load_file(str(tmp_path / "m.safetensors"))
    for name, arr in nn.saving.named_arrays(a).items():
        np.testing.assert_array_equal(loaded[name], arr)


def test_corrupt_truncated_and_foreign_files_are_rejected(tmp_path):
    path = tmp_path / "m.safetensors"
    nn.save(path, model_for_saving())
    blob = path.read_bytes()
    target = model_for_saving()
    for k in nn.saving.named_arrays(target):
        nn.saving.named_arrays(target)[k][...] = 7
    cases = {"short": (blob[:5], "too short"),
             "truncated": (blob[:-10], "bytes .* do not hold"),
             "trailing": (blob + b"xx", "bytes after the last array"),
             "header": (blob[:8] + b"{" * 16 + blob[24:], "not valid JSON"),
             "length": (b"\xff" * 8 + blob[8:], "header claims"),
             "pickle": (b"\x80\x04\x95" + blob[3:], "header claims")}
    for name, (data, match) in cases.items():
        bad = tmp_path / f"{name}.safetensors"
        bad.write_bytes(data)
        expect_rejected(bad, target, match)
    nn.save(tmp_path / "other.safetensors", model_for_saving(np.float64))
    expect_rejected(tmp_path / "other.safetensors", target, "float64")
    nn.save(tmp_path / "small.safetensors", nn.Chain(nn.Dense(8, 3, rng=rng())))
    expect_rejected(tmp_path / "small.safetensors", target, "another model: missing")


def test_dataloader_batches_shuffles_and_keeps_the_last_partial_batch():
    x, y = np.arange(10.0).reshape(10, 1), np.arange(10)
    batches = list(nn.DataLoader((x, y), batchsize=4))
    assert [len(b[0]) for b in batches] == [4, 4, 2] and np.array_equal(batches[2][1], [8, 9])
    assert len(list(nn.DataLoader((x, y), batchsize=4, partial=False))) == 2
    one = [b[1].tolist() for b in nn.DataLoader((x, y), 4, shuffle=True, rng=rng(5))]
    two = [b[1].tolist() for b in nn.DataLoader((x, y), 4, shuffle=True, rng=rng(5))]
    assert one == two and sorted(sum(one, [])) == list(range(10)) and one[0] != [0, 1, 2, 3]
    np.testing.assert_array_equal(x[one[0], 0], [float(v) for v in one[0]])  # rows stay paired
    with pytest.raises(ValueError, match="first axes differ"):
        nn.DataLoader((x, y[:5]))


def regression(model, x, y):
    return nn.mse(model(x), y)


def test_training_lowers_the_loss(monkeypatch):
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)  # the loop is tested here, not the compiler
    r = rng()
    x = r.normal(size=(64, 3))
    y = np.sin(x @ np.array([[1.0], [-2.0], [0.5]]))
    model = nn.Chain(nn.Dense(3, 16, np.tanh, rng=r, dtype=np.float64),
                     nn.Dense(16, 1, rng=r, dtype=np.float64))
    before = regression(model, x, y)
    state = nn.setup(nn.Adam(0.01), model)
    history = nn.train(regression, model, nn.DataLoader((x, y), 16, shuffle=True, rng=r), state,
                       epochs=30, progress=False)
    assert len(history) == 30 * 4
    assert regression(model, x, y) < 0.3 * before


def test_a_nan_stops_training_before_the_update(monkeypatch):
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    r = rng()
    x = r.normal(size=(8, 3))
    y = np.ones((8, 1))
    x[5, 1] = np.nan
    model = nn.Chain(nn.Dense(3, 1, rng=r, dtype=np.float64))
    w0 = model[0].weight.copy()
    state = nn.setup(nn.Descent(0.1), model)
    with pytest.raises(nn.NonFinite, match="step 2: the loss is nan"):
        nn.train(regression, model, nn.DataLoader((x, y), 4), state, progress=False)
    assert not np.array_equal(model[0].weight, w0) and np.all(np.isfinite(model[0].weight))


def test_early_stopping_stops_when_the_metric_stalls():
    values = iter([3.0, 2.0, 2.5, 2.4, 2.2, 1.0])
    cb = nn.early_stopping(lambda: next(values), patience=3)
    assert [cb(e, 0.0) for e in range(1, 6)] == [False, False, False, False, True]


def test_update_checks_shapes_and_gradients_against_the_state():
    """A state set up for other shapes let the kernels run past the end of its arrays (wrong
    steps, then a crash); a tuple of gradients as zygopy.gradient returns it matched no array,
    so nothing moved while the step count advanced."""
    small = nn.Dense(2, 2, rng=rng(), dtype=np.float64)
    state = nn.setup(nn.Momentum(eta=0.1, rho=0.9), small)
    big = nn.Dense(2, 64, rng=rng(), dtype=np.float64)
    with pytest.raises(ValueError, match="structure differs|set up as"):
        nn.update(state, big, copy.deepcopy(big))
    state = nn.setup(nn.Adam(0.1), small)
    with pytest.raises(ValueError, match="gradient of array"):
        nn.update(state, small, nn.Dense(2, 3, rng=rng(), dtype=np.float64))
    with pytest.raises(ValueError, match="returns one gradient per argument"):
        nn.update(state, small, (copy.deepcopy(small),))
    assert state.t == 0


def test_a_thawed_array_takes_adam_steps_of_its_own_count():
    """Adam's bias correction counts the steps each array took, as PyTorch's (which skips a
    parameter with no gradient): a global count made an array thawed after 1000 frozen steps
    take a first step of 2.5 eta instead of eta sign(g)."""
    model, g = Pair(rng()), Pair(rng(1))
    g.n = None
    state = nn.setup(nn.Adam(0.01), model)
    nn.freeze(state, model.w)
    for _ in range(100):
        nn.update(state, model, g)
    nn.thaw(state, model.w)
    w0 = model.w.copy()
    nn.update(state, model, g)
    expected = reference_steps("Adam", w0, [g.w], eta=0.01, beta=(0.9, 0.999), eps=1e-8)[0]
    np.testing.assert_allclose(model.w, expected, rtol=1e-12)
    np.testing.assert_allclose(w0 - model.w, 0.01 * np.sign(g.w), rtol=1e-6)


@pytest.mark.parametrize("name, kw", RULES)
def test_rules_step_arrays_of_any_layout(name, kw):
    """A transposed (tied) weight and a Fortran-ordered gradient: the kernels' flat views failed
    inside Numba for every rule but Descent."""
    model, g = Pair(rng()), Pair(rng(1))
    model.w, g.w, g.n = np.asfortranarray(model.w), np.asfortranarray(g.w), None
    expected = reference_steps(name, model.w, [g.w, g.w], **kw)[1]
    state = nn.setup(getattr(nn, name)(**kw), model)
    nn.update(state, model, g)
    nn.update(state, model, g)
    np.testing.assert_allclose(model.w, expected, rtol=1e-12, atol=1e-14)


def test_float16_arrays_are_refused_by_setup():
    model = Pair(rng())
    model.w = model.w.astype(np.float16)
    with pytest.raises(TypeError, match="float16"):
        nn.setup(nn.Adam(), model)


def test_callbacks_see_the_model_in_test_mode(monkeypatch):
    """An early-stopping metric measured the model with Dropout still active."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    r = rng()
    x, y = r.normal(size=(8, 3)), r.normal(size=(8, 1))
    model = nn.Chain(nn.Dense(3, 4, rng=r, dtype=np.float64), nn.Dropout(0.5),
                     nn.Dense(4, 1, rng=r, dtype=np.float64))
    seen = []
    nn.train(regression, model, nn.DataLoader((x, y), 4), nn.setup(nn.Descent(0.0), model),
             epochs=3, progress=False,
             callbacks=[lambda epoch, loss: seen.append(regression(model, x, y)) and False])
    assert seen == [regression(model, x, y)] * 3  # deterministic: Dropout off


def test_calls_of_train_draw_new_dropout_masks(monkeypatch):
    """Given no rng, each call of train made default_rng(0) again: calling train(epochs=1) in a
    loop repeated the first call's masks at every call."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    r = rng()
    x, y = r.normal(size=(8, 3)), r.normal(size=(8, 1))
    model = nn.Chain(nn.Dense(3, 16, rng=r, dtype=np.float64), nn.Dropout(0.5),
                     nn.Dense(16, 1, rng=r, dtype=np.float64))
    state = nn.setup(nn.Descent(0.0), model)  # the model stays as it is: only masks differ
    first, second = (nn.train(regression, model, [(x, y)], state, progress=False)
                     for _ in range(2))
    assert first != second


def test_a_hand_written_training_loop_draws_new_dropout_masks(monkeypatch):
    """Masks were drawn anew only by train: a loop of gradient and update over a model in train
    mode dropped the same units at every step, where PyTorch's and Flux's draw new ones at each
    forward. update draws them for the next step."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    r = rng()
    x, y = r.normal(size=(8, 3)), r.normal(size=(8, 1))
    model = nn.trainmode(nn.Chain(nn.Dense(3, 16, rng=r, dtype=np.float64), nn.Dropout(0.5),
                                  nn.Dense(16, 1, rng=r, dtype=np.float64)))
    state = nn.setup(nn.Descent(0.0), model)  # the model stays as it is: only masks differ
    dropped = []
    for _ in range(3):
        value, (grads, *_) = zygopy.withgradient(regression, model, x, y)
        dropped.append(model[1](np.ones((8, 16))) == 0)
        nn.update(state, model, grads)
    assert not np.array_equal(dropped[0], dropped[1]) and not np.array_equal(dropped[1],
                                                                               dropped[2])
    assert all(0.3 < np.mean(d) < 0.7 for d in dropped)


def test_data_given_as_a_generator(monkeypatch):
    """A generator's len() failed after a whole epoch had changed the model; over several epochs
    the first would use it up. One epoch trains; more are refused before any step."""
    monkeypatch.setattr(tiered, "INTERPRET_ONLY", True)
    r = rng()
    x, y = r.normal(size=(8, 3)), r.normal(size=(8, 1))
    model = nn.Chain(nn.Dense(3, 1, rng=r, dtype=np.float64))
    state = nn.setup(nn.Descent(0.1), model)
    w0 = model[0].weight.copy()
    with pytest.raises(TypeError, match="data is an iterator"):
        nn.train(regression, model, ((x[i:i + 4], y[i:i + 4]) for i in (0, 4)), state,
                 epochs=2, progress=False)
    assert np.array_equal(model[0].weight, w0)
    history = nn.train(regression, model, ((x[i:i + 4], y[i:i + 4]) for i in (0, 4)), state,
                       progress=False)
    assert len(history) == 2 and not np.array_equal(model[0].weight, w0)


def test_training_resumes_from_a_saved_model_and_state(tmp_path):
    """The step count was an int the state's file did not hold: a loaded state restarted its
    schedule and Adam's bias correction (0.03 off after 5 + 5 steps). Ten steps in one go and
    five, save, load into fresh objects, five more give the same model."""
    r = rng(2)
    x, y = r.normal(size=(8, 3)), r.normal(size=(8, 1))
    rule = nn.Adam(nn.cosine(0.05, 10))

    def fresh():
        model = nn.Chain(nn.Dense(3, 4, np.tanh, rng=rng(0), dtype=np.float64),
                         nn.Dense(4, 1, rng=rng(1), dtype=np.float64))
        return model, nn.setup(rule, model)

    def steps(model, state, n):
        for _ in range(n):
            nn.update(state, model, zygopy.gradient(regression, model, x, y)[0])

    whole, whole_state = fresh()
    steps(whole, whole_state, 10)
    first, first_state = fresh()
    steps(first, first_state, 5)
    nn.save(tmp_path / "model.safetensors", first)
    nn.save(tmp_path / "state.safetensors", first_state)
    resumed, resumed_state = fresh()
    nn.load(tmp_path / "model.safetensors", resumed)
    nn.load(tmp_path / "state.safetensors", resumed_state)
    assert resumed_state.t == 5
    steps(resumed, resumed_state, 5)
    for name, a in nn.saving.named_arrays(whole).items():
        np.testing.assert_array_equal(nn.saving.named_arrays(resumed)[name], a, err_msg=name)


def test_a_model_with_a_tied_view_resumes_from_its_saved_model_and_state(tmp_path):
    """Loading copies into the model's arrays, so the decoder stays a view of the encoder, and
    the state, one per array, resumes: ten steps and five, save, load, five give one model."""
    x = rng(2).normal(size=(8, 4))

    def steps(model, state, n):
        for _ in range(n):
            nn.update(state, model, zygopy.gradient(reconstruction, model, x)[0])

    whole = autoencoder()
    steps(whole, nn.setup(nn.Adam(0.01), whole), 10)
    first = autoencoder()
    first_state = nn.setup(nn.Adam(0.01), first)
    steps(first, first_state, 5)
    nn.save(tmp_path / "model.safetensors", first)
    nn.save(tmp_path / "state.safetensors", first_state)
    resumed = autoencoder(seed=5)
    resumed_state = nn.setup(nn.Adam(0.01), resumed)
    nn.load(tmp_path / "model.safetensors", resumed)
    nn.load(tmp_path / "state.safetensors", resumed_state)
    steps(resumed, resumed_state, 5)
    assert resumed[1].weight.base is resumed[0].weight
    for name, a in nn.saving.named_arrays(whole).items():
        np.testing.assert_array_equal(nn.saving.named_arrays(resumed)[name], a, err_msg=name)

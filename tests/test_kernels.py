"""Per-element kernels (zygopy.kernel): forward and generated backward on the CPU (parallel
loops) against NumPy and finite differences; the same kernels under Numba's CUDA simulator (in
a child process, which must set NUMBA_ENABLE_CUDASIM before numba.cuda is imported), and their
PTX from numba-cuda."""
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zygopy
from tests.kernel_checks import assert_close_gradients, finite_difference_vjp
from tests.kernel_examples import (
    SHARED,
    conv1d,
    damped_orbit,
    examples,
    reference,
    softplus,
    swish,
)
from zygopy import nn

NAMES = list(examples())


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


HAS_PTX = _installed("numba_cuda") and _installed("cuda.bindings")


def _real_gpu():
    """A CUDA GPU numba-cuda can use (not the simulator)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or not _installed("numba_cuda"):
        return False
    try:
        from numba import cuda
        return cuda.is_available()
    except Exception:  # noqa: BLE001  (no driver, no toolkit: no GPU)
        return False


@pytest.mark.parametrize("name", NAMES)
def test_cpu_forward_and_gradient(name):
    kernel, inputs = examples()[name]
    y = kernel(*inputs)
    np.testing.assert_allclose(y, reference(name, *inputs), rtol=1e-12, atol=1e-12)
    gout = np.random.default_rng(1).normal(size=y.shape)
    got = kernel.vjp(gout, *inputs)
    assert_close_gradients(got, finite_difference_vjp(kernel, inputs, gout))


def test_loop_of_run_time_trip_count_gets_its_gradient_right():
    """The loop-carried state of a loop whose trip count is only known at run time (where Warp's
    generated adjoint is silently wrong): per-thread stacks, grown when a thread needs more."""
    x, a = np.array([0.3, 1.2]), np.array([0.95])
    steps = np.array([5, 150])  # more trips than the stacks start with
    gout = np.ones(2)
    got = damped_orbit.vjp(gout, x, a, steps)
    assert_close_gradients(got, finite_difference_vjp(damped_orbit, (x, a, steps), gout))


@pytest.mark.skipif(not HAS_PTX, reason="needs numba-cuda[cu13] (NVVM) for compile_ptx")
@pytest.mark.parametrize("name", NAMES)
def test_ptx_of_forward_and_backward(name):
    kernel, inputs = examples()[name]
    ptx = zygopy.code_ptx(kernel, *inputs)
    for part in ("forward", "backward"):
        assert ".entry" in ptx[part] and ".target sm_90" in ptx[part]
    atomic = "atom.global.add.f64" in ptx["backward"]
    assert atomic == SHARED[name]
    if name != "pair_forces":  # the only one whose forward adds into shared outputs
        assert "atom.global.add" not in ptx["forward"]
    else:
        assert "atom.global.add.f64" in ptx["forward"]


@pytest.mark.parametrize("name", NAMES)
def test_gpu_adds_into_a_shared_array_only_atomically(name):
    """Where threads add into each other's elements (pair_forces: force[j] -= f), a thread's
    add at its own index races with theirs unless it is atomic too: every add into an array
    that meets an atomic add anywhere in the kernel is atomic."""
    import re
    kernel, inputs = examples()[name]
    outs = [np.zeros(s) for s in kernel._shapes(inputs)]
    for src in kernel.compiled(outs, inputs, target="cuda").sources():
        atomic = set(re.findall(r"cuda\.atomic\.add\((\w+),", src))
        plain = set(re.findall(r"^\s*(\w+)\[[^\]]*\] \+= ", src, re.M))
        assert not atomic & plain, src


SIMULATED = """
import json, sys
import numpy as np
from numba import cuda
from tests.kernel_examples import examples
out = {}
for name, (kernel, inputs) in examples().items():
    device = [x if isinstance(x, float) else cuda.to_device(x) for x in inputs]
    y = kernel(*device).copy_to_host()
    gout = np.random.default_rng(1).normal(size=y.shape)
    grads = kernel.vjp(cuda.to_device(gout), *device)
    out[name] = [y.tolist(), [g if g is None or isinstance(g, float) else g.copy_to_host().tolist()
                              for g in grads]]
json.dump(out, sys.stdout)
"""


@pytest.mark.skipif(not _installed("numba_cuda"), reason="needs numba-cuda")
def test_cuda_simulator_matches_the_cpu_and_finite_differences():
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1",
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", SIMULATED], env=env, cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    for name, (kernel, inputs) in examples().items():
        y, grads = results[name]
        np.testing.assert_allclose(y, reference(name, *inputs), rtol=1e-12, atol=1e-12)
        gout = np.random.default_rng(1).normal(size=np.shape(y))
        want = finite_difference_vjp(kernel, inputs, gout)
        got = [g if g is None or isinstance(g, float) else np.array(g) for g in grads]
        assert_close_gradients(got, want)
        assert_close_gradients(got, kernel.vjp(gout, *inputs))


@pytest.mark.skipif(not _real_gpu(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", NAMES)
def test_a_real_gpu_matches_the_cpu(name):
    from numba import cuda
    kernel, inputs = examples()[name]
    device = [x if isinstance(x, float) else cuda.to_device(x) for x in inputs]
    y = kernel(*device).copy_to_host()
    np.testing.assert_allclose(y, reference(name, *inputs), rtol=1e-12, atol=1e-12)
    gout = np.random.default_rng(1).normal(size=y.shape)
    grads = kernel.vjp(cuda.to_device(gout), *device)
    got = [g if g is None or isinstance(g, float) else g.copy_to_host() for g in grads]
    assert_close_gradients(got, kernel.vjp(gout, *inputs))


@pytest.mark.skipif(not _real_gpu(), reason="needs a CUDA GPU")
def test_a_real_gpu_adds_from_thousands_of_threads():
    """pair_forces over 4096 particles: each element of the forces and of their gradient is
    added into by thousands of threads at once (a race small inputs cannot show), and each
    thread's stack holds up to 8190 values."""
    from numba import cuda
    rng = np.random.default_rng(2)
    p, strength = np.sort(rng.uniform(0, 50, size=4096)), np.array([0.7])
    kernel = examples()["pair_forces"][0]
    on_gpu = [cuda.to_device(p), cuda.to_device(strength)]
    y = kernel(*on_gpu).copy_to_host()
    np.testing.assert_allclose(y, kernel(p, strength), rtol=1e-9, atol=1e-12)
    gout = rng.normal(size=y.shape)
    grads = kernel.vjp(cuda.to_device(gout), *on_gpu)
    assert_close_gradients([g.copy_to_host() for g in grads], kernel.vjp(gout, p, strength))


@zygopy.kernel
def _scaled(i, out, x, a):
    out[i] = a * x[i] * x[i]


@zygopy.kernel
def _reads_its_output(i, out, x):
    out[i] = x[i]
    out[i] = out[i] * 2.0


@zygopy.kernel
def _writes_a_shared_element(i, out, x):
    out[0] = x[i]


@zygopy.kernel
def _reads_past_the_end(i, out, x):
    s = 0.0
    for j in range(x.shape[0] + 1):  # one too many: j is also the loop's counter
        s += x[j]
    out[i] = s


def _sum_of_reads_past_the_end(x):
    return np.sum(_reads_past_the_end(x))


def test_an_index_out_of_range_is_an_error_at_its_line():
    """Numba checks no bounds in parallel loops: the kernel checks its own accesses."""
    with pytest.raises(IndexError, match="out of range") as e:
        _reads_past_the_end(np.ones(3))
    assert "s += x[j]" in str(e.value)
    with pytest.raises(zygopy.ZygopyError, match="out of range"):
        zygopy.gradient(_sum_of_reads_past_the_end, np.ones(3))


@zygopy.kernel
def _writes_in_a_loop(i, out, x):
    s = 0.0
    for j in range(i + 1):
        s += x[j]
        out[i] = s  # each trip overwrites the last


@zygopy.kernel
def _writes_twice(i, out, x):
    out[i] += x[i]
    out[i] = 3.0 * x[i]


@zygopy.kernel
def _writes_where_others_add(i, out, x):
    if x[i] > 0.0:
        out[i] = x[i]
    else:
        out[(i + 1) % x.shape[0]] += x[i] * x[i]


@zygopy.kernel(shape=lambda x: (x.shape[0], 3))
def _writes_a_row(i, out, x):
    out[i] = x[i]


@pytest.mark.parametrize("kernel, args, message", [
    (_reads_its_output, (np.ones(3),), "reads an output"),
    (_writes_a_row, (np.ones(3),), "at an index that is not one element"),  # was NotScalar
    (_scaled, (np.ones(3),), "takes 2 inputs \\(x, a\\), given 1"),  # was Numba's TypeError
    (_writes_a_shared_element, (np.ones(3),), "where other threads may write too"),
    # the backward counted every write's value: a gradient for the overwritten ones too
    (_writes_in_a_loop, (np.ones(3),), "in a loop at an index the loop does not change"),
    (_writes_twice, (np.ones(3),), "where it also writes or adds into it"),
    # the forward depended on the threads' order, the gradient on neither
    (_writes_where_others_add, (np.ones(3),), "where other threads may write too"),
])
def test_refusals_name_the_line_and_say_what_to_write(kernel, args, message):
    with pytest.raises(zygopy.ZygopyError, match=message) as e:
        kernel(*args)
    assert "test_kernels.py" in str(e.value) and "hint:" in str(e.value)


def _conv_then_swish(x, w, beta):
    return np.sum(swish(conv1d(x, w), beta) ** 2)


def _conv_then_swish_numpy(x, w, beta):
    return np.sum(reference("swish", reference("conv1d", x, w), beta) ** 2)


def _orbits(x, a, steps):
    return np.sum(damped_orbit(x, a, steps) * x)


def _orbits_numpy(x, a, steps):
    return np.sum(reference("damped_orbit", x, a, steps) * x)


def _softplus_of_conv(x, w, s):
    return np.sum(softplus(conv1d(x, w), s) * x[:7])


def _softplus_of_conv_numpy(x, w, s):
    return np.sum(reference("softplus", reference("conv1d", x, w), s) * x[:7])


@pytest.mark.parametrize("f, truth, args", [
    (_softplus_of_conv, _softplus_of_conv_numpy,
     (np.linspace(-1, 1, 9), np.array([0.5, -0.3, 0.8]), 1.3)),
    (_conv_then_swish, _conv_then_swish_numpy,
     (np.linspace(-1, 1, 9), np.array([0.5, -0.3, 0.8]), np.array([0.8]))),
    (_orbits, _orbits_numpy, (np.array([0.3, 1.2, 0.7]), np.array([0.95]), np.array([5, 150, 3]))),
])
def test_kernels_inside_a_differentiated_function(f, truth, args):
    """A kernel called in a function given to zygopy.gradient is one operation whose derivative
    is its backward kernel (checked against differences of the same function in NumPy)."""
    got = zygopy.gradient(f, *args)
    want = finite_difference_vjp(lambda *a: np.array(truth(*a)), args, np.array(1.0))
    assert_close_gradients(list(got), want)


@zygopy.kernel
def _swish_rows(i, out, x, beta):
    for j in range(x.shape[1]):
        v = x[i, j]
        out[i, j] = v / (1.0 + math.exp(-beta[j] * v))


class _LearnedSwish:
    """A zygopy.nn layer whose computation is a kernel: one learned slope per feature."""

    def __init__(self, n):
        self.beta = np.ones(n)

    def __call__(self, x):
        return _swish_rows(x, self.beta)


def _mse_loss(model, x, y):
    return nn.mse(model(x), y)


def test_a_kernel_layer_trains_in_a_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3))
    y = np.sin(x.sum(axis=1, keepdims=True))
    model = nn.Chain(nn.Dense(3, 8, rng=rng, dtype=np.float64), _LearnedSwish(8),
                     nn.Dense(8, 1, rng=rng, dtype=np.float64))

    def numpy_loss(beta):  # the same model in NumPy: the truth for the kernel layer's gradient
        h = x @ model[0].weight + model[0].bias
        h = h / (1.0 + np.exp(-beta * h))
        return np.mean((h @ model[2].weight + model[2].bias - y) ** 2)

    grads = zygopy.gradient(_mse_loss, model, x, y)[0]
    beta = model[1].beta
    step = 1e-6
    want = [(numpy_loss(beta + step * e) - numpy_loss(beta - step * e)) / (2 * step)
            for e in np.eye(len(beta))]
    np.testing.assert_allclose(grads.layers[1].beta, want, rtol=1e-5, atol=1e-8)
    state = nn.setup(nn.Adam(0.03), model)
    losses = nn.train(_mse_loss, model, nn.DataLoader((x, y), batchsize=32), state, epochs=60,
                      progress=False)
    assert losses[-1] < 0.5 * losses[0]
    assert not np.allclose(model[1].beta, 1.0)


@pytest.mark.skipif(not _installed("numba_cuda"), reason="needs numba-cuda")
def test_stacks_that_would_not_fit_on_the_device_are_refused_clearly(monkeypatch):
    """A backward whose threads need more stack than the device has free says so, naming the
    kernel, instead of failing inside the CUDA driver."""
    from zygopy.backend.cuda import device

    class Context:
        def get_memory_info(self):
            return (2**20, 2**30)  # 1 MiB free

    monkeypatch.setattr(device.cuda, "current_context", lambda: Context())
    kernel, inputs = examples()["attention"]
    fn = kernel.compiled([np.zeros((3, 3))], inputs, target="cuda").ka.body.fn
    with pytest.raises(zygopy.ZygopyError, match="attention.*needs 1.5 GiB of stacks"):
        device.stacks([np.dtype(np.float64)], [2**16], 3 * 2**10, fn)


@zygopy.kernel
def _grows_until(i, out, x):
    v = x[i]
    for _ in range(100):
        if v >= 10.0:
            break
        v = v * 1.5 + 0.1
    out[i] = v


def _run_by_python(kernel, x):
    """The kernel's body run by Python, one thread index after another: its outputs' truth."""
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        kernel.body(i, out, x)
    return out


def test_a_loop_left_by_break():
    """A loop with two exits is written as a dispatch loop, whose `return` (a break out of it)
    fell into its 'unreachable' line instead of leaving the thread's body."""
    x, gout = np.array([0.3, 2.0, 11.0]), np.array([1.0, -0.5, 2.0])
    np.testing.assert_allclose(_grows_until(x), _run_by_python(_grows_until, x), rtol=1e-15)
    truth = finite_difference_vjp(lambda x: _run_by_python(_grows_until, x), (x,), gout)
    assert_close_gradients(_grows_until.vjp(gout, x), truth)


@zygopy.kernel
def _symmetrised(i, out, x):
    for j in range(x.shape[1]):
        out[i, j] = x[i, j] + x[j, i]


def test_a_transposed_access_is_another_thread_s_element():
    """Thread i's x[j, i] is thread j's x[i, j]: the gradient of x is shared (atomic on the GPU,
    a copy per chunk on the CPU); it was taken as the thread's own because i is in the index."""
    import re
    x = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(_symmetrised(x), x + x.T)
    np.testing.assert_array_equal(_symmetrised.vjp(np.ones((3, 3)), x)[0], 2.0)
    outs = [np.zeros(s) for s in _symmetrised._shapes((x,))]
    backward = _symmetrised.compiled(outs, (x,), target="cuda").sources()[1]
    assert re.search(r"cuda\.atomic\.add\(d_x", backward), backward


def test_vjp_takes_gradients_of_the_outputs_shapes():
    """A gradient shorter than the output launched fewer threads (zeros for the rest, silently);
    a longer one was an index error blamed on the body."""
    x = np.array([1.0, 2.0, 3.0])
    for gout in (np.ones(2), np.ones(4), np.ones((3, 1))):
        with pytest.raises(zygopy.UnsupportedType, match="vjp was given gradients of shapes"):
            _scaled.vjp(gout, x, 2.0)


def test_a_numpy_float_scalar_input():
    """An np.float32 scalar reached the body unwrapped (Numba's TypingError); its gradient comes
    back as a number, as a float's does."""
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(_scaled(x, np.float32(2.0)), 2.0 * x * x)
    dx, da = _scaled.vjp(np.ones(3), x, np.float32(2.0))
    np.testing.assert_allclose(dx, 4.0 * x)
    assert da == pytest.approx(np.sum(x * x))


class _DeviceInts:
    """What a CUDA device array of int32 shows of itself."""
    __cuda_array_interface__ = {}
    shape, dtype = (3,), np.dtype(np.int32)


def test_device_int_arrays_are_typed_as_numpy_ones():
    """An int32 device array was typed int32, which the code generator has no zero for (a bare
    KeyError); NumPy int arrays of any width are typed int64."""
    from zygopy.ir.types import ArrayT
    from zygopy.kernel import _type_of
    assert _type_of(_DeviceInts()) == ArrayT("int64", 1)


@zygopy.kernel
def _two_in_one_statement(i, doubled, squared, x):
    doubled[i], squared[i] = x[i] * 2.0, x[i] * x[i]


def test_outputs_written_in_one_statement():
    """Outputs were counted from single assignment targets only: two written by one tuple
    assignment made the second taken for an input ('could not infer the type')."""
    x = np.array([1.0, 2.0, 3.0])
    doubled, squared = _two_in_one_statement(x)
    np.testing.assert_array_equal(doubled, 2.0 * x)
    np.testing.assert_array_equal(squared, x * x)
    (dx,) = _two_in_one_statement.vjp((np.ones(3), np.ones(3)), x)
    np.testing.assert_allclose(dx, 2.0 + 2.0 * x)

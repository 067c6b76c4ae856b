"""Values a function reads from outside its arguments (ir/captured.py): module-level and closure
floats and NumPy arrays are read at each call, so changing them never gives a stale gradient and
never recompiles; a changed int recompiles. Gradients are checked against analytic derivatives.
"""

import numpy as np
import pytest

import zygopy
from zygopy.api import compiled
from zygopy.backend import tiered

from .nn_support import both_routes
from .regressions.reference import central_difference, copied

SCALE = 1.0
POWER = 2
WEIGHTS = np.array([1.0, 2.0, 3.0])
SHIFT = 0.5
CHANGED = ("SCALE", "POWER", "WEIGHTS", "SHIFT")


@pytest.fixture(autouse=True)
def restore_globals():
    saved = {name: globals()[name] for name in CHANGED}
    yield
    globals().update(saved)
    WEIGHTS[:] = [1.0, 2.0, 3.0]  # changed in place by some tests


def scaled_square(x):
    return x * x * SCALE


def power(x):
    return x ** POWER


def weighted(x):
    return np.sum(WEIGHTS * x) * SCALE


def scaled_sum(x):
    return np.sum(x * SCALE)


def weight_at(x, i):
    return WEIGHTS[i] * x


def _times_scale(v):
    return v * SCALE


def calls_helper(x):
    return _times_scale(x) + x * SCALE


def make_scaled(s):
    def scaled(x):
        return s * x * x

    def set_scale(value):
        nonlocal s
        s = value
    return scaled, set_scale


def test_module_float_read_at_each_call():
    global SCALE
    assert zygopy.gradient(scaled_square, 3.0) == (6.0,)
    first = compiled(scaled_square, (3.0,))
    SCALE = 10.0
    assert scaled_square(3.0) == 90.0
    assert zygopy.gradient(scaled_square, 3.0) == (60.0,)
    assert zygopy.withgradient(scaled_square, 3.0) == (90.0, (60.0,))
    assert compiled(scaled_square, (3.0,)) is first  # not compiled again


def test_closure_variable_rebound_with_nonlocal():
    scaled, set_scale = make_scaled(2.0)
    assert zygopy.gradient(scaled, 3.0) == (12.0,)
    first = compiled(scaled, (3.0,))
    set_scale(5.0)
    assert zygopy.gradient(scaled, 3.0) == (30.0,)
    assert compiled(scaled, (3.0,)) is first


def test_closure_cell_changed():
    scaled, _ = make_scaled(2.0)
    assert zygopy.gradient(scaled, 1.5) == (6.0,)
    scaled.__closure__[0].cell_contents = -1.0
    assert zygopy.gradient(scaled, 1.5) == (-3.0,)


def test_module_array_changed_in_place_and_rebound():
    global WEIGHTS
    x = np.ones(3)
    (g,) = zygopy.gradient(weighted, x)  # d/dx sum(W * x) = W; the captured W gets none
    assert np.array_equal(g, [1.0, 2.0, 3.0])
    first = compiled(weighted, (x,))
    WEIGHTS[0] = 7.0
    assert np.array_equal(zygopy.gradient(weighted, x)[0], [7.0, 2.0, 3.0])
    WEIGHTS = np.array([4.0, 5.0, 6.0])
    value, (g,) = zygopy.withgradient(weighted, x)
    assert value == 15.0 and np.array_equal(g, [4.0, 5.0, 6.0])
    assert compiled(weighted, (x,)) is first


def test_captured_type_change_recompiles():
    global WEIGHTS, SCALE
    x = np.ones(3)
    first = compiled(weighted, (x,))
    WEIGHTS = np.full((1, 3), 2.0)  # a rank that broadcasts differently: new code
    assert np.array_equal(zygopy.gradient(weighted, x)[0], [2.0, 2.0, 2.0])
    assert compiled(weighted, (x,)) is not first
    assert np.array_equal(zygopy.gradient(scaled_sum, x)[0], [1.0, 1.0, 1.0])
    SCALE = np.array([0.5, 1.0, 2.0])  # a float becomes an array
    assert np.array_equal(zygopy.gradient(scaled_sum, x)[0], [0.5, 1.0, 2.0])


def test_changed_int_recompiles():
    global POWER
    assert zygopy.gradient(power, 2.0) == (4.0,)
    squared = compiled(power, (2.0,))
    POWER = 3
    assert zygopy.gradient(power, 2.0) == (12.0,)
    assert compiled(power, (2.0,)) is not squared
    POWER = 2
    assert compiled(power, (2.0,)) is squared  # the variant compiled before fits again


def test_global_read_in_an_inlined_callee():
    global SCALE
    assert zygopy.gradient(calls_helper, 2.0) == (2.0,)
    SCALE = 4.0
    assert zygopy.gradient(calls_helper, 2.0) == (8.0,)
    # one hidden argument for the two reads of SCALE
    assert len(zygopy.code_ir(calls_helper, 2.0).args) == 2


def test_pullback_and_jacobian_read_the_values_now():
    global SCALE
    SCALE = 2.0
    value, back = zygopy.pullback(scaled_square, 3.0)
    assert (value, back()) == (18.0, (12.0,))
    SCALE = 3.0
    value, back = zygopy.pullback(scaled_square, 3.0)
    assert (value, back(2.0)) == (27.0, (36.0,))
    assert np.array_equal(zygopy.jacobian(scaled_square, 3.0)[0], [18.0])


def test_inspection_reads_the_values_now():
    global SCALE
    SCALE = 5.0
    assert zygopy.evaluate(zygopy.code_ir(scaled_square, 2.0), 2.0) == 20.0
    assert "SCALE" in zygopy.code_python(scaled_square, 2.0)


def test_error_in_compiled_code_located_with_captured_values():
    with pytest.raises(zygopy.ZygopyError) as e:
        zygopy.gradient(weight_at, 1.0, 5)
    assert "IndexError" in str(e.value) and "WEIGHTS[i] * x" in str(e.value)


def test_interpreted_while_compiling(monkeypatch, slow_compiler):
    """The evaluator gets the captured values as the compiled code does."""
    global SCALE
    monkeypatch.setenv("ZYGOPY_INTERPRET_WHILE_COMPILING", "1")
    release = slow_compiler
    x = np.ones(3)
    SCALE = 2.0
    (g,) = zygopy.gradient(weighted, x)  # interpreted: the compilation is held
    assert not tiered.compilation(compiled(weighted, (x,)), None).done()
    assert np.array_equal(g, [2.0, 4.0, 6.0])
    SCALE = 3.0
    assert np.array_equal(zygopy.gradient(weighted, x)[0], [3.0, 6.0, 9.0])
    release.set()
    tiered.compilation(compiled(weighted, (x,)), None).result(timeout=120)
    SCALE = 0.5
    assert np.array_equal(zygopy.gradient(weighted, x)[0], [0.5, 1.0, 1.5])


# ---- NumPy scalars read from outside promote as NumPy 2 does (NEP 50), as arguments do: a
# np.float64 or np.int64 with a float32 array is float64, a np.float32 with a Python float float32

class Settings:  # a class's attribute is folded into the code, a global is a hidden argument
    SHIFT = 0.5


def shifted(x):
    return np.sum((x + SHIFT - x) * x)  # SHIFT * x, or 0 where x's float32 rounds SHIFT off


def shifted_by_attribute(x):
    return np.sum((x + Settings.SHIFT - x) * x)


def _check_as_numpy(monkeypatch, f, x):
    """f's value and its dtype, and the gradient, as the undecorated f computes them."""
    want = f(*copied((x,)))
    dtype = np.asarray(want).dtype
    ir = zygopy.code_ir(f, x)
    assert np.asarray(zygopy.evaluate(ir, *copied((x,)))).dtype == dtype, str(ir)
    ref, spread = central_difference(f, (x,), 0)  # of f in its own dtype (steps it holds)
    for value, (g,) in both_routes(monkeypatch, f, x):
        assert value == float(want)
        assert np.asarray(g).dtype == np.asarray(x).dtype
        assert np.allclose(g, ref, rtol=1e-9, atol=3 * np.max(spread)), (g, ref)


NUMPY_SCALARS = [np.float64(0.5), np.float32(0.5), np.int64(1), 0.5, 1]


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="NEP 50 promotion")
@pytest.mark.parametrize("s", NUMPY_SCALARS, ids=repr)
@pytest.mark.parametrize("x", [np.array([1e8, 2e8], np.float32), 1e8], ids=["float32", "float"])
@pytest.mark.parametrize("f", [shifted, shifted_by_attribute], ids=["global", "attribute"])
def test_numpy_scalars_read_from_outside_promote_as_numpy_does(monkeypatch, f, x, s):
    """They were read as Python floats (and np.int64 as ints): a float32 array with a global
    np.float64 0.5 computed in float32, 0.0 and a gradient of 0 where NumPy gives 1.5e8 and 0.5;
    a Python float with a np.float32 computed in float64 (5e7 where NumPy's float32 gives 0)."""
    monkeypatch.setitem(globals(), "SHIFT", s)
    monkeypatch.setattr(Settings, "SHIFT", s)
    _check_as_numpy(monkeypatch, f, x)


def capped(x):
    return np.sum(np.minimum(x, Settings.SHIFT))


def test_a_float32_infinity_folded_into_compiled_code(monkeypatch):
    """Written as its repr, np.float32(inf), the generated source named an undefined inf."""
    monkeypatch.setattr(Settings, "SHIFT", np.float32(np.inf))
    _check_as_numpy(monkeypatch, capped, 1e8)


def test_a_global_changed_to_another_kind_of_number_recompiles(monkeypatch):
    global SHIFT
    x = np.array([1e8, 2e8], np.float32)
    seen = []
    for s in NUMPY_SCALARS:
        SHIFT = s
        _check_as_numpy(monkeypatch, shifted, x)
        seen.append(compiled(shifted, (x,)))
    assert len(set(map(id, seen))) == len(seen)  # each typed for its own
    SHIFT = np.float64(-2.0)  # another value of one seen: the same code
    value, (g,) = zygopy.withgradient(shifted, x)
    assert value == -6e8 and np.array_equal(g, [-2.0, -2.0])
    assert compiled(shifted, (x,)) is seen[0]


# ---- custom rules and kernels fold what they read from outside into their code: compiled again
# when it changes (they take their arguments only, so nothing of theirs is a hidden argument)

@zygopy.custom_rule
def scaled_by_global(x):
    return SCALE * x


@scaled_by_global.pullback
def _(g, y, x):
    return (g * SCALE * POWER / 2,)  # POWER = 2: the true derivative; changed below on purpose


def uses_rule(x):
    return scaled_by_global(x) * x


@zygopy.kernel
def scale_kernel(i, out, x):
    out[i] = x[i] * SCALE


def uses_kernel(x):
    return np.sum(scale_kernel(x) * x)


def test_a_custom_rule_reads_changed_globals():
    global SCALE, POWER
    for _ in range(2):  # the second call takes the fast path
        assert zygopy.gradient(uses_rule, 3.0) == (6.0,)  # 2 SCALE x
    SCALE = 5.0
    assert zygopy.gradient(uses_rule, 3.0) == (30.0,)
    POWER = 4  # the pullback's own global: its share, g SCALE x, doubles
    assert zygopy.gradient(uses_rule, 3.0) == (45.0,)


def test_a_kernel_reads_changed_globals():
    global SCALE
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(scale_kernel(x), x)
    np.testing.assert_allclose(zygopy.gradient(uses_kernel, x)[0], 2 * x)
    SCALE = 3.0
    np.testing.assert_allclose(scale_kernel(x), 3 * x)
    np.testing.assert_allclose(scale_kernel.vjp(np.ones(2), x)[0], [3.0, 3.0])
    np.testing.assert_allclose(zygopy.gradient(uses_kernel, x)[0], 6 * x)

"""register_rule replaces a primitive's rule, and gradients compiled with the old rule are
compiled again; an op that is not a primitive is refused with a zygopy error at the caller's
line."""
import math

import numpy as np
import pytest

import zygopy
from zygopy.adjoint import rules

from .reference import PATHS


def sine(x):
    return 2.0 * math.sin(x)


def array_sine(a):
    return np.sum(np.sin(a) * a)


def _gradient(path, f, *args):
    return PATHS[path](f, args, None)[1][0]


@pytest.mark.parametrize("path", PATHS)
def test_replaced_rule_is_used_after_a_first_gradient(path):
    a = np.array([0.3, -1.2])
    # analytic: 2 cos(x); a cos(a) + sin(a)
    assert _gradient(path, sine, 0.3) == pytest.approx(2.0 * math.cos(0.3), rel=1e-14)
    assert np.allclose(_gradient(path, array_sine, a), a * np.cos(a) + np.sin(a), rtol=1e-14)
    original = rules.RULES["sin"]
    try:
        @zygopy.register_rule("sin")
        def _(g, y, x):  # deliberately not the derivative: d sin(x) "=" 3
            return (g * 3.0,)
        assert _gradient(path, sine, 0.3) == 6.0
        assert np.allclose(_gradient(path, array_sine, a), 3.0 * a + np.sin(a), rtol=1e-14)
    finally:
        zygopy.register_rule("sin")(original)
    assert _gradient(path, sine, 0.3) == pytest.approx(2.0 * math.cos(0.3), rel=1e-14)


def misspelt():
    return zygopy.register_rule("sine")


def test_unknown_op_is_refused():
    with pytest.raises(zygopy.ZygopyError) as info:
        misspelt()
    err = info.value
    assert isinstance(err, zygopy.NoRule)
    assert err.filename == __file__ and err.line == misspelt.__code__.co_firstlineno + 1
    message = str(err)
    assert "'sine' is not a zygopy primitive" in message and "did you mean 'sin'?" in message
    assert "custom_rule" in message and "'sine'" not in rules.RULES


def test_custom_is_not_replaceable():
    with pytest.raises(zygopy.NoRule, match="custom_rule"):
        zygopy.register_rule("custom")

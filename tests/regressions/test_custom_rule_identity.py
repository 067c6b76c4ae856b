"""Custom rules are told apart by identity, not by name: two modules that each define a `clip`,
or a factory that makes several, give one rule each in the IR and in the generated code."""
import importlib.util
import math
import textwrap

import pytest

import zygopy

from .reference import PATHS, check_gradients

SOFT = """
    import math
    import zygopy

    @zygopy.custom_rule
    def clip(x):
        return math.tanh(x)

    @clip.pullback
    def _(g, y, x):
        return (g * (1.0 - y * y),)
"""

HARD = """
    import zygopy

    @zygopy.custom_rule
    def clip(x):
        return min(max(x, -1.0), 1.0)

    @clip.pullback
    def _(g, y, x):
        return (g if -1.0 < x < 1.0 else 0.0,)
"""


def _module(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def both_clips(tmp_path_factory):
    where = tmp_path_factory.mktemp("clips")
    soft, hard = _module(where, "soft_clip", SOFT), _module(where, "hard_clip", HARD)

    def f(x):  # one operand for both: common-subexpression elimination must not merge the calls
        return soft.clip(2.0 * x) + hard.clip(2.0 * x)
    return f


@pytest.mark.parametrize("path", PATHS)
def test_two_modules_each_with_a_clip(both_clips, path):
    check_gradients(both_clips, (0.2,), path, (0,))


def test_two_modules_each_with_a_clip_analytic(both_clips):
    # d/dx [tanh(2x) + clip(2x)] = 2 (1 - tanh(2x)^2) + 2 inside the hard clip's range
    value, (grad,) = zygopy.withgradient(both_clips, 0.2)
    assert value == pytest.approx(math.tanh(0.4) + 0.4, rel=1e-14)
    assert grad == pytest.approx(2.0 * (1.0 - math.tanh(0.4) ** 2) + 2.0, rel=1e-14)


def scaled_by(k):
    """A custom rule per call: every one has the same module and qualified name."""
    @zygopy.custom_rule
    def scale(x):
        return k * x

    @scale.pullback
    def _(g, y, x):
        return (k * g,)
    return scale


twice, thrice = scaled_by(2.0), scaled_by(3.0)


def made_by_a_factory(x):
    return twice(x) * thrice(x)


@pytest.mark.parametrize("path", PATHS)
def test_rules_from_one_factory(path):
    # 6 x^2: derivative 12 x
    check_gradients(made_by_a_factory, (0.7,), path, (0,))
    assert zygopy.gradient(made_by_a_factory, 0.7)[0] == pytest.approx(8.4, rel=1e-14)

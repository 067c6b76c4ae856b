"""Derivative rules of the neural-network primitives (ir/nn_primitives.py): each is another
primitive, so the reverse pass stays one compiled kernel per operation."""
from ..ir import nn_primitives  # noqa: F401  (registers the primitives)
from .rules import RULES, _prim

grad_input, grad_weight, maxpool_grad, getattr_ = map(
    _prim, ["conv2d_grad_input", "conv2d_grad_weight", "maxpool2d_grad", "getattr"])


def _conv2d(g, y, x, w, stride, padding, dilation):
    return (grad_input(g, w, getattr_(x, "shape"), stride, padding, dilation),
            grad_weight(g, x, getattr_(w, "shape"), stride, padding, dilation), None, None, None)


RULES.update({
    "conv2d": _conv2d,
    "maxpool2d": lambda g, y, x, k: (maxpool_grad(g, x, k), None),
})

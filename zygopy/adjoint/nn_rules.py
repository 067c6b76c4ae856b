"""Derivative rules of the neural-network primitives (ir/nn_primitives.py): each is another
primitive, so the reverse pass stays one compiled kernel per operation."""
from ..ir import nn_primitives  # noqa: F401  (registers the primitives)
from .array_rules import _spread, sum_
from .rules import RULES, Linear, Rule, _prim, exp

conv2d, grad_input, grad_weight, maxpool_grad, maxpool_gather, getattr_ = map(
    _prim, ["conv2d", "conv2d_grad_input", "conv2d_grad_weight", "maxpool2d_grad",
            "maxpool2d_gather", "getattr"])


def _conv2d(g, y, x, w, stride, padding, dilation):
    return (grad_input(g, w, getattr_(x, "shape"), stride, padding, dilation),
            grad_weight(g, x, getattr_(w, "shape"), stride, padding, dilation), None, None, None)


def _conv2d_grad_input(gz, z, g, w, x_shape, stride, padding, dilation):
    # z = grad_input(g, w) is bilinear in (g, w), the transpose of conv2d (ConvTranspose's forward)
    return (conv2d(gz, w, stride, padding, dilation),
            grad_weight(g, gz, getattr_(w, "shape"), stride, padding, dilation),
            None, None, None, None)


def _conv2d_grad_weight(gw, y, g, x, w_shape, stride, padding, dilation):
    return (conv2d(x, gw, stride, padding, dilation),
            grad_input(g, gw, getattr_(x, "shape"), stride, padding, dilation),
            None, None, None, None)


def _softmax_tangent(ds, y, x, axis):
    """y (d - <y, d>) along the axis, for a change d of x: the softmax's Jacobian is symmetric, so
    this is its reverse rule too."""
    d = ds[0]
    return None if d is None else y * (d - sum_(d * y, axis, True))


def _weights(y, x, axis, keepdims):
    """exp(x - logsumexp(x)): the softmax of x along the axis, logsumexp's derivative."""
    return exp(x - _spread(y, x, axis, keepdims))


def _logsumexp_tangent(ds, y, x, axis, keepdims):
    return None if ds[0] is None else sum_(_weights(y, x, axis, keepdims) * ds[0], axis, keepdims)


BILINEAR = Linear((0, 1), product=True)  # each is linear in each of its first two operands
RULES.update({
    "conv2d": Rule(_conv2d, BILINEAR),
    "conv2d_grad_input": Rule(_conv2d_grad_input, BILINEAR),
    "conv2d_grad_weight": Rule(_conv2d_grad_weight, BILINEAR),
    "sigmoid": lambda g, y, x: (g * y * (1.0 - y),),
    "softmax": Rule(lambda g, y, x, axis: (_softmax_tangent((g,), y, x, axis), None),
                    _softmax_tangent),
    "logsumexp": Rule(lambda g, y, x, axis, keepdims: (
        _weights(y, x, axis, keepdims) * _spread(g, x, axis, keepdims), None, None),
        _logsumexp_tangent),
    "random_uniform": lambda g, y, like, seed: (None, None),
    "record_statistics": lambda g, y, *operands: (None,) * 4,
    # each output element is its tile's first maximum: scattered back to it, gathered from it
    # (piecewise, so nothing flows to x through where the maxima are)
    "maxpool2d": Rule(lambda g, y, x, k: (maxpool_grad(g, x, k), None),
                      lambda ds, y, x, k: maxpool_gather(ds[0], x, k)),
    # the scatter and the gather are linear in their first operand, each the other's transpose
    "maxpool2d_grad": Rule(lambda gz, z, g, x, k: (maxpool_gather(gz, x, k), None, None),
                           Linear((0,))),
    "maxpool2d_gather": Rule(lambda gz, z, d, x, k: (maxpool_grad(gz, x, k), None, None),
                             Linear((0,))),
})

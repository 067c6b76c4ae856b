"""zygopy: source-to-source reverse-mode automatic differentiation of Python, compiled by Numba."""
from .adjoint.rules import register_rule
from .api import (
    grad,
    gradient,
    hessian,
    hvp,
    jacobian,
    jvp,
    pullback,
    value_and_grad,
    vjp,
    withgradient,
)
from .checkpoint import checkpoint
from .custom import custom_rule, stop_gradient
from .errors import NoRule, NotScalar, UnsupportedSyntax, UnsupportedType, ZygopyError
from .inspect import code_adjoint, code_ir, code_llvm, code_python, code_tangent
from .ir.evaluate import evaluate
from .kernel import code_ptx, kernel

__all__ = ["gradient", "withgradient", "pullback", "jacobian", "grad", "value_and_grad", "jvp",
           "vjp", "hvp", "hessian", "code_ir", "code_adjoint", "code_tangent", "code_python",
           "code_llvm", "evaluate", "register_rule", "custom_rule", "checkpoint",
           "stop_gradient", "ZygopyError", "UnsupportedSyntax", "UnsupportedType", "NoRule",
           "NotScalar", "kernel", "code_ptx"]


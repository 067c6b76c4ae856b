"""zygopy: source-to-source reverse-mode automatic differentiation of Python, compiled by Numba."""
from .errors import NoRule, NotScalar, UnsupportedSyntax, UnsupportedType, ZygopyError
from .inspect import code_ir
from .ir.evaluate import evaluate

__all__ = ["code_ir", "evaluate", "ZygopyError", "UnsupportedSyntax", "UnsupportedType", "NoRule", "NotScalar"]

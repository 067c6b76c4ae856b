"""A second opinion from a peer library: autograd's gradient of the same generated program.

The program's module is imported a second time and its globals `math` and `np` are pointed at
autograd's NumPy (functions look their globals up when called, so helpers follow). autograd traces
Python control flow as it runs, so branches, loops and early returns work; what it cannot run
(writes into traced arrays, float()/int() of a traced value, fmod) raises, and the program is then
skipped by the peer, not failed. Programs that write into arrays at all are skipped up front:
autograd keeps references to the arrays it multiplies by, so a later in-place write into one
changes its backward pass (seed 1, program 3063: `v = x * a; a -= a` gave it d/dx = 0). Where it
runs, its gradient must agree with zygopy's to check.CROSS_REL, far tighter than finite
differences can tell.
"""
from __future__ import annotations

import math
import types

PEER = "autograd"


def available():
    try:
        import autograd  # noqa: F401
    except ImportError:
        return False
    return True


def _math_shim():
    """The math module's functions, on autograd's NumPy."""
    import autograd.numpy as anp
    from autograd.scipy.special import erf, erfc
    shim = types.SimpleNamespace(pi=math.pi, e=math.e, inf=math.inf, isfinite=math.isfinite,
                                 erf=erf, erfc=erfc, fabs=anp.abs, pow=anp.power,
                                 hypot=lambda x, y: anp.sqrt(x * x + y * y))
    for name in ("sin", "cos", "tan", "sinh", "cosh", "tanh", "exp", "expm1", "log", "log1p",
                 "log2", "log10", "sqrt", "copysign", "fmod", "floor", "ceil"):
        setattr(shim, name, getattr(anp, name))
    for name, np_name in (("asin", "arcsin"), ("acos", "arccos"), ("atan", "arctan"),
                          ("atan2", "arctan2"), ("asinh", "arcsinh"), ("acosh", "arccosh"),
                          ("atanh", "arctanh")):
        setattr(shim, name, getattr(anp, np_name))
    return shim


def peer_module(path, modname):
    """The module at `path` imported again, its math and NumPy replaced by autograd's."""
    import autograd.numpy as anp

    from .generate import import_file
    module = import_file(path, modname + "_peer")
    module.math, module.np = _math_shim(), anp
    return module


def peer_gradients(f, args, coordinates_of):
    """autograd's gradient of f in each differentiable argument (a float or an array), and the
    values its traced runs computed (they differ from the plain call where it reads the program
    otherwise: its traced arrays are immutable, so `a *= c` makes a new array and aliases of `a`
    miss it)."""
    import numpy as np
    from autograd import value_and_grad
    grads, values = [None] * len(args), []
    for i in sorted({i for i, _ in coordinates_of}):
        value, g = value_and_grad(f, i)(*[np.copy(a) if isinstance(a, np.ndarray) else a
                                          for a in args])
        values.append(float(value))
        grads[i] = np.asarray(g, dtype=float) if isinstance(args[i], np.ndarray) else float(g)
    return grads, values

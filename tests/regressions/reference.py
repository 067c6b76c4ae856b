"""The finite-difference reference the fuzzer's regression tests check gradients against."""
import numpy as np


def copied(args):
    """The arguments with arrays copied: a function may write into its arrays."""
    return tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)


def central_difference(fn, args, i):
    """Richardson-extrapolated central difference of fn in argument i (steps h and h/2), and the
    spread between the two steps, which bounds the truncation and rounding error. For an array
    argument, both are arrays of its shape (one difference per element)."""
    a = args[i]
    if not isinstance(a, np.ndarray):
        return _central(fn, args, i, None)
    ref, spread = np.array([_central(fn, args, i, j) for j in range(a.size)]).T
    return ref.reshape(a.shape), spread.reshape(a.shape)


def _central(fn, args, i, j):
    x = args[i] if j is None else float(args[i].flat[j])
    h = 1e-4 * max(1.0, abs(x))

    def at(v):
        moved = list(copied(args))
        if j is None:
            moved[i] = v
        else:
            moved[i].flat[j] = v
        return float(fn(*moved))
    # (x + h) - (x - h) rather than 2h: the step as rounded in float64
    d1 = (at(x + h) - at(x - h)) / ((x + h) - (x - h))
    d2 = (at(x + h / 2) - at(x - h / 2)) / ((x + h / 2) - (x - h / 2))
    return d2 + (d2 - d1) / 3, abs(d1 - d2)


# ---- the four ways zygopy computes a gradient -------------------------------------------------
def _evaluated(f, args, wrt):
    """The adjoint IR run by the reference evaluator (no Numba), with `wrt` if given."""
    import zygopy
    from zygopy.ir.evaluate import evaluate_gradient
    adj = zygopy.code_adjoint(f, *args, wrt=wrt)
    value, grads = evaluate_gradient(adj, args)
    full = [None] * len(args)
    for i, g in zip(adj.wrt, grads, strict=True):
        # its slots start at the int 0
        full[i] = g if g is None or isinstance(g, np.ndarray) else float(g)
    return value, full


def _fused(f, args, wrt):
    import zygopy
    value, grads = zygopy.withgradient(f, *args)  # what zygopy.gradient runs
    return value, list(grads)


def _split(f, args, wrt):
    """pullback, then back(1.0) twice (the same result) and back(2.5) (2.5 times it)."""
    import zygopy
    value, back = zygopy.pullback(f, *args)
    first, second, scaled = back(1.0), back(1.0), back(2.5)
    for a, b, c in zip(first, second, scaled, strict=True):
        assert (a is None and b is None and c is None) or np.array_equal(a, b), (first, second)
        assert a is None or np.allclose(2.5 * np.asarray(a), c, rtol=1e-12, atol=0), (first, scaled)
    return value, list(first)


PATHS = {"eval": lambda f, args, wrt: _evaluated(f, args, None), "eval_wrt": _evaluated,
         "fused": _fused, "split": _split}


def check_gradients(f, args, path, wrt):
    """zygopy's value and gradients on `path` against the plain call and central differences; a
    compiled path also against the evaluator, more tightly. `wrt`: the arguments differentiated."""
    value, grads = PATHS[path](f, copied(args), wrt)
    expected = float(f(*copied(args)))
    assert abs(value - expected) <= 1e-9 * max(1.0, abs(expected)), (value, expected)
    assert len(grads) == len(args)
    _, evaluated = _evaluated(f, copied(args), None) if path in ("fused", "split") else (None, None)
    for i in range(len(args)):
        if i not in wrt:
            assert grads[i] is None, (i, grads[i])
            continue
        assert isinstance(grads[i], np.ndarray) == isinstance(args[i], np.ndarray), (i, grads[i])
        ref, spread = central_difference(f, args, i)
        tol = 3 * spread + 1e-6 * np.abs(ref) + 1e-7 * max(1.0, abs(expected))
        assert np.all(np.abs(np.asarray(grads[i]) - ref) <= tol), (i, grads[i], ref)
        if evaluated is not None:
            assert np.all(np.abs(np.asarray(grads[i]) - evaluated[i])
                          <= 1e-8 * (np.abs(evaluated[i]) + 1.0))

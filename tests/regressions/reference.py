"""The finite-difference reference the fuzzer's regression tests check gradients against."""


def central_difference(fn, args, i):
    """Richardson-extrapolated central difference of fn in argument i (steps h and h/2), and the
    spread between the two steps, which bounds the truncation and rounding error."""
    x = args[i]
    h = 1e-4 * max(1.0, abs(x))

    def at(v):
        a = list(args)
        a[i] = v
        return fn(*a)
    # (x + h) - (x - h) rather than 2h: the step as rounded in float64
    d1 = (at(x + h) - at(x - h)) / ((x + h) - (x - h))
    d2 = (at(x + h / 2) - at(x - h / 2)) / ((x + h / 2) - (x - h / 2))
    return d2 + (d2 - d1) / 3, abs(d1 - d2)

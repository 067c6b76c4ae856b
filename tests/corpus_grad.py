"""Scalar programs whose gradients zygopy must get right, each with the inputs to test it at.

Every function is ordinary Python (nothing here imports zygopy): tests/test_gradients.py compares
zygopy's gradients with central finite differences of these very functions. Each is registered
with `@case(...)`, one input domain per argument:

    Float(lo, hi)  a float drawn uniformly-ish by hypothesis from [lo, hi]
    Int(lo, hi)    an int (trip counts, switches): not differentiated, its gradient is None
    Bool()         a flag: not differentiated

The domains are chosen so that finite differences are meaningful: away from kinks and branch
boundaries (or with the boundaries unreachable), inside the domains of log/sqrt/asin/...,
without overflow, and with |f| small enough (about 100 at most) that the rounding error of a
central difference, eps*|f|/h, stays well below the test's absolute tolerance. The comment above
each function says why its domain is safe. The test also skips (hypothesis `assume`) the rare
draw where finite differences with steps h, h/2 and 2h disagree, i.e. where a branch decision
flips within the step.
"""
import math

import numpy as np


class Float:
    def __init__(self, lo, hi):
        self.lo, self.hi = float(lo), float(hi)

    @property
    def example(self):
        # off-centre: no special midpoint
        return 0.5 * (self.lo + self.hi) + 0.0123 * (self.hi - self.lo)


class Int:
    def __init__(self, lo, hi):
        self.lo, self.hi = int(lo), int(hi)

    @property
    def example(self):
        return (self.lo + self.hi) // 2


class Bool:
    example = True


CASES = []  # (function, (domain per argument, ...))


def case(*domains):
    def register(fn):
        assert fn.__code__.co_argcount == len(domains), fn.__name__
        CASES.append((fn, domains))
        return fn
    return register


# ---- module-level constants and helpers the corpus functions call -----------------------------

GRAVITY = 9.81
COEFFS = (0.5, -1.25, 0.75, 0.2)  # unpacked in functions (tuples are constants)
TOL = 1e-12


def sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def softplus(z, beta=1.0):
    # stable log(1 + exp(beta z)) / beta
    bz = beta * z
    if bz > 0.0:
        return (bz + math.log1p(math.exp(-bz))) / beta
    return math.log1p(math.exp(bz)) / beta


def huber_loss(r, delta=1.0):
    a = abs(r)
    if a <= delta:
        return 0.5 * r * r
    return delta * (a - 0.5 * delta)


def clamp(v, lo=0.0, hi=1.0):
    return min(max(v, lo), hi)


def lerp(a, b, t=0.5):
    return a + (b - a) * t


def rhs(t, y, k=1.0, forcing=0.0):
    """dy/dt of a forced, damped scalar ODE."""
    return -k * y + forcing * math.sin(t)


def polar(x, y):
    return math.hypot(x, y), math.atan2(y, x)


def dense(x, w, b):
    return math.tanh(w * x + b)


# ---- iterative solvers: data-dependent while loops -------------------------------------------

# a in [0.5, 50]: sqrt domain, Newton from r0 = a + 1 > sqrt(a) converges monotonically from
# above; the exit test changes the iteration count only when the residual is already ~1e-12.
# (From r0 = a the loop would not run at all at a = 1, where the result a has derivative 1, not
# 1/2.)
@case(Float(0.5, 50.0))
def newton_sqrt(a):
    r = a + 1.0
    it = 0
    while abs(r * r - a) > TOL * a and it < 100:
        r = 0.5 * (r + a / r)
        it += 1
    return r


# c in [0.5, 20]: t^3 + t = c has one real root in [0, c]; the bisection stops at width 0.05
# (a decision flips only every ~0.05 in t, far beyond the FD step), then 8 Newton steps polish.
@case(Float(0.5, 20.0))
def bisect_then_newton(c):
    lo, hi = 0.0, c
    while hi - lo > 0.05:
        mid = 0.5 * (lo + hi)
        if mid * mid * mid + mid - c > 0.0:
            hi = mid
        else:
            lo = mid
    t = 0.5 * (lo + hi)
    for _ in range(8):
        t -= (t * t * t + t - c) / (3.0 * t * t + 1.0)
    return t


# M in [0.2, 3], e in [0, 0.8]: Kepler's equation E - e sin E = M has a unique root and Newton
# from E = M converges quickly; the tolerance exit only decides when the step is ~1e-14.
@case(Float(0.2, 3.0), Float(0.0, 0.8))
def kepler(M, e):
    E = M
    delta = 1.0
    it = 0
    while abs(delta) > 1e-14 and it < 50:
        delta = (E - e * math.sin(E) - M) / (1.0 - e * math.cos(E))
        E = E - delta
        it += 1
    return E + 0.25 * math.sin(2.0 * E)


# a in [0.2, 30]: Halley iterations for the cube root; break when converged (early exit in a for).
@case(Float(0.2, 30.0))
def halley_cbrt(a):
    x = 1.0 + a / 3.0
    for _ in range(60):
        x3 = x ** 3
        step = x * (x3 - a) / (2.0 * x3 + a)
        x -= step
        if abs(step) < 1e-15 * x:
            break
    return x


# a in [0.5, 2], b in [3, 10]: arithmetic-geometric mean, both positive, a < b so the loop runs
# (at a == b it would not, and the result a would have gradient (1, 0) instead of (1/2, 1/2)).
@case(Float(0.5, 2.0), Float(3.0, 10.0))
def agm(a, b):
    n = 0
    while abs(a - b) > 1e-13 * a and n < 60:
        n += 1
        a, b = 0.5 * (a + b), math.sqrt(a * b)
    return a


# x in [-3, 3]: Taylor series of exp until the term is negligible (data-dependent trip count);
# |x| <= 3 keeps the terms small, and a trip-count change moves f by < 1e-16.
@case(Float(-3.0, 3.0))
def series_exp(x):
    term = 1.0
    total = 1.0
    k = 1
    while abs(term) > 1e-17 * abs(total):
        term *= x / k
        total += term
        k += 1
    return total


# x in [0.3, 3], the 'continued fraction' recurrence t = 1/(x + t) run backwards n times; the
# fixed point is smooth in x and t stays in (0, 1/x].
@case(Float(0.3, 3.0), Int(20, 200))
def continued_fraction(x, n):
    t = 0.0
    k = n
    while k > 0:
        t = 1.0 / (x + t)
        k -= 1
    return t


# ---- loops with branches, break, continue, early returns -----------------------------------

# x in [0.1, 1.2], n in [5, 40]: s grows by at least 0.1 each trip, so the `s > 6` early return
# and the branch on sin(...) > 0 can flip; the test's h/2-check skips the rare draws where they do.
@case(Float(0.1, 1.2), Int(5, 40))
def early_return_in_loop(x, n):
    s = 0.0
    for i in range(n):
        v = math.sin(x * (i + 1))
        if v > 0.0:
            s += v * x
        else:
            s += 0.1 * x * x
        if s > 6.0:
            return s * 0.5 + i
    return s


# x in [0.2, 0.9], n in [10, 60]: continue on multiples of 3 (int decision, x-independent);
# break when the float accumulator exceeds 4 (data-dependent; flips are skipped by the test).
@case(Float(0.2, 0.9), Int(10, 60))
def break_continue(x, n):
    s = 0.0
    p = 1.0
    for i in range(n):
        if i % 3 == 0:
            continue
        p *= 1.0 + 0.05 * x
        s += p * math.cos(x * i * 0.1)
        if s > 4.0:
            break
    return s


# x, y in [0.1, 1.5], n, m in [2, 12]: nested loops with a loop-carried pair (tuple unpacking).
@case(Float(0.1, 1.5), Float(0.1, 1.5), Int(2, 12), Int(2, 12))
def nested_loops(x, y, n, m):
    a, b = x, y
    for i in range(n):
        for j in range(m):
            a, b = b * 0.9 + 0.01 * j, math.sin(a) * 0.95 + 0.05 * x
        a += 0.01 * i * y
    return a * b + a


# x in [0.2, 2], n in [3, 30]: a for ... else; the search condition depends on ints only.
@case(Float(0.2, 2.0), Int(3, 30))
def for_else(x, n):
    acc = x
    for i in range(n):
        acc = acc * 0.9 + 0.1 * math.sqrt(i + x)
        if i * i > 4 * n:
            acc += x
            break
    else:
        acc -= x * x
    return acc


# x in [0.3, 2]: while ... else, the loop halves until below 0.1; the number of halvings changes
# only at x = 0.1 * 2^k (0.4, 0.8, 1.6), where the result jumps: draws within a step of those
# points are skipped by the test's FD check.
@case(Float(0.3, 2.0))
def while_else(x):
    y = x
    k = 0
    while y > 0.1:
        y *= 0.5
        k += 1
        if k > 50:
            break
    else:
        y += 0.25 * x
    return y * (k + 1)


# x in [-2, 2]: early returns at the top level from an if/elif chain; the pieces are joined
# continuously at -1 and 0.5 (kinks there) and with a jump at 1.5; draws within a step of those
# points are skipped by the test's FD check.
@case(Float(-2.0, 2.0))
def piecewise_returns(x):
    if x < -1.0:
        return 2.0 - x * x + math.sin(-1.0) - 1.0
    elif x < 0.5:
        return math.sin(x)
    elif x < 1.5:
        return math.sin(0.5) + math.log(1.0 + (x - 0.5) ** 2)
    return math.log(x) + 2.0


# x in [0.05, 0.95], n = 1000..1200: a long loop (logistic map, r = 2.8 + 0.1x, attracted to its
# fixed point, so the derivative stays bounded); scaled so |f| < 1.
@case(Float(0.05, 0.95), Int(1000, 1200))
def logistic_map(x, n):
    r = 2.8 + 0.1 * x
    z = 0.3 + 0.2 * x
    for _ in range(n):
        z = r * z * (1.0 - z)
    return z + 0.001 * x


# x in [0.1, 3], n = 1000..1500: a long sum, normalised by n; the derivative sum i cos(i x/n)/n^2
# is O(1).
@case(Float(0.1, 3.0), Int(1000, 1500))
def long_sin_sum(x, n):
    s = 0.0
    for i in range(n):
        s += math.sin(i * x / n)
    return s / n


# x in [0.2, 1.5], n = 1000: a leaky integrator with a data-dependent branch per step (the branch
# depends on the integer i and on x only through a margin >= 0.2, so it never flips).
@case(Float(0.2, 1.5), Int(900, 1100))
def leaky_integrator(x, n):
    s = 0.0
    for i in range(n):
        u = math.cos(0.01 * i) + 1.3  # in [0.3, 2.3]: never near 0
        if u * x > 0.0:
            s = 0.999 * s + 0.001 * u * x
        else:
            s = 0.999 * s
    return s


# x in [0.5, 2], n in [50, 400]: an int-only Collatz walk decides the branch; the float follows.
@case(Float(0.5, 2.0), Int(50, 400))
def collatz_weighted(x, n):
    k = n
    w = 0.0
    steps = 0
    while k != 1 and steps < 500:
        if k % 2 == 0:
            k = k // 2
            w = w * 0.9 + math.sin(x)
        else:
            k = 3 * k + 1
            w = w * 0.9 + x * 0.1
        steps += 1
    return w


# x in [0.5, 3], lr in [0.01, 0.1], n in [20, 200]: gradient descent on (w - x)^2 + 0.1 w^4
# (convex; lr small enough to converge monotonically); returns the final loss.
@case(Float(0.5, 3.0), Float(0.01, 0.1), Int(20, 200))
def gradient_descent(x, lr, n):
    w = 0.0
    for _ in range(n):
        g = 2.0 * (w - x) + 0.4 * w ** 3
        w -= lr * g
    return (w - x) ** 2 + 0.1 * w ** 4


# k in [0.5, 2], y0 in [-2, 2], n in [20, 200]: RK4 on dy/dt = -k y + 0.5 sin t over t in [0, 2],
# through a helper called with keywords (k=..., forcing=...).
@case(Float(0.5, 2.0), Float(-2.0, 2.0), Int(20, 200))
def rk4_decay(k, y0, n):
    dt = 2.0 / n
    y = y0
    t = 0.0
    for _ in range(n):
        k1 = rhs(t, y, k=k, forcing=0.5)
        k2 = rhs(t + 0.5 * dt, y + 0.5 * dt * k1, k=k, forcing=0.5)
        k3 = rhs(t + 0.5 * dt, y + 0.5 * dt * k2, k, 0.5)
        k4 = rhs(t + dt, y + dt * k3, forcing=0.5, k=k)
        y += dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        t += dt
    return y


# theta0 in [0.1, 1.2], damping in [0, 0.5], n in [100, 400]: semi-implicit Euler pendulum
# (bounded energy, no branches).
@case(Float(0.1, 1.2), Float(0.0, 0.5), Int(100, 400))
def pendulum(theta0, damping, n):
    dt = 0.01
    th, om = theta0, 0.0
    for _ in range(n):
        om += dt * (-GRAVITY * math.sin(th) - damping * om)
        th += dt * om
    return th * th + 0.1 * om


# a in [-1, 0], b in [0.5, 1.5], n in [50, 400]: trapezoid rule for the integral of exp(-t^2)
# (gradient w.r.t. the limits a and b).
@case(Float(-1.0, 0.0), Float(0.5, 1.5), Int(50, 400))
def trapezoid(a, b, n):
    h = (b - a) / n
    s = 0.5 * (math.exp(-a * a) + math.exp(-b * b))
    for i in range(1, n):
        t = a + i * h
        s += math.exp(-t * t)
    return s * h


# a, b in [0.1, 2], n in [2, 80]: Fibonacci-like recurrence with a tuple swap; scaled by 2^-n
# growth so the result stays O(1).
@case(Float(0.1, 2.0), Float(0.1, 2.0), Int(2, 80))
def fib_like(a, b, n):
    p, q = a, b
    for _ in range(n):
        p, q = q, 0.5 * (p + q) + 0.01 * a * q
    return q / (1.0 + p)


# theta in [0.05, 1], n in [1, 100]: repeated rotation (and slight growth) of a vector, then its
# polar form through a helper returning a tuple: |(x, y)| <= 1.001^100 < 1.11, so x + 2 > 0.89
# and atan2 never comes near its branch cut on the negative x axis.
@case(Float(0.05, 1.0), Int(1, 100))
def rotations(theta, n):
    x, y = 1.0, 0.0
    c, s = math.cos(theta), math.sin(theta)
    for _ in range(n):
        x, y = c * x - s * y, s * x + c * y
        x *= 1.001
    r, phi = polar(x + 2.0, y)
    return r * math.cos(phi) + math.sin(phi)


# ---- helpers, defaults, keywords, conditional expressions, and/or ------------------------------

# x in [-3, 3], y in [0.2, 2]: huber with its default delta and with a keyword delta; the kink of
# |r| at r = 0 and of huber at |r| = delta are skipped by the test's FD check.
@case(Float(-3.0, 3.0), Float(0.2, 2.0))
def robust_loss(x, y):
    return huber_loss(x - 0.5) + huber_loss(x * y, delta=y) + 0.1 * huber_loss(r=y + 3.0)


# x in [-6, 6]: a stable softplus and sigmoid with branches on the sign (both sides smooth and
# matching, so even a flip is harmless), with a default and a keyword argument.
@case(Float(-6.0, 6.0))
def softplus_sigmoid(x):
    return softplus(x) + softplus(x, beta=2.0) * sigmoid(-x) + sigmoid(0.5 * x)


# x in [-2, 2], w in [-1, 1], b in [-1, 1]: a two-layer tiny network (helpers calling helpers).
@case(Float(-2.0, 2.0), Float(-1.0, 1.0), Float(-1.0, 1.0))
def tiny_network(x, w, b):
    h1 = dense(x, w, b)
    h2 = dense(x, -w, 0.5 * b)
    out = dense(h1, 1.5, h2)
    return sigmoid(2.0 * out) + lerp(h1, h2) + lerp(h1, h2, t=0.25)


# x in [-1, 2], lo in [0.1, 0.4]: clamp through a helper with defaults and keywords; the kinks at
# x = lo and x = 1 are skipped by the FD check.
@case(Float(-1.0, 2.0), Float(0.1, 0.4))
def clamped(x, lo):
    return clamp(x) * clamp(x, lo=lo) + clamp(x * x, hi=1.5) + clamp(x, lo, 1.2)


# x in [-2, 2], y in [-2, 2]: conditional expressions and and/or conditions (including a chained
# comparison); boundaries are the lines x = 0, y = 0.5, x = y, x = 1.2: skipped by the FD check.
@case(Float(-2.0, 2.0), Float(-2.0, 2.0))
def conditional_exprs(x, y):
    a = x * y if x > 0.0 and y > 0.5 else x - y
    b = math.sin(x) if (x < y or y > 1.0) else math.cos(y)
    c = 2.0 * x if not (x > 1.2) else x * x + 0.96
    d = y if 0.0 < x < 1.0 else -y
    return a + b * c + d


# x in [-3, 3], y in [-3, 3], z in [-3, 3]: log-sum-exp with the max trick (max of three uses
# two max primitives); the max switches where two inputs tie, but the result is smooth there.
@case(Float(-3.0, 3.0), Float(-3.0, 3.0), Float(-3.0, 3.0))
def logsumexp3(x, y, z):
    m = max(x, y, z)
    return m + math.log(math.exp(x - m) + math.exp(y - m) + math.exp(z - m))


# income in [1, 200] (thousands): a piecewise-linear tax through an if/elif chain; brackets at
# 10, 40, 90 (kinks skipped by the FD check), mixed with a smooth credit.
@case(Float(1.0, 200.0))
def income_tax(income):
    if income <= 10.0:
        tax = 0.0
    elif income <= 40.0:
        tax = 0.1 * (income - 10.0)
    elif income <= 90.0:
        tax = 3.0 + 0.25 * (income - 40.0)
    else:
        tax = 15.5 + 0.4 * (income - 90.0)
    credit = 2.0 * math.exp(-income / 30.0)
    return (tax - credit) / 10.0


# rate in [0.001, 0.1], years in [1, 40], monthly flag: compound interest through a loop over
# periods (int trip count) and a closed form with an int exponent.
@case(Float(0.001, 0.1), Int(1, 40), Bool())
def compound_interest(rate, years, monthly):
    periods = 12 if monthly else 1
    balance = 1.0
    for _ in range(years * periods):
        balance *= 1.0 + rate / periods
    closed = (1.0 + rate) ** years
    return balance - 0.5 * closed


# ---- every math rule ----------------------------------------------------------------------

# x in [0.1, 0.9]: inside the domains of asin/acos (|x| < 1) and tan is far from its poles.
@case(Float(0.1, 0.9))
def trig_all(x):
    return (math.sin(x) * math.cos(2.0 * x) + math.tan(x) + math.asin(x) * math.acos(0.5 * x)
            + math.atan(3.0 * x))


# x in [0.1, 0.9]: acosh needs its argument > 1 (1 + x >= 1.1), atanh |x| < 1 (x <= 0.9).
@case(Float(0.1, 0.9))
def hyperbolic_all(x):
    return (math.sinh(x) + math.cosh(2.0 * x) * math.tanh(x) + math.asinh(3.0 * x - 1.0)
            + math.acosh(1.0 + x) + math.atanh(x))


# x in [0.2, 5]: all logs need x > 0 (log1p x > -1); expm1 of x/5 <= 1 is small.
@case(Float(0.2, 5.0))
def logs_all(x):
    return (math.log(x) + math.log1p(x) * math.log2(x + 1.0) + math.log10(3.0 * x)
            + math.expm1(0.2 * x))


# x in [0.2, 5], y in [0.5, 3]: math.log with a base, constant or differentiated (a base of
# 1 + y + x is above 1, its log away from 0), and the builtin pow (x ** y)
@case(Float(0.2, 5.0), Float(0.5, 3.0))
def log_with_base(x, y):
    return math.log(x, 3.0) + math.log(2.0 + x * y, 1.0 + y + x) + pow(x, y) - pow(y, 2)


# x in [-2, 2], mu in [-0.5, 0.5], sigma in [0.5, 2]: normal CDF/tails via erf and erfc.
@case(Float(-2.0, 2.0), Float(-0.5, 0.5), Float(0.5, 2.0))
def normal_cdf(x, mu, sigma):
    z = (x - mu) / (sigma * math.sqrt(2.0))
    return 0.5 * (1.0 + math.erf(z)) + 0.25 * math.erfc(-z) * math.exp(-0.5 * z * z)


# x in [0.5, 2], y in [0.5, 2]: atan2 in the first quadrant (far from the branch cut), hypot > 0;
# copysign's sign argument y + 3 > 0 is fixed and |x - 0.2| > 0 (copysign's magnitude kink at 0).
@case(Float(0.5, 2.0), Float(0.5, 2.0))
def polar_mix(x, y):
    r, t = polar(x, y)
    return r * math.atan2(x, y + 1.0) + math.copysign(x - 0.2, y + 3.0) * t + math.hypot(x * y, 1.0)


# x in [-2, -0.5], y in [0.5, 2]: copysign with a negative magnitude and a sign argument of fixed
# sign, abs and math.fabs of quantities bounded away from 0, np.sign of a positive number.
@case(Float(-2.0, -0.5), Float(0.5, 2.0))
def signs_and_abs(x, y):
    a = math.copysign(x, y) + math.copysign(y, x)  # |x| and -y
    b = abs(x - y) + math.fabs(x * y) + np.sign(y) * x
    return a * b + abs(-y) * 0.5


# x in [0.5, 2.5], p in [0.5, 3]: pow with int exponents (positive, negative, zero), float
# exponents (x > 0 so x**p and d/dp are defined), math.pow, np.power and a float base 2.0**x.
@case(Float(0.5, 2.5), Float(0.5, 3.0))
def powers(x, p):
    return (x ** 3 - x ** -2 + x ** 0 + x ** p + math.pow(x, 1.5) + np.power(x, 2)
            + 2.0 ** x + (x + 1.0) ** (0.5 * p) + math.sqrt(x) ** 3)


# x in [0.1, 0.4], k in [0, 5]: y = x + k has fractional part x, so y % 1 = x, y % 0.5 = x,
# (-y) % 1 = 1 - x, y // 1 = floor(y) = k, ceil(y) = k + 1: every jump of mod/floor/ceil (at
# multiples of 0.5 in y) is at least 0.1 away; y / (1 + 0.1x) lies in [k + 0.049, k + 0.35], so
# y % (1 + 0.1x) = y - k (1 + 0.1x) (a divisor that depends on x: the rule's second gradient).
# mod with float divisors, floor division, floor/ceil (gradient zero, their results used as values).
@case(Float(0.1, 0.4), Int(0, 5))
def modular(x, k):
    y = x + k
    return (y % 1.0 * y + (2.0 * y) % 1.0 + (y // 1.0) * x + math.floor(y) * y
            + math.ceil(y) * 0.5 * x + (-y) % 1.0 + y % 0.5 + (y * x) % 17.0 + y % (1.0 + 0.1 * x))


# x in [0.1, 0.4], k in [0, 5]: math.fmod truncates towards zero: with y = x + k,
# fmod(2y, 1) = 2x, fmod(-y, 1) = -x, and y / (1 + 0.1x) lies in [k + 0.049, k + 0.35], so
# fmod(y, 1 + 0.1x) = y - k (1 + 0.1x) (the divisor depends on x too): no jump within 0.049.
@case(Float(0.1, 0.4), Int(0, 5))
def fmod_wrap(x, k):
    y = x + k
    return math.fmod(2.0 * y, 1.0) + math.fmod(-y, 1.0) * x + math.fmod(y, 1.0 + 0.1 * x)


# x in [0.5, 2], y in [-1, 1]: NumPy ufuncs applied to Python floats.
@case(Float(0.5, 2.0), Float(-1.0, 1.0))
def numpy_scalars(x, y):
    a = np.exp(-x) * np.tanh(y) + np.maximum(x, y + 2.0) + np.minimum(x, y - 1.0)
    b = np.sqrt(x) + np.log(x) + np.sin(y) * np.cos(x) + np.abs(y - 3.0)
    c = (np.arctan2(y, x) + np.hypot(x, y) + np.arcsinh(y) + np.arctan(y)
         + np.float64(x) * np.negative(y))
    return a + b + c


# x in [-2, 2], y in [-1, 1]: NumPy's elementwise functions that the math module lacks, on floats.
@case(Float(-2.0, 2.0), Float(-1.0, 1.0))
def numpy_square_logaddexp(x, y):
    return np.square(x) * y + np.logaddexp(x, y) + np.logaddexp(2.0 * x, 0.5) + np.square(y - x)


# x in [-2, 2], n in [0, 10]: unary plus/minus, float() of ints, augmented assignments of every
# kind.
@case(Float(-2.0, 2.0), Int(0, 10))
def augmented_ops(x, n):
    y = +x
    y += 1.5
    y *= float(n) + 1.0
    y -= -x
    y /= 2.0 + x * x
    y **= 2
    y %= 7.0  # wraps (a jump) where y crosses a multiple of 7: skipped by the FD check
    return y + float(n) * -y


# x in [0.2, 3], a in [1.5, 3]: min and max of values that never tie (a - x vs 0.1, ...).
@case(Float(0.2, 3.0), Float(1.5, 3.0))
def min_max_mix(x, a):
    lo = min(x, a)  # ties at x = a (skipped by FD check)
    hi = max(x * x, 0.01)  # x^2 >= 0.04 > 0.01: always the first
    return lo * hi + min(x + a, 10.0) - max(0.0, x - 5.0) + min(math.sin(x), 2.0, x + 3.0)


# ---- tuples, loop-carried values, misc realistic programs -----------------------------------

# x in [-1, 1]: Horner evaluation of a polynomial whose coefficients come from a global tuple.
@case(Float(-1.0, 1.0))
def horner(x):
    c0, c1, c2, c3 = COEFFS
    acc = c3
    acc = acc * x + c2
    acc = acc * x + c1
    acc = acc * x + c0
    return acc * math.exp(-x * x)


# a, b in [0.5, 1.5], n in [1, 30]: a loop-carried pair returned from a helper as a tuple.
@case(Float(0.5, 1.5), Float(0.5, 1.5), Int(1, 30))
def tuple_state(a, b, n):
    state = (a, b)
    for i in range(n):
        u, v = state
        r, t = polar(u, v)
        state = (r * 0.7 + 0.1, t + 0.05 * i * a)
    return state[0] + state[1] * 0.1


# x in [0.2, 2], y in [0.2, 2]: ratio of two sums; both loops depend on both arguments.
@case(Float(0.2, 2.0), Float(0.2, 2.0), Int(5, 50))
def ratio_of_loops(x, y, n):
    num = 0.0
    den = 0.0
    for i in range(n):
        w = math.exp(-0.1 * i * y)
        num += w * math.cos(i * x * 0.05)
        den += w
    return num / den


# x in [0.05, 1.5]: golden-section-like bracketing of the minimum of (t - x)^2 + 0.1 t^4 with a
# width tolerance of 0.05 (decisions flip only on a 0.05 scale), then Newton polish steps.
@case(Float(0.05, 1.5))
def bracket_then_newton_min(x):
    a, b = -2.0, 3.0
    while b - a > 0.05:
        m1 = a + 0.382 * (b - a)
        m2 = a + 0.618 * (b - a)
        f1 = (m1 - x) ** 2 + 0.1 * m1 ** 4
        f2 = (m2 - x) ** 2 + 0.1 * m2 ** 4
        if f1 < f2:
            b = m2
        else:
            a = m1
    t = 0.5 * (a + b)
    for _ in range(6):
        t -= (2.0 * (t - x) + 0.4 * t ** 3) / (2.0 + 1.2 * t * t)
    return t + (t - x) ** 2


# speed in [0.1, 2], angle in [0.1, 1.2]: a small physics formula (projectile range with drag
# correction)
# using a global constant; early return when the launch angle is too flat (never for these inputs).
@case(Float(0.1, 2.0), Float(0.1, 1.2))
def projectile(speed, angle):
    if angle <= 0.0:
        return 0.0
    vx = speed * math.cos(angle)
    vy = speed * math.sin(angle)
    t_flight = 2.0 * vy / GRAVITY
    drag = 1.0 / (1.0 + 0.05 * speed * speed)
    return vx * t_flight * drag


# x in [0.2, 2], n in [2, 25]: a nested loop whose inner trip count depends on the outer index
# (triangular), with a continue on an int condition and a float accumulator.
@case(Float(0.2, 2.0), Int(2, 25))
def triangular_loops(x, n):
    s = 0.0
    for i in range(n):
        if i % 4 == 3:
            continue
        t = 1.0
        for j in range(i):
            t = t * 0.9 + math.sin(x + j * 0.1) * 0.1
        s += t / (i + 1)
    return s


# x in [0.3, 2.5]: a while loop whose exit depends on a float state and on an int counter with
# both `and` and `or` in the condition; the float test flips at isolated x (skipped).
@case(Float(0.3, 2.5))
def and_or_while(x):
    y = x
    k = 0
    while (y < 10.0 and k < 20) or k < 3:
        y = y * 1.3 + 0.1 * math.atan(y)
        k += 1
    return y / (k + 1.0)


# x in [0.5, 2]: a chain of early returns inside a loop over a data-dependent float state
# (Newton for x = cos(t) style equation with a guard).
@case(Float(0.5, 2.0))
def early_exit_fixed_point(x):
    t = 0.5
    for i in range(200):
        nt = math.cos(t) * x * 0.4 + 0.1
        if abs(nt - t) < 1e-15:
            return nt
        t = nt
    return t


# x in [-1, 1], y in [-1, 1]: bool flag argument selecting a formula (not differentiated).
@case(Float(-1.0, 1.0), Float(-1.0, 1.0), Bool())
def flagged(x, y, square):
    if square:
        base = x * x + y * y
    else:
        base = math.hypot(x, y + 3.0)
    return base + math.tanh(x - y)


# x in [0.1, 3]: a value that does not depend on the argument at all on one path, and an
# int counter that is returned as a float.
@case(Float(0.1, 3.0), Int(1, 8))
def mostly_constant(x, n):
    c = 0.0
    for i in range(n):
        c += 1.0 / (i + 1)
    return c + 0.0 * x + float(n) + x * 1e-3

"""exp, expm1, log, log1p, tanh, the sigmoid, sin and cos of float64 numbers, written so that LLVM
vectorises the fused loops that call them: straight-line arithmetic, selects instead of branches,
no call into libm (whose functions LLVM can only call one element at a time: this LLVM has no
vector library to swap them for). The elementwise chain of benchmarks/fusion.py runs 3-5x faster
through them than through libm. float32 code calls them on float64 and rounds once; exp, tanh
and the sigmoid have shorter versions for it, accurate to what a float32 result keeps.

Errors against long-double references (tests/test_mathlib.py): at most 0.6 ulp for exp and tanh
(glibc's tanh: 1.2), 0.9 for log, log1p, sin and cos, 1.1 for expm1, 2.1 for the sigmoid (exp's
error and two roundings, which a float32 result rounds away), on a machine with fused
multiply-add (x86-64 since 2013, ARMv8), which the error terms rely on. The special values (nan,
+-inf, +-0, subnormals, overflow) are libm's. The float32 versions: at most 0.75 ulp of float32.

sin and cos reduce their argument by pi/2 in four parts, which is exact for |x| <= FAST_TRIG;
beyond it their results are not to be used: a fused loop asks `zy_far(x)` of each argument and,
if any is far, computes again with libm's functions.

Each function is the textbook method: reduce the argument by a multiple of ln 2 or pi/2 (Cody and
Waite), sum a Taylor series on the small remainder (Estrin's scheme, fused multiply-adds), the
leading terms carried with their rounding errors, and scale back through the exponent bits.
LLVM inlines them into the loops that call them.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import config
from numba.extending import intrinsic

__all__ = ["zy_exp", "zy_expm1", "zy_log", "zy_log1p", "zy_tanh", "zy_logistic", "zy_sin",
           "zy_cos", "zy_far", "zy_radd", "zy_exp_f32", "zy_tanh_f32", "zy_logistic_f32"]

# compiled once, and always inlined by LLVM into their callers (its heuristics would leave calls
# to the larger kernels, which stops a loop from vectorising)
# Numba's disk cache does not tell optimisation levels apart: helpers compiled at another level
# than the default (the test suite runs at NUMBA_OPT=1) are not cached, or every later process
# would load them (loops left unvectorised: a softmax along short rows ran 5x slower)
CACHED = config.OPT == 3
JIT = dict(error_model="numpy", cache=CACHED, nogil=True, forceinline=True)


@intrinsic
def _bits(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, b):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c, rounded once where the machine fuses it (llvm.fmuladd)."""
    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fmuladd", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)
    return types.float64(types.float64, types.float64, types.float64), codegen


@intrinsic
def zy_radd(typingctx, total, x):
    """total + x, marked reassociable: a loop summing with it may keep several partial sums,
    which is what lets LLVM vectorise it (the order of a float sum is otherwise fixed)."""
    def codegen(context, builder, signature, args):
        total_, x_ = args
        if signature.args[1] != signature.return_type:
            x_ = context.cast(builder, x_, signature.args[1], signature.return_type)
        s = builder.fadd(total_, x_)
        s.flags.append("reassoc")
        return s
    if not isinstance(total, types.Float) or not isinstance(x, (types.Float, types.Integer,
                                                                types.Boolean)):
        return None
    return total(total, x), codegen


@intrinsic
def zy_rmax(typingctx, greatest, x):
    """The larger of two float64 numbers, or the one that is not NaN (llvm.maxnum): a loop
    keeping the greatest with it may keep several (LLVM vectorises it; Python's `max`, which
    keeps a NaN in first place, makes each step wait for the last). For a softmax or logsumexp,
    where a NaN anywhere gives NaN all the same."""
    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.maxnum", [d], ir.FunctionType(d, [d, d]))
        return builder.call(fn, args)
    return types.float64(types.float64, types.float64), codegen


@njit(**JIT)
def _two_pow(k):  # 2^k for integer -1022 <= k <= 1023, through the exponent bits
    return _from_bits((k + 1023) << 52)


INV_LN2 = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # ln 2 = LN2_HI + LN2_LO; k * LN2_HI is exact for |k| < 2^11
LN2_LO = 1.90821492927058770002e-10
ROUND = 6755399441055744.0  # 1.5 * 2^52: x + ROUND - ROUND is x rounded to an integer
TINY = 2.2250738585072014e-308  # the least normal float64

# series coefficients, lowest power first (a Python int quotient is correctly rounded)
EXPM1 = tuple(1 / math.factorial(n) for n in range(3, 19))  # (e^r - 1 - r - r^2/2) / r^3
# log((1+s)/(1-s)) = 2s + s z R(z), to z^12; padded with zeros to _estrin16's sixteen
LOG = tuple(2 / n for n in range(3, 26, 2)) + (0.0,) * 4
SIN = tuple((-1) ** n / math.factorial(2 * n + 1) for n in range(1, 10))  # (sin r - r) / r^3
COS = tuple((-1) ** n / math.factorial(2 * n) for n in range(2, 11))  # (cos r - 1 + z/2) / z^2


@njit(**JIT)
def _estrin8(x, x2, x4, c):
    """c[0] + c[1] x + ... + c[7] x^7, by Estrin's scheme: a dependency chain three fused
    multiply-adds long (Horner's rule makes it seven), which matters where a loop does not
    vectorise and each element waits for its own chain."""
    return _fma(_fma(_fma(c[7], x, c[6]), x2, _fma(c[5], x, c[4])), x4,
                _fma(_fma(c[3], x, c[2]), x2, _fma(c[1], x, c[0])))


@njit(**JIT)
def _estrin16(x, c):
    x2 = x * x
    x4 = x2 * x2
    return _fma(_estrin8(x, x2, x4, c[8:]), x4 * x4, _estrin8(x, x2, x4, c[:8]))


@njit(**JIT)
def _estrin9(x, c):
    x2 = x * x
    x4 = x2 * x2
    return _fma(c[8], x4 * x4, _estrin8(x, x2, x4, c[:8]))


@njit(**JIT)
def _expm1_series(r, lo):
    """exp(r + lo) - 1 for |r| <= ln 2 and a tiny lo, as a sum hi + lo: the Taylor series to
    r^18 (the rest below 2^-60 relative), with r + r^2/2 exact as two numbers (r^2 is exact as
    r * r and its rounding error), the rest r^3 Q(r) a tenth of it at most."""
    r2 = r * r
    half = 0.5 * r2
    hi = r + half
    rest = _fma(_estrin16(r, EXPM1) * r, r2, 0.5 * _fma(r, r, -r2))
    lo = ((r - hi) + half) + rest + lo * (1.0 + hi)
    total = hi + lo
    return total, (hi - total) + lo  # lo now within total's rounding


@njit(**JIT)
def _by_ln2(x):
    """x = k ln 2 + r + lo with integer k, |r| <= ln(2) / 2 and lo the rounding error of r."""
    k = _fma(x, INV_LN2, ROUND) - ROUND
    r1 = _fma(-k, LN2_HI, x)  # exact
    r = _fma(-k, LN2_LO, r1)
    return k, r, _fma(-k, LN2_LO, r1 - r)  # r1 - r is exact


@njit(**JIT)
def zy_exp(x):
    x = np.float64(x)
    k, r, lo = _by_ln2(min(max(x, -746.0), 710.0))  # beyond these exp is 0 or inf
    hi, lo = _expm1_series(r, lo)
    one = 1.0 + hi
    p = one + (((1.0 - one) + hi) + lo)  # 1 + hi + lo, rounded once
    half = np.int64(k) >> 1  # 2^k in two factors: each in range down to subnormal results
    y = p * _two_pow(half) * _two_pow(np.int64(k) - half)
    return y if x == x else x


@njit(**JIT)
def _expm1_parts(x):
    """expm1(x) as a sum hi + lo, for -40 <= x <= 710."""
    k, r, lo = _by_ln2(x)
    near = abs(x) < LN2_HI  # no reduction: 2^k e + 2^k - 1 would cancel for k = +-1
    k, r, lo = (0.0, x, 0.0) if near else (k, r, lo)
    hi, lo = _expm1_series(r, lo)
    half = np.int64(k) >> 1
    s1, s2 = _two_pow(half), _two_pow(np.int64(k) - half)
    # 2^k (e + 1) - 1 = s2 (s1 e + s1 - 1/s2), where s1 - 1/s2 is exact for the k it matters;
    # s1 hi + (s1 - 1/s2) summed exactly (Knuth's two-sum), its rounding error kept in lo
    a, b = hi * s1, s1 - 1.0 / s2
    total = a + b
    bb = total - a
    lo = (a - (total - bb)) + (b - bb) + lo * s1
    return s2 * total, s2 * lo


@njit(**JIT)
def zy_expm1(x):
    x = np.float64(x)
    hi, lo = _expm1_parts(min(max(x, -40.0), 710.0))  # expm1(-40) rounds to -1
    y = -1.0 if x <= -40.0 else hi + lo
    return y if x == x and x != 0.0 else x  # nan, and -0.0 kept


@njit(**JIT)
def _log_parts(x):
    """x = 2^e (1 + f) with sqrt(1/2) <= 1 + f < sqrt(2), for positive finite x."""
    small = x < TINY  # a subnormal: scaled up into the normal range first
    b = _bits(x * 18014398509481984.0 if small else x)  # 2^54
    e = (b >> 52) - 1023 - (54 if small else 0)
    m = _from_bits((b & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000)  # in [1, 2)
    big = m > 1.4142135623730951
    return np.float64(e + (1 if big else 0)), (m * 0.5 if big else m) - 1.0


@njit(**JIT)
def _log_near_1(f, tail):
    """log(1 + f) + tail for sqrt(1/2) - 1 <= f <= sqrt(2) - 1 and a small tail: with
    s = f / (2 + f), log(1 + f) = log((1 + s) / (1 - s)) = 2s + 2s^3/3 + ..., |s| <= 0.172, to
    s^25; written f - (f^2/2 - (s (f^2/2 + R) + tail)), which keeps the leading terms exact."""
    s = f / (2.0 + f)
    z = s * s
    r = _estrin16(z, LOG)
    half_f2 = 0.5 * f * f
    return f - (half_f2 - _fma(s, half_f2 + r * z, tail))


@njit(**JIT)
def _off_positive(u, y):
    """log(u) given y, its value for positive u: -inf at 0, nan below."""
    return y if u > 0.0 else (-math.inf if u == 0.0 else math.nan)


@njit(**JIT)
def zy_log(x):
    x = np.float64(x)
    e, f = _log_parts(x)
    y = _off_positive(x, _fma(e, LN2_HI, _log_near_1(f, e * LN2_LO)))
    return x if x == math.inf or x != x else y


@njit(**JIT)
def zy_log1p(x):
    x = np.float64(x)
    u = 1.0 + x
    e, f = _log_parts(u)
    # log(1 + x) = log(u) + log((1 + x) / u), and (1 + x) / u = 1 + (x - (u - 1)) / u
    c = (x - (u - 1.0)) / u
    y = _off_positive(u, _fma(e, LN2_HI, _log_near_1(f, _fma(e, LN2_LO, c))))
    return x if x == math.inf or x != x or x == 0.0 else y  # -0.0 kept


@njit(**JIT)
def zy_tanh(x):
    x = np.float64(x)
    hi, lo = _expm1_parts(2.0 * min(abs(x), 40.0))  # e = expm1(2|x|); tanh(40) rounds to 1
    d = hi + 2.0
    lost = ((2.0 - d) + hi if hi < 2.0 else (hi - d) + 2.0) + lo  # d + lost = e + 2
    q = hi / d
    t = q + ((_fma(-q, d, hi) + lo) - q * lost) / d  # e / (e + 2), to well below an ulp
    t = math.copysign(t, x)
    return t if x == x else x


@njit(**JIT)
def logistic_of(x, e):
    """The sigmoid 1 / (1 + exp(-x)) from e = exp(-|x|), which never overflows."""
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


@njit(**JIT)
def zy_logistic(x):
    x = np.float64(x)
    return logistic_of(x, zy_exp(-abs(x)))


# For a float32 result, 1e-9 relative is enough: exp by the Taylor series to r^7 on |r| <= ln(2)/2
# (error below 6e-9), in float64, is rounded once to float32 within 0.6 ulp, at half the cost of
# zy_exp. tanh and the sigmoid follow from it; tanh(x) = 1 - 2 / (e^2x + 1) loses only what
# float64 has to spare down to |x| = 2^-12, below which tanh(x) rounds to x in float32.
EXP_TAYLOR = (1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040)


@njit(**JIT)
def _exp_short(x):
    """exp(x) to 1e-8 relative, for -104 <= x <= 89 (float32's range and a little beyond)."""
    k = _fma(x, INV_LN2, ROUND) - ROUND
    r = _fma(-k, LN2_LO, _fma(-k, LN2_HI, x))
    c2, c3, c4, c5, c6, c7 = EXP_TAYLOR
    tail = _fma(_fma(_fma(c7, r, c6), r, c5), r * r * r, _fma(_fma(c4, r, c3), r, c2))
    return (_fma(tail, r * r, r) + 1.0) * _two_pow(np.int64(k))


@njit(**JIT)
def zy_exp_f32(x):
    """exp, for a result rounded to float32."""
    x = np.float64(x)
    return _exp_short(min(max(x, -104.0), 89.0)) if x == x else x


@njit(**JIT)
def zy_tanh_f32(x):
    """tanh, for a result rounded to float32."""
    x = np.float64(x)
    t = math.copysign(1.0 - 2.0 / (_exp_short(2.0 * min(abs(x), 10.0)) + 1.0), x)
    return x if abs(x) < 2.0 ** -12 or x != x else t  # -0.0 and nan kept


@njit(**JIT)
def zy_logistic_f32(x):
    """The sigmoid, for a result rounded to float32."""
    x = np.float64(x)
    return logistic_of(x, _exp_short(-min(abs(x), 104.0))) if x == x else x


# pi/2 in four parts, the first three of 33 significant bits: k * part is exact for |k| < 2^20
PIO2_1 = 1.5707963267341256
PIO2_2 = 6.077100506303966e-11
PIO2_3 = 2.0222662487111665e-21
PIO2_4 = 8.4784276603689e-32
TWO_OVER_PI = 0.6366197723675814
FAST_TRIG = 1.0e6  # below 2^20 quarter turns


@njit(**JIT)
def _sin_series(r, lo):  # sin(r + lo), |r| <= pi/4, lo tiny: r - r^3/3! + ... to r^19
    z = r * r
    return r + _fma(_estrin9(z, SIN) * z, r, lo * (1.0 - 0.5 * z))


@njit(**JIT)
def _cos_series(r, lo):  # cos(r + lo), |r| <= pi/4, lo tiny: 1 - r^2/2 + ... to r^20
    z = r * r
    h = 0.5 * z
    w = 1.0 - h
    tail = _fma(_estrin9(z, COS) * z, z, -r * lo)
    return w + (((1.0 - w) - h) + tail)  # the rounding of 1 - h kept


@njit(**JIT)
def _quarter_turns(x, shift):
    """sin(x + shift * pi/2) for |x| <= FAST_TRIG: x = k pi/2 + r + lo, r and lo a
    double-double, so that r keeps its accuracy near the multiples of pi/2."""
    k = _fma(x, TWO_OVER_PI, ROUND) - ROUND
    r1 = _fma(-k, PIO2_1, x)  # exact
    r2 = _fma(-k, PIO2_2, r1)
    lo = _fma(-k, PIO2_4, _fma(-k, PIO2_3, _fma(-k, PIO2_2, r1 - r2)))  # r1 - r2 is exact
    r = r2 + lo
    lo = (r2 - r) + lo
    q = (np.int64(k) + shift) & 3
    v = _sin_series(r, lo) if q & 1 == 0 else _cos_series(r, lo)
    return -v if q >= 2 else v


@njit(**JIT)
def zy_sin(x):
    x = np.float64(x)
    y = _quarter_turns(x, 0)
    return x if x == 0.0 else y  # -0.0 kept


@njit(**JIT)
def zy_cos(x):
    return _quarter_turns(np.float64(x), 1)


@njit(**JIT)
def zy_far(x):
    """1 where zy_sin and zy_cos of x are not to be used (libm's are), else 0."""
    return np.int64(not abs(np.float64(x)) <= FAST_TRIG)  # nan too

"""Array programs whose gradients zygopy must get right, each with a seeded input generator.

Every function is ordinary Python + NumPy (nothing here imports zygopy) returning a float scalar;
tests/test_array_gradients.py compares zygopy's gradients with central finite differences of these
very functions, element by element. Each is registered with `@case(spec, ...)`, one spec per
argument:

    A(shape, lo, hi)        a float64 array drawn uniformly from [lo, hi] (float32 with dtype=)
    Distinct(shape, lo, hi) an array of well separated values (a shuffled grid with a little
    jitter):
                            for max/min reductions, whose gradient jumps at ties
    Away(shape, lo, hi)     |x| drawn from [lo, hi] with a random sign: for abs/where/maximum at 0
    F(lo, hi)               a Python float
    any other value         passed as it is (ints: trip counts and indices; int arrays: not
                            differentiated, their gradient is None)

The generators are seeded by the function's name, so every run sees the same inputs. They keep
away from kinks (no ties of max/min, |x| > 0.1 for abs, sqrt/log inputs > 0.1), inside the domains
of log/sqrt/power, and keep |f| below ~100 so that the rounding error of a finite difference
(eps |f| / h) stays far below the test's absolute tolerance. Arrays are small (at most 30
elements per argument) so that one finite difference per element is cheap.

`float32=True` marks cases run on float32 inputs: compared against the float64 finite difference
of the same function (inputs cast to float64) with a looser tolerance. `evaluator=True` marks the
subset also run through the pure-Python interpreter of the adjoint IR. `writes_args=True` marks a
function that writes into its own argument: the test checks the caller's array is left unchanged.
"""
import math
import zlib
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass
class A:
    shape: tuple
    lo: float = -1.0
    hi: float = 1.0
    dtype: object = np.float64

    def draw(self, rng):
        return rng.uniform(self.lo, self.hi, self.shape).astype(self.dtype)


@dataclass
class Distinct(A):
    def draw(self, rng):
        n = int(np.prod(self.shape))
        grid = np.linspace(self.lo, self.hi, n)
        step = (self.hi - self.lo) / max(n - 1, 1)
        values = rng.permutation(grid) + rng.uniform(-0.1, 0.1, n) * step  # gaps >= 0.8 step
        return values.reshape(self.shape).astype(self.dtype)


@dataclass
class Away(A):
    lo: float = 0.2
    hi: float = 1.0

    def draw(self, rng):
        sign = np.where(rng.uniform(size=self.shape) < 0.5, -1.0, 1.0)
        return (sign * rng.uniform(self.lo, self.hi, self.shape)).astype(self.dtype)


@dataclass
class F:
    lo: float
    hi: float

    def draw(self, rng):
        return float(rng.uniform(self.lo, self.hi))


@dataclass
class Case:
    fn: object
    specs: tuple
    float32: bool = False
    evaluator: bool = False
    writes_args: bool = False
    name: str = field(init=False)

    def __post_init__(self):
        self.name = self.fn.__name__

    def args(self):
        """Fresh arguments (new arrays each call), the same values every time."""
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        return tuple(s.draw(rng) if hasattr(s, "draw")
                     else (s.copy() if isinstance(s, np.ndarray) else s)
                     for s in self.specs)


CASES = []


def case(*specs, float32=False, evaluator=False, writes_args=False):
    def register(fn):
        assert fn.__code__.co_argcount == len(specs), fn.__name__
        CASES.append(Case(fn, specs, float32, evaluator, writes_args))
        return fn
    return register


def f32(spec):
    spec.dtype = np.float32
    return spec


# ---- elementwise arithmetic and broadcasting -------------------------------------------------
# (each function costs a cold Numba compilation of its gradient, about 1 s per array operation on
# small ranks and far more on rank 3, so each is kept to the few operations it is about)

# b in [0.5, 1.5]: b + 2 is far from 0
@case(A((8,)), A((8,), 0.5, 1.5), evaluator=True)
def ew_arith(a, b):
    return np.sum(a * b - a / (b + 2.0) - (-a) ** 2)


# a float with an array, on both sides of the operators; s in [0.5, 1.5]
@case(A((6,)), F(0.5, 1.5), evaluator=True)
def bc_scalar_array(a, s):
    return np.sum(s * a - a / s + (2.0 - a) * s)


# (3, 1) * (1, 4) -> (3, 4): both operands are broadcast
@case(A((3, 1)), A((1, 4)), evaluator=True)
def bc_col_row(c, r):
    return np.sum(np.tanh(c * r) + c)


# (4,) + (3, 4) and (3, 4) / (4,): the lower-rank operand gets a leading axis; v in [1, 2]
@case(A((4,), 1.0, 2.0), A((3, 4)), evaluator=True)
def bc_vec_mat(v, m):
    return np.sum((v + m) ** 2) + np.sum(m / v)


# rank 3, reduced over the middle axis (rank-3 code is by far the slowest for Numba to compile)
@case(A((2, 3, 4)))
def red_rank3(a):
    return np.sum(np.sum(a, axis=1) ** 2)


# ---- ufuncs ------------------------------------------------------------------------------------

# log needs a > 0.1
@case(A((10,), 0.2, 2.0), evaluator=True)
def uf_exp_log(a):
    return np.sum(np.exp(a) * np.log(a))


@case(A((8,)))
def uf_trig(a):
    return np.sum(np.sin(a) * np.cos(a) + np.tanh(a))


# sqrt and power need a > 0.1; the array exponent b needs log(a), fine for a > 0
@case(A((6,), 0.2, 2.0), A((6,), 0.5, 2.0), evaluator=True)
def uf_sqrt_power(a, b):
    return np.sum(np.sqrt(a) + np.power(a, b) + a ** 2.5)


# |a| >= 0.2: abs is smooth there
@case(Away((12,)), evaluator=True)
def uf_abs(a):
    return np.sum(np.abs(a) * a)


# |a| >= 0.2 and |b - a| = |d| >= 0.2: maximum/minimum never tie
@case(Away((12,)), Away((12,)))
def uf_maximum_minimum(a, d):
    b = a + d
    return np.sum(np.maximum(a, b) - np.minimum(a, b) ** 2 + np.maximum(a, 0.0))


# where on a condition >= 0.2 away from its boundary
@case(Away((10,)), A((10,)), evaluator=True)
def uf_where(a, b):
    return np.sum(np.where(a > 0.0, a * b, np.exp(b)))


@case(A((8,), 0.1, 0.9))
def uf_misc(a):
    return np.sum(np.log1p(a) + np.expm1(a) * np.arctan(a) + np.sinh(a))


# NumPy's names of the math functions, and its elementwise functions the math module lacks
@case(A((8,), 0.1, 0.9), A((8,), 0.1, 0.9), evaluator=True)
def uf_numpy_math(a, b):
    return np.sum(np.cosh(a) * np.arcsinh(b) + np.hypot(a, b) + np.log10(a) * np.arccos(b)
                  + np.arctan2(a, b) + np.square(a - b) + np.tan(a) * np.log2(b))


@case(A((8,)), A((8,)), evaluator=True)
def uf_logaddexp(a, b):
    return np.sum(np.logaddexp(a, b) ** 2) + np.sum(np.logaddexp(a, 0.5)) + np.logaddexp(a[0], 1.0)


# clip: bounds at least 0.06 from every element (a grid of step 0.22 in [-1, 1]); the array
# bound lo gets the gradient where it clips
@case(Distinct((10,), -1.0, 1.0), np.full(10, -0.45), evaluator=True)
def uf_clip(a, lo):
    return (np.sum(np.clip(a, -0.45, 0.45) ** 2 * a) + np.sum(np.clip(a, lo, None) * a)
            + np.sum(a.clip(max=0.2) ** 3) + np.sum(np.exp(a.clip(lo, 0.65))))


# ---- reductions --------------------------------------------------------------------------------

@case(A((3, 4)), evaluator=True)
def red_sum_axis(a):
    return np.sum(np.sum(a, axis=0) ** 2) + np.sum(a.sum(axis=1) ** 3) + a.sum()


@case(A((3, 4)), evaluator=True)
def red_mean_axis(a):
    return np.sum(np.mean(a, axis=1) ** 2) + np.sum(a.mean(axis=0) ** 3) + a.mean()


# distinct values: no ties for max
@case(Distinct((3, 4)), evaluator=True)
def red_max(a):
    return np.max(a) + np.sum(a.max(axis=0) ** 2) + np.sum(np.max(a, axis=1))


@case(Distinct((4, 3)))
def red_min(a):
    return np.min(a) + np.sum(a.min(axis=1) ** 2) + np.amin(a, axis=0).sum()


@case(Distinct((7,)))
def red_1d(a):
    return a.max() - 2.0 * a.min() + np.sum(a) * np.mean(a)


# axis=0 of a 1-d array: the reduction gives a scalar
@case(Distinct((7,)))
def red_1d_axis0(a):
    return np.sum(a, axis=0) + np.mean(a, axis=0) ** 2 + np.max(a, axis=0)


# negative constant axes (counted from the end), for reductions and concatenate
@case(A((3, 4)), A((3, 2)))
def red_negative_axis(a, b):
    return (np.sum(np.sum(a, axis=-1) ** 2) + np.sum(a.mean(axis=-2) ** 3)
            + np.sum(np.concatenate((a, b), axis=-1)))


# keepdims: the result keeps the reduced axes with length 1, and broadcasts against its operand
@case(A((3, 4)), evaluator=True)
def red_keepdims(a):
    centred = a - np.mean(a, axis=-1, keepdims=True)
    return (np.sum(centred * a) + np.sum(a.sum(axis=0, keepdims=True) ** 2 * a)
            + np.sum(np.sum(a, keepdims=True) * a))


@case(Distinct((3, 4)), evaluator=True)
def red_max_min_keepdims(a):
    return (np.sum(a * np.max(a, axis=1, keepdims=True)) + np.sum(a.min(axis=0, keepdims=True))
            + np.sum(np.amax(a, keepdims=True) * a) + np.min(a, axis=-2, keepdims=True).sum())


# a tuple of axes: adjacent (1, 2), not adjacent (0, 2), and all of them
@case(Distinct((2, 3, 2)))
def red_tuple_axes(a):
    return (np.sum(np.sum(a, axis=(0, 2)) ** 2) + np.sum(a.mean(axis=(1, 2), keepdims=True) * a)
            + np.sum(np.max(a, axis=(0, 2)) ** 2) + np.sum(a, axis=(0, 1, 2)))


# prod along an axis, whole, and with keepdims; the second argument holds an exact zero
@case(A((3, 4), 0.5, 1.5), np.array([[0.5, 0.0, 1.5], [1.2, -0.7, 0.9]]), evaluator=True)
def red_prod(a, z):
    return (np.sum(np.prod(a, axis=1)) + a.prod() + np.sum(np.prod(a, axis=0, keepdims=True) * a)
            + np.sum(np.prod(z, axis=1) ** 2) + z.prod(axis=0).sum() + np.prod(z) * 3.0)


@case(A((3, 4)), evaluator=True)
def red_var_std(a):
    return (np.sum(np.var(a, axis=0)) + np.sum(a.std(axis=1, ddof=1)) + np.var(a) + a.std()
            + np.sum(np.std(a, axis=-1, keepdims=True) * a) + np.var(a, axis=(0, 1), ddof=1))


# std where every element is equal (c): a kink, where the gradient is 0 (a subgradient; the
# central difference is 0 by symmetry), not 0 / 0
@case(A((3, 4)), np.full(4, 0.75), evaluator=True)
def red_std_at_zero(a, c):
    return np.std(c) + np.sum(c.std(axis=0, keepdims=True) * a[0]) + np.sum(a.std(axis=1))


# equal elements whose mean rounds: NumPy's std of seven 0.7s is 1.1e-16, not 0, yet this is the
# same kink (x scales elements that stay equal; central differences are 0), not a gradient of
# O(1) from centred / std, both of rounding noise
@case(F(0.7, 0.7), evaluator=True)
def red_std_rounding_noise(x):
    c = np.ones((7, 2)) * x
    return (np.std(c[:, 0]) * 3.0 + np.sum(c.std(axis=0, ddof=1))
            + np.sum(c.std(axis=0, keepdims=True) * x))


# reductions of a number and np.ndim (NumPy allows both), in code written for numbers and arrays
# alike: the branch on np.ndim is decided while compiling
@case(F(0.5, 1.5), evaluator=True)
def red_of_a_number(x):
    if np.ndim(x) == 0:
        return np.sum(x * x) + np.mean(x) * np.max(x) + np.std(x) + np.prod(x) * np.min(x)
    return np.sum(x * x) * x.ndim


@case(A((3,)), evaluator=True)
def red_of_a_number_or_an_array(x):
    return red_of_a_number(x) + red_of_a_number(float(x[0]))


# branches on the rank whose arms make sense for their own rank only (x[0] is a number of a
# vector; a reassigned x changes rank): the arm the types rule out is neither typed nor compiled
def first_row(x):
    if x.ndim == 2:
        y = x[0]
    else:
        y = x
    return y


def gram(x):
    if len(x.shape) == 1:
        x = x.reshape(1, -1)
    return x @ x.T


@case(A((3,)), A((2, 3)), evaluator=True)
def rank_decided_arms(v, m):
    return np.sum(first_row(v) * first_row(m)) + np.sum(gram(v)) + np.sum(gram(m) ** 2)


# argmax/argmin: integer results used as indices and as values; distinct values, no ties
@case(Distinct((3, 4)), evaluator=True)
def red_argmax_argmin(a):
    j = np.argmax(a[0])
    k = a.argmin()
    rows = np.argmin(a, axis=1, keepdims=True)
    return a[1, j] * a[0, j] + a.ravel()[k] ** 2 + np.sum(a * rows) + np.sum(a.argmax(axis=0))


@case(A((3, 4)), evaluator=True)
def red_cumsum(a):
    return (np.sum(np.cumsum(a, axis=1) ** 2) + np.sum(np.sin(a.cumsum(axis=0)))
            + np.sum(np.cumsum(a) * a.ravel()))


@case(A((3, 4), 0.5, 1.5))
def red_cumprod(a):
    return np.sum(np.cumprod(a, axis=-2)) + np.sum(a.cumprod() ** 2) / 10.0


# the softmax and log-softmax as users write them: max-subtraction with keepdims
@case(Distinct((3, 4), -2.0, 2.0),
      np.array([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]),
      evaluator=True)
def model_softmax_keepdims(s, onehot):
    m = np.max(s, axis=-1, keepdims=True)
    e = np.exp(s - m)
    p = e / np.sum(e, axis=-1, keepdims=True)
    logp = s - m - np.log(np.sum(np.exp(s - m), axis=-1, keepdims=True))
    return np.sum(p * p) - np.mean(np.sum(onehot * logp, axis=-1))


# ---- linear algebra and shape changes ---------------------------------------------------------

@case(A((3, 4)), A((4, 2)), evaluator=True)
def mm_2d_2d(a, b):
    return np.sum(np.tanh(a @ b)) + np.sum(np.matmul(a, b * b))


@case(A((3, 4)), A((4,)), evaluator=True)
def mm_2d_1d(a, x):
    return np.sum((a @ x) ** 2) + np.sum(a.dot(x * x))


@case(A((3,)), A((3, 4)))
def mm_1d_2d(x, a):
    return np.sum(np.sin(x @ a))


@case(A((5,)), A((5,)), evaluator=True)
def mm_1d_1d(x, y):
    return x @ y + np.dot(x, y) ** 2 + np.matmul(x * x, y)


@case(A((3, 4)), A((3,)))
def tr_transpose(a, v):
    return np.sum(a.T @ a) + np.sum(np.transpose(a) * v) + np.sum(a.transpose() @ v)


@case(A((12,)), A((3, 4)), evaluator=True)
def sh_reshape(a, w):
    b = a.reshape((3, 4))
    c = b.reshape(4, 3)
    d = np.reshape(c, (2, 6))
    return np.sum(b * w) + np.sum(c @ w) + np.sum(d ** 2)


@case(A((3, 4)), A((2, 6)))
def sh_ravel(a, b):
    r = a.ravel()
    return np.sum(r[1:] * r[:-1]) + np.sum(np.ravel(b) * b.flatten() * r)


@case(A((2, 3)), A((3, 3)), A((2, 2)), evaluator=True)
def sh_concatenate(a, b, c):
    rows = np.concatenate((a, b), axis=0)  # (5, 3)
    cols = np.concatenate([a, c], axis=1)  # (2, 5)
    return np.sum(np.tanh(rows)) + np.sum(cols ** 3)


@case(A((3,)), A((3,)), A((2, 3)), evaluator=True)
def sh_stack(x, y, m):
    s0 = np.stack((x, y))  # (2, 3)
    s1 = np.stack((x, y, x * y), axis=1)  # (3, 3)
    return np.sum(s0 * m) + np.sum(s1 @ s1)


# ---- creation and shape: permutations, copies, padding, triangles, windows ------------------

@case(A((2, 3, 4)), evaluator=True)
def sh_permute_axes(a):
    s = np.swapaxes(a, 0, 2)  # (4, 3, 2)
    m = np.moveaxis(a, 0, -1)  # (3, 4, 2)
    t = np.transpose(a, (1, 0, 2)) * a.transpose(1, 0, 2)  # (3, 2, 4)
    return (np.sum(s[:, :, 0] * a.T[:, :, 1]) + np.sum(np.sin(m) * m[:, :, ::-1])
            + np.sum(t * a.T.T[:, 0]))


@case(A((4,)), A((3, 1, 2)), evaluator=True)
def sh_expand_squeeze(x, m):
    outer = np.expand_dims(x, 0) * np.expand_dims(x, axis=-1)  # (4, 4)
    col = np.expand_dims(x, (0, 2))  # (1, 4, 1)
    flat = np.squeeze(m, axis=1) * m.squeeze(1)  # (3, 2)
    return np.sum(outer * outer) + np.sum(col * col[:, ::-1]) + np.sum(np.sin(flat))


@case(A((3, 4)), A((3, 4)), evaluator=True)
def sh_flip(a, b):
    return (np.sum(np.flip(a) * b) + np.sum(np.flip(a, 0) * b * a)
            + np.sum(np.flip(a, axis=(0, 1)) ** 3) + np.sum(np.flip(b, -1) * a))


@case(A((2, 3)), A((3,)), evaluator=True)
def sh_tile_repeat(m, v):
    t = np.tile(m, (2, 1)) * np.tile(v, 2)[:3]  # (4, 3)
    u = np.tile(v, (2, 2))  # (2, 6)
    r = np.repeat(m, 2, axis=1)  # (2, 6)
    return (np.sum(t * t) + np.sum(u * r) + np.sum(np.repeat(m, 3) ** 3)
            + np.sum(m.repeat(2, axis=0) * np.tile(m, 2)[:, :3].repeat(2, 0)))


@case(A((2, 3)), A((4,)), evaluator=True)
def sh_pad(m, v):
    p = np.pad(m, 1)  # (4, 5)
    q = np.pad(v, (2, 1), constant_values=0.5)  # (7,)
    r = np.pad(m, ((1, 0), (0, 2)), mode="constant")  # (3, 5)
    return (np.sum(p * p[::-1, ::-1]) + np.sum(q ** 3) + np.sum(np.sin(r))
            + np.sum(np.pad(v, ((0, 3),)) * q))


@case(A((3, 3)), A((3, 4)), A((3,)), evaluator=True)
def sh_triangles(s, r, v):
    upper = np.triu(s) + np.tril(s, -1) * 2.0
    return (np.sum(upper * upper) + np.sum(np.triu(r, 1) ** 2) + np.sum(np.tril(r, 1) * r)
            + np.trace(s @ s) + np.trace(r, 1) + np.trace(r, offset=-1) * 2.0
            + np.sum(np.diag(s) ** 3) + np.sum(np.diag(r, 1) * v) + np.sum(np.diag(r, -1) ** 2)
            + np.sum(np.diag(v) @ s) + np.sum(np.diag(v, 1) ** 2) + s.trace())


# a 1-d and a 2-d convolution written with windows, and windows along one axis
@case(A((7,)), A((3,)), A((4, 5)), A((2, 2)), evaluator=True)
def sh_sliding_windows(x, w, img, k):
    conv1 = sliding_window_view(x, 3) @ w  # (5,)
    patches = sliding_window_view(img, (2, 2))  # (3, 4, 2, 2)
    conv2 = patches.reshape((12, 4)) @ k.ravel()
    rows = sliding_window_view(img, 3, axis=1)  # (4, 3, 3)
    return np.sum(conv1 ** 2) + np.sum(np.tanh(conv2)) + np.sum(rows * rows[:, :, ::-1])


# where with a number as one branch; a in Away: no element at the kink
@case(Away((3, 4)), evaluator=True)
def sh_where_scalar(a):
    return (np.sum(np.where(a > 0, a, 0.0) ** 2) + np.sum(np.where(a < 0.5, 2.0, a) * a)
            + np.sum(np.where(a > 0.0, 1, a)))


# creation: values that depend on differentiated floats, and constants that do not
@case(A((3, 3)), F(0.5, 1.5), F(-1.0, -0.2), evaluator=True)
def ctor_creation(x, s, t):
    e = np.eye(3) + 2.0 * np.identity(3) + np.eye(3, k=1) + np.eye(3, 3, -1)
    f = np.full((3, 3), s) * np.full_like(x, 1.5) + np.full(3, t)
    line = (np.linspace(t, s, 3)
            + np.linspace(0.0, 1.0, num=3) * np.linspace(t, s, 3, endpoint=False))
    z = np.zeros((3, 3), dtype=np.float64) + np.ones(3, np.float64) + np.zeros_like(x, dtype=float)
    return np.sum(e * x * f) + np.sum(line * x[1]) + np.sum(z * x ** 2) + s * t


# a view read before the array it shows is written, then a write: the views stay exact
@case(A((3, 4)), evaluator=True)
def sh_views_before_write(a):
    c = a.copy()
    s = np.sum(np.flip(c, 1) * np.swapaxes(c, 0, 1).T) + np.sum(np.expand_dims(c, 0) ** 2)
    c[1, :] = s * c[0, :]
    c[0] = np.sum(sliding_window_view(c[2], 2), axis=1)[:1] * 3.0
    return np.sum(c * c)



# np.diag of a vector is a new matrix, which may be written into
@case(A((3,)), evaluator=True)
def sh_diag_written(v):
    d = np.diag(v)
    d[0, 2] = v[1] * v[2]
    d[1] += v
    return np.sum(d * d) + np.sum(np.diag(d, 1))

# ---- indexing reads ----------------------------------------------------------------------------

@case(A((6,)), 2, evaluator=True)
def ix_scalar(a, i):
    return a[i] * a[i + 1] + a[-1] ** 2 + a[0] * a[i - 2] + a[len(a) - 2]


@case(A((4, 5)), 1, 3, evaluator=True)
def ix_2d(a, i, j):
    return a[i, j] * a[j, i] + a[i][j + 1] + a[-1, 0] ** 2 + a[i, -1] * a[0, j]


@case(A((8,)), A((4, 5)), evaluator=True)
def ix_slices(a, m):
    return np.sum(a[1:-1] * a[2:]) + np.sum(m[:, 0] * m[1, 1:]) + np.sum(a[::3])


@case(A((4, 3)), 2)
def ix_rows(a, i):
    return np.sum(a[i] * a[i + 1] + a[-1] ** 2)


# ---- indexing with arrays ("fancy" indexing) and masks ---------------------------------------
# the gradient of a read x[idx] is a scatter-add: an element named twice gets both contributions

@case(A((6,)), np.array([0, 3, 3, 5, 1, 3]), evaluator=True)
def fx_repeated(x, idx):
    y = x[idx]
    return np.sum(y * y * np.arange(6)) + np.sum(np.sin(x[idx[:3]]))


# an embedding lookup: tokens (2, 3) into a (5, 4) table give (2, 3, 4), mean-pooled
@case(A((5, 4)), A((4,)), np.array([[0, 2, 2], [4, 0, 1]]), evaluator=True)
def fx_embedding(w, v, tokens):
    h = np.mean(w[tokens], axis=1)  # (2, 4)
    return np.sum(np.tanh(h @ v))


# two index arrays broadcast together: rows (3, 1) with cols (3,) pick a (3, 3) block
@case(A((4, 5)), np.array([[0], [2], [2]]), np.array([1, 4, 1]), evaluator=True)
def fx_rows_cols(x, rows, cols):
    return np.sum(x[rows, cols] ** 3) + np.sum(x[rows[:, 0], cols] * x[0, cols])


# softmax cross-entropy with integer labels, log-softmax written with plain operations
@case(Distinct((4, 3), -2.0, 2.0), np.array([2, 0, 2, 1]), evaluator=True)
def fx_softmax_xent(logits, y):
    n = logits.shape[0]
    m = np.max(logits, axis=1)
    z = logits - m[:, None]
    logp = z - np.log(np.sum(np.exp(z), axis=1)).reshape(-1, 1)
    return -np.mean(logp[np.arange(n), y])


# index arrays with slices and integers: x[:, idx], x[1:, idx] (through a view), x[i, idx]
@case(A((3, 5)), np.array([4, 0, 4]), 1, evaluator=True)
def fx_with_slices(x, idx, i):
    return (np.sum(x[:, idx] ** 2) + np.sum(np.exp(x[1:, idx])) + np.sum(x[i, idx] * x[-1, idx])
            + np.sum(x[:2, idx][:, 1:]))


@case(A((3, 4)), np.array([3, 1, 3]), np.array([[1, 0], [3, 3], [2, 2]]), evaluator=True)
def fx_take(a, idx, pairs):
    return (np.sum(np.take(a, idx, axis=1) ** 2) + np.sum(np.take(a, idx)) + np.sum(a.take(idx))
            + np.sum(np.take(a, idx[1:] - 1, axis=0) * a[0]) + np.sum(np.take(a, idx, axis=-1))
            + np.sum(np.take_along_axis(a, pairs, axis=1) ** 3)
            + np.sum(np.take_along_axis(a, pairs[:2, :1] % 3, axis=0)))


@case(A((3, 4)), np.array([2, 0, 1]), evaluator=True)
def fx_take_along_labels(logp, y):
    return -np.mean(np.take_along_axis(logp, y[:, None], axis=-1)) + np.sum(logp[y] * logp)


@case(A((6,)))
def fx_arange(x):
    return (np.sum(x * np.arange(0.5, 3.4, 0.5)) + np.sum(x[np.arange(1, 6, 2)] ** 2)
            + np.sum(x[np.arange(2, 5)]) * np.sum(np.arange(6.0)))


# masks: |x| >= 0.2 keeps the mask x > 0 away from flipping
@case(Away((3, 4)), np.array([[True, False, True, True], [False, False, True, False],
                              [True, True, False, False]]), evaluator=True)
def fx_mask_read(x, mask):
    return np.sum(x[x > 0] ** 2) + np.sum(np.sin(x[mask])) * np.sum(x[0][x[0] < 0])


@case(Away((6,)), A((6,)), np.array([True, False, True, True, False, False]), evaluator=True)
def fx_mask_write(x, v, mask):
    y = x * 2.0
    y[mask] = v[mask] * 3.0 + y[mask]  # reads what it overwrites
    y[x < 0] = 0.5
    y[mask] += x[mask] * v[mask]
    z = v.copy()
    z[z > 0.0] = x[z > 0.0] ** 2
    return np.sum(y * y * v) + np.sum(z * x)


# a mask of rows (fewer dimensions than the array), and index arrays with slices after them
@case(A((4, 3)), np.array([True, False, True, True]), np.array([2, 0]), evaluator=True)
def fx_row_mask(x, rows, idx):
    z = x * x
    z[rows] = 0.5 * x[rows] + 1.0
    z[idx, :] += 2.0 * x[idx]
    return np.sum(z * x) + np.sum(x[rows][:, 1] ** 2) + np.sum(np.tanh(x[idx, 1:]))


# writes through index arrays: of an element named twice the last write stays (as in NumPy), and
# `+=` adds once per write, not once per name
@case(A((6,)), A((4,)), np.array([1, 4, 1, 0]), evaluator=True)
def fx_index_write(x, v, idx):
    y = x.copy()
    y[idx] = v * 2.0 + y[idx]
    y[idx[:2]] += v[2:] * x[:2]
    z = np.zeros((3, 6))
    z[1, idx] = v
    z[:, idx[1:]] = x[idx[1:]]
    z[idx[:3] % 3] += 1.5
    return np.sum(y * y * x) + np.sum(z * x)


# a gather in a loop: index arrays and gathered rows are recorded per step
@case(A((5, 3), -0.5, 0.5), A((3, 3), -0.5, 0.5), np.array([[1, 4, 4, 0], [2, 2, 3, 1]]),
      evaluator=True)
def fx_loop_lookup(w, u, tokens):
    h = np.zeros((2, 3))
    for t in range(tokens.shape[1]):
        h = np.tanh(w[tokens[:, t]] + h @ u)
    return np.sum(h ** 2)


# a mask recomputed each step, and written through: values above 1 halved, three times over
@case(np.array([0.3, 1.3, 2.7, -0.6, 5.1, 1.9]), F(0.5, 0.9), evaluator=True)
def fx_loop_mask_write(x, s):
    y = x * 1.0
    for k in range(3):
        y[y > 1.0] = y[y > 1.0] * s
        y = y + 0.1 * x
    return np.sum(y ** 2)


# ---- constructors ------------------------------------------------------------------------------

@case(A((4,)))
def ctor_all(v):
    o = np.ones((4,))
    zl = np.zeros_like(v)
    z = np.zeros(4)
    e = np.empty(4)
    el = np.empty_like(v)
    for k in range(4):
        e[k] = v[k] * 2.0
        el[k] = v[k] ** 2 + zl[k] + z[k]
    return np.sum((v + o) * e * el)


# dtypes taken from arrays (code that works in float32 and float64 alike), a float64 x with a
# float32 w: each array made in the dtype the code names (b in w's, exact for 0.5)
@case(A((5,)), f32(A((5,), 1.0, 2.0)), float32=True, evaluator=True)
def ctor_dtype_of_an_array(x, w):
    acc = np.zeros(x.shape[0], x.dtype)
    acc += x * w.astype(x.dtype)
    b = np.ones_like(x, dtype=w.dtype) * 0.5
    c = np.full(x.shape, 2.0, dtype=x.dtype)
    return np.sum(acc * acc + b * x + c * x)


# ---- writes into arrays ------------------------------------------------------------------------

@case(A((4,)), A((4,)), 2, evaluator=True)
def wr_elements(a, b, i):
    out = np.zeros(4)
    out[0] = a[0] * b[1]
    out[i] = np.sin(a[i]) + out[0]
    out[-1] = out[i] * b[3]
    out[1] = a[1]
    out[1] = out[1] * out[1] + b[0]  # overwrite a value that was read
    return np.sum(out * out) + out[i] * a[2]


@case(A((3, 3)), A((3,)), evaluator=True)
def wr_aug_2d(m, v):
    g = m.copy()
    g[0, 1] += v[0] * v[1]
    g[2, 2] *= v[2]
    g[1, 0] -= g[0, 1] ** 2
    g[1, 1] /= 2.0 + v[0]
    return np.sum(g * g) + np.sum(g @ v)


@case(A((8,)), evaluator=True)
def wr_slice(a):
    b = a.copy()
    b[1:-1] = b[:-2] * b[2:] + 0.5 * b[1:-1]
    b[0] = b[-1] * 2.0
    c = np.zeros((3, 4))
    c[1] = b[:4]
    c[:, 2] = b[5:]
    return np.sum(b ** 2) + np.sum(c * c)


# ---- in-place loops in the Numba style --------------------------------------------------------

# explicit heat equation, 30 steps, alpha = 0.25 (stable); buffers swapped each step
@case(A((12,), 0.0, 1.0), 30)
def loop_stencil_swap(u0, nsteps):
    u = u0.copy()
    un = np.empty_like(u)
    for t in range(nsteps):
        un[0] = u[0]
        un[-1] = u[-1]
        for i in range(1, len(u) - 1):
            un[i] = u[i] + 0.25 * (u[i - 1] - 2.0 * u[i] + u[i + 1]) + 0.01 * u[i] * u[i]
        u, un = un, u
    return np.sum(u * u) + u[3]


# the same stencil with slice writes in the loop (a vectorised update), 20 steps, swapped buffers
@case(A((10,), 0.0, 1.0), F(0.1, 0.3), 20)
def loop_stencil_slices(u0, alpha, nsteps):
    u = u0.copy()
    un = np.zeros_like(u)
    for t in range(nsteps):
        un[1:-1] = u[1:-1] + alpha * (u[2:] - 2.0 * u[1:-1] + u[:-2])
        un[0] = u[0] * 0.9
        un[-1] = u[-1] * 0.9
        u, un = un, u
    return np.sum(np.sin(u))


# damped oscillator, explicit Euler, each step written into the state buffer x[t + 1, :]
@case(A((2,)), F(1.0, 2.0), F(0.1, 0.5), 25)
def loop_ode_euler(x0, k, c, nsteps):
    dt = 0.05
    x = np.zeros((nsteps + 1, 2))
    x[0, :] = x0
    for t in range(nsteps):
        pos = x[t, 0]
        vel = x[t, 1]
        x[t + 1, 0] = pos + dt * vel
        x[t + 1, 1] = vel + dt * (-k * pos - c * vel)
    return np.sum(x[:, 0] ** 2) * dt + x[nsteps, 1]


# explicit Euler on a 3-d state, whole rows written: x[t + 1, :] = ...
@case(A((3,)), A((3, 3), -0.5, 0.5), 15)
def loop_ode_rows(x0, w, nsteps):
    dt = 0.1
    x = np.empty((nsteps + 1, 3))
    x[0, :] = x0
    for t in range(nsteps):
        xt = x[t, :]
        x[t + 1, :] = xt + dt * np.tanh(w @ xt)
    return np.sum(x ** 2) / nsteps


# histogram-style scatter into bins; idx is an int array (no gradient)
@case(A((10,)), np.array([0, 3, 1, 3, 4, 0, 2, 3, 1, 4]))
def loop_histogram(w, idx):
    out = np.zeros(5)
    for i in range(len(w)):
        out[idx[i]] += w[i] * w[i]
    for i in range(len(w)):
        out[idx[i]] += np.sin(w[i])
    return np.sum(out ** 2) + out[3] * out[0]


# cumulative sum written element by element (reads the previous element written)
@case(A((9,)), evaluator=True)
def loop_cumsum(a):
    c = np.empty_like(a)
    c[0] = a[0]
    for i in range(1, a.shape[0]):
        c[i] = c[i - 1] + a[i]
    return np.sum(c * c) + np.sum(np.sin(c))


# a Gaussian kernel matrix filled by a double loop, then reduced
@case(A((5,)), A((5,)), F(0.5, 1.5))
def loop_matrix_fill(x, y, ell):
    n = x.shape[0]
    k = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            d = x[i] - x[j]
            k[i, j] = np.exp(-d * d / (ell * ell)) + (0.1 if i == j else 0.0)
    return y @ k @ y + np.sum(k) / n


# the same buffer element overwritten many times (a recurrence kept in acc[0])
@case(A((6,)), F(0.5, 0.9), 24, evaluator=True)
def loop_overwrite(a, r, n):
    acc = np.zeros(2)
    for k in range(n):
        acc[0] = r * np.sin(acc[0]) + a[k % 6]
        acc[1] = acc[1] + acc[0] * acc[0]
    return acc[0] + 0.1 * acc[1]


# writes into its own argument array: zygopy must not modify the caller's array
@case(A((7,), 0.5, 1.5), F(0.5, 1.0), writes_args=True, evaluator=True)
def loop_modifies_argument(a, s):
    for i in range(1, len(a)):
        a[i] = a[i] * s + 0.5 * a[i - 1]
    a[0] = a[0] * a[-1]
    a[2:4] = a[2:4] ** 2
    return np.sum(a * a)


# Gauss-Seidel sweeps for -u'' = f on a grid: each update reads the value just written
@case(A((10,)), A((10,), 0.0, 0.5), 4)
def loop_gauss_seidel(f, u0, sweeps):
    u = u0.copy()
    h2 = 0.01
    for s in range(sweeps):
        for i in range(1, len(u) - 1):
            u[i] = 0.5 * (u[i - 1] + u[i + 1] + h2 * f[i]) + 0.1 * u[i] ** 2
    return np.sum(u ** 2) * 10.0


# a recurrence writing a 2-d buffer row by row, reading the previous row
@case(A((4, 3)))
def loop_2d_scan(a):
    s = np.zeros((4, 3))
    s[0] = a[0]
    for i in range(1, 4):
        for j in range(3):
            s[i, j] = s[i - 1, j] * 0.5 + a[i, j] * s[i - 1, (j + 1) % 3]
    return np.sum(s) + np.sum(s ** 2)


# ---- small models ------------------------------------------------------------------------------

# mean logistic loss log(1 + exp(-y z)) with labels y = +-1 given as floats
@case(A((3,)), F(-0.5, 0.5), A((8, 3)), np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0]),
      evaluator=True)
def model_logistic_regression(w, b, x, y):
    z = x @ w + b
    return np.mean(np.log(1.0 + np.exp(-y * z))) + 0.01 * np.sum(w * w)


@case(A((4, 3)), A((4,)), A((2, 4)), A((2,)), A((5, 3)))
def model_mlp(w1, b1, w2, b2, x):
    h = np.tanh(x @ w1.T + b1)  # (5, 4)
    out = h @ w2.T + b2  # (5, 2)
    return np.mean(out ** 2)


# softmax cross-entropy with max-subtraction; the max has no ties (distinct logits)
@case(Distinct((3, 4), -2.0, 2.0),
      np.array([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]),
      evaluator=True)
def model_softmax_xent(logits, onehot):
    m = np.max(logits, axis=1)  # (3,)
    z = logits.T - m  # (4, 3): each column minus its max
    lse = np.log(np.sum(np.exp(z), axis=0)) + m
    return np.mean(lse - np.sum(logits * onehot, axis=1))


# a recurrent cell unrolled over time
@case(A((3, 3), -0.5, 0.5), A((3, 2), -0.5, 0.5), A((5, 2)))
def model_rnn(wh, wx, xs):
    h = np.zeros(3)
    for t in range(xs.shape[0]):
        h = np.tanh(wh @ h + wx @ xs[t])
    return np.sum(h ** 2)


# ---- input checks: raise and assert that do not fire ---------------------------------------------

def checked_vector(x, n):
    if x.ndim != 1:
        raise ValueError(f"expected a vector, got {x.ndim} dimensions")
    if x.shape[0] != n:
        raise ValueError("wrong length")
    return x


@case(A((3, 4)), A((4,)), A((3,)), evaluator=True)
def checks_dense(w, x, b):
    x = checked_vector(x, w.shape[1])
    assert w.shape[0] == b.shape[0], f"w has {w.shape[0]} rows, b {b.shape[0]} entries"
    s = 0.0
    for i in range(3):
        if i > 10:
            raise RuntimeError("unreachable for these inputs")
        s = s + np.sum(np.tanh(w @ x + b) * (i + 1))
    return s


@case(f32(A((5,))), f32(A((5,), 0.5, 1.5)), float32=True)
def f32_checks(a, v):
    assert a.shape == v.shape
    if np.min(v) <= 0.0:
        raise ValueError("v must be positive")
    return np.sum(a * a / v)


# ---- float32 inputs ----------------------------------------------------------------------------

@case(f32(A((4, 3))), f32(A((3,))), f32(A((4,))), float32=True)
def f32_mlp(w, x, b):
    return np.sum(np.tanh(w @ x + b) ** 2)


@case(f32(Distinct((3, 4))), float32=True)
def f32_reductions(a):
    return np.sum(np.max(a, axis=1)) + np.mean(a, axis=0).sum() + a.min()


@case(f32(A((10,), 0.0, 1.0)), 15, float32=True)
def f32_stencil(u0, nsteps):
    u = u0.copy()
    un = np.empty_like(u)
    for t in range(nsteps):
        un[0] = u[0]
        un[-1] = u[-1]
        un[1:-1] = u[1:-1] + 0.25 * (u[2:] - 2.0 * u[1:-1] + u[:-2])
        u, un = un, u
    return np.sum(u * u)


@case(f32(Distinct((4, 3), -2.0, 2.0)), np.array([1, 1, 0, 2]), float32=True, evaluator=True)
def f32_softmax_xent(logits, y):
    n = logits.shape[0]
    z = logits - np.max(logits, axis=1).reshape(-1, 1)
    logp = z - np.log(np.sum(np.exp(z), axis=1))[:, None]
    return -np.mean(logp[np.arange(n), y])


@case(f32(A((5, 3))), f32(Away((6,))), np.array([[4, 0], [4, 2]]), float32=True, evaluator=True)
def f32_fancy_mask(w, x, tokens):
    y = x * 2.0
    y[x > 0] = y[x > 0] ** 2
    y[tokens[0]] += 0.5 * x[tokens[1]]
    return np.sum(np.tanh(w[tokens]) ** 2) + np.sum(y * x) + np.sum(w[:, tokens[1] % 3])


# float32 with Python floats, and mixed with a float64 array; v in [0.5, 1.5]
@case(f32(A((6,))), f32(A((6,), 0.5, 1.5)), A((6,)), float32=True)
def f32_mixed(a, v, b):
    return np.sum(np.exp(a) * v - a / v) + np.sum(a * b) + np.sum(np.sin(a) * 2.0)


# ---- Python lists, and sum/max/min over iterables ----------------------------------------------

# the hidden states collected with append, then stacked and reduced (an RNN as users write it)
@case(A((3, 3), -0.5, 0.5), A((3, 2), -0.5, 0.5), A((5, 2)), A((3,)), evaluator=True)
def list_rnn_states(wh, wx, xs, h0):
    h = h0
    hs = []
    for t in range(xs.shape[0]):
        h = np.tanh(wh @ h + wx @ xs[t])
        hs.append(h)
    states = np.stack(hs)
    return np.sum(states ** 2) + np.sum(hs[-1]) * len(hs) + np.mean(np.array(hs), axis=0).sum()


# numbers appended in a loop, read back by a run-time index, iterated over, summed and stacked
@case(A((6,)), 5, evaluator=True)
def list_of_numbers(x, n):
    ys = [x[0]]
    for i in range(1, n):
        ys.append(ys[i - 1] * x[i] + 0.5)
    s = 0.0
    for y in ys:
        s = s + y * y
    return s + sum(ys, 1.0) + np.sum(np.array(ys) * x[:n]) + ys[n // 2]


# a list literal of arrays stacked along the last axis, summed, and max over a list of numbers
@case(A((4,)), A((4,)), evaluator=True)
def list_literal_stack(a, b):
    parts = [a, 2.0 * b, np.sin(a)]
    m = np.stack(parts, axis=1)
    top = max([np.sum(a), np.sum(b) + 3.0])
    return np.sum(m[:, 0] * m[:, 2]) + np.sum(sum(parts)) + len(parts) * top


# sum/max/min of generator expressions over run-time ranges (loops), with a condition, nested
@case(Distinct((6,)), A((3, 4)), 5, evaluator=True)
def generator_reductions(x, w, n):
    total = sum(x[i] ** 2 for i in range(n))
    top = max(x[i] * x[i + 1] for i in range(n))
    low = min(x[i] for i in range(n) if x[i] > -0.5)
    grid = sum(w[i, j] * w[i, j + 1] for i in range(w.shape[0]) for j in range(w.shape[1] - 1))
    return total + top - low + grid + sum(np.sin(w[i]) for i in range(w.shape[0])).sum()


# a list comprehension over an array, iterated with enumerate and zip, its largest and smallest
# items
@case(Distinct((5,)), evaluator=True)
def list_comprehension(x):
    squares = [v * v for v in x]
    s = 0.0
    for i, q in enumerate(squares):
        s = s + q * (i + 1)
    for q, v in zip(squares, x[1:], strict=False):
        s = s + q * v
    return s + max(squares) * min(squares)


@case(f32(A((3, 3), -0.5, 0.5)), f32(A((4, 3))), float32=True)
def f32_list_states(w, xs):
    hs = []
    h = xs[0]
    for t in range(1, xs.shape[0]):
        h = np.tanh(w @ h + xs[t])
        hs.append(h)
    return np.sum(np.stack(hs) ** 2) + sum(np.sum(v) for v in hs)


@case(f32(Distinct((3, 4))), float32=True)
def f32_keepdims(a):
    m = np.max(a, axis=-1, keepdims=True)
    e = np.exp(a - m)
    p = e / np.sum(e, axis=-1, keepdims=True)
    return (np.sum(p * a) + np.sum(a.var(axis=0)) + np.sum(np.cumsum(a, axis=1) * 0.5)
            + np.sum(np.prod(a, axis=1) ** 2) + np.sum(np.logaddexp(a, 0.5) * np.square(a)))


# appends on some paths only, and a list made afresh on each trip of an outer loop
@case(A((5,)), 4, evaluator=True)
def list_in_branches_and_loops(x, n):
    hs = []
    total = 0.0
    for t in range(n):
        if x[t] > 0:
            hs.append(x[t] * 2.0)
        else:
            hs.append(x[t] ** 2)
        row = []
        for i in range(t + 1):
            row.append(np.sin(x * i))
        total = total + np.sum(np.stack(row) ** 2) + np.sum(row[-1])
    return total + sum(hs) + len(hs) * hs[0] * hs[-1]


# ---- einsum, stacks of matrices and linear algebra ---------------------------------------------

EYE3 = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])  # an int array: it gets no gradient


# transposes with constant axes: np.transpose, the method with a tuple or with integers, and .T of
# a 3-d array (all axes reversed)
@case(A((2, 3, 4)), A((4, 2, 3)), evaluator=True)
def tr_transpose_axes(a, b):
    return (np.sum(np.transpose(a, (2, 0, 1)) * b)
            + np.sum(a.transpose(1, 0, 2) * a.transpose((1, 0, 2)))
            + np.sum(np.sin(a.T) * b.transpose(0, 2, 1)))


@case(A((3,)), A((4,)), A((3, 4)), evaluator=True)
def la_outer_inner(x, y, w):
    return np.sum(np.outer(x, y) * w) + np.inner(x, x * x) + np.sum(np.inner(w, w) ** 2)


# stacks of matrices: 3-d @ 3-d, 3-d @ 2-d, broadcast leading dimensions, np.dot beyond 2-d
@case(A((2, 3, 4)), A((2, 4, 2)), A((4, 2)), A((1, 2, 3)), evaluator=True)
def la_batched_matmul(a, b, c, d):
    return (np.sum(np.tanh(a @ b)) + np.sum((np.matmul(a, c)) ** 2) + np.sum(np.sin(d @ a))
            + np.sum(np.dot(a, c[:, 0]) ** 2) + np.sum(np.dot(d, a) ** 2))


@case(A((3, 4)), A((4, 3)), A((3, 3)), evaluator=True)
def es_two_operands(a, b, m):
    return (np.sum(np.einsum('ij,jk->ik', a, b) ** 2) + np.sum(np.einsum('ij->ji', a) * b)
            + np.einsum('ii->', m) + np.sum(np.einsum('ii->i', m) ** 2)
            + np.sum(np.einsum('ij,kj', a, a) ** 2) + np.sum(np.einsum('ij->j', a) ** 2))


@case(A((2, 3, 4)), A((2, 4, 3)), A((2, 1, 3, 4)), A((2, 1, 2, 4)), evaluator=True)
def es_batch_dims(a, b, q, k):
    s = np.einsum('bhqd,bhkd->bhqk', q, k)
    return np.sum(np.einsum('bij,bjk->bik', a, b) ** 2) + np.sum(np.tanh(s))


@case(A((3,)), A((3, 4)), A((4, 2)), A((2,)))
def es_three_operands(x, a, b, y):
    return (np.sum(np.einsum('ij,jk,k->i', a, b, y) ** 2) + np.einsum('i,ij,j->', x, a @ b, y)
            + np.sum(np.einsum('i,j->ij', x, y) * np.einsum('ij,jk', a, b)))


# A = B B^T + 3 I is symmetric and well conditioned
@case(A((3, 3)), A((3,)), A((3, 2)), EYE3, evaluator=True)
def la_solve_inv(b, r, rr, eye):
    m = b @ b.T + 3.0 * eye
    x = np.linalg.solve(m, r)
    return np.sum(x ** 2) + np.sum(np.linalg.solve(m + b, rr)) + np.sum(np.linalg.inv(m + b) ** 2)


@case(A((3, 3)), A((3, 3), -0.5, 0.5), EYE3, evaluator=True)
def la_determinants(b, c, eye):
    m = b @ b.T + 3.0 * eye
    sign, logdet = np.linalg.slogdet(m + c)
    return np.linalg.det(m + c) * 0.1 + sign * logdet + np.linalg.slogdet(m)[1]


# the Cholesky factor of a symmetric matrix, and of one NumPy reads only the lower triangle of
@case(A((3, 3)), A((3, 3), -0.5, 0.5), EYE3, evaluator=True)
def la_cholesky(b, c, eye):
    l1 = np.linalg.cholesky(b @ b.T + 3.0 * eye)
    l2 = np.linalg.cholesky(c + 3.0 * eye)
    return np.sum(np.sin(l1)) + np.sum(l2 * c)


# |x| away from 0 and no ties among the magnitudes or the column and row sums of m
@case(Away((5,)), Away((3, 4)), evaluator=True)
def la_norms(x, m):
    return (np.linalg.norm(x) + np.linalg.norm(x, 1) + np.linalg.norm(x, np.inf)
            + np.linalg.norm(x, 3) + np.linalg.norm(m) + np.linalg.norm(m, 'fro')
            + np.linalg.norm(m, 1) + np.linalg.norm(m, -np.inf)
            + np.sum(np.linalg.norm(m, axis=1) ** 2) + np.sum(np.linalg.norm(m, 1, axis=0))
            + np.sum(m / np.linalg.norm(m, axis=-1, keepdims=True))
            + np.sum(np.linalg.norm(x, keepdims=True)))


# a 2-d convolution: 3x3 windows of a one-channel image by slicing, contracted with the filters
@case(A((1, 5, 5)), A((2, 1, 3, 3)), evaluator=True)
def model_conv2d_einsum(image, filters):
    rows = np.stack((image[:, 0:3, :], image[:, 1:4, :], image[:, 2:5, :]), axis=1)
    windows = np.stack((rows[:, :, :, 0:3], rows[:, :, :, 1:4], rows[:, :, :, 2:5]), axis=2)
    out = np.einsum('fcij,cijxy->fxy', filters, windows)  # (filters, 3, 3)
    return np.sum(np.tanh(out) ** 2)



# the same convolution as users write it: sliding_window_view for the windows, einsum to contract
@case(A((1, 5, 5)), A((2, 1, 3, 3)), evaluator=True)
def model_conv2d_windows(image, filters):
    windows = sliding_window_view(image, (3, 3), axis=(1, 2))  # (1, 3, 3, 3, 3)
    out = np.einsum('cxyij,fcij->fxy', windows, filters)  # (filters, 3, 3)
    return np.sum(np.tanh(out) ** 2)


@case(f32(A((1, 5, 4))), f32(A((2, 1, 2, 3))), float32=True)
def f32_conv2d_windows(image, filters):
    windows = sliding_window_view(image, (2, 3), axis=(1, 2))  # (1, 4, 2, 2, 3)
    out = np.einsum('cxyij,fcij->fxy', windows, filters)
    return np.sum(np.tanh(out) ** 2) + np.sum(out[:, ::2, :] * 0.5)

@case(f32(A((3, 3))), f32(A((3,))), f32(A((2, 4, 3))), EYE3, float32=True)
def f32_linalg(b, r, a, eye):
    m = b @ b.T + 3.0 * eye
    return (np.sum(np.linalg.solve(m, r) ** 2) + np.linalg.slogdet(m)[1]
            + np.sum(np.einsum('bij,jk->bik', a, m) ** 2) * 0.1 + np.linalg.norm(r)
            + np.sum(np.linalg.inv(m) ** 2) + np.linalg.det(m) * 0.01
            + np.sum(np.sin(np.linalg.cholesky(m))))


# a text classifier written the natural NumPy way: an embedding lookup, mean-pooled over the
# tokens, a dense layer and a softmax cross-entropy against integer labels
@case(A((6, 4)), A((4, 3)), A((3,)), np.array([[0, 5, 2, 2], [1, 3, 3, 0], [4, 4, 1, 5]]),
      np.array([2, 0, 1]), evaluator=True)
def model_text_classifier(emb, w, b, tokens, labels):
    h = np.mean(emb[tokens], axis=1)
    logits = h @ w + b
    m = np.max(logits, axis=-1, keepdims=True)
    logp = logits - m - np.log(np.sum(np.exp(logits - m), axis=-1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])


@case(f32(A((3, 4))), f32(A((4,))), float32=True)
def f32_shape(a, v):
    p = np.pad(np.swapaxes(a, 0, 1), ((0, 1), (1, 0)), constant_values=0.5)  # (5, 4)
    t = np.tile(v, (2, 1)) * np.repeat(np.flip(v), 2)[:4]  # (2, 4)
    w = sliding_window_view(v, 2) @ np.expand_dims(v[:2], 1)  # (3, 1)
    return (np.sum(p * p) + np.sum(t * t) + np.sum(w) + np.trace(np.triu(a @ a.T))
            + np.sum(np.where(a > 0.0, a, 0.5) * a) + np.sum(np.diag(a)))


@case(f32(A((3, 4))), float32=True)
def f32_creation_astype(a):
    b = a.astype(np.float64)  # the gradient comes back cast to float32
    c = np.full_like(a, 2.0) * a + np.eye(3, 4, dtype=np.float32) + np.zeros((3, 4), np.float32)
    d = np.linspace(0.0, 1.0, 4, dtype=np.float32) * a + np.ones_like(a, dtype=np.float32)
    return np.sum(b ** 3) + np.sum(c * d) + np.sum(b.astype(np.float64) * a)


# ---- NumPy functions written with slices, sums and arithmetic (passes/lower.py) -----------------
# Inputs: ptp's max/min on distinct values (no ties), average's weights in [0.5, 1] (their sum
# away from 0), exp2 and reciprocal on [0.2, 2] (away from 1/x's pole).

@case(A((6,)), A((3, 4)), 3, evaluator=True)
def np_diff_roll(x, m, k):
    d = np.sum(np.diff(x) ** 2) + np.sum(np.diff(m, axis=0) * np.diff(m, 2, axis=1)[:2, :1])
    r = (np.sum(np.roll(x, 2) * x) + np.sum(np.roll(m, k, axis=1) * m)
         + np.sum(np.roll(m, -k) * m * m))
    return d + r + np.sum(np.roll(m, 7, 0) * m) + np.sum(np.diff(x, n=0) * x)


@case(Distinct((5,)), Distinct((3, 4)), A((3, 4), 0.5, 1.0), A((4,), 0.5, 1.0), evaluator=True)
def np_ptp_average_vdot(x, m, w, v):
    return (np.ptp(x) + np.sum(np.ptp(m, axis=0) ** 2) + np.average(x) + np.average(m, weights=w)
            + np.sum(np.average(m, axis=1, weights=v) ** 2) + np.vdot(m, w)
            + np.sum(np.average(m, axis=0, keepdims=True) ** 2))


@case(A((4,)), A((4,)), A((3, 4)), A((5,), 0.2, 2.0), F(0.2, 2.0), evaluator=True)
def np_stacks_and_elementwise(x, y, m, p, s):
    stacks = (np.sum(np.vstack((x, y)) ** 2 * np.vstack((m, x))[:2])
              + np.sum(np.hstack((x, y)) ** 3) + np.sum(np.hstack((m, m * 2.0)) ** 2))
    return (stacks + np.sum(np.exp2(p) * np.reciprocal(p + s)) + math.radians(s) * math.degrees(s)
            + np.sum(np.deg2rad(p) ** 2 + np.rad2deg(p) * np.radians(p) + np.degrees(p) * 1e-2))


@case(f32(A((5,), 0.2, 2.0)), f32(Distinct((3, 4))), float32=True)
def f32_numpy_written(p, m):
    return (np.sum(np.exp2(p) * np.reciprocal(p) + np.deg2rad(p)) + np.sum(np.diff(m) ** 2)
            + np.sum(np.roll(m, 1, axis=0) * m) + np.ptp(m) + np.average(m, weights=m * m)
            + np.sum(np.hstack((m, m)) * np.vstack((m[0], m[1:]))[:, :1]))


# np.sort, np.argsort and np.median: the gradient goes back to where each sorted element came
# from (distinct values: no ties, where the order and so the gradient would jump)
@case(Distinct((7,)), Distinct((3, 4)), evaluator=True)
def np_sort_median(x, m):
    order = np.argsort(x)
    return (np.sum(np.sort(x) * np.arange(7.0)) + np.sum(np.sort(m, axis=0)[0] * 2.0)
            + np.sum(np.sort(m) ** 2 * np.sort(m, axis=None)[:4]) + np.sum(x[order[:2]])
            + np.median(x) + np.median(x[:4]) + np.sum(np.median(m, axis=0) ** 2)
            + np.sum(np.median(m, axis=1, keepdims=True) * m) + np.sum(np.median(m, keepdims=True))
            + np.sum(x[x.argsort()][-2:] ** 2))


# np.quantile and np.percentile (NumPy's linear interpolation) along axes and of everything
@case(Distinct((7,)), Distinct((3, 5)), evaluator=True)
def np_quantiles(x, m):
    return (np.quantile(x, 0.3) + np.percentile(x, 95) + np.sum(np.quantile(m, 0.5, axis=0) ** 2)
            + np.sum(np.percentile(m, 10, axis=1, keepdims=True) * m)
            + np.sum(np.quantile(m, 0.75, keepdims=True)))


@case(f32(Distinct((6,))), f32(Distinct((2, 5))), float32=True)
def f32_sort_median(x, m):
    return np.sum(np.sort(x) * x) + np.median(m) + np.sum(np.median(m, axis=1) * np.sort(m)[:, 0])


# a view of a new array (a column of a reduction's result) read in a loop that writes into another
# array: no write can reach it, so it is not refused as a view used across a write
@case(Distinct((3, 3)), A((3,)), evaluator=True)
def view_of_a_reduction_in_a_writing_loop(w, x):
    low = w.min(axis=1, keepdims=True)[:, 0]
    out = np.zeros(3)
    for i in range(3):
        out[i] = low[i] * x[i] + out[i - 1] * 0.5
    return np.sum(out * out)


# three index arrays into a 3-d array, and take_along_axis, sort and median along each axis of
# one: the flat position of an element is ((i * n1) + j) * n2 + k
@case(Distinct((2, 3, 4)), np.array([1, 0, 1]), np.array([2, 0, 1]), np.array([3, 1, 0]))
def three_index_arrays(x, i, j, k):  # compiled: the evaluator's NumPy indexes rightly
    picked = x[i, j, k] * np.array([1.0, 2.0, 3.0])
    along = sum(np.sum(np.sort(x, axis=a) * x) + np.sum(np.median(x, axis=a) ** 2)
                for a in (0, 1, 2))
    order = np.argsort(x, axis=1)
    return np.sum(picked) + along + np.sum(np.take_along_axis(x, order, axis=1)[:, 0, :])


# np.isnan, np.isinf, np.isfinite and math's: tests with no gradient, as comparisons are; masks
# combined with & | ^ ~ and np.logical_*, and ints with & | ^ (thresholds at 0, where Away's
# elements are not)
@case(Away((6,)), F(-1.0, 1.0), 13, evaluator=True)
def masks_and_nan_tests(x, s, k):
    kept = np.where(np.isnan(x) | np.isinf(x * 1e300), 0.0, x)
    scale = s if math.isfinite(s) and not math.isnan(s) and not math.isinf(s) else 0.0
    up, wide = x > 0.0, np.abs(x) > 0.0
    mask = up & ~np.logical_not(wide) ^ np.logical_xor(up, wide)
    mask |= np.logical_and(up, np.logical_or(up, x < 0.0))
    return (np.sum(kept ** 2) * scale + np.sum(np.where(np.isfinite(x), x * s, 0.0))
            + np.sum(np.where(mask, x * x, -x)) * ((k & 6) ^ (k | 1)))

"""Plain-Python functions of numbers that zygopy must translate faithfully.

Each is compiled with `zygopy.code_ir` and run by the reference evaluator; the result must equal
calling the function directly. They live in their own module so that they have real source.
Nothing here imports zygopy: these are ordinary Python functions.
"""
import math

import numpy as np

SCALE = 2.5
OFFSET = -1
PAIR = (3, 0.5)
LIMIT = 7


# ---- literals, arithmetic, comparisons, unary and boolean operators ----------------------------

def literals(x):
    """Number literals of every kind (int, float, exponent, hex, bool, underscore)."""
    a = 1 + 2.5 * x - 0x10 + 1e-3 + True
    b = 1_000 * 0.5 - False
    return a + b + 0o7 + 0b101 + 3.


def arith_float(x, y):
    return x + y, x - y, x * y, x / y, x // y, x % y


def arith_int(a, b):
    return a + b, a - b, a * b, a / b, a // b, a % b, -a // b, -a % b, a ** 2


def powers(x, n):
    base = abs(x) + 0.5
    return base ** n, x ** 2, base ** 0.5, 2 ** n, n ** 3


def compare_all(x, y):
    return x < y, x <= y, x > y, x >= y, x == y, x != y


def chained_compare(a, b, c):
    r1 = a < b < c
    r2 = a <= b > c
    r3 = a < b <= c < a + 10 != b
    r4 = 0 < a * 2 < b + 1
    return r1, r2, r3, r4


def chained_in_if(x, lo, hi):
    if lo <= x < hi:
        return x - lo
    elif x < lo < hi:
        return lo - x
    return 0.0


def unary(x, n, flag):
    return -x, +x, not x, -(-n), +n, not n, not flag, not not x, -flag


def bool_ops(x, y):
    p = x > 0 and y > 0
    q = x > 0 or y > 0
    r = not (x > 0 and y < 0) or x == y
    s = x > 1 and y > 1 and x + y > 5
    return p, q, r, s


def value_or_and(x, y):
    """`x or y` and `x and y` return one of their operands, not a bool."""
    a = x or y
    b = x and y
    c = x or y or 4.5
    d = (x and y) or (y and x) or -1.0
    return a, b, c, d


def mixed_value_or(x, n):
    # an int or a float, whichever is truthy first
    return n or x, x and n, (n or 0) + (x or 1.5)


def short_circuit(x, y):
    """The right operand is evaluated only when it must be: no division by zero here."""
    if y != 0 and x / y > 1.0:
        return 1.0
    if y == 0 or x // y > 2:
        return 2.0
    return 3.0


def short_circuit_value(n, x):
    r = n == 0 or 10 // n > 2
    s = (n != 0 and 7 % n) or x
    return r, s


def conditional_expr(x, y):
    a = x if x > 0 else -x
    b = y if y > x else (x if x > 2 else 2.0)
    c = 1 if x == y else 0
    return a + b * c, (a if a > b else b) - 1


# ---- branches ------------------------------------------------------------------------------------

def piecewise(x):
    if x < -2.0:
        y = -1.0
    elif x < 0.0:
        y = x * x
    elif x < 2.0:
        y = math.sin(x)
    else:
        y = x - 1.5
    return y * 2


def if_without_else(x, n):
    y = x
    if n > 3:
        y = y * 2
    if x < 0:
        y = -y
        n = n + 1
    return y + n


def nested_if(x, y):
    if x > 0:
        if y > 0:
            r = x * y
        else:
            r = x - y
    else:
        if y > x:
            r = y
        else:
            r = x + 1.0
    return r


def bool_argument(flag, x):
    if flag:
        return x * 2.0
    return x - 1.0


def pass_and_docstring(x):
    """A docstring is not code."""
    y: float = x + 1.0
    if y > 0:
        pass
    else:
        y = 0.0
    return y


# ---- while loops ----------------------------------------------------------------------------

def while_countdown(x, n):
    r = 1.0
    while n > 0:
        r = r * x
        n -= 1
    return r


def while_data_exit(x):
    """The trip count depends on the data."""
    x = abs(x) + 0.1
    steps = 0
    while x < 100.0:
        x = x * 1.7 + 0.3
        steps += 1
    return x, steps


def collatz_steps(n):
    steps = 0
    while n != 1:
        if n % 2 == 0:
            n = n // 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps


def while_else(x, n):
    i = 0
    while i < n:
        if x * i > 10.0:
            break
        i += 1
    else:
        return -1.0
    return x * i


def while_true_break(x):
    i = 0
    while True:
        x = x * 0.5 + 1.0
        i += 1
        if i >= 5 or x < 2.5:
            break
    return x, i


def while_compound_test(x, n):
    i = 0
    while i < n and x < 50.0:
        x = x + i
        i += 1
    return x


def while_float_counter(x):
    t = 0.0
    acc = 0.0
    while t < 1.0:
        acc += math.cos(x * t)
        t += 0.25
    return acc


# ---- for loops -------------------------------------------------------------------------------

def for_range_1(x, n):
    s = 0.0
    for i in range(n):
        s += x * i
    return s


def for_range_2(a, b):
    s = 0
    for i in range(a, b):
        s += i * i
    return s


def for_range_3(a, b, step):
    s = 0
    last = -100
    for i in range(a, b, step):
        s = s * 3 + i
        last = i
    return s, last


def for_range_negative(n, x):
    s = 0.0
    for i in range(n, 0, -1):
        s = s * x + i
    t = 0
    for j in range(n, -n, -3):
        t += j
    return s, t


def for_array(a):
    s = 0.0
    for v in a:
        s += v * v
    return s


def enumerate_array(a, x):
    s = 0.0
    for i, v in enumerate(a):
        s += i * v + x
    return s


def loop_variable_after_loop(n):
    i = -1
    for i in range(n):
        pass
    return i


def for_else(n, x):
    for i in range(n):
        if i * x > 3.0:
            r = i
            break
    else:
        r = -1
    return r


def break_continue(x, n):
    s = 0.0
    for i in range(n):
        if i % 3 == 0:
            continue
        if s > 20.0:
            break
        if x > 0:
            s += x
        else:
            s -= x
            continue
        s += 0.5
    return s


def continue_in_while(n):
    i = 0
    total = 0
    while i < n:
        i += 1
        if i % 2 == 1:
            continue
        total += i
    return total


def nested_loops(x, n, m):
    s = 0.0
    for i in range(n):
        for j in range(m):
            s += x * i - j
    return s


def nested_triangular(n):
    s = 0
    for i in range(n):
        j = 0
        while j < i:
            s += i * j
            j += 1
    return s


def nested_break_inner(x, n):
    count = 0
    for i in range(n):
        for j in range(n):
            if j > i:
                break
            if (i + j) % 2 == 1:
                continue
            count += 1
        x = x * 0.9
    return count, x


# ---- returns -----------------------------------------------------------------------------------

def early_return(x):
    if x < 0:
        return 0.0
    if x > 5:
        return x * 2
    y = x * x
    return y - 1.0


def return_in_for(x, n):
    for i in range(n):
        if x * i > 4.0:
            return i
    return -1


def return_in_while(x):
    i = 0
    while True:
        x = x * 2.0 + 1.0
        if x > 20.0:
            return x, i
        i += 1
        if i > 10:
            return 0.0, -1


def return_in_nested_loop(n, m, target):
    for i in range(n):
        for j in range(m):
            if i * j == target:
                return i + j
    return -1


def return_int_or_float(n, x):
    if n > 0:
        return n
    return x


# ---- tuples and assignment ---------------------------------------------------------------------

def tuple_pack_unpack(x, y):
    t = x, y, x + y
    a, b, c = t
    (p, q), r = (a, b), c
    p, q = q, p
    return p - q, r, t


def fibonacci(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def chained_assign(x):
    a = b = x * 2
    a += 1.0
    return a, b


def augmented_assign(x, n):
    y = x
    y += 1.5
    y -= 0.25
    y *= 3.0
    y /= 2.0
    k = n
    k //= 3
    k %= 5
    k **= 2
    z = abs(x) + 1.0
    z **= 0.5
    z //= 0.75
    z %= 1.1
    return y, k, z


def tuple_constant_global(x):
    n, w = PAIR
    return x * w + n


# ---- arrays ------------------------------------------------------------------------------------

def subscript_read(a, i):
    n = a.shape[0]
    j = i % n
    return a[j] + a[-1] * a[0] + a[n - 1 - j]


def subscript_write(a, x):
    a[0] = x
    a[1] += x * 2.0
    a[-1] *= 0.5
    return a[0] + a[1] - a[a.shape[0] - 1]


def attributes(a):
    n = a.shape[0]
    s = 0.0
    for i in range(n):
        s += a[i] * (n - i)
    return s + a.size + a.ndim + len(a)


def running_max(a):
    best = a[0]
    where = 0
    for i in range(1, len(a)):
        if a[i] > best:
            best = a[i]
            where = i
    return best, where


# ---- math, numpy and builtins ------------------------------------------------------------------

def math_calls(x, y):
    r = math.sin(x) + math.cos(y) + math.tan(x * 0.1) + math.exp(-abs(x))
    r += math.sqrt(abs(y)) + math.log1p(abs(x)) + math.atan2(y, x) + math.hypot(x, y)
    r += math.tanh(x) + math.atan(y) + math.log(abs(x) + 1.0) + math.floor(y) + math.ceil(x)
    return r


def numpy_calls(x, y):
    r = np.exp(-abs(x)) + np.sin(x) * np.cos(y) + np.tanh(y) + np.sqrt(abs(x) + 1.0)
    r = (r + np.maximum(x, y) - np.minimum(x, y) + np.abs(x) + np.arctan2(y, x)
         + np.log(abs(y) + 1.0))
    return r


def builtin_calls(x, y, n):
    return abs(x), min(x, y), max(x, y, 1.0), min(n, 3, x), float(n), int(x), abs(n), max(n, -n)


# ---- calls to other plain Python functions -----------------------------------------------------

def _scale(v, factor=2.0, shift=0.0):
    return v * factor + shift


def _square_then(v, k=1):
    y = v * v
    return _scale(y, factor=k)


def _clip(v, lo=-1.0, hi=1.0):
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


def _poly(v, n):
    # same local names as the callers: each inlined call has its own frame
    s = 0.0
    for i in range(n):
        s = s * v + i
    return s


def _deep3(v):
    return _clip(v * 0.5, hi=0.75) + 1.0


def _deep2(v):
    x = _deep3(v) * 2.0
    return x + _deep3(-v)


def _deep1(v, w=3.0):
    return _deep2(v) * w


def call_defaults_keywords(x):
    a = _scale(x)
    b = _scale(x, 3.0)
    c = _scale(x, shift=1.0)
    d = _scale(shift=-1.0, v=x, factor=0.5)
    return a, b, c, d


def call_nested_deep(x):
    return _deep1(x), _deep1(x, w=-1.0), _square_then(_clip(x), k=3)


def call_same_names(x, n):
    s = _poly(x, n)
    i = 100
    s = s + _poly(s * 0.01, 2) + i
    return s


def call_in_loop(x, n):
    total = 0.0
    for i in range(n):
        total += _clip(x * i, lo=-2.0)
    return total


def module_constants(x):
    return x * SCALE + OFFSET, x < LIMIT


def make_affine(w, b):
    def affine(x):
        return w * x + b + SCALE
    return affine


affine_closure = make_affine(1.5, -0.25)


def make_looper(k):
    def looper(x, n):
        s = x
        for i in range(n):
            s = _scale(s, factor=k) - i
        return s
    return looper


looper_closure = make_looper(0.5)


def _first_above(v, n, limit=3.0):
    # a return inside a loop of an inlined function
    for i in range(n):
        v = v * 1.5 + 0.5
        if v > limit:
            return i
    return n


def call_in_condition(x, n):
    if _first_above(x, n) < 2 and _clip(x) > -0.5:
        return 1.0
    while _first_above(x, n, limit=10.0) > n - 1 and n > 0:
        n -= 1
    return float(n)


# ---- corner cases ------------------------------------------------------------------------------

def signed_zero(x):
    """0.0 and -0.0 are different constants: the sign of a zero is observable."""
    z = 0.0 if x > 0 else -0.0
    w = -0.0
    if x < 1:
        w = 0.0
    return z, w, math.atan2(z, -1.0), math.copysign(1.0, w)


def constant_conditions(x):
    if True:
        y = x
    else:
        y = -x
    while False:
        y = y + 1.0
    if LIMIT > 5:
        y = y * 2.0
    if not SCALE:
        y = 0.0
    a = 0 or x
    b = x and 0
    c = 1 and x
    d = 0.0 or 0
    return y, a, b, c, d


def loop_rebinds_target(n):
    s = 0
    for i in range(n):
        i = i * 2
        n = n - 1  # range(n) was evaluated once, before the loop
        s += i
    return s, n


def while_else_continue(n, x):
    i = 0
    while i < n:
        i += 1
        if i % 2 == 0:
            continue
        x = x * 0.5
        if x < 0.1 and x > -0.1:
            break
    else:
        x = x + 100.0
    return x, i


def not_of_chained(a, b, c):
    if not (a < b < c) and not a == c:
        r = 1
    elif not a < b or b >= c:
        r = 2
    else:
        r = 3
    return r


def ifexp_in_loop(x, n):
    s = 0.0
    for i in range(n):
        s += x if i % 2 == 0 else -x * 0.5
        x = x * 0.8 if x > 1.0 else x + 0.3
    return s, x


def array_written_in_loop(a, x):
    for i in range(len(a)):
        a[i] = a[i] * x + i
    s = 0.0
    for v in a:
        s += v
        a[0] = s  # the loop reads the array as it is now
    return s, a[0]


def enumerate_range(x, n):
    s = 0.0
    for k, i in enumerate(range(n, 0, -2)):
        s += k * x - i
    return s


def module_attribute_constants(x):
    return x * math.pi + np.pi - math.e, math.inf > x

"""Functions zygopy must refuse, each with a zygopy error naming this file and the offending line.

They are plain Python (most of them run fine in Python); they live in their own module so that
they have real source. Each offending line is found by the tests from its text, so keep those
texts unique within each function.
"""
import math

import numpy as np

SCALE = 2.0
PARTS = (np.ones(3), 2.0)
OPTIONS = {"b": 1.0}


def try_except(x):
    y = x * 2.0
    try:
        y = math.log(x)
    except ValueError:
        y = 0.0
    return y


def with_statement(x):
    y = x
    with open("/dev/null") as f:
        y = y + 1.0
    return y


def generator(x):
    for i in range(3):
        yield x * i


def nested_def(x):
    y = x + 1.0

    def helper(v):
        return v * 2.0
    return helper(y)


def class_def(x):
    class Point:
        pass
    return x


counter = 0


def global_statement(x):
    global counter
    counter = x
    return x


def del_statement(x):
    y = x * 2.0
    del y
    return x


def import_inside(x):
    import cmath
    return x


def generator_as_value(x, n):
    squares = (x * i for i in range(n))
    return x


def f_string(x):
    label = f"x is {x}"
    return x


def walrus(x):
    if (y := x * 2.0) > 1.0:
        return y
    return x


def match_statement(x, n):
    match n:
        case 0:
            return x
        case _:
            return -x


def _add(a, b):
    return a + b


def star_args_call(x):
    pair = (x, 2.0)
    return _add(*pair)


def kwargs_call(x):
    y = x + 1.0
    return _add(y, **OPTIONS)


def factorial(n):
    if n <= 1:
        return 1
    return n * factorial(n - 1)


def is_even(n):
    if n == 0:
        return True
    return is_odd(n - 1)


def is_odd(n):
    if n == 0:
        return False
    return is_even(n - 1)


def unknown_global(x):
    y = x + 1.0
    return y * undefined_scale


def print_call(x):
    y = x * 2.0
    print(y)
    return y


def star_params(*args):
    return args[0]


def used_before_assignment(x):
    if x > 0:
        y = x * 2.0
    z = x + 1.0
    return z * y


def used_before_assignment_in_loop(x, n):
    for i in range(n):
        x = x + i
    return x * i


def zip_loop(x, n):
    s = 0.0
    for i, j in zip(range(n), range(n)):
        s += x * i * j
    return s


def is_comparison(x):
    y = x * 2.0
    if x is y:
        return 0.0
    return x


def in_comparison(x):
    return x in (1.0, 2.0)


def shift_operator(n):
    return n << 1


def bitwise_of_floats(x):
    return (x & 1.0) * x


def string_constant(x):
    name = "x"
    return x


def complex_constant(x):
    return x * 2j


def list_of_mixed_types(x):
    xs = [x, x]
    xs.append(np.ones(2))
    return x


def generator_in_any(x, n):
    return any(x > i for i in range(n))


def array_in_a_captured_tuple(x):
    w, s = PARTS
    return x * s


def calling_a_number(x):
    return SCALE(x)


def calling_a_value(x):
    g = x * 2.0
    return g(x)


def unknown_module_attribute(x):
    return math.sine(x)


def keyword_to_primitive(x):
    return math.atan2(x, x=1.0)


def wrong_arity_primitive(x):
    return math.sin(x, 2.0)


def reciprocal_of_ints(x):
    return np.sum(np.reciprocal(np.arange(1, 4)) * x)


def roll_by_a_tuple(x):
    return np.sum(np.roll(x * np.ones((2, 2)), (1, 1)))


def average_returned(x):
    return np.average(x * np.ones(3), returned=True)[0]


def unpack_mismatch(x):
    a, b = x, x + 1.0, x + 2.0
    return a + b


def tuple_index_out_of_range(x):
    t = (x, x * 2.0)
    return t[2]


def index_a_float(x):
    return x[0]


def never_returns(x):
    while True:
        x = x + 1.0


def range_as_value(x, n):
    r = range(n)
    return x


def _bad_helper(v):
    w = v * 2.0
    for k in range(3):
        w = w + k
    with open("/dev/null"):
        w = w + 1.0
    return w


def _recurses_deep(v, depth):
    if depth > 0:
        return _recurses_deeper(v, depth - 1)
    return v


def _recurses_deeper(v, depth):
    return _recurses_deep(v * 0.5, depth)


def unsupported_in_callee(x):
    y = x + 1.0
    return _bad_helper(y) * 2.0


def recursion_through_callees(x):
    return _recurses_deep(x, 3) + 1.0


def wrong_arity_call(x):
    return _add(x)


def unknown_keyword_call(x):
    return _add(x, c=1.0)


async def async_function(x):
    return x


def assign_into_tuple(x):
    t = (x, x)
    t[0] = 1.0
    return t


def len_of_a_number(x):
    y = x * 2.0
    return len(y)


def tuple_arithmetic(x):
    t = (x, x)
    u = t + t
    return u[3]


def write_into_list(x):
    hs = [x, x * 2.0]
    hs[0] = 1.0
    return hs[1]


def slice_run_time_list(x, n):
    hs = []
    for i in range(n):
        hs.append(x * i)
    return sum(hs[1:])


def run_time_index_into_layers(layers, i):
    return layers[i]


def max_of_nothing(x):
    return max(()) + x



def read_list_after_it_grew(x, n):
    hs = [x]
    first = hs
    for i in range(n):
        hs.append(x * i)
    return first[-1]

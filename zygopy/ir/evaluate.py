"""A reference interpreter: runs IR on Python values, independently of any compiler.

It runs primal IR, and the adjoint IR's forward and reverse (stacks are Python lists, gradient
slots a dict), so the adjoint pass can be checked without Numba.
"""
from __future__ import annotations

import numpy as np

from .captured import read
from .ir import Function, Var
from .primitives import PRIMITIVES
from .types import INT, ListT, Scalar, fits_int64


class Stopped(Exception):
    """A run abandoned because its `stop()` said so."""


class Machine:
    """State shared by a forward run and the reverse runs that replay it."""

    def __init__(self):
        self.stacks = {}
        self.slots = {}

    def run(self, fn: Function, args, env=None, max_steps=10**8, stop=None):
        """fn's result and environment; `stop()`, asked every few blocks, abandons the run."""
        env = {} if env is None else env
        blocks = fn.block_map()

        def val(a):
            return env[a] if isinstance(a, Var) else a

        block, values = fn.entry, [_int64(a) for a in args]
        for step in range(max_steps):
            if stop is not None and step % 64 == 0 and stop():
                raise Stopped
            if len(values) != len(block.args):
                raise TypeError(f"block {block.name} takes {len(block.args)} arguments, got "
                                f"{len(values)}")
            env.update(zip(block.args, values, strict=True))
            for s in block.stmts:
                args = [val(a) for a in s.args]
                try:
                    if s.op in SPECIAL:
                        result = self.special(s.op, args)
                    else:
                        try:
                            result = PRIMITIVES[s.op].impl(*args)
                        except (ZeroDivisionError, ValueError, OverflowError) as raised:
                            result = _as_numpy(s, args, raised)
                        else:
                            if type(result) in (int, complex) and not _holds(s.type, result):
                                result = _as_numpy(s, args, OverflowError(
                                    f"{result} is not a value of type {s.type}"))
                except Exception as e:
                    if not hasattr(e, "zygopy_statement"):  # the innermost: in a unit's own IR
                        e.zygopy_statement, e.zygopy_operands = s, args
                        e.zygopy_file = fn.filename
                    raise
                if s.var is not None:
                    env[s.var] = result
            for br in block.branches:
                if br.cond is not None and val(br.cond):
                    continue  # `unless` holds: fall through to the next branch
                if br.is_return:
                    return val(br.args[0]), env
                block, values = blocks[br.target], [val(a) for a in br.args]
                break
        raise RuntimeError("evaluation did not finish")

    def special(self, op, args):
        if op in ("take", "accum", "accum_at") and isinstance(args[0].type, ListT):
            return self.list_slot(op, args)
        if op == "push":
            self.stacks.setdefault(args[0], []).append(args[1])
        elif op == "pop":
            return self.stacks[args[0]].pop()
        elif op == "reserve":  # room for n * per_trip values, written by push_at: -> its base
            stack, room = self.stacks.setdefault(args[0], []), max(args[1], 0) * args[2]
            stack.extend([None] * room)
            return len(stack) - room
        elif op == "push_at":
            self.stacks[args[0]][args[1]] = args[2]
        # a lazy array slot (one per loop iteration) comes with the value it is shaped like
        elif op == "take":
            if args[0] in self.slots:
                return self.slots.pop(args[0])
            return np.zeros(np.shape(args[1])) if len(args) > 1 else _zero(args[0])
        elif op == "peek":
            return self.stacks[args[0]][-1]
        elif op == "drop":  # one value, or the count given
            stack = self.stacks[args[0]]
            del stack[len(stack) - (args[1] if len(args) > 1 else 1):]
        elif op == "store":
            self.slots[args[0]] = args[1]
        elif op == "load":
            return self.slots.get(args[0], _zero(args[0]))
        elif op == "init":
            self.slots[args[0]] = np.zeros(args[1])
        elif op == "ensure":
            self._ensure(args[0], args[1])
        elif op == "accum_at":
            slot, index, g = args[:3]
            if len(args) > 3:
                self._ensure(slot, args[3])
            if _has_array(index):
                np.add.at(self.slots[slot], index, g)  # repeated elements add up
            else:
                self.slots[slot][index] += g
        elif op in ("take_at", "load_at"):
            slot, index = args[:2]
            if len(args) > 2:
                self._ensure(slot, args[2])
            g = self.slots[slot][index]
            # np.copy would make an element a 0-d array
            g = g.copy() if isinstance(g, np.ndarray) else g
            if op == "load_at":
                return g
            if _has_array(index):
                g = np.where(_last_writes(self.slots[slot].shape, index, np.shape(g)), g, 0.0)
            self.slots[slot][index] = 0
            return g
        elif op == "accum":
            self.slots[args[0]] = self.slots.get(args[0], _zero(args[0])) + args[1]


    def _ensure(self, slot, like):
        """A lazy array slot (one per loop iteration) allocated, shaped like `like`."""
        if not isinstance(self.slots.get(slot), np.ndarray):
            self.slots[slot] = np.zeros(np.shape(like))

    def list_slot(self, op, args):
        """The gradient slot of a list holds a list of gradients; a missing entry (None), or a
        missing list, is zero."""
        slot = args[0]
        grads = self.slots.pop(slot, [])
        if op == "take":
            return grads
        if op == "accum":
            grads = _added(grads, args[1])
        else:  # accum_at: slot[index] += value
            index, g = args[1], args[2]
            grads = grads + [None] * (index + 1 - len(grads))
            grads[index] = g if grads[index] is None else grads[index] + g
        self.slots[slot] = grads


def _added(a, b):
    out = list(a) + [None] * (len(b) - len(a))
    for k, g in enumerate(b):
        if g is not None:
            out[k] = g if out[k] is None else out[k] + g
    return out


def _has_array(index):
    return any(isinstance(p, np.ndarray) for p in (index if isinstance(index, tuple) else (index,)))


def _last_writes(shape, index, region):
    """Which positions of a[index] = v hold the write that stayed: where the index names an element
    twice, NumPy keeps the last value written."""
    order = np.arange(int(np.prod(region))).reshape(region)
    writer = np.full(shape, -1)
    writer[index] = order
    return writer[index] == order


# what an empty gradient slot holds: a float, as in compiled code (an int 0 times a NumPy bool
# would make a gradient np.int64); a trip counter's, an int (it counts trips, and indexes)
ZERO = 0.0


def _zero(slot):
    return 0 if slot.type == INT else ZERO

SPECIAL = {"push", "pop", "reserve", "push_at", "take", "load", "accum", "accum_at", "init",
           "ensure", "take_at", "load_at", "peek", "drop", "store"}


def _own(args, written=None):
    """The arguments with arrays copied (those at the indices `written`, or all): IR may write
    into its arrays, and the caller's stay as they were."""
    return [np.copy(a) if isinstance(a, np.ndarray) and (written is None or i in written) else a
            for i, a in enumerate(args)]


def raised_by_user(error):
    """Whether an exception is the user's own, raised by a `raise` or `assert` of the function, or
    by the Python code of a custom rule or checkpoint it calls (run as Python by the evaluator)."""
    stmt = getattr(error, "zygopy_statement", None)
    return stmt is not None and stmt.op in ("raise", "custom")


# NumPy's function for number operations whose Python function raises, or gives a value that the
# statement's type cannot hold, where NumPy gives an infinity, a NaN or a wrapped-around int (the
# compiled code's error model): 1.0 / 0.0, math.log(0.0), (-8.0) ** (1 / 3) (a complex number in
# Python), n * n * n past 2^63, int(math.nan); int(x), math.floor and math.ceil of a float are
# NumPy's rounding then its cast to int64, as Numba's (the machine's own conversion)
_AS_NUMPY = {**{op: p.numpy for op, p in PRIMITIVES.items() if p.numpy and p.elementwise},
             "mod": "remainder", "floordiv": "floor_divide", "int": "trunc", "floor": "floor",
             "ceil": "ceil"}


def _holds(t, value):
    """Whether a number statement's type holds the int or complex number its Python function gave:
    an int64 an int within 64 bits (Python's ints are unbounded, compiled code's wrap around), a
    float an int it converts to (int ** int is a float in compiled code); neither a complex."""
    if not isinstance(t, Scalar):
        return True
    if type(value) is complex:
        return False
    if t.dtype == "int64":
        return fits_int64(value)
    return not t.is_float or abs(value) <= _FLOAT_MAX


_FLOAT_MAX = int(np.finfo(np.float64).max)


def _as_numpy(s, args, raised):
    """A number statement on numbers whose Python function raised, or gave what its type cannot
    hold, as NumPy computes it in that type; else what it raised (an int divided by zero raises in
    compiled code too)."""
    name = _AS_NUMPY.get(s.op)
    dtype = s.type.dtype if isinstance(s.type, Scalar) else None
    if name is None or dtype not in ("float64", "float32", "int64") \
            or any(isinstance(a, np.ndarray) for a in args) \
            or dtype == "int64" and isinstance(raised, ZeroDivisionError):
        raise raised
    with np.errstate(all="ignore"):
        if dtype == "int64":  # on int64 operands (and floats, converted), in int64
            return int(np.asarray(getattr(np, name)(*map(np.asarray, args))).astype(np.int64))
        y = getattr(np, name)(*(np.float64(a) for a in args))
    return np.float32(y) if dtype == "float32" else float(y)


def _int64(a):
    """An int array as int64, as the IR types it (and the compiled code widens it: zy_int64)."""
    if type(a) is np.ndarray and a.dtype.kind in "iu" and a.dtype != np.int64:
        return a.astype(np.int64)
    return a


def failing_statement(fn: Function, args):
    """Run IR on Python values; the (statement, exception) of the first statement that raises, or
    None. This is how an error inside compiled code is traced back to the user's line. `args`
    may leave out the values fn reads from outside (they are read now)."""
    try:
        Machine().run(fn, _own(_with_hidden(fn, args)))
    except Exception as e:
        stmt = getattr(e, "zygopy_statement", None)
        return (stmt, e) if stmt is not None else None
    return None


def evaluate(fn: Function, *args, max_steps=10**8):
    """Run IR on Python values and return its result. Like the Python function, it writes into the
    arrays it is given."""
    return Machine().run(fn, _with_hidden(fn, args), max_steps=max_steps)[0]


def _with_hidden(fn, args):
    """The arguments, followed by the values now of fn's hidden arguments (captured.py) unless
    they are given."""
    hidden = [c for c in fn.captured if c.runtime]
    if len(args) == len(fn.args) - len(hidden):
        return (*args, *(read(c.holder, c.name) for c in hidden))
    return args


def evaluate_gradient(adj, args, dy=1.0, stop=None):
    """Run an Adjoint's forward then reverse on Python values: (value, gradients). Like a compiled
    gradient, it leaves the caller's arrays as they were. `stop` as for Machine.run."""
    m = Machine()
    value, env = m.run(adj.forward, _own(_with_hidden(adj.forward, args), adj.written),
                       stop=stop)
    stacks = {k: list(v) for k, v in m.stacks.items()}
    grads, _ = m.run(adj.reverse, [dy] + [env.get(v, 0) for v in adj.tape], stop=stop)
    m.stacks = stacks
    return value, grads

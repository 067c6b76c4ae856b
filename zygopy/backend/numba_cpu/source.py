"""IR -> readable Python source that Numba compiles.

Structured control flow is recovered where Python can express it (`structure.py`); otherwise the
CFG becomes a dispatch loop over `if block == n:` arms in block order, where a jump to the next
block falls through. Statements become one assignment each; names
come from the user's variables (`r_4`), gradient slots are `d_r_4`.

Stacks: the forward receives preallocated arrays. A loop whose trips are known when it starts
reserves its records there, growing the stack if need be, so the hot loop neither tests nor
reallocates (a reassignment per iteration costs Numba a reference count); other pushes are counted
and stored while there is room, and if a count exceeds the capacity the caller reruns with exact
sizes. The forward hands its stacks on with the tape (grown ones are new arrays).
"""
from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ...custom import called_rules, specialization_of
from ...ir.bounds import accesses_in_bounds
from ...ir.infer import type_of_arg
from ...ir.ir import RAISED, Function, Slot, Var, users_of
from ...ir.primitives import PRIMITIVES, has_index_array, is_weak, promote
from ...ir.types import ArrayT, ListT, Scalar, TupleT
from .arrays import array_expression, indexing_lines, own_kernel, scaled_softmax
from .fusion import Fusion, unit_dims, write_region
from .lists import empty_list, list_expression, list_statement, no_gradients, slot_statement
from .owned_tape import owned_scalings, scaling_in_place
from .scopes import reverse_scopes
from .structure import LOOPING, UNREACHABLE, Structurer, Unstructured
from .units import ENTRIES, unit_call

NOT_IN_NUMBA_MATH = {"fmod"}  # math functions Numba lacks; their NumPy twins compile

# what generated code calls
RUNTIME_FILES = ("runtime.py", "list_runtime.py", "nn_kernels.py", "unchecked.py", "mathlib.py")


def runtime_digest(folder=Path(__file__).parent) -> str:
    """A digest of the compiled helpers generated modules call, and of the zygopy modules they
    import (runtime.py compiles ir/array_primitives.py's cholesky_gradient). Numba's disk cache of
    a module does not notice a helper it linked in change, so the digest is written into every
    module's source: a changed helper (a new zygopy) makes new modules, never stale machine code."""
    digest = hashlib.sha256()
    for path in sorted(_imported_closure([folder / name for name in RUNTIME_FILES],
                                         package=folder.parents[1])):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _imported_closure(files, package):
    """The files and every module of `package` (zygopy/) they import, relatively, at any depth."""
    seen, todo = set(), list(files)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for line in path.read_text().splitlines():
            found = re.match(r"from (\.+)([\w.]*) import ([\w, ]*)", line)
            if found:  # the module, or the modules named (from . import a, b)
                base = path.parent.joinpath(*[".."] * (len(found[1]) - 1)).resolve()
                target = base.joinpath(*found[2].split(".")) if found[2] else base
                names = [target / name.strip() for name in found[3].split(",") if name.strip()]
                todo += [f for t in (target, *names) for f in (t.with_suffix(".py"),
                                                               t / "__init__.py")
                         if f.is_file() and package in f.parents]
    return seen


def numba_settings() -> str:
    """Numba's settings from the environment (its optimisation level, bounds checking, SVML...):
    its disk cache does not tell them apart, so they are part of every module's source too."""
    settings = {"NUMBA_OPT": "3"} | {k: v for k, v in os.environ.items() if k.startswith("NUMBA_")}
    text = ",".join(f"{k}={v}" for k, v in sorted(settings.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


HEADER = (f"# zygopy runtime {runtime_digest()}, Numba settings {numba_settings()}\n"
          + """import math
import numpy as np
from numba import njit, types
from numba.typed import List
from zygopy.backend.numba_cpu.runtime import *
from zygopy.backend.numba_cpu.nn_kernels import *
from zygopy.backend.numba_cpu.jit import import_generated
""")
# the first line of a module compiled for the common case (runtime.zy_general)
COMMON_CASE = "zy_general = False"


def for_case(common: bool, parts) -> str:
    """Generated source from its parts, for the common case or for every case."""
    return "\n\n".join([COMMON_CASE, *parts] if common else parts)


# Out-of-range indices raise IndexError as in Python instead of reading stray memory; set
# ZYGOPY_BOUNDSCHECK=0 to trade that check for speed in indexing-heavy loops. A reverse pass reads
# elements at the indices its forward checked, unchecked (unchecked.py), unless it is "all".
BOUNDSCHECK = os.environ.get("ZYGOPY_BOUNDSCHECK", "1")
REVERSE_CHECKED = BOUNDSCHECK == "all"
JIT = f"@njit(cache=True, nogil=True, error_model='numpy', boundscheck={BOUNDSCHECK != '0'})"
# a forward that value_and_gradient calls (fused_source) is inlined into it at Numba IR level:
# one compilation for a gradient instead of two
JIT_INLINED = JIT.replace("@njit(", "@njit(inline='always', ")
# CPython passes more than 30 arguments through *args (CALL_FUNCTION_EX), which Numba's inliner
# rejects; such calls stay ordinary calls
MAX_INLINED_ARGS = 30


def name(v) -> str:
    if isinstance(v, Slot):
        return "d_" + name(v.of) if v.of is not None else f"held_{v.id}"
    if v.name:
        base = "k" if v.name.startswith("$for") else re.sub(r"\W", "_", v.name)
        return f"{base}_{v.id}"
    return f"v{v.id}"


def const(c) -> str:
    if c is RAISED:  # passed on after a raise: never reached
        return "None"
    if isinstance(c, tuple):
        return "(" + "".join(const(x) + ", " for x in c) + ")"
    if isinstance(c, np.float32):  # its repr, np.float32(nan), names no nan
        return f"np.float32({const(float(c))})"
    if isinstance(c, float) and math.isnan(c):
        return "math.nan"
    text = (("math.inf" if c > 0 else "-math.inf") if isinstance(c, float) and math.isinf(c)
            else repr(c))
    # a negative literal is an operand: unparenthesised, `-1.0 ** n` would parse as -(1.0 ** n)
    return f"({text})" if text.startswith("-") else text


# the elementwise primitives handed to that fusion: erf and erfc lower to runtime helpers, which
# are no ufuncs; the others subtracted stay statements of their own
FUSIBLE = {n for n, p in PRIMITIVES.items() if p.elementwise} - {
    "erf", "erfc", "fabs", "asinh", "acosh", "atanh", "fmod", "mod", "floordiv"}


def operand(a) -> str:
    """A value's source where nothing is folded (Writer.operand where something may be)."""
    return name(a) if isinstance(a, (Var, Slot)) else const(a)


# cheap enough to compute again at each use: one more subtraction per element costs less than
# the array it would otherwise fill (a broadcast difference read by three expressions)
RECOMPUTED = {"add", "sub", "mul", "neg", "pos"}
# a longer recomputed expression is named instead: chains of them would grow without bound
RECOMPUTED_LENGTH = 160


def foldable(fn: Function) -> dict:
    """Pure array statements whose uses all come later in the same block, elementwise, with no
    effect between: one use, or several of a cheap one (RECOMPUTED); each with its use count."""
    users = users_of(fn)
    out = {}
    for b in fn.blocks:
        for i, st in enumerate(b.stmts):
            v = st.var
            if v is None or not isinstance(v.type, ArrayT) or st.op not in FUSIBLE:
                continue
            used_by = users.get(v, [])
            if len(used_by) != 1 and not (used_by and st.op in RECOMPUTED):
                continue
            later = b.stmts[i + 1:]
            if all(u in later and u.op in FUSIBLE for u in used_by):
                last = max(later.index(u) for u in used_by)
                if all(PRIMITIVES[t.op].pure for t in later[:last]):
                    out[st] = len(used_by)
    return out


def zero_of(t) -> str:
    if isinstance(t, ArrayT):  # an empty array stands for zeros until a gradient is added
        return f"zy_zeros(({'0, ' * t.ndim}), np.{t.dtype})"
    if isinstance(t, Scalar) and t.dtype == "float32":
        return "np.float32(0.0)"
    if isinstance(t, Scalar):
        return {"float64": "0.0", "int64": "0", "bool": "False"}[t.dtype]
    if isinstance(t, TupleT):
        return "(" + "".join(zero_of(e) + ", " for e in t.elts) + ")"
    if isinstance(t, ListT):  # a list of gradients with no entries is zero
        return empty_list(t)
    raise NotImplementedError(f"no zero for {t}")


def expression(s, operand=operand) -> str:
    op, args = s.op, [operand(a) for a in s.args]
    if op in PROMOTING:
        args = promoted(s, args)
    if op in ("custom", "custom_grad"):
        spec = specialization_of(s)
        name_ = spec.name if op == "custom" else spec.name + "_grad"
        return f"{name_}({', '.join(args[1:])})"
    if op in ENTRIES:
        return unit_call(s, args)
    lowered = array_expression(s, args) or list_expression(s, args)
    if lowered is not None:
        return lowered
    prim = PRIMITIVES[op]
    if prim.symbol is not None and len(args) == 1:
        return f"{prim.symbol}{args[0]}"
    if op in ("floordiv", "mod") and s.var.type == Scalar("int64") and (
            isinstance(s.args[1], Var) or s.args[1] in (0, -1)):
        # Python raises ZeroDivisionError for an int divisor of 0; NumPy's error model gives 0
        # (and Numba's -2^63 // -1 is 0, where int64's, NumPy's, wraps around to -2^63)
        return f"zy_int_{op}({args[0]}, {args[1]})"
    if prim.symbol is not None:
        if type(s.args[0]) in (int, float) and not any(isinstance(a, (Var, Slot)) for a in s.args):
            # left unfolded as Python's value is no number of ours (3000000 ** 3 past 2^63): in
            # NumPy's type, so that CPython does not fold it into a big int or a complex
            args[0] = f"np.{'int64' if type(s.args[0]) is int else 'float64'}({args[0]})"
        if op == "pow" and s.var.type == Scalar("float64") and _is_int(s.args[0]):
            args[0] = f"float({args[0]})"  # Python's int ** negative int is a float; Numba's is not
        return f"{args[0]} {prim.symbol} {args[1]}"
    if op in ("float", "int") and isinstance(type_of_arg(s.args[0]), ArrayT):
        args[0] = f"zy_item({args[0]})"  # of a 0-d array (Numba has no float of an array)
    own = own_kernel(op, getattr(s.var.type, "dtype", None))
    if prim.call is not None or own:  # on numbers (arrays are array_expression's)
        fn = own or (f"np.{prim.numpy}" if op in NOT_IN_NUMBA_MATH else prim.call)
        return f"{fn}({', '.join(args)})"
    if op == "stop_gradient":
        return args[0]
    if op == "select":
        return f"{args[1]} if {args[0]} else {args[2]}"
    if op == "range_len":
        return f"len(range({', '.join(args)}))"
    if op == "tuple":
        return "(" + "".join(a + ", " for a in args) + ")"
    if op == "getindex":
        return f"{args[0]}[{args[1]}]"
    if op == "getattr":
        return f"{args[0]}.{s.args[1]}"
    raise NotImplementedError(f"no lowering for {op}")


# operations whose operands NumPy promotes to one dtype (primitives.promote)
PROMOTING = {n for n, p in PRIMITIVES.items() if p.elementwise and p.arity > 1}


def promoted(s, args):
    """The operands' source, cast where Numba would promote them otherwise than NumPy 2: Numba
    computes float32 with a Python float (or, between scalars or in np.where, a Python int) in
    float64, and a float32 with an int64 array or NumPy int64 in float32. The casts are NumPy's
    own: a Python number becomes float32 (NEP 50), an int64 float64."""
    first = 1 if s.op == "select" else 0  # the condition takes no part
    if s.op == "select" and not isinstance(s.var.type, ArrayT):
        return args  # `a if c else b` is one of its operands, unpromoted
    ts = [type_of_arg(a) for a in s.args[first:]]
    if not all(isinstance(t, (Scalar, ArrayT)) for t in ts):
        return args  # tuples compared (a.shape == b.shape): no number to promote
    dtype = promote(ts)
    # elsewhere Numba gives float32 for arrays with a Python int (and x ** 2 stays an int power)
    ints_too = s.op == "select" or not any(isinstance(t, ArrayT) for t in ts)
    meets_float32 = dtype == "float64" and any(t.dtype == "float32" for t in ts)
    out = args[:first]
    for t, src in zip(ts, args[first:], strict=True):
        if dtype == "float32" and is_weak(t) and (t.is_float or ints_too):
            src = f"np.float32({src})"
        elif meets_float32 and t.dtype == "int64" and not is_weak(t):
            src = f"{src}.astype(np.float64)" if isinstance(t, ArrayT) else f"np.float64({src})"
        out.append(src)
    return out


def rule_sources(*fns) -> str:
    """Source of every custom rule the functions call, and of the rules those call, once each."""
    out = []
    for spec, op in called_rules(*fns):
        if hasattr(spec, "source"):  # compiled its own way (a kernel)
            out.append(spec.source(op == "custom_grad"))
        elif op == "custom":
            out.append(primal_source(spec.forward_ir, spec.name,
                                     checked=spec.derivatives(gradient=False)))
        else:
            out.append(primal_source(spec.pullback_ir, spec.name + "_grad",
                                     checked=spec.derivatives(gradient=True)))
    return "\n\n".join(reversed(out))


def checked_return(fn, derivatives):
    """Writes a user's pullback's or tangent rule's return, raising where an array it returns is
    not shaped as what it is the derivative of (custom.Derivatives, which the evaluator runs)."""
    def on_return(w, v):
        w(f"zy_returned = {w.operand(v)}")
        for path in derivatives.arrays:
            k, rest = derivatives.counterpart(path)
            got = "zy_returned" + "".join(f"[{i}]" for i in path)
            expected = name(fn.args[k]) + "".join(f"[{i}]" for i in rest)
            w(f"if {got}.shape != {expected}.shape:")
            constants = "".join(f"{c!r}, " for c in derivatives.wrong_shape(path))
            w(f"    raise zy_wrong_rule_result({constants}{got}.shape, {expected}.shape)")
        w("return zy_returned")
    return on_return


def _is_int(a):
    return isinstance(a, int) or (isinstance(a, Var)
                                  and a.type in (Scalar("int64"), Scalar("bool")))


class Writer:
    """Lines of generated source, and what the body being written folds and fuses: array
    statements folded into their single use, so that Numba fuses a chain of elementwise
    operations into one loop (a named temporary per operation would each be materialised), and
    the fused regions (fusion.py)."""

    def __init__(self, depth=0, folding=None, fusion=None, checked=True, in_bounds=frozenset(),
                 cpu=True, scopes=None):
        self.lines = []
        # False for a CUDA kernel's body: no intrinsics (the simulator runs it as Python), and
        # stacks of a fixed size that a thread reports overflowing (backend/cuda)
        self.cpu = cpu
        self.depth = depth
        self.folding = folding or {}  # statement -> how many uses it is folded into
        self.folded = {}  # value -> the expression written in its place
        self.fusion = fusion
        # False in a reverse pass: its element indices are those its forward checked (unchecked.py)
        self.checked = checked
        self.in_bounds = in_bounds  # (array, index) pairs proved within bounds (ir/bounds.py)
        self.nests = Counter()  # fused nests written per region and root: their scopes' names
        self.scopes = scopes  # a pullback's: which of its arrays may overlap (scopes.py)

    def unchecked(self, array, index) -> bool:
        """Whether `array[index]` is one element, which this writer accesses unchecked."""
        return _picks_element(array, index) and (not self.checked
                                                 or (array, index) in self.in_bounds)

    def element(self, op, key, *args) -> str:
        """zy_at, zy_put or zy_add_at (`op`) of an element of `key` (a slot or an array value), in
        its scope where this writer has scopes."""
        place = self.scopes.place(key) if self.scopes else None
        return f"zy_{op}({', '.join(args)})" if place is None else \
            f"zy_{op}_in({', '.join(args)}, {place})"

    def operand(self, a) -> str:
        if isinstance(a, Var) and a in self.folded:
            return f"({self.folded[a]})"
        return operand(a)

    def __call__(self, text):
        self.lines.append("    " * self.depth + text)

    def indent(self, n=1):
        self.depth += n

    def dedent(self, n=1):
        self.depth -= n

    def text(self):
        return "\n".join(self.lines) + "\n"


def stack_name(kind) -> str:
    tag = getattr(kind, "tag", 0)
    shape = f"_{kind.ndim}d" if isinstance(kind, ArrayT) else ""
    return f"stack_{kind.dtype}{shape}" + (f"_{tag}" if tag else "")


def _store(w: Writer, stack, at, value) -> str:
    """stack[at] = value, at a place known to be in range."""
    return f"zy_put_top({stack}, {at}, {value})" if w.cpu else f"{stack}[{at}] = {value}"


def _indexed(w: Writer, s) -> bool:
    """Write a read, write or scatter through an index with arrays in it, if it is one."""
    lines = indexing_lines(s, [w.operand(a) for a in s.args], name(s.var) if s.var else None)
    for line in lines or ():
        w(line)
    return lines is not None


def _picks_element(array, index) -> bool:
    t = type_of_arg(index)
    parts = t.elts if isinstance(t, TupleT) else (t,)
    return (isinstance(type_of_arg(array), ArrayT) and len(parts) == type_of_arg(array).ndim
            and all(p == Scalar("int64") for p in parts))


def _fills_view(array, index, value) -> bool:
    """Whether an array is written into a view of another: Numba's own slice assignment compiles
    an error path that formats strings, several seconds in every new process, where the runtime
    helpers are compiled once."""
    value_type = type_of_arg(value)
    return (isinstance(value_type, ArrayT) and value_type.ndim > 0
            and not has_index_array(type_of_arg(index)) and not _picks_element(array, index))


def statement(w: Writer, s):
    op, args = s.op, s.args
    fusion = w.fusion
    if fusion is not None and s in fusion.skipped:
        return
    if fusion is not None and s in fusion.regions:
        write_region(w, fusion.regions[s], name, w.operand, name(s.var), fusion.dims,
                     lambda st: _unfused(w, st))
        return
    if fusion is not None and s in fusion.scaled:
        quotient, divisor = fusion.scaled[s]
        w(f"{name(s.var)} = {scaled_softmax(s, w.operand(quotient.args[0]), w.operand(divisor))}")
        return
    if list_statement(w, s, w.operand, name) or slot_statement(w, s, w.operand, name):
        return
    if op in ("gather", "setindex") and _indexed(w, s):
        pass
    elif op == "setindex" and w.unchecked(args[0], args[1]):
        w(w.element("put", args[0], *(w.operand(a) for a in args[:3])))
    elif op == "setindex" and _fills_view(*args[:3]):
        w(f"zy_set_into({w.operand(args[0])}[{w.operand(args[1])}], {w.operand(args[2])})")
    elif op == "setindex":
        w(f"{w.operand(args[0])}[{w.operand(args[1])}] = {w.operand(args[2])}")
    elif op == "raise":  # the evaluator makes the user's exception again (CompiledGradient)
        w(f"raise zy_raised({args[0].line})")
    elif op == "push":
        stack, v = stack_name(args[0]), w.operand(args[1])
        if isinstance(args[0], ArrayT):
            # a reference, not a copy: the reverse pass undoes every later write before it reads
            # the array again, so the object holds then what it held when pushed
            w(f"{stack}.append({v})")
        else:
            w(f"if top_{stack} < cap_{stack}:")  # in range: a bounds check would cost a store
            w(f"    {_store(w, stack, f'top_{stack}', v)}")
        w(f"top_{stack} += 1")
    elif op == "reserve":  # room for every trip of a loop, made here if the stack lacks it
        stack = stack_name(args[0])
        w(f"{name(s.var)} = top_{stack}")
        w(f"top_{stack} += max({w.operand(args[1])}, 0) * {args[2]}")
        if w.cpu:
            w(f"if top_{stack} > cap_{stack}:")
            w(f"    {stack} = zy_grown({stack}, {name(s.var)}, top_{stack})")
            w(f"    cap_{stack} = {stack}.shape[0]")
        else:  # a kernel's thread records only if all fits, and reports what it needed
            w(f"fits_{stack} = top_{stack} <= cap_{stack}")
    elif op == "push_at":  # every trip's place lies below the top reserved
        stack = stack_name(args[0])
        store = _store(w, stack, w.operand(args[1]), w.operand(args[2]))
        w(store if w.cpu else f"if fits_{stack}: {store}")
    elif op == "pop":  # reads without removing: the pullback can run again
        stack = stack_name(args[0])
        w(f"top_{stack} -= 1")
        # a scalar stack is read below its top, always in range; an array stack is a typed list
        w(f"{name(s.var)} = {stack}[top_{stack}]" if w.checked or isinstance(args[0], ArrayT)
          else f"{name(s.var)} = zy_at_top({stack}, top_{stack})")
    elif op == "peek":  # the top, left in place
        stack = stack_name(args[0])
        w(f"{name(s.var)} = {stack}[top_{stack} - 1]")
    elif op == "drop":
        w(f"top_{stack_name(args[0])} -= {w.operand(args[1]) if len(args) > 1 else 1}")
    elif op == "store":
        w(f"{name(args[0])} = {w.operand(args[1])}")
    elif op in ("take", "load"):
        slot = args[0]
        if slot.lazy and op == "take":
            w(f"{name(s.var)} = zy_take({name(slot)}, {w.operand(args[1])})")
        else:
            w(f"{name(s.var)} = {name(slot)}")
        # a slot is read again only if its value is redefined, which for an array means a lazy slot
        if op == "take" and (slot.lazy or not isinstance(slot.type, ArrayT)):
            w(f"{name(slot)} = {zero_of(slot.type)}")
    elif op == "accum":
        slot, c = args[0], w.operand(args[1])
        accum = "zy_accum_owned" if w.scopes and s in w.scopes.adopting else "zy_accum"
        w(f"{name(slot)} = {accum}({name(slot)}, {c})" if slot.lazy else f"{name(slot)} += {c}")
    elif op == "accum_at":
        slot, index, g = name(args[0]), w.operand(args[1]), w.operand(args[2])
        if len(args) > 3:  # a lazy slot, allocated here on first use
            _ensure(w, slot, w.operand(args[3]))
        if w.unchecked(args[0], args[1]):
            w(w.element("add_at", args[0], slot, index, g))
        elif _fills_view(args[0], args[1], args[2]):
            w(f"zy_add_into({slot}[{index}], {g})")
        elif not _indexed(w, s):
            w(f"{slot}[{index}] += {g}")
    elif op in ("take_at", "load_at"):
        slot, index = name(args[0]), w.operand(args[1])
        if len(args) > 2:
            _ensure(w, slot, w.operand(args[2]))
        if _indexed(w, s):
            return
        if w.unchecked(args[0], args[1]):
            w(f"{name(s.var)} = {w.element('at', args[0], slot, index)}")
            if op == "take_at":
                w(w.element("put", args[0], slot, index, "0.0"))
            return
        region = f"{slot}[{index}]"
        w(f"{name(s.var)} = {region}.copy()" if isinstance(s.var.type, ArrayT)
          else f"{name(s.var)} = {region}")
        if op == "take_at":
            w(f"{region} = 0.0")
    elif op == "ensure":
        _ensure(w, name(args[0]), w.operand(args[1]))
    elif op == "init":
        w(f"{name(args[0])} = zy_zeros({w.operand(args[1])}, np.{args[0].type.dtype})")
    else:
        text = (w.element("at", args[0], w.operand(args[0]), w.operand(args[1]))
                if op == "getindex" and w.unchecked(*args) else expression(s, w.operand))
        if s in w.folding and (w.folding[s] == 1 or len(text) <= RECOMPUTED_LENGTH):
            w.folded[s.var] = text
        else:
            w(f"{name(s.var)} = {text}")


def _ensure(w, slot, like):
    """A lazy array slot (empty until its first contribution) allocated, shaped like `like`."""
    w(f"if {slot}.size == 0:")
    w(f"    {slot} = zy_zeros({like}.shape, {slot}.dtype)")


def assign_args(w: Writer, target_args, values):
    pairs = [(name(p), _converted(w.operand(v), v, p))
             for p, v in zip(target_args, values, strict=True)
             if not (isinstance(v, Var) and v is p)]
    if not pairs:
        return
    targets = {t for t, _ in pairs}
    if len(pairs) > 1 and any(src in targets for _, src in pairs):
        w(", ".join(t for t, _ in pairs) + " = " + ", ".join(src for _, src in pairs))
    else:
        for t, src in pairs:
            w(f"{t} = {src}")


def _converted(src, value, param):
    """A value passed to a block argument, in its dtype: Numba unifies two scalar types, but not
    a float32 array with the float64 array it becomes on another path (`h = h * y` in a loop)."""
    t, want = getattr(value, "type", None), param.type
    if isinstance(t, ArrayT) and isinstance(want, ArrayT) and t.dtype != want.dtype:
        return f"{src}.astype(np.{want.dtype})"
    return src


def dispatch_loop(w: Writer, fn: Function, on_return, lower=None, left=UNREACHABLE):
    """Emit fn's blocks as a dispatch loop; `on_return(w, value)` writes what a `return` does,
    `lower(w, stmt)` each statement (by default `statement`), `left` what follows the loop: only
    a return that is a `break` gets there (a kernel's, leaving the loop around its body)."""
    lower = lower or statement
    blocks = fn.block_map()
    order = [b.id for b in fn.blocks]
    position = {bid: i for i, bid in enumerate(order)}
    single = len(fn.blocks) == 1
    # Numba's bytecode analysis rejects a read that comes before every write in the text, as
    # happens between arms; giving every scalar a value first keeps it happy
    for b in fn.blocks[1:]:
        for v in b.args:
            if isinstance(v.type, Scalar):
                w(f"{name(v)} = {zero_of(v.type)}")
    for b in fn.blocks:
        for s in b.stmts:
            if s.var is not None and isinstance(s.var.type, Scalar):
                w(f"{name(s.var)} = {zero_of(s.var.type)}")
    w(f"block = {order[0]}")
    w(f"while {LOOPING}:")
    w.indent()
    for i, b in enumerate(fn.blocks):
        if not single:
            w(f"if block == {b.id}:")
            w.indent()
        for s in b.stmts:
            lower(w, s)
        for br in b.branches:
            if br.cond is not None:
                w(f"if not {w.operand(br.cond)}:")
                w.indent()
            if br.is_return:
                on_return(w, br.args[0])
            else:
                assign_args(w, blocks[br.target].args, br.args)
                w(f"block = {br.target}")
                if not (position[br.target] == i + 1 and br.cond is None):
                    w("continue")  # otherwise it falls through to the next arm
            if br.cond is not None:
                w.dedent()
        if not single:
            w.dedent()
    w.dedent()
    w(left)


def body(w: Writer, fn: Function, on_return, keep=(), lower=None, arg_dims=(), left=UNREACHABLE):
    """Structured code where Python can express the CFG, else a dispatch loop. Values in `keep`
    are read after the body (the tape) and stay named; `lower` writes a statement (by default
    `statement`); `arg_dims` as for Fusion; `left` as for dispatch_loop."""
    lower = lower or statement
    fusion = Fusion(fn, keep, arg_dims)
    named = fusion.named()
    folding = {st: n for st, n in foldable(fn).items()
               if st.var not in keep and st.var not in named}
    w(f"{LOOPING} = True")
    trial = Writer(w.depth, folding, fusion, w.checked, w.in_bounds, w.cpu, w.scopes)
    try:
        Structurer(fn, trial, lower, assign_args, on_return).emit()
        w.lines += trial.lines
    except Unstructured as e:
        w(f"# {e}: control flow kept as a dispatch loop")
        fallback = Writer(w.depth, folding, fusion, w.checked, w.in_bounds, w.cpu, w.scopes)
        dispatch_loop(fallback, fn, on_return, lower, left)
        w.lines += fallback.lines


def widen_int_arrays(w: Writer, fn: Function):
    """At an entry that takes the caller's arrays: the int ones as int64 (runtime.zy_int64)."""
    for a in fn.args:
        if isinstance(a.type, ArrayT) and a.type.dtype == "int64":
            w(f"{name(a)} = zy_int64({name(a)})")


def primal_source(fn: Function, pyname: str, arg_dims=(), nogil=True, checked=None) -> str:
    """`checked`: the custom.Derivatives a user's rule function returns, compared in shape."""
    w = Writer(in_bounds=accesses_in_bounds(fn))
    w(JIT if nogil else JIT.replace("nogil=True", "nogil=False"))
    w(f"def {pyname}({', '.join(name(a) for a in fn.args)}):")
    w.indent()
    widen_int_arrays(w, fn)
    on_return = checked_return(fn, checked) if checked is not None else (
        lambda w, v: w(f"return {w.operand(v)}"))
    body(w, fn, on_return, arg_dims=arg_dims)
    return w.text()


def scalar_stacks(adj):
    """Stacks of scalars: preallocated arrays the caller passes in."""
    return [k for k in adj.stacks if not isinstance(k, ArrayT)]


def array_stacks(adj):
    """Stacks of arrays: typed lists the forward creates and hands on with the tape."""
    return [k for k in adj.stacks if isinstance(k, ArrayT)]


def _stack_names(adj):
    return [stack_name(k) for k in scalar_stacks(adj)], [stack_name(k) for k in array_stacks(adj)]


def forward_source(adj, pyname: str, arg_dims=(), packed=False) -> str:
    """forward(args..., scalar stacks...) -> (value, tops, tape); the tape ends with the array
    stacks, then the scalar stacks (grown ones are new arrays). `packed` (a unit's, which has no
    stacks): -> (value, *tape)."""
    fwd = adj.forward
    scalars, lists = _stack_names(adj)
    w = Writer()
    inlined = not (adj.stacks or packed) and len(fwd.args) + len(scalars) <= MAX_INLINED_ARGS
    w(JIT_INLINED if inlined else JIT)
    w(f"def {pyname}({', '.join([name(a) for a in fwd.args] + scalars)}):")
    w.indent()
    tops = _tuple([f"top_{s}" for s in scalars + lists])
    tape = [name(v) for v in adj.tape] + lists + scalars
    if packed:
        assert not adj.stacks, "a unit records no stacks"
        returned = lambda w, v: w(f"return {_tuple([w.operand(v)] + tape)}")  # noqa: E731
    else:
        returned = lambda w, v: w(f"return {w.operand(v)}, {tops}, {_tuple(tape)}")  # noqa: E731
    _forward_body(w, adj, arg_dims, returned)
    return w.text()


def _forward_body(w: Writer, adj, arg_dims, on_return):
    fwd = adj.forward
    widen_int_arrays(w, fwd)
    scalars, lists = _stack_names(adj)
    w.in_bounds = accesses_in_bounds(fwd)
    for stack in scalars:
        w(f"top_{stack} = 0")
        w(f"cap_{stack} = {stack}.shape[0]")
    for kind, stack in zip(array_stacks(adj), lists, strict=True):
        w(f"top_{stack} = 0")
        w(f"{stack} = List.empty_list(types.{kind.dtype}[{', '.join([':'] * kind.ndim)}])")
    # a tape value defined on a path not taken still needs a value of its type for Numba
    always = set(fwd.args) | {s.var for s in fwd.entry.stmts}
    transposed = {s.var: s.args[1] for b in fwd.blocks for s in b.stmts if s.op == "transpose"}
    for v in adj.tape:
        # of the same layout too: a C-ordered zero would make a transpose's type 'A'
        if v not in always:
            zero = zero_of(v.type)
            if v in transposed:
                axes = transposed[v]
                zero = f"{zero}.T" if axes is None else f"np.transpose({zero}, {axes})"
            w(f"{name(v)} = {zero}")
    body(w, fwd, on_return, keep=set(adj.tape), arg_dims=arg_dims)


def reverse_source(adj, pyname: str, arg_dims=(), owning=False, packed=False) -> str:
    """pullback(dy, tape..., scalar stacks..., tops...) -> gradients; `arg_dims` are the
    forward's (Fusion), from which the tape's follow. `owning`: it takes `owned` after dy, true
    where its caller lets it write into the tape's arrays (owned_tape.py). `packed`: pullback(t,
    dy), t what a packed forward returned."""
    scalars, lists = _stack_names(adj)
    taped = [name(a) for a in adj.reverse.args[1:]] + lists + scalars
    params = ["t", "dy"] if packed else (["dy"] + ["owned"] * owning + taped
                                         + [f"top_{s}" for s in scalars + lists])
    w = Writer()
    w(JIT)
    w(f"def {pyname}({', '.join(params)}):")
    w.indent()
    if packed:
        for i, v in enumerate(taped):
            w(f"{v} = t[{i + 1}]")
    _reverse_body(w, adj, arg_dims, owning, lambda w, v: w(f"return {w.operand(v)}"))
    return w.text()


def _reverse_body(w: Writer, adj, arg_dims, owning, on_return):
    """The pullback's statements, where its parameters are bound: written into its own function
    or into the function that ran its forward (fused_source), as source rather than through
    Numba's inliner, which copies the whole of a callee's IR (seconds for an LSTM's pullback)."""
    rev = adj.reverse
    w.checked, w.in_bounds = REVERSE_CHECKED, frozenset()
    w.scopes = reverse_scopes(rev)
    # the caller's dy is a Python float (or a tuple of them); the reverse IR types it as the
    # result, which may be float32
    w(f"{name(rev.args[0])} = {_in_dtype('dy', rev.args[0].type)}")
    for slot in _slots(rev):
        w(f"{name(slot)} = {zero_of(slot.type)}")
        if isinstance(slot.type, ListT):
            w(f"{no_gradients(name(slot))} = {name(slot)}")
    dims = unit_dims(adj.forward, arg_dims)
    lower = reverse_statement if _writes_arrays(adj.forward) else _contiguous_pops
    if owning:
        lower = scaling_in_place(owned_scalings(adj), lower, name)
    body(w, rev, on_return, lower=lower, arg_dims=[dims.get(a) for a in rev.args])


def _writes_arrays(fn) -> bool:
    return any(PRIMITIVES[s.op].writes and isinstance(type_of_arg(s.args[0]), ArrayT)
               for b in fn.blocks for s in b.stmts)


def _contiguous_pops(w: Writer, s):
    """reverse_statement, reading each array it pops as a C-contiguous one (copied only where it
    is a strided view): Numba types the arrays of a typed list as of any layout, and code reading
    them is neither vectorised nor cheap to index. For a forward that writes into no array, so
    that an array popped holds what it will hold until the pullback ends."""
    if s.op == "pop" and isinstance(s.args[0], ArrayT) and s.args[0].ndim > 0:
        stack = stack_name(s.args[0])
        w(f"top_{stack} -= 1")
        w(f"{name(s.var)} = np.ascontiguousarray({stack}[top_{stack}])")
    else:
        reverse_statement(w, s)


def _unfused(w: Writer, s):
    """statement s of a fused region, written as a statement of its own."""
    fusion, w.fusion = w.fusion, None
    try:
        statement(w, s)
    finally:
        w.fusion = fusion


def reverse_statement(w: Writer, s):
    """statement, in a pullback: a cast to the dtype its operand has (a float32 gradient's, at
    the end or into a unit) is the operand, not a copy, as a pullback writes only into arrays it
    made, and own_results copies a result that is not its own. (The evaluator casts: NumPy may
    have widened what the IR types as float32.)"""
    if s.op == "astype" and isinstance(s.args[0], Var) and s.args[0].type == s.var.type \
            and s.var.type != ArrayT(s.var.type.dtype, 0):  # which Numba's may be a number
        w(f"{name(s.var)} = {w.operand(s.args[0])}")
    else:
        statement(w, s)


def _in_dtype(src, t):
    if isinstance(t, TupleT):
        return ("(" + "".join(_in_dtype(f"{src}[{i}]", e) + ", " for i, e in enumerate(t.elts))
                + ")")
    return f"np.float32({src})" if t == Scalar("float32") else src


def fused_source(adj, pyname: str, forward: str, arg_dims=()) -> str:
    """value_and_gradient(args..., dy, scalar stacks...) -> (value, gradients, tops, scalar
    stacks): the forward's body written in where it returns only at its end, else the forward
    called; then the pullback's body; zeros on overflow."""
    w, args, scalars = _over_the_arguments(adj, pyname)
    lists = _stack_names(adj)[1]
    inline = _forward_written_in(adj, arg_dims, w.depth)
    if inline is not None:
        w.lines += inline
        tops = _tuple(f"top_{s}" for s in scalars + lists)
    else:
        w(f"value, tops, tape = {forward}({', '.join(args + scalars)})")
        taped = [name(a) for a in adj.reverse.args[1:]] + lists + scalars
        for i, v in enumerate(taped):
            w(f"{v} = tape[{i}]")
        for i, s in enumerate(scalars + lists):
            w(f"top_{s} = tops[{i}]")
        tops = "tops"
    stacks = _tuple(scalars)  # those the forward grew are new arrays
    if scalars:
        w(f"if {_overflowed(scalars)}:")
        w(f"    return value, {_tuple(_zero_grads(adj))}, {tops}, {stacks}")
    # the tape is this call's alone: the pullback may scale its arrays in place
    w("owned = True")
    _reverse_body(w, adj, arg_dims, True,
                  lambda w, v: w(f"return value, {w.operand(v)}, {tops}, {stacks}"))
    return w.text()


def _forward_written_in(adj, arg_dims, depth):
    """The forward's lines for the function that runs its pullback after it, its value assigned to
    `value`; None where it returns before its end, or records per trip and writes into arrays
    (written in, an in-place stencil's pullback ran 1.04x slower; an LSTM compiles in 10.9 s
    written in, 13 s called)."""
    if adj.stacks and _writes_arrays(adj.forward):
        return None
    w, returned_at = Writer(depth=depth), []

    def assign(w, v):
        returned_at.append(w.depth)
        w(f"value = {w.operand(v)}")
    _forward_body(w, adj, arg_dims, assign)
    last = w.lines[-1].lstrip() if w.lines else ""
    return w.lines if returned_at == [depth] and last.startswith("value = ") else None


def rows_source(adj, pyname: str, fused: str, seeded: int) -> str:
    """rows(args..., dy, scalar stacks...) -> (per leaf of wrt its gradients, one row per element
    of argument `seeded`, whose value is replaced by each unit seed in turn; the stack tops; the
    scalar stacks): the reverse-mode Jacobian of a function contracted with that argument
    (api.jacobian), one compiled call. A run that overflows the stacks stops there."""
    w, args, scalars = _over_the_arguments(adj, pyname)
    seed = args[seeded]
    w(f"m = {seed}.size")
    w(f"unit = np.zeros({seed}.size, {seed}.dtype)")
    w(f"shaped = unit.reshape({seed}.shape)")
    out = []
    for k, i in enumerate(adj.wrt):
        a = adj.forward.args[i]
        if isinstance(a.type, ArrayT) and a.type.is_float:
            w(f"rows{k} = np.zeros((m,) + {name(a)}.shape, np.{a.type.dtype})")
        elif isinstance(a.type, Scalar) and a.type.is_float:
            w(f"rows{k} = np.zeros(m, np.{a.type.dtype})")
        else:
            continue
        out.append(k)
    stacks = [f"stacks[{i}]" for i in range(len(scalars))]
    called = [("shaped" if j == seeded else x) for j, x in enumerate(args)] + ["dy"] + stacks
    w(f"tops = {_tuple(['0'] * len(adj.stacks))}")
    w(f"stacks = {_tuple(scalars)}")  # a run may grow them: the next starts with those
    w("for r in range(m):")
    w.indent()
    w("unit[r] = 1.0")
    w(f"value, grads, tops, stacks = {fused}({', '.join(called)})")
    w("unit[r] = 0.0")
    if scalars:
        w(f"if {_overflowed(stacks, 'tops')}:")
        w(f"    return {_tuple(f'rows{k}' for k in out)}, tops, stacks")
    for k in out:
        w(f"rows{k}[r] = grads[{k}]")
    w.dedent()
    w(f"return {_tuple(f'rows{k}' for k in out)}, tops, stacks")
    return w.text()


def _over_the_arguments(adj, pyname):
    """(writer, argument names, scalar stack names) of a compiled function `pyname(args...,
    dy, scalar stacks...)` whose body is to be written."""
    args = [name(a) for a in adj.forward.args]
    scalars = [stack_name(k) for k in scalar_stacks(adj)]
    w = Writer()
    w(JIT)
    w(f"def {pyname}({', '.join(args + ['dy'] + scalars)}):")
    w.indent()
    return w, args, scalars


def _overflowed(stacks, tops=None):
    """Whether a run's stack tops passed the capacity of its scalar stacks: the tops are the
    entries of the tuple named `tops`, else each stack's `top_<stack>`."""
    return " or ".join(f"{f'{tops}[{i}]' if tops else f'top_{s}'} > {s}.shape[0]"
                       for i, s in enumerate(stacks))


def _zero_grads(adj):
    out = []
    for i in adj.wrt:
        a = adj.forward.args[i]
        if isinstance(a.type, ArrayT) and a.type.is_float:
            out.append(f"zy_zeros({name(a)}.shape, np.{a.type.dtype})")
        else:
            out.append(zero_of(a.type) if isinstance(a.type, Scalar) and a.type.is_float
                       else "None")
    return out


def _slots(fn):
    seen = []
    for b in fn.blocks:
        for s in b.stmts:
            for a in s.args:
                if isinstance(a, Slot) and a not in seen:
                    seen.append(a)
    return seen


def _tuple(items):
    return "(" + "".join(f"{x}, " for x in items) + ")"

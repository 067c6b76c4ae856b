"""One compiled specialisation of a function's gradient: fused value-and-gradient, and a split
forward/pullback pair whose pullback can run any number of times."""
from __future__ import annotations

import operator
import threading
import warnings

import numpy as np

from ...adjoint.tangent import leaf_count
from ...errors import Despecialised, RaisedInCompiledCode, ZygopyError, raised_as
from ...ir.captured import current_values
from ...ir.evaluate import Machine, failing_statement, raised_by_user
from ..tiered import interpret_only
from .jit import compile_in_child, discard_numba_cache, load_module, numba_cache_files
from .source import (
    for_case,
    forward_source,
    fused_source,
    primal_source,
    reverse_source,
    rows_source,
    rule_sources,
    scalar_stacks,
)
from .units import load_units, unit_imports

INITIAL_CAPACITY = 1024


class Tape:
    """What a forward call recorded: stacks with their fill levels, the values the pullback reads,
    and the arguments it ran on (to locate an error)."""
    __slots__ = ("stacks", "tops", "values", "args")

    def __init__(self, stacks, tops, values, args):
        self.stacks, self.tops, self.values, self.args = stacks, tops, values, args


class CompiledProgram:
    """Generated source and the machine code of its entry points, loaded on first use; errors in
    compiled code are reported at the user's line. Subclasses set `primal_ir`, `captured`,
    `written`, `where` and `calls` (the IR whose units it calls), and call `_start(parts)` with
    the source of their functions.

    The code is first compiled for the common case (runtime.zy_general): where a run meets a
    dimension of size 1 broadcast or a gradient to sum back that its loops were not compiled for,
    the code for every case is compiled, and runs this call and all later ones."""

    def _start(self, parts):
        self._parts = parts
        self._module = None
        self._importing = threading.Lock()
        self._entries = {}
        self._specialise(True)

    def _specialise(self, common: bool):
        self.common = common
        self.source = for_case(common, [unit_imports(*self.calls, common=common),
                                         *self._parts])

    def _despecialise(self):
        with self._importing:
            if self.common:
                self._specialise(False)
                self._module, self._entries = None, {}

    def captured_values(self):
        """The values to pass now for the function's hidden arguments, or None when a value it
        captured no longer fits this code (ir/captured.py)."""
        return current_values(self.captured)

    def _entry(self, suffix):
        """The generated module's function `<name>_<suffix>`. The module (and with it Numba) is
        imported on first use: building the IR and the source needs neither, and the evaluator
        can run the gradient meanwhile (tiered.py)."""
        entry = self._entries.get(suffix)
        if entry is None:
            with self._importing:  # also against _despecialise, which starts a new module
                if self._module is None:
                    load_units(*self.calls, common=self.common)
                    self._module = load_module(self.source)
                entry = self._entries[suffix] = getattr(self._module, f"{self.where[2]}_{suffix}")
        return entry

    def own(self, args):
        """The arguments, with private copies of the arrays the function writes into."""
        if not self.written:
            return args
        self.check_apart(args)
        return tuple(a.copy() if i in self.written else a for i, a in enumerate(args))

    def check_apart(self, args):
        """Refuses arrays that share memory with one the function writes into: in Python the
        write would show through the other, which a run on a private copy cannot give."""
        for i in self.written:
            for j, b in enumerate(args):
                if j != i and isinstance(b, np.ndarray) and np.may_share_memory(args[i], b) \
                        and np.shares_memory(args[i], b):
                    filename, line, name = self.where
                    raise ZygopyError(f"{name!r} writes into an array that shares memory with "
                                      f"{self._described(j, len(args))} (leaf {i} of its "
                                      f"arguments): zygopy computes on a copy of what it writes "
                                      f"into, which the other would not see", filename, line,
                                      hint="pass separate arrays (b.copy())")

    def _described(self, j, count):
        """Argument j of the compiled code: a leaf of the function's arguments, or a value it reads
        from outside (the hidden arguments, last)."""
        hidden = [c for c in self.captured if c.runtime]
        k = j - (count - len(hidden))
        return (f"{hidden[k].name!r}, which it reads from outside" if k >= 0
                else f"another of its arguments (leaf {j})")

    def _run(self, suffix, args, call_args, owned=0):
        """The entry `<name>_<suffix>` called with the tuple call_args (a tuple rather than *args:
        0.3 us less a call), its errors as zygopy errors; `args` are the call's arguments as the
        user gave them, to locate an error. The first `owned` call_args are copies of arguments it
        writes into (own), made again for a second run."""
        try:
            return self._call(self._entry(suffix), args, call_args)
        except Despecialised:
            self._despecialise()  # unless another thread did
        call_args = (*self.own(args[:owned]), *call_args[owned:])
        try:
            return self._call(self._entry(suffix), args, call_args)
        except Despecialised as e:  # which the general code cannot raise
            raise self._internal(e) from None

    def _call(self, compiled_fn, args, call_args):
        try:
            if not compiled_fn.overloads:  # the first call: load or compile, apart from running
                self._load(compiled_fn, call_args)
            return compiled_fn(*call_args)
        except _numba_error() as e:  # compiling for argument types met only now
            raise self._internal(e) from None
        except RaisedInCompiledCode as e:
            raise self._raised(e, args) from None
        except (ValueError, IndexError, ZeroDivisionError, AssertionError) as e:
            raise self._located(e, args) from None

    def _load(self, compiled_fn, call_args):
        """Loads compiled_fn's machine code for these arguments from Numba's disk cache, or compiles
        it. A cache entry that fails to load is deleted and compiled again: a file cut short or
        overwritten fails to unpickle in many ways, some of them wrapped as Numba errors. What
        fails after that is the compiler (an internal error), or a cache whose damaged files
        could not be deleted."""
        types = tuple(compiled_fn.typeof_pyval(a) for a in call_args)
        try:
            _quiet(compiled_fn.compile, types)
        except Exception:
            try:
                discard_numba_cache(compiled_fn)
                _quiet(compiled_fn.compile, types)
            except Exception as e:
                if not numba_cache_files(compiled_fn):  # nothing left of the old entry
                    raise self._internal(e) from None
                filename, line, name = self.where
                raise ZygopyError(f"the disk cache holds damaged code for {name!r} and could not "
                                  f"rebuild it: {type(e).__name__}: {e}", filename, line,
                                  hint=f"delete {compiled_fn.stats.cache_path}") from None

    def _internal(self, error):
        filename, line, name = self.where
        return ZygopyError(f"internal error: Numba could not compile the code generated for "
                           f"{name!r}; please report it with this message\n"
                           f"{type(error).__name__}: {error}", filename, line)

    def _raised(self, error, args):
        """The user's exception where compiled code raised one, made by the reference evaluator
        (its message may format values; Numba's exceptions take constants only)."""
        found = failing_statement(self.primal_ir, args)
        if found is not None and raised_by_user(found[1]):
            return found[1]
        return ZygopyError("the function raised an exception, which the reference evaluator did "
                           "not reproduce", self.primal_ir.filename, error.args[0])

    def _located(self, error, args):
        """An error raised by compiled code (a shape mismatch, an index out of range), named at the
        user's line by rerunning the primal in the reference evaluator."""
        filename, line, name = self.where
        found = failing_statement(self.primal_ir, args)
        if found is None:
            return raised_as(type(error))(f"{type(error).__name__} while running {name!r}: "
                                          f"{error}", filename, line)
        stmt, e = found
        shapes = [str(np.shape(a)) for a in getattr(e, "zygopy_operands", ())
                  if isinstance(a, np.ndarray)]
        detail = f" (operand shapes {', '.join(shapes)})" if shapes else ""
        return raised_as(type(e))(f"{type(e).__name__}: {e}{detail}", e.zygopy_file, stmt.line)



class CompiledGradient(CompiledProgram):
    """A GradientProgram's entry points. The compiled functions take the leaves, then the values
    of the hidden arguments (captured_values()). Safe to share between threads: each call records
    into stacks of its own, and the gradient's compiled code runs without the GIL."""

    def __init__(self, program):
        self.program = program
        self.primal_ir, self.captured = program.primal_ir, program.captured
        self.adjoint, self.written, self.where = program.adjoint, program.written, program.where
        name, dims = self.where[2], program.dims
        self.calls = (self.primal_ir, self.adjoint.forward, self.adjoint.reverse)
        self._start([
            rule_sources(*self.calls),
            # no API runs the primal alone in threads: its entry holds the GIL, as njit's does
            # (releasing it costs 30-60 ns a call)
            primal_source(self.primal_ir, f"{name}_primal", dims, nogil=False),
            forward_source(self.adjoint, f"{name}_forward", dims),
            reverse_source(self.adjoint, f"{name}_pullback", dims, owning=True),
            fused_source(self.adjoint, f"{name}_value_and_gradient", f"{name}_forward", dims),
            *([rows_source(self.adjoint, f"{name}_rows", f"{name}_value_and_gradient",
                           program.seeded)] if program.seeded is not None else []),
        ])
        self.dtypes = [np.dtype(k.dtype) for k in scalar_stacks(self.adjoint)]
        # the stack sizes a call starts with: replaced, never changed in place, so a thread reads
        # either the old list or the new one
        self.capacity = [INITIAL_CAPACITY] * len(self.dtypes)
        self._growing = threading.Lock()
        # stacks a finished call gave back, for the next: fresh ones of a few MB each cost a page
        # fault per 4 KB on their first writes, as much as the forward itself (an RK4 loop's)
        self._spare = []

    def primal(self, *args):
        """The function's value at the leaves and hidden values `args`, compiled; it writes into
        copies of the arrays it writes into, as a gradient does."""
        return self._run("primal", args, self.own(args), owned=len(args))

    _fused = property(lambda self: self._entry("value_and_gradient"))

    def _alloc(self, sizes=None):
        """Stacks of at least `sizes` (by default the current capacity), for one call: a spare
        set if one is that large, else new ones."""
        sizes = sizes or self.capacity
        while self._spare:
            try:
                stacks = self._spare.pop()
            except IndexError:  # another thread took the last
                break
            if all(len(a) >= n for a, n in zip(stacks, sizes, strict=True)):
                return stacks
        return [np.empty(n, dtype=d) for n, d in zip(sizes, self.dtypes, strict=True)]

    def value_and_gradient(self, args, dy=1.0):
        if not self.dtypes:  # no stacks that could overflow: one run
            return self._run("value_and_gradient", args, (*self.own(args), dy),
                             owned=len(args))[:2]
        (value, grads, _, _), stacks = self._recorded("value_and_gradient", 2, 3, args, dy)
        self._spare.append(stacks)  # nothing returned refers to them
        return value, grads

    def rows(self, args):
        """Per float leaf of wrt, the gradients for each unit seed of the `seeded` argument (whose
        value in `args` gives its shape and dtype), stacked: one compiled call."""
        (rows, _, _), stacks = self._recorded("rows", 1, 2, args, 1.0)
        self._spare.append(stacks)
        return rows

    def compile(self, args, elsewhere=False):
        """Load or compile the machine code value_and_gradient(args) runs, without running it.
        `elsewhere`: unless the disk cache has it, compile in a child process first, which leaves
        the code in the disk cache for this one to load (compiling here would hold the GIL for
        seconds)."""
        if self._fused.overloads:
            return
        call_args = (*self.own(args), 1.0, *self._alloc())
        if elsewhere and not numba_cache_files(self._fused):  # else it is loaded, not compiled
            types = tuple(self._fused.typeof_pyval(a) for a in call_args)
            compile_in_child(self.source, self._fused.py_func.__name__, types)
        self._load(self._fused, call_args)

    def forward(self, args):
        (value, tops, values), stacks = self._recorded("forward", 1, None, args)
        return value, Tape(stacks, tops, values, args)

    def pullback(self, tape, dy):  # the tape's values end with its stacks
        # a tape can be pulled back again: its arrays are not the pullback's to change
        return self._run("pullback", tape.args, (dy, False, *tape.values, *tape.tops))

    def _recorded(self, suffix, tops_at, stacks_at, args, *rest):
        """The entry <name>_<suffix>(args..., *rest, stacks...), whose result holds the stack
        tops at `tops_at` and the stacks it ended with (grown ones are new) at `stacks_at` (None:
        at the end of the forward's tape). -> (result, stacks). A run that pushed more than its
        stacks hold is rerun with stacks of the size it needed; later calls start with the sizes
        used."""
        sizes = self.capacity
        while True:
            # fresh copies for each run: one that overflowed its stacks has written into the last
            result = self._run(suffix, args, (*self.own(args), *rest, *self._alloc(sizes)),
                               owned=len(args))
            tops = result[tops_at]
            stacks = (result[stacks_at] if stacks_at is not None
                      else result[2][len(result[2]) - len(self.dtypes):])
            overflowed = any(map(operator.gt, tops, map(len, stacks)))
            with self._growing:  # the tops of the array stacks come last: they have no capacity
                used = zip(tops if overflowed else map(len, stacks), self.capacity, strict=False)
                sizes = self.capacity = [max(t, n) for t, n in used]
            if not overflowed:
                return result, list(stacks)

class CompiledTangent(CompiledProgram):
    """A TangentProgram's entry point, compiled as a primal is."""

    def __init__(self, program):
        self.program = program
        self.primal_ir, self.captured = program.primal_ir, program.captured
        self.written, self.where = program.written, program.where
        self.tangent_ir, self.wrt = program.tangent_ir, program.wrt
        self.calls = (self.tangent_ir,)
        self._start([rule_sources(self.tangent_ir),
                     primal_source(self.tangent_ir, f"{self.where[2]}_jvp", program.dims)])

    def __call__(self, args, tangents):
        """(value, tangent) at the leaves and hidden values `args`, given a tangent per leaf of
        `wrt`."""
        leaves = leaf_count(self.primal_ir)
        call_args = [*self.own(args[:leaves]), *tangents, *args[leaves:]]
        if interpret_only():
            with np.errstate(all="ignore"):
                return Machine().run(self.tangent_ir, call_args)[0]
        return self._run("jvp", args, tuple(call_args), owned=leaves)


def _numba_error():
    """Numba's error class, imported only once compiled code runs (so `import zygopy` is quick)."""
    from numba.core.errors import NumbaError
    return NumbaError


def _quiet(compile_, types):
    """compile_(types) without Numba's performance warnings about generated code, which the user
    cannot change (np.dot on a non-contiguous operand, say): filtered for good, as a later call
    with another layout compiles again inside Numba's dispatch."""
    from numba.core.errors import NumbaPerformanceWarning
    warnings.filterwarnings("ignore", category=NumbaPerformanceWarning,
                            module=r".*zygopy_generated_")
    compile_(types)

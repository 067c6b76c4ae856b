"""zygopy's errors. Each names the user's file, line and construct where one exists."""
from __future__ import annotations

import functools
import linecache


class ZygopyError(Exception):
    """Base class of every error zygopy raises on purpose."""

    def __init__(self, message, filename=None, line=None, construct=None, hint=None):
        filename = getattr(line, "file", filename)  # a line of code inlined from another file
        self.message, self.filename, self.line = message, filename, line
        self.construct, self.hint = construct, hint
        super().__init__(self._format())

    def _format(self):
        parts = []
        if self.filename is not None:
            where = f'File "{self.filename}"' + (f", line {self.line}" if self.line else "")
            parts.append(where + ":")
        parts.append(self.message)
        text = " ".join(parts)
        if self.filename and self.line:
            src = linecache.getline(self.filename, self.line).strip()
            if src:
                text += f"\n    {src}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


@functools.cache
def raised_as(cls) -> type:
    """A ZygopyError that is also a `cls` (IndexError, ZeroDivisionError, ...): an error of the
    user's own computation, named at the user's line, which `except IndexError` catches as it
    would Python's."""
    try:
        return type(cls.__name__, (ZygopyError, cls), {"__module__": __name__})
    except TypeError:  # a class that cannot be mixed in (its instances are laid out otherwise)
        return ZygopyError


class RaisedInCompiledCode(Exception):  # noqa: N818 (it is not an error of the user's)
    """What compiled code raises where the user's function raises: Numba raises exceptions with
    constant arguments only, so the user's exception, with its formatted message, is made again by
    the evaluator. The argument is the line."""


class WrongRuleResult(ZygopyError):
    """A custom rule's pullback or tangent rule returned an array of another shape than the value
    it is the derivative of (custom.py); raised by compiled code too, with the shapes, so `what`,
    the rule's file and line are constants there."""

    def __init__(self, what, filename, line, got, expected):
        super().__init__(f"{what} of shape {tuple(got)} for one of shape {tuple(expected)}",
                         filename, line, hint="return each derivative shaped like the value it "
                         "is the derivative of")


class Despecialised(Exception):  # noqa: N818 (not an error: the caller runs general code)
    """What code compiled for the common case raises where it meets a case it was not compiled
    for (a dimension of size 1 broadcast, a gradient to sum back to a smaller shape): the caller
    compiles the general code and runs that (backend/numba_cpu/compiled.py)."""


class RaisesOnEveryPath(ZygopyError):
    """Every path of the function raises for the argument types given (a rank check's arm taken):
    there is nothing to compile. The API runs it in the reference evaluator instead, which raises
    the user's exception as Python would; where that cannot be done, this is the error."""

    def __init__(self, fn, pyfn):
        self.fn, self.pyfn = fn, pyfn
        super().__init__(f"{fn.name!r} raises an exception on every path for these argument "
                         "types", fn.filename, fn.line)


class UnsupportedSyntax(ZygopyError):
    """Python syntax outside the subset zygopy compiles."""


class UnsupportedType(ZygopyError):
    """An argument or value of a type zygopy cannot differentiate or compile."""


class NoRule(ZygopyError):
    """A primitive reached by the gradient that has no derivative rule."""


class NotScalar(ZygopyError):
    """The function given to `gradient` does not return a real scalar."""

"""Backends: the targets zygopy compiles its IR for, behind one interface.

The IR, the adjoint pass and the API know nothing of a target. The API builds a program, typed IR
with the IR derived from it (programs.py), and hands it to a backend, which gives back an object
that runs it. A backend provides:

- emitting: code for a program's entry points (a gradient's value_and_gradient, forward with
  tape and pullback; a tangent's jvp), from the IR alone;
- a calling convention: what the runnable takes (the flat leaves, then the hidden values) and
  gives (gradients per leaf of wrt), and how tapes travel between forward and pullback;
- runtime helpers: what the emitted code calls, compiled once per type and shared by every
  program;
- error translation: whatever fails while running comes back as a zygopy error at the user's
  line (the reference evaluator reruns the primal to find it), or as the user's own exception;
- inspection: its generated source, and the machine-level code under it.

numba_cpu/ is the CPU implementation. cuda/ compiles per-element kernels (zygopy.kernel), for
GPUs and, on NumPy arrays, as parallel CPU loops; whole programs run on numba_cpu.
tiered.py, shared by every backend, runs a program in the reference evaluator while its code is
being compiled.
"""
from __future__ import annotations

from abc import ABC, abstractmethod


class Backend(ABC):
    name: str

    @abstractmethod
    def gradient(self, program):
        """A runnable GradientProgram: value_and_gradient(args, dy), forward(args) -> (value,
        tape), pullback(tape, dy), rows(args), compile(args, elsewhere), captured_values()."""

    @abstractmethod
    def tangent(self, program):
        """A runnable TangentProgram: called with (args, tangents), it returns (value, tangent)."""

    @abstractmethod
    def in_cache(self, runnable) -> bool:
        """Whether the machine code of `runnable` is on disk already (loading it is quick)."""

    @abstractmethod
    def code(self, runnable, args, what: str) -> str:
        """What users inspect: "source" (the generated code) or "machine" (what it compiles to,
        for the arguments `args`)."""


def backend(name: str = "numba_cpu") -> Backend:
    """The backend called `name` (imported on first use: its compiler is loaded only then)."""
    if name != "numba_cpu":
        raise ValueError(f"no backend {name!r}: whole programs compile with 'numba_cpu'")
    from .numba_cpu import NUMBA_CPU
    return NUMBA_CPU

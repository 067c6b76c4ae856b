"""The CPU backend: IR written as Python source (source.py, with fused loops from fusion.py and
structured control flow from structure.py) that Numba compiles to machine code (jit.py, with a
disk cache), calling runtime helpers compiled once (runtime.py, list_runtime.py, nn_kernels.py);
compiled.py runs it. Numba itself is imported only when compiled code first runs. Loading the
backend sets how malloc serves large arrays (heap.py)."""
from __future__ import annotations

from .. import Backend
from .compiled import CompiledGradient, CompiledTangent
from .heap import keep_arrays_on_the_heap
from .jit import in_disk_cache, load_module

keep_arrays_on_the_heap()


class NumbaCPU(Backend):
    name = "numba_cpu"

    def gradient(self, program):
        return CompiledGradient(program)

    def tangent(self, program):
        return CompiledTangent(program)

    def in_cache(self, runnable) -> bool:
        return in_disk_cache(runnable.source)

    def code(self, runnable, args, what: str) -> str:
        if what == "source":
            return runnable.source
        if what != "machine":
            raise ValueError(f"code(..., what={what!r}): 'source' or 'machine'")
        # the optimised LLVM IR of value_and_gradient. Numba keeps no LLVM for code it loaded
        # from its disk cache: a fresh, uncached copy is compiled
        module = load_module(runnable.source.replace("cache=True", "cache=False"), cached=False)
        fused = getattr(module, runnable._fused.py_func.__name__)
        runnable.value_and_gradient(args)  # sizes the stacks
        fused(*runnable.own(args), 1.0, *runnable._alloc())
        return "\n".join(fused.inspect_llvm().values())


NUMBA_CPU = NumbaCPU()

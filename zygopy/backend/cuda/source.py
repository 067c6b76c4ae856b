"""Kernel source: the forward and backward kernels of a per-element body, for CUDA
(`numba.cuda.jit`, one thread per index) or the CPU (`numba.njit(parallel=True)`, a `prange` over
chunks of indices).

Each kernel holds one thread's code whole (numba-cuda needs a device to compile a kernel that
calls device functions, so nothing is left to call): the backward runs the thread's recording
forward, then its reverse sweep; values its loops need come from per-thread stacks: on the GPU a
column of an array in device memory (entry, thread), so that neighbouring threads' entries lie side
by side and a stack of any depth fits (a local array is limited to 512 KiB per thread, and its
size is compiled in); on the CPU an array per chunk. A thread that would overflow them records how
much it needed instead, and the launcher reruns with that much.

Where several threads may add into one element (adjoint/kernel_body.py decides), the CPU adds
into a copy per chunk, and the GPU adds atomically into one of many copies (threads next to each
other into different ones: thousands of threads adding into one address wait on each other);
the launcher sums the copies.
"""
from __future__ import annotations

from ...adjoint.kernel_body import ADD_INTO, definitions
from ...ir.ir import Slot, Stmt, Var
from ...ir.types import ArrayT, Scalar
from ..numba_cpu.source import JIT, Writer, body, name, stack_name, statement, zero_of

CUDA_HEADER = "import math\nimport numpy as np\nfrom numba import cuda\n"
CPU_HEADER = "import math\nimport numpy as np\nfrom numba import njit, prange\n"
CPU_JIT = JIT.replace("@njit(", "@njit(parallel=True, ")
ONCE = "for _once in range(1):"  # the body's `return` is a `break` out of this


def forward_kernel(ka, kname: str, target: str, parallel=True) -> str:
    """forward(n, fault, outputs..., inputs...) on CUDA; forward(n, chunks, fault, outputs...,
    inputs...) on the CPU, a shared output given as one copy per chunk. `fault` receives the
    line of an index out of range (per chunk on the CPU)."""
    fn = ka.body.fn
    params = [name(a) for a in fn.args[1:]]
    shared = {name(fn.args[k]) for k in ka.shared_outputs}
    w = Writer(cpu=False)
    _open(w, kname, ["fault", *params], shared, target, name(fn.args[0]), parallel)
    _scalars_defined(w, fn)
    _run_once(w, fn, _lower(target, shared, fn))
    return w.text()


def backward_kernel(ka, kname: str, target: str, parallel=True) -> str:
    """backward(n, need, fault, stacks..., outputs..., inputs..., output gradients..., input
    gradients...) on CUDA (`need[k]`: the largest fill of stack k that did not fit; stack k an
    array (capacity, n)); on the CPU after `n`: `chunks`, then `need` per chunk, and the stacks'
    capacities instead of the stacks."""
    adj = ka.adjoint
    fwd, rev = adj.forward, adj.reverse
    stacks = [stack_name(k) for k in adj.stacks]
    slots = {k: _slot_of(rev, fwd.args[k]) for k in ka.wrt}
    grads = [name(slots[k]) for k in ka.wrt if slots[k] is not None]
    params = [name(a) for a in fwd.args[1:]] + grads
    shared = {name(slots[k]) for k in ka.shared_gradients}
    w = Writer(cpu=False)
    caps = [f"{s}_all" if target == "cuda" else f"size_{s}" for s in stacks]
    thread = name(fwd.args[0])
    _open(w, kname, ["need", "fault", *caps, *params], shared, target, thread, parallel)
    for s in stacks:
        w(f"{s} = {s}_all[:, {thread}]" if target == "cuda" else f"{s} = {s}_chunk")
        w(f"cap_{s} = {s}.shape[0]")
        w(f"top_{s} = 0")
    _scalars_defined(w, fwd)
    lower = _lower(target, shared, fwd, rev)
    _run_once(w, fwd, lower, keep=set(adj.tape))
    overflow = [f"top_{s} > cap_{s}" for s in stacks]
    if overflow:
        w(f"if {' or '.join(overflow)}:")
        w.indent()
        for k, s in enumerate(stacks):
            if target == "cuda":
                w(f"cuda.atomic.max(need, {k}, top_{s})")
            else:
                w(f"need[c, {k}] = max(need[c, {k}], top_{s})")
        w.dedent()
        w("else:")
        w.indent()
    w(f"{name(rev.args[0])} = 1.0")
    for slot in _scalar_slots(rev):
        w(f"{name(slot)} = {zero_of(slot.type)}")
    _scalars_defined(w, rev, skip=set(rev.args))
    _run_once(w, rev, lower)
    text = w.text()
    if target == "cpu" and stacks:  # a stack per chunk, made once, before its threads run
        lines = text.split("\n")
        at = next(k for k, line in enumerate(lines) if line.strip().startswith("lo = "))
        indent = lines[at][:len(lines[at]) - len(lines[at].lstrip())]
        made = [f"{indent}{s}_chunk = np.empty(size_{s}, np.{kind.dtype})"
                for kind, s in zip(adj.stacks, stacks, strict=True)]
        text = "\n".join(lines[:at] + made + lines[at:])
    return text


def _open(w, kname, params, shared, target, thread, parallel):
    """The kernel's def and its loop over (or guard on) the thread index. On the CPU, not
    `parallel` where compiled code calls it: Numba cannot cache a function calling a parallel
    one, and the calling code runs on one core anyway."""
    ps = [f"{p}_chunks" if p in shared else p for p in params]
    if target == "cuda":  # a shared array as copies, thread i adding into copy i % copies
        w("@cuda.jit")
        w(f"def {kname}(n, {', '.join(ps)}):")
        w.indent()
        w(f"{thread} = cuda.grid(1)")
        w(f"if {thread} < n:")
        w.indent()
        for p in params:
            if p in shared:
                w(f"{p} = {p}_chunks[{thread} % {p}_chunks.shape[0]]")
        return
    w(CPU_JIT if parallel else JIT)
    w(f"def {kname}(n, chunks, {', '.join(ps)}):")
    w.indent()
    w(f"for c in {'prange' if parallel else 'range'}(chunks):")
    w.indent()
    w("lo = n * c // chunks")
    w("hi = n * (c + 1) // chunks")
    for p in params:
        if p in shared:
            w(f"{p} = {p}_chunks[c]")
    w(f"for {thread} in range(lo, hi):")
    w.indent()


def _run_once(w, fn, lower, keep=()):
    """fn's body, its `return` leaving a one-trip loop (kernel_body makes every return sit
    outside the body's own loops)."""
    w(ONCE)
    w.indent()
    body(w, fn, lambda w, v: w("break"), keep=keep, lower=lower, left="break")
    w.dedent()


def _scalars_defined(w, fn, skip=()):
    """Every scalar gets a value first: Numba rejects a name read on a path where it was never
    assigned, even one not taken."""
    for b in fn.blocks:
        for v in b.args + [s.var for s in b.stmts if s.var is not None]:
            if v not in skip and v not in fn.args and isinstance(v.type, Scalar):
                w(f"{name(v)} = {zero_of(v.type)}")


def _lower(target, shared, *fns):
    """Statement lowering: the scalar code as the CPU backend writes it, each array access
    checked first (Numba checks no bounds in parallel loops or on the GPU). On the GPU every
    addition into an array in `shared` (the names of those other threads add into,
    kernel_body.py) is atomic, at the thread's own index too (`force[i] += f` while another
    thread adds into force[i] as its `force[j]`)."""
    fault = "fault[0]" if target == "cuda" else "fault[c]"
    defs = definitions(*fns)

    def lower(w, s):
        if s.op not in ("getindex", "setindex", ADD_INTO, "accum_at"):
            statement(w, s)
            return
        accessed = name(s.args[0]) if s.op == "accum_at" else w.operand(s.args[0])
        index = s.args[1]
        if isinstance(s.args[0].type, ArrayT) and isinstance(index, Var):
            safe = _checked_index(w, accessed, index, defs, fault, s.line or 0)
            s = Stmt(s.var, s.op, [s.args[0], safe, *s.args[2:]], s.line)
        if s.op not in (ADD_INTO, "accum_at"):
            statement(w, s)
            return
        where, value = w.operand(s.args[1]), w.operand(s.args[2])
        if target == "cuda" and accessed in shared:
            w(f"cuda.atomic.add({accessed}, {where}, {value})")
        else:
            w(f"{accessed}[{where}] += {value}")
    return lower


def _checked_index(w, array, index, defs, fault, line):
    """A copy of the index, checked: out of range, the kernel records the line in `fault` and
    accesses element 0 instead (the launcher raises rather than return what ran). The index
    itself is left alone: it may be a loop's counter."""
    d = defs.get(index)
    parts = d.args if d is not None and d.op == "tuple" else [index]
    safe = Var(index.id, index.type, "inrange")
    tests = [f"not -{array}.shape[{k}] <= {w.operand(p)} < {array}.shape[{k}]"
             for k, p in enumerate(parts)]
    zero = "0" if d is None or d.op != "tuple" else "(" + "0, " * len(parts) + ")"
    w(f"{name(safe)} = {w.operand(index)}")
    w(f"if {' or '.join(tests)}:")
    w(f"    {fault} = {line}")
    w(f"    {name(safe)} = {zero}")
    return safe


def _slot_of(rev, arg):
    """The gradient slot of argument `arg` in the reverse, or None where nothing reaches it."""
    for b in rev.blocks:
        for s in b.stmts:
            if s.op == "accum_at" and s.args[0].of is arg:
                return s.args[0]
    return None


def _scalar_slots(fn):
    seen = []
    for b in fn.blocks:
        for s in b.stmts:
            for a in s.args:
                if isinstance(a, Slot) and a not in seen and not isinstance(a.type, ArrayT):
                    seen.append(a)
    return seen

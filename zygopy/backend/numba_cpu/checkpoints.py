"""A checkpointed function (zygopy/checkpoint.py) in generated code: its forward is its primal;
its pullback `name_grad(dy, y, *inputs)` runs its taped forward into stacks of its own, made here
for this call and let go when it returns, then its reverse."""
from __future__ import annotations

from .source import (
    JIT,
    Writer,
    _overflowed,
    _tape_length,
    _taped_stacks,
    _tuple,
    forward_source,
    name,
    primal_source,
    reverse_source,
    scalar_stacks,
    stack_name,
)

# entries a stack starts with (512 KB of float64; malloc reuses the block from one segment to the
# next). A loop whose trips are known grows its stacks where it starts; a segment that pushes more
# otherwise runs its forward once more, into stacks of the size the first run counted. (Before
# stacks grew, at 4096 every segment of 4000 scalar steps recording 2 floats each ran twice: its
# gradient took 2.3x the loop's with a whole tape, 1.65x at this size)
INITIAL_ENTRIES = 65536


def checkpoint_source(spec, gradient: bool) -> str:
    if not gradient:
        return primal_source(spec.forward_ir, spec.name)
    adj = spec.adjoint
    args = [name(a) for a in adj.forward.args]
    stacks = scalar_stacks(adj)
    scalars = [stack_name(k) for k in stacks]
    w = Writer()
    w(JIT)
    w(f"def {spec.name}_grad(dy, y, {', '.join(args)}):")
    w.indent()
    for s, kind in zip(scalars, stacks, strict=True):
        w(f"{s} = np.empty({INITIAL_ENTRIES}, np.{kind.dtype})")
    w("while True:")
    w(f"    value, tops, tape = {spec.name}_taped({', '.join(args + scalars)})")
    if scalars:
        taped = _taped_stacks(adj)
        w(f"    if not ({_overflowed(taped)}):")
        w("        break")
        for i, (s, kind) in enumerate(zip(scalars, stacks, strict=True)):
            w(f"    {s} = np.empty(max(tops[{i}], {taped[i]}.shape[0]), np.{kind.dtype})")
    else:
        w("    break")
    tape = [f"tape[{i}]" for i in range(_tape_length(adj))]
    tops = [f"tops[{i}]" for i in range(len(adj.stacks))]
    w(f"grads = {spec.name}_reverse({', '.join(['dy'] + tape + tops)})")
    # the reverse gives a gradient per float input; the other inputs get None
    w(f"return {_tuple(spec.per_input([f'grads[{k}]' for k in range(len(spec.wrt))], 'None'))}")
    return "\n\n".join([forward_source(adj, f"{spec.name}_taped"),
                        reverse_source(adj, f"{spec.name}_reverse"), w.text()])

"""A checkpointed function (zygopy/checkpoint.py) in generated code: its forward is its primal;
its pullback `name_grad(dy, y, *inputs)` runs its taped forward into stacks of its own, made here
for this call and let go when it returns, then its reverse."""
from __future__ import annotations

from .source import (
    JIT,
    Writer,
    _overflowed,
    _tuple,
    forward_source,
    fused_source,
    name,
    primal_source,
    scalar_stacks,
)

# entries a stack starts with (512 KB of float64; malloc reuses the block from one segment to the
# next). A loop whose trips are known grows its stacks where it starts; a segment that pushes more
# otherwise runs once more, into stacks of the size the first run counted. (Before stacks grew,
# at 4096 every segment of 4000 scalar steps recording 2 floats each ran twice: its gradient took
# 2.3x the loop's with a whole tape, 1.65x at this size)
INITIAL_ENTRIES = 65536


def checkpoint_source(spec, gradient: bool) -> str:
    if not gradient:
        return primal_source(spec.forward_ir, spec.name)
    adj, fused = spec.adjoint, f"{spec.name}_fused"
    args = [name(a) for a in adj.forward.args]
    kinds = scalar_stacks(adj)
    stacks = [f"stacks[{i}]" for i in range(len(kinds))]
    w = Writer()
    w(JIT)
    w(f"def {spec.name}_grad(dy, y, {', '.join(args)}):")
    w.indent()
    w(f"stacks = {_tuple(f'np.empty({INITIAL_ENTRIES}, np.{k.dtype})' for k in kinds)}")
    w("while True:")  # the fused gradient, run again only if its stacks overflowed
    w(f"    value, grads, tops, stacks = {fused}({', '.join(args + ['dy'] + stacks)})")
    if kinds:
        w(f"    if not ({_overflowed(stacks, 'tops')}):")
        w("        break")
        grown = (f"np.empty(max(tops[{i}], {s}.shape[0]), np.{k.dtype})"
                 for i, (s, k) in enumerate(zip(stacks, kinds, strict=True)))
        w(f"    stacks = {_tuple(grown)}")
    else:
        w("    break")
    # the adjoint gives a gradient per float input; the other inputs get None
    w(f"return {_tuple(spec.per_input([f'grads[{k}]' for k in range(len(spec.wrt))], 'None'))}")
    return "\n\n".join([forward_source(adj, f"{spec.name}_taped"),
                        fused_source(adj, fused, f"{spec.name}_taped"),
                        w.text()])

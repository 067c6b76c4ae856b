"""A reference interpreter: runs IR on Python values, independently of any compiler."""
from __future__ import annotations

from .ir import Function, Slot, Var
from .primitives import PRIMITIVES


def evaluate(fn: Function, *args, max_steps=10**8):
    blocks = fn.block_map()
    env = {}

    def val(a):
        return env[a] if isinstance(a, (Var, Slot)) else a

    block, values = fn.entry, list(args)
    for _ in range(max_steps):
        if len(values) != len(block.args):
            raise TypeError(f"block {block.name} takes {len(block.args)} arguments, got {len(values)}")
        env.update(zip(block.args, values))
        for s in block.stmts:
            result = PRIMITIVES[s.op].impl(*[val(a) for a in s.args])
            if s.var is not None:
                env[s.var] = result
        for br in block.branches:
            if br.cond is not None and val(br.cond):
                continue  # `unless` holds: fall through to the next branch
            if br.is_return:
                return val(br.args[0])
            block, values = blocks[br.target], [val(a) for a in br.args]
            break
    raise RuntimeError("evaluation did not finish")

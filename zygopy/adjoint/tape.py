"""What the forward records for the reverse pass, per trip of each loop (shown by code_adjoint):
the figure the to-be-recorded analyses and recomputation keep down."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..ir.cfg import natural_loops
from ..ir.ir import Function
from ..ir.types import ArrayT


def tape_per_trip(forward: Function) -> list:
    """One line per loop whose trips record values: where it is and what one trip records."""
    bodies = natural_loops(forward)
    pushed = {h: Counter() for h in bodies}
    for b in forward.blocks:
        around = [h for h, body in bodies.items() if b.id in body]
        if not around:
            continue
        innermost = min(around, key=lambda h: len(bodies[h]))
        for s in b.stmts:
            if s.op == "push":
                kind = s.args[0]
                pushed[innermost]["array" if isinstance(kind, ArrayT) else kind.dtype] += 1
    lines = []
    for h, counts in pushed.items():
        if not counts:
            continue
        where = min((s.line for b in forward.blocks if b.id in bodies[h] for s in b.stmts
                     if s.line is not None), default=None)
        scalars = {k: n for k, n in counts.items() if k != "array"}
        size = sum(n * np.dtype(k).itemsize for k, n in scalars.items())
        parts = [f"{n} {k}" for k, n in sorted(scalars.items())]
        what = ", ".join(parts) + f" ({size} bytes)" if parts else ""
        if counts["array"]:
            what += (" + " if what else "") + f"{counts['array']} array reference(s)"
        lines.append(f"loop from line {where}: {what} per trip")
    return lines

"""The order passes run in. Each pass returns whether it changed anything; repeat to a fixpoint."""
from __future__ import annotations

from ..verify import verify
from .blockargs import remove_dead_args, remove_trivial_args
from .cleanup import merge_blocks, remove_unreachable, skip_empty_blocks
from .cse import eliminate_common_subexpressions
from .dce import eliminate_dead_code
from .fold import fold_branches, fold_constants
from .recognise import recognise_primitives

PASSES = [fold_constants, recognise_primitives, fold_branches, remove_unreachable,
          remove_trivial_args, eliminate_common_subexpressions, eliminate_dead_code,
          remove_dead_args, skip_empty_blocks, remove_unreachable, merge_blocks]

# tests switch this on to verify the IR after every pass
CHECK_EACH_PASS = False


def optimize(fn, passes=PASSES, max_rounds=20):
    if CHECK_EACH_PASS:
        try:
            verify(fn)
        except Exception as e:
            raise AssertionError(f"IR broken before the passes: {e}\n{fn}") from e
    for _ in range(max_rounds):
        changed = False
        for p in passes:
            if p(fn):
                changed = True
                if CHECK_EACH_PASS:
                    try:
                        verify(fn)
                    except Exception as e:
                        raise AssertionError(f"IR broken after {p.__name__}: {e}\n{fn}") from e
        if not changed:
            break
    return fn

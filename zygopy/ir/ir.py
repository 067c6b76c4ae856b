"""The SSA IR: a function is a list of basic blocks; blocks take arguments instead of phi nodes.

A block holds statements `%n = op(args...)` and ends with branches: zero or more conditional
`br T (args) unless %c` followed by one unconditional `br T (args)` or `return %x`.
Arguments of statements and branches are `Var`s or Python constants (numbers, bools, None, str).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Var:
    """An SSA value. Identity is the object; `id` is only for printing."""
    id: int
    type: Any = None
    name: str | None = None  # the source variable it came from, for readable output

    def __repr__(self):
        return f"%{self.id}"


@dataclass(eq=False)
class Slot:
    """A mutable local, used only by the adjoint IR to accumulate gradients (x̄ += ...)."""
    id: int
    of: Var | None = None
    type: Any = None
    lazy: bool = False  # an array slot allocated on its first contribution

    def __repr__(self):
        return f"%{self.of.id}̄" if self.of is not None else f"s{self.id}̄"


class _Raised:
    """What a block that raises passes to the function's return block: nothing ever arrives."""

    def __repr__(self):
        return "raised"


RAISED = _Raised()


class Line(int):
    """A statement's line in a file other than its function's: code inlined from another module.
    An int, so the passes that copy a statement's line keep its file; ZygopyError names it."""

    def __new__(cls, line, file):
        self = super().__new__(cls, line)
        self.file = file
        return self


@dataclass(eq=False)
class Stmt:
    var: Var | None  # None for statements kept only for their effect
    op: str
    args: list
    line: int | None = None

    @property
    def type(self):
        return self.var.type if self.var is not None else None


@dataclass(eq=False)
class Branch:
    """`br target (args) unless cond`; target None means `return args[0]`."""
    target: int | None
    args: list = field(default_factory=list)
    cond: Var | None = None

    @property
    def is_return(self):
        return self.target is None


@dataclass(eq=False)
class Block:
    id: int
    args: list = field(default_factory=list)
    stmts: list = field(default_factory=list)
    branches: list = field(default_factory=list)
    label: str | None = None  # printed name; defaults to the id

    def successors(self):
        return [b.target for b in self.branches if b.target is not None]

    @property
    def name(self):
        return self.label or str(self.id)


@dataclass(eq=False)
class Function:
    name: str
    blocks: list
    filename: str = "<unknown>"
    arg_names: list = field(default_factory=list)
    next_id: int = 1
    line: int | None = None
    # values read from outside the function (captured.Captured); the run-time ones are the last
    # entry arguments, in this order
    captured: list = field(default_factory=list)

    def new_var(self, type=None, name=None) -> Var:
        v = Var(self.next_id, type, name)
        self.next_id += 1
        return v

    def new_block(self, args=()) -> Block:
        bid = max((b.id for b in self.blocks), default=0) + 1
        block = Block(bid, list(args))
        self.blocks.append(block)
        return block

    @property
    def entry(self) -> Block:
        return self.blocks[0]

    @property
    def args(self):
        return self.entry.args

    def block(self, bid) -> Block:
        for b in self.blocks:
            if b.id == bid:
                return b
        raise KeyError(bid)

    def block_map(self):
        return {b.id: b for b in self.blocks}

    def predecessors(self):
        """Map block id -> ids of blocks that branch to it (each edge once per branch)."""
        preds = {b.id: [] for b in self.blocks}
        for b in self.blocks:
            for br in b.branches:
                if br.target is not None:
                    preds[br.target].append(b.id)
        return preds

    def __str__(self):
        from .printer import format_function
        return format_function(self)

    def _repr_pretty_(self, p, cycle):  # IPython shows the printed IR
        p.text(str(self))


def uses(stmt_or_branch):
    """The Vars an instruction reads."""
    if isinstance(stmt_or_branch, Stmt):
        vals = stmt_or_branch.args
    else:
        vals = list(stmt_or_branch.args) + ([stmt_or_branch.cond]
                                            if stmt_or_branch.cond is not None else [])
    return [a for a in vals if isinstance(a, Var)]


def users_of(fn: Function) -> dict:
    """{Var: the statements and branches that read it}."""
    out = {}
    for b in fn.blocks:
        for inst in b.stmts + b.branches:
            for v in uses(inst):
                out.setdefault(v, []).append(inst)
    return out


class Partition:
    """Values in disjoint classes: `union` joins two classes; `find` names a value's class by one
    of its members (a value never joined is alone in its own)."""

    def __init__(self):
        self.parent = {}

    def find(self, v):
        while self.parent.get(v, v) is not v:
            v = self.parent[v]
        return v

    def union(self, a, b):
        self.parent.setdefault(a, a)
        self.parent.setdefault(b, b)
        self.parent[self.find(a)] = self.find(b)


def used_values(fn: Function) -> set:
    """ids of the Vars that some statement or branch of fn reads."""
    return {id(v) for b in fn.blocks for inst in b.stmts + b.branches for v in uses(inst)}


def substitute(fn: Function, mapping: dict):
    """Replace uses of Vars by other values, following chains (a -> b -> c)."""
    substitute_in(fn.blocks, mapping)


def substitute_in(blocks, mapping: dict):
    """substitute, in these blocks only."""
    def resolve(a):
        seen = 0
        while isinstance(a, Var) and a in mapping:
            a = mapping[a]
            seen += 1
            if seen > len(mapping):
                raise RuntimeError("cyclic substitution")
        return a
    for b in blocks:
        for s in b.stmts:
            s.args = [resolve(a) for a in s.args]
        for br in b.branches:
            br.args = [resolve(a) for a in br.args]
            if br.cond is not None:
                br.cond = resolve(br.cond)

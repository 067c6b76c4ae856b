"""The compact printed form of the IR, in the style of IRTools.jl:

    1: (%1 :: float64, %2 :: int64)
      %3 = %1 * 2.0 :: float64
      br 3 unless %4
      br 2 (%3, 0)
"""
from __future__ import annotations

from .ir import Block, Branch, Function, Slot, Stmt, Var
from .primitives import PRIMITIVES


def fmt(v) -> str:
    if isinstance(v, (Var, Slot)):
        return repr(v)
    if isinstance(v, float):
        return repr(v)
    return repr(v)


def typed(v) -> str:
    return f"{v!r} :: {v.type}" if v.type is not None else repr(v)


def format_expr(s: Stmt) -> str:
    a = [fmt(x) for x in s.args]
    prim = PRIMITIVES.get(s.op)
    if s.op == "getindex":
        return f"{a[0]}[{a[1]}]"
    if s.op == "setindex":
        return f"{a[0]}[{a[1]}] = {a[2]}"
    if s.op == "getattr":
        return f"{a[0]}.{s.args[1]}"
    if s.op == "accum":
        return f"{a[0]} += {a[1]}"
    if s.op == "push":
        return f"push!({s.args[0]}, {a[1]})"
    if s.op == "pop":
        return f"pop!({s.args[0]})"
    if s.op in ("peek", "drop"):
        return f"{s.op}!({', '.join([str(s.args[0]), *a[1:]])})"
    if s.op == "push_at":
        return f"push!({s.args[0]}, {a[2]}) at {a[1]}"
    if s.op == "reserve":
        return f"reserve!({s.args[0]}, {a[1]} x {a[2]})"
    if s.op == "tuple":
        return f"({a[0]},)" if len(a) == 1 else f"({', '.join(a)})"
    if prim is not None and prim.symbol is not None:
        return f"{prim.symbol}{a[0]}" if len(a) == 1 else f"{a[0]} {prim.symbol} {a[1]}"
    return f"{s.op}({', '.join(a)})"


def format_stmt(s: Stmt, show_lines=False) -> str:
    text = format_expr(s)
    if s.var is not None:
        text = f"{s.var!r} = {text}"
        if s.var.type is not None:
            text += f" :: {s.var.type}"
    if show_lines and s.line:
        text = f"{text:<40} # line {s.line}"
    return text


def format_branch(br: Branch, names=None) -> str:
    if br.is_return:
        return "return " + ", ".join(fmt(a) for a in br.args)
    target = names[br.target] if names else str(br.target)
    text = f"br {target}"
    if br.args:
        text += " (" + ", ".join(fmt(a) for a in br.args) + ")"
    if br.cond is not None:
        text += f" unless {fmt(br.cond)}"
    return text


def format_block(b: Block, names=None, show_lines=False) -> list:
    head = f"{b.name}:"
    if b.args:
        head += " (" + ", ".join(typed(a) for a in b.args) + ")"
    lines = [head]
    lines += ["  " + format_stmt(s, show_lines) for s in b.stmts]
    lines += ["  " + format_branch(br, names) for br in b.branches]
    return lines


def format_function(fn: Function, show_lines=False) -> str:
    names = {b.id: b.name for b in fn.blocks}
    out = []
    for b in fn.blocks:
        out += format_block(b, names, show_lines)
    return "\n".join(out)

"""`sum`/`max`/`min` of an iterable and list comprehensions, as the loops they stand for.

`sum(x[i] ** 2 for i in range(n) if x[i] > 0)` is translated as the statement

    for i' in range(n):
        if x[i'] > 0:
            <step x[i'] ** 2>

so it is a loop when the iterable is a run-time one (a range, an array, a list built at run time)
and unrolled when it is known while compiling (a tuple of layers), exactly like a `for` statement.
The comprehension's names are renamed (`i'`), as they are local to it in Python. `Step` is the one
statement of our own: the frontend folds its value into the reduction being built.
"""
from __future__ import annotations

import ast
import copy


class Step(ast.stmt):
    """Fold `value` into the innermost reduction or list being built."""
    _fields = ("value",)


class _Renamer(ast.NodeTransformer):
    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        if node.id in self.mapping:
            return ast.copy_location(ast.Name(id=self.mapping[node.id], ctx=node.ctx), node)
        return node


def comprehension_names(node):
    """The names a comprehension's `for` clauses bind."""
    return {n.id for gen in node.generators for n in ast.walk(gen.target)
            if isinstance(n, ast.Name)}


def comprehension_loop(node, mapping):
    """The `for` statement a generator expression or list comprehension stands for, with its
    names renamed by `mapping` and a `Step` of its element innermost."""
    rename = _Renamer(mapping)

    def renamed(n):
        return rename.visit(copy.deepcopy(n))

    body = [ast.copy_location(Step(value=renamed(node.elt)), node.elt)]
    for k in reversed(range(len(node.generators))):
        gen = node.generators[k]
        for cond in reversed(gen.ifs):
            body = [ast.copy_location(ast.If(test=renamed(cond), body=body, orelse=[]), cond)]
        # the first iterable is evaluated where the comprehension is, the others inside it
        iterable = gen.iter if k == 0 else renamed(gen.iter)
        loop = ast.For(target=renamed(gen.target), iter=iterable, body=body, orelse=[],
                       type_comment=None)
        body = [ast.copy_location(loop, gen.iter)]
    return ast.fix_missing_locations(body[0])


def plain_loop(iterable, name):
    """`for name in iterable: <step name>`: the loop of sum(xs), max(xs), min(xs)."""
    step = ast.copy_location(Step(value=ast.Name(id=name, ctx=ast.Load())), iterable)
    loop = ast.For(target=ast.Name(id=name, ctx=ast.Store()), iter=iterable, body=[step],
                   orelse=[], type_comment=None)
    return ast.fix_missing_locations(ast.copy_location(loop, iterable))

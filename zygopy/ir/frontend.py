"""Python AST -> SSA IR, built directly with the algorithm of Braun et al. (2013),
"Simple and Efficient Construction of Static Single Assignment Form".

Loops stay loops: a `while` or `for` becomes a header block with a back edge, whatever the trip
count. Calls to other plain Python functions are inlined; each inlined call gets its own frame so
its variable names cannot clash with the caller's. `and`/`or`, chained comparisons and conditional
expressions become control flow, as in Python.
"""
from __future__ import annotations

import ast
import builtins
import functools
import inspect
import math
import textwrap
import types
from dataclasses import dataclass, field

import numpy as np

from ..custom import CustomRule
from ..errors import UnsupportedSyntax, UnsupportedType
from ..trees import LEAF, Node
from ..units import Unit, compiles_alone
from .array_primitives import ARRAY_METHODS, DTYPES, NUMPY_FUNCTIONS, SEQUENCE_ARGUMENT
from .captured import Captured, read
from .cfg import reverse_postorder
from .comprehensions import comprehension_loop, comprehension_names, plain_loop
from .ir import RAISED, Block, Branch, Function, Line, Stmt, Var
from .primitives import FLOAT_OPERANDS, PRIMITIVES, TRUTH_VALUED, Raise, resolve_callable
from .types import is_float, typeof

BINOPS = {ast.MatMult: "matmul", ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul",
          ast.Div: "truediv", ast.FloorDiv: "floordiv", ast.Mod: "mod", ast.Pow: "pow",
          ast.BitAnd: "bitand", ast.BitOr: "bitor", ast.BitXor: "bitxor"}
CMPOPS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
UNARYOPS = {ast.USub: "neg", ast.UAdd: "pos", ast.Not: "not", ast.Invert: "invert"}
# string methods that test a dict key while compiling (frontend.key_test)
STRING_TESTS = {"startswith", "endswith", "isupper", "islower"}

# How unsupported nodes are named in errors, with a hint where there is a useful one.
CONSTRUCTS = {
    ast.Try: ("try/except", "move error handling outside the differentiated function"),
    ast.With: ("a with statement", None),
    ast.Yield: ("a generator (yield)", None), ast.YieldFrom: ("a generator (yield from)", None),
    ast.FunctionDef: ("a nested function definition", "define it at module level"),
    ast.AsyncFunctionDef: ("an async function", None), ast.Await: ("await", None),
    ast.ClassDef: ("a class definition", None),
    ast.Global: ("a global statement", None), ast.Nonlocal: ("a nonlocal statement", None),
    ast.Delete: ("del", None), ast.Import: ("import", "import at module level"),
    ast.ImportFrom: ("import", "import at module level"),
    ast.SetComp: ("a set comprehension", None),
    ast.DictComp: ("a dict comprehension", None),
    ast.GeneratorExp: ("a generator expression here",
                       "use one inside sum(), max() or min(), or write a for loop"),
    ast.Set: ("a set", None),
    ast.JoinedStr: ("an f-string", None), ast.NamedExpr: ("an assignment expression (:=)", None),
    ast.Starred: ("star-unpacking (*x)", None), ast.Match: ("a match statement", None),
    ast.AsyncFor: ("async for", None), ast.AsyncWith: ("async with", None),
}


@dataclass(frozen=True)
class Static:
    """A value known while compiling (a module, a function): never a run-time value."""
    obj: object


@dataclass(eq=False)
class StructValue:
    """A structured argument while compiling: its shape is known, its leaves are run-time values."""
    node: Node
    items: list  # one per child: a Var (leaf), a StructValue, or a compile-time value (static)
    obj: object  # the Python object it was made from (for its class and static attributes)
    label: str

    def child(self, i):
        return self.items[i]

    def field(self, name):
        return self.items[self.node.keys.index(name)] if name in self.node.keys else None

    @property
    def is_sequence(self):
        return self.node.kind in ("tuple", "list", "namedtuple")

    @property
    def is_dict(self):
        return self.node.kind == "dict"


def compile_time_sequence(items, label, kind="tuple"):
    """A tuple or list built in the function whose items are known while compiling (layers,
    functions) or mixed with run-time values: unrolled over like a structured argument."""
    cls = list if kind == "list" else tuple
    return StructValue(Node(kind, cls), list(items), None, label)


@dataclass(frozen=True)
class Bound:
    """A method of a structured value's class, bound to it, while compiling."""
    fn: types.FunctionType
    obj: StructValue


class Undef:
    """What a variable reads as on a path where it was never assigned; `line` is the read's."""

    def __init__(self, name, line=None):
        self.name, self.line = name, line

    def __repr__(self):
        return f"undef({self.name})"


@dataclass(eq=False)
class Frame:
    """One function being translated (the top-level one, or one inlined into it)."""
    pyfn: types.FunctionType
    filename: str
    line_offset: int
    locals: set
    return_block: Block
    key: int
    loops: list = field(default_factory=list)  # (continue target, break target)
    statics: dict = field(default_factory=dict)  # names bound to structured values and lambdas
    parent: Frame | None = None  # for a lambda: the frame it was written in, whose names it sees
    raises: bool = False  # it has a raise or a failing assert (a path that does not return)
    lam: ast.Lambda | None = None  # for a lambda: its node


@dataclass(eq=False)
class LocalLambda:
    """A lambda written inside the function being compiled: inlined where it is called, seeing
    the variables of the frame it was written in as they are at the call."""
    node: ast.Lambda
    frame: Frame
    defaults: dict  # parameter name -> value, evaluated where the lambda was written


def function_ast(pyfn):
    """The FunctionDef of a Python function, and the offset from its AST lines to file lines."""
    if not isinstance(pyfn, types.FunctionType):
        what = getattr(pyfn, "__name__", type(pyfn).__name__)
        raise UnsupportedSyntax(f"{what!r} is not a Python function zygopy can read the source of",
                                hint="pass a function defined with def in a file")
    filename = pyfn.__code__.co_filename
    if pyfn.__code__.co_name == "<lambda>":
        return lambda_ast(pyfn), filename, 0
    try:
        # not inspect.getsource(pyfn), which follows __wrapped__ (functools.wraps) to the function
        # a decorator wrapped, whose body is not what pyfn runs (nor getsource of the code object,
        # which looks for its module through every module loaded: 18 ms)
        lines, start = inspect.findsource(pyfn)
        source = "".join(inspect.getblock(lines[start:]))
    except (OSError, TypeError) as e:
        raise UnsupportedSyntax(f"the source of {pyfn.__name__!r} is not available ({e})", filename,
                                hint="define the function in a file, not in an interactive "
                                "session") from None
    offset = pyfn.__code__.co_firstlineno - 1
    try:
        node = ast.parse(textwrap.dedent(source)).body[0]
    except SyntaxError:
        # an indented def (in a factory) with a line dedent cannot shift, such as a string at
        # column 0
        try:
            node, offset = ast.parse("if True:\n" + source).body[0].body[0], offset - 1
        except SyntaxError as e:
            raise UnsupportedSyntax(f"the source of {pyfn.__name__!r} cannot be parsed ({e.msg})",
                                    filename, pyfn.__code__.co_firstlineno) from None
    if not isinstance(node, ast.FunctionDef):
        raise UnsupportedSyntax(f"{pyfn.__name__!r} is not a def function", filename,
                                pyfn.__code__.co_firstlineno)
    if node.name != pyfn.__code__.co_name or not _lines_match(pyfn.__code__, node, offset):
        raise UnsupportedSyntax(f"the source file no longer holds {pyfn.__code__.co_name!r} "
                                f"where it was defined: it changed after the function was",
                                filename,
                                pyfn.__code__.co_firstlineno,
                                hint="reload the module (importlib.reload), or run its "
                                "definition again")
    return node, filename, offset


def _fixed(holder, value):
    """Modules, and what the modules of Python and NumPy hold (np.exp, math.sin, np.float32):
    trusted to stay as they are, so that a call need not check each."""
    return isinstance(value, types.ModuleType) or isinstance(holder, types.ModuleType) and \
        holder.__name__.partition(".")[0] in ("numpy", "math", "builtins")


def _lines_match(code, node, offset):
    """Whether every line the code runs lies within the def's lines in the file as it is now."""
    first, last = code.co_firstlineno, offset + node.end_lineno  # decorators included
    return all(first <= line <= last for _, _, line in code.co_lines() if line is not None)


def lambda_ast(pyfn):
    """A lambda as a FunctionDef (lines as in its file): the Lambda node on its first line whose
    body holds the source positions of its code's instructions."""
    code = pyfn.__code__
    try:
        lines, _ = inspect.findsource(pyfn)
    except (OSError, TypeError) as e:
        raise UnsupportedSyntax(f"the source of a lambda is not available ({e})",
                                code.co_filename, hint="define the function in a file, not in an "
                                "interactive session") from None
    try:
        tree = _parse_file("".join(lines))
    except SyntaxError as e:
        raise UnsupportedSyntax(f"the file of a lambda cannot be parsed ({e.msg})",
                                code.co_filename, code.co_firstlineno) from None
    here = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)
            and n.lineno == code.co_firstlineno]
    # (instructions such as RESUME have an empty span at the start of the line)
    spans = [(line, col, end_line, end_col)
             for line, end_line, col, end_col in code.co_positions()
             if col is not None and (line, col) < (end_line, end_col)]
    inside = here if len(here) == 1 else \
        [n for n in here if all(_within(n.body, *span) for span in spans)]
    if len(inside) > 1:  # lambdas nested in one another: the innermost holds them all
        inside = [n for n in inside if not any(m is not n and _within(n, *_span(m))
                                               for m in inside)]
    if len(inside) != 1:
        raise UnsupportedSyntax(f"{len(here)} lambdas on one line cannot be told apart",
                                code.co_filename, code.co_firstlineno,
                                hint="define the function with def, or put each lambda on a line "
                                "of its own")
    return lambda_def(inside[0])


def lambda_def(lam):
    """A Lambda node as the equivalent FunctionDef, at the same lines."""
    ret = ast.copy_location(ast.Return(value=lam.body), lam.body)
    fdef = ast.FunctionDef(name="<lambda>", args=lam.args, body=[ret], decorator_list=[],
                           returns=None, type_comment=None)
    return ast.copy_location(fdef, lam)


@functools.lru_cache(maxsize=16)
def _parse_file(source):
    return ast.parse(source)


def _span(node):
    return node.lineno, node.col_offset, node.end_lineno, node.end_col_offset


def _within(node, line, col, end_line, end_col):
    """Whether the source span (line, col)-(end_line, end_col) lies within node's."""
    first, first_col, last, last_col = _span(node)
    return (first, first_col) <= (line, col) and (end_line, end_col) <= (last, last_col)


def assigned_names(fdef):
    """Names local to a function, by Python's rule: parameters and anything assigned in its body."""
    names = {a.arg for a in fdef.args.posonlyargs + fdef.args.args + fdef.args.kwonlyargs}
    for node in ast.walk(fdef):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


class Frontend:
    def __init__(self, pyfn, structures=None, capture=True, units=None):
        self.top = pyfn
        self.structures = structures
        # None: every call is inlined; else method calls on structured values are compiled on their
        # own (units.py), but for the Units in this set
        self.units = units
        # False: every captured value is folded as a constant (for code called with its arguments
        # only, which cannot take hidden ones)
        self.capture = capture
        self.captures = {}  # (id of holder, name) -> (Captured, its hidden argument or None)
        # build() rejects non-functions
        self.fn = Function(getattr(pyfn, "__name__", type(pyfn).__name__), [])
        self.defs = {}  # (frame id, name) -> {block id: value}
        self.sealed = set()
        self.incomplete = {}  # block id -> {key: phi Var}
        self.incoming = {}  # block id -> [(source block, Branch)]
        self.phi_lines = {}  # phi Var -> line of the read that made it
        self.frames = []
        self.frames_made = []
        self.reductions = []  # (kind, accumulator key, first-item key) of those being built
        self.cur = None
        self.line = None

    # ---- blocks, branches and SSA variables (Braun et al.) -------------------------------
    def new_block(self, nargs=0):
        block = self.fn.new_block([self.fn.new_var() for _ in range(nargs)])
        self.incoming[block.id] = []
        self.incomplete[block.id] = {}
        return block

    def jump(self, target, args=(), cond=None, source=None):
        source = source or self.cur
        br = Branch(target.id, list(args), cond)
        source.branches.append(br)
        self.incoming[target.id].append((source, br))

    def seal(self, block):
        for key, phi in self.incomplete[block.id].items():
            self.add_phi_operands(key, phi, block)
        self.sealed.add(block.id)

    def write(self, key, block, value):
        self.defs.setdefault(key, {})[block.id] = value

    def read(self, key, block):
        defs = self.defs.get(key, {})
        if block.id in defs:
            return defs[block.id]
        if block.id not in self.sealed:
            value = self.new_phi(block, key)
            self.incomplete[block.id][key] = value
        elif len(self.incoming[block.id]) == 1:
            value = self.read(key, self.incoming[block.id][0][0])
        elif not self.incoming[block.id]:
            value = Undef(key[1], self.line)
        else:
            value = self.new_phi(block, key)
            self.write(key, block, value)
            self.add_phi_operands(key, value, block)
        self.write(key, block, value)
        return value

    def new_phi(self, block, key):
        phi = self.fn.new_var(name=key[1])
        block.args.append(phi)
        self.phi_lines[phi] = self.line
        return phi

    def add_phi_operands(self, key, phi, block):
        # operands are read on behalf of the read that made the phi (maybe long before, in a loop)
        saved, self.line = self.line, self.phi_lines.get(phi, self.line)
        for source, br in self.incoming[block.id]:
            br.args.append(self.read(key, source))
        self.line = saved

    # ---- emitting ------------------------------------------------------------------------
    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    def emit(self, op, *args, name=None):
        var = self.fn.new_var(name=name)
        self.cur.stmts.append(Stmt(var, op, list(args), self.line))
        return var

    def error(self, message, node=None, hint=None, cls=UnsupportedSyntax):
        line = self.line_of(node) if node is not None and hasattr(node, "lineno") else self.line
        return cls(message, self.frame.filename, line, hint=hint)

    def unsupported(self, node):
        what, hint = CONSTRUCTS.get(type(node), (type(node).__name__, None))
        return self.error(f"{what} is not supported by zygopy", node, hint)

    def at(self, node):
        if hasattr(node, "lineno"):
            self.line = self.line_of(node)

    def line_of(self, node):
        """node's line in its file; a Line that names the file when it is not the function's."""
        line, filename = self.frame.line_offset + node.lineno, self.frame.filename
        return line if filename == self.fn.filename else Line(line, filename)

    # ---- functions -----------------------------------------------------------------------
    def build(self):
        fdef, filename, offset = function_ast(self.top)
        self.watch_function(self.top)
        self.fn.filename = filename
        self.fn.arg_names = self.check_params(fdef, filename, offset)
        self.fn.line = offset + fdef.lineno
        entry = self.entry = self.new_block()
        self.seal(entry)
        frame = self.push_frame(self.top, fdef, filename, offset)
        self.cur = entry
        structures = self.structures or [None] * len(self.fn.arg_names)
        for name, structure in zip(self.fn.arg_names, structures, strict=False):
            self.bind_name(frame, name, self.argument(name, structure))
        self.fn.arg_names = [a.name for a in entry.args]
        self.line = offset + fdef.lineno
        result = self.body_of(fdef, frame)
        self.cur.branches.append(Branch(None, [result]))
        self.fn.arg_names = [a.name for a in entry.args]  # with the hidden arguments
        # blocks no path reaches (the exit of `while True`, the join after two returns, ...) were
        # never entered, so they have no terminator: drop them so that the IR is well formed
        live = set(reverse_postorder(self.fn))
        self.fn.blocks = [b for b in self.fn.blocks if b.id in live]
        return self.fn

    def argument(self, label, structure):
        """Entry-block arguments for a parameter: one for a plain value, one per leaf of a
        structure."""
        if structure is None or structure[0] == LEAF:
            arg = self.fn.new_var(name=label)
            self.cur.args.append(arg)
            return arg
        node, value = structure
        items = []
        for i, child in enumerate(node.children):
            sub = _child_value(node, value, i)
            part = (f"{label}[{node.keys[i]!r}]" if node.kind == "dict" else
                    f"{label}.{node.keys[i]}" if node.keys else f"{label}[{i}]")
            items.append(sub if child.kind == "static" else self.argument(part, (child, sub)))
        return StructValue(node, items, value, label)

    def bind_name(self, frame, name, value):
        """Names bound to structures are resolved while compiling; others are SSA variables."""
        if isinstance(value, (StructValue, LocalLambda)):
            frame.statics[name] = value
        else:
            frame.statics.pop(name, None)
            self.write((frame.key, name), self.cur, value)

    def check_params(self, fdef, filename, offset):
        """The parameter names: positional ones (positional-only first), then keyword-only."""
        a = fdef.args
        if a.vararg or a.kwarg:
            raise UnsupportedSyntax("*args and **kwargs parameters are not supported", filename,
                                    offset + fdef.lineno, hint="name each parameter")
        return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]

    def push_frame(self, pyfn, fdef, filename, offset, lam=None):
        frame = Frame(pyfn, filename, offset, assigned_names(fdef), self.new_block(1),
                      len(self.frames_made), parent=lam.frame if lam else None,
                      lam=lam.node if lam else None)
        self.frames_made.append(frame)
        self.frames.append(frame)
        return frame

    def body_of(self, fdef, frame):
        """Translate a function body; returns the value it returns (in the frame's return block)."""
        self.suite(fdef.body)
        if self.cur is not None:
            self.jump(frame.return_block, [None])
        self.seal(frame.return_block)
        if not self.incoming[frame.return_block.id] and not frame.raises:
            raise self.error("the function never returns", fdef)
        self.frames.pop()
        self.cur = frame.return_block
        return frame.return_block.args[0]

    def inline(self, pyfn, args, keywords, node):
        if any(f.pyfn is pyfn for f in self.frames):
            raise self.error(f"recursion: {pyfn.__name__!r} calls itself, which zygopy cannot "
                             "compile", node, hint="rewrite the recursion as a loop")
        fdef, filename, offset = function_ast(pyfn)
        self.watch_function(pyfn)
        params = self.check_params(fdef, filename, offset)
        npos = len(fdef.args.posonlyargs) + len(fdef.args.args)
        defaults = dict(zip(params[npos - len(pyfn.__defaults__ or ()):npos],
                            pyfn.__defaults__ or (), strict=True))
        defaults.update(pyfn.__kwdefaults__ or {})
        defaults = {p: self.constant(d, node, f"default of {p!r}") for p, d in defaults.items()}
        values = self.bind(pyfn.__name__, fdef.args, params, defaults, args, keywords, node)
        return self.inlined_body(pyfn, fdef, filename, offset, params, values)

    def unit_call(self, method, args, keywords, node):
        """`obj.method(args)` as one `unit` statement, the method compiled on its own (units.py),
        or None where it is inlined."""
        if self.units is None:
            return None
        fdef, filename, offset = function_ast(method.fn)
        params = self.check_params(fdef, filename, offset)
        if len(args) + 1 + len(keywords) != len(params):  # defaults are compile-time values
            return None
        values = self.bind(method.fn.__name__, fdef.args, params, {}, [method.obj] + args,
                           keywords, node)
        leaves, structures = [], []
        for v in values:
            if isinstance(v, Var):
                leaves.append(v)
                structures.append(None)
            elif isinstance(v, StructValue) and _run_time_leaves(v, leaves):
                structures.append((v.node, v.obj))
            else:
                return None
        unit = Unit(method.fn, tuple(s and s[0] for s in structures), tuple(structures))
        if unit in self.units or not compiles_alone(unit):
            return None
        return self.emit("unit", unit, *leaves)

    def inline_lambda(self, lam, args, keywords, node):
        """A call of a lambda written in the function (LocalLambda)."""
        if any(f.lam is lam.node for f in self.frames):
            raise self.error("recursion: a lambda calls itself, which zygopy cannot compile", node,
                             hint="rewrite the recursion as a loop")
        fdef, frame = lambda_def(lam.node), lam.frame
        params = self.check_params(fdef, frame.filename, frame.line_offset)
        values = self.bind("<lambda>", fdef.args, params, lam.defaults, args, keywords, node)
        return self.inlined_body(frame.pyfn, fdef, frame.filename, frame.line_offset, params,
                                 values, lam)

    def inlined_body(self, pyfn, fdef, filename, offset, params, values, lam=None):
        """The value a callee returns, its body translated in a frame of its own."""
        frame = self.push_frame(pyfn, fdef, filename, offset, lam)
        for name, value in zip(params, values, strict=True):
            self.bind_name(frame, name, value)
        saved_line = self.line
        result = self.body_of(fdef, frame)
        self.line = saved_line
        return result

    def bind(self, name, signature, params, defaults, args, keywords, node):
        """The values of a callee's parameters, as Python binds them."""
        npos = len(signature.posonlyargs) + len(signature.args)
        if len(args) > npos:
            raise self.error(f"{name}() takes {npos} positional arguments but {len(args)} were "
                             "given", node, cls=UnsupportedType)
        bound = dict(zip(params, args, strict=False))
        for k, v in keywords.items():
            if k not in params[len(signature.posonlyargs):] or k in bound:
                raise self.error(f"{name}() got an unexpected or repeated argument {k!r}", node,
                                 cls=UnsupportedType)
            bound[k] = v
        for p, d in defaults.items():
            bound.setdefault(p, d)
        missing = [p for p in params if p not in bound]
        if missing:
            raise self.error(f"{name}() is missing arguments {missing}", node,
                             cls=UnsupportedType)
        return [bound[p] for p in params]

    # ---- statements ----------------------------------------------------------------------
    def suite(self, stmts):
        for s in stmts:
            if self.cur is None:  # after return/break/continue: the rest is dead code
                return
            self.at(s)
            self.stmt(s)

    def stmt(self, s):
        method = getattr(self, "stmt_" + type(s).__name__, None)
        if method is None:
            raise self.unsupported(s)
        method(s)

    def stmt_Pass(self, s):
        pass

    def stmt_Expr(self, s):
        if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            return  # docstring
        self.expr(s.value)

    def stmt_Assign(self, s):
        value = self.expr(s.value)
        for target in s.targets:
            self.assign(target, value)

    def stmt_AnnAssign(self, s):
        if s.value is not None:
            self.assign(s.target, self.expr(s.value))

    def stmt_AugAssign(self, s):
        op = BINOPS.get(type(s.op))
        if op is None:
            raise self.error(f"the operator {type(s.op).__name__} is not supported", s)
        if isinstance(s.target, ast.Name):
            old = self.load_name(s.target)
            self.assign(s.target,
                        self.emit("augment", old, self.emit(op, old, self.value(s.value))))
        elif isinstance(s.target, ast.Subscript):
            base, index = self.value(s.target.value), self.index(s.target.slice)
            old = self.emit("getindex", base, index)
            self.emit_effect("setindex", base, index, self.emit(op, old, self.value(s.value)))
        else:
            raise self.error("augmented assignment to this target is not supported", s)

    def emit_effect(self, op, *args):
        self.cur.stmts.append(Stmt(None, op, list(args), self.line))

    def assign(self, target, value):
        if isinstance(target, ast.Name):
            if isinstance(value, Var) and value.name is None:
                value.name = target.id
            self.bind_name(self.frame, target.id, value)
        elif isinstance(target, ast.Tuple) and isinstance(value, StructValue) and value.is_sequence:
            if len(target.elts) != len(value.items):
                raise self.error(f"cannot unpack {len(value.items)} values into "
                                 f"{len(target.elts)}", target)
            for t, item in zip(target.elts, value.items, strict=True):
                self.assign(t, self.struct_item(item))
        elif isinstance(target, ast.Tuple):
            if any(isinstance(t, ast.Starred) for t in target.elts):
                raise self.unsupported(next(t for t in target.elts if isinstance(t, ast.Starred)))
            n = len(value) if isinstance(value, tuple) else \
                len(self.defining_stmt(value).args) if self.defining_op(value) == "tuple" else None
            if n is not None and n != len(target.elts):
                raise self.error(f"cannot unpack {n} values into {len(target.elts)} names", target,
                                 cls=UnsupportedType)
            for i, t in enumerate(target.elts):
                self.assign(t, self.emit("getindex", self.runtime(value, target), i))
        elif isinstance(target, ast.Subscript):
            self.emit_effect("setindex", self.value(target.value), self.index(target.slice),
                             self.runtime(value, target))
        elif isinstance(target, ast.Attribute):
            raise self.error("assigning to an attribute is not supported", target)
        else:
            raise self.unsupported(target)

    def stmt_Return(self, s):
        value = self.value(s.value) if s.value is not None else None
        self.jump(self.frame.return_block, [value])
        self.cur = None

    def stmt_If(self, s):
        then, other = self.new_block(), self.new_block()
        self.cond_jump(s.test, then, other)
        self.seal(then)
        self.seal(other)
        join = self.new_block()
        for block, body in ((then, s.body), (other, s.orelse)):
            if not self.incoming[block.id]:
                continue  # a test known while compiling (a dict key's, a flag's): never runs
            self.cur = block
            self.suite(body)
            if self.cur is not None:
                self.jump(join)
        self.seal(join)
        self.cur = join if self.incoming[join.id] else None

    def loop(self, header, body_block, latch, exit_block, else_block, body, orelse, step=None):
        """Shared tail of while/for: translate the body with its break/continue targets."""
        self.seal(body_block)
        self.frame.loops.append((latch, exit_block))
        self.cur = body_block
        self.suite(body)
        if self.cur is not None:
            self.jump(latch)
        self.frame.loops.pop()
        if latch is not header:
            self.seal(latch)
            if self.incoming[latch.id]:
                self.cur = latch
                step()
                self.jump(header)
        self.seal(header)
        if else_block is not exit_block:
            self.seal(else_block)
            self.cur = else_block
            self.suite(orelse)
            if self.cur is not None:
                self.jump(exit_block)
        self.seal(exit_block)
        self.cur = exit_block if self.incoming[exit_block.id] else None

    def stmt_While(self, s):
        header, body, exit_block = self.new_block(), self.new_block(), self.new_block()
        else_block = self.new_block() if s.orelse else exit_block
        self.jump(header)
        self.cur = header
        self.cond_jump(s.test, body, else_block)
        self.loop(header, body, header, exit_block, else_block, s.body, s.orelse)

    def stmt_For(self, s):
        it = s.iter
        start, stop, step, seq, enum = 0, None, 1, None, False
        items = self.static_sequence(it)
        if items is not None:
            return self.unrolled_for(s, items)
        if self.static_callee(it) is enumerate and len(it.args) == 1 and not it.keywords:
            enum, it = True, it.args[0]
        fobj = self.static_callee(it)
        seqs = None  # the sequences zip(...) walks together
        if fobj is zip and it.args and all(self.static_callee(a) is None for a in it.args):
            if any(k.arg != "strict" or self.expr(k.value) for k in it.keywords):
                raise self.error("zip(..., strict=True) over run-time sequences is not "
                                 "supported", it, hint="check the lengths before the loop")
            seqs = [self.value(a) for a in it.args]
            stop = count = self.emit("len", seqs[0])
            for other in seqs[1:]:
                count = self.emit("min", count, self.emit("len", other))
        elif fobj is not None:
            if fobj is range:
                if it.keywords or not 1 <= len(it.args) <= 3:
                    raise self.error("range() takes 1 to 3 positional arguments", it)
                bounds = [self.value(a) for a in it.args]
                start, stop, step = (0, bounds[0], 1) if len(bounds) == 1 else (bounds + [1])[:3]
                if step == 0:
                    raise self.error("range() step must not be zero", it)
            else:
                raise self.error(f"a for loop over {getattr(fobj, '__name__', fobj)}(...) is not "
                                 "supported", it, hint="loop over range(...) or over a 1-d array")
        if seqs is not None:
            pass
        elif stop is None:
            seq = self.value(it)
            start, stop, step = 0, self.emit("len", seq), 1
            count = stop
        else:
            count = self.emit("range_len", start, stop, step)
        counter = (self.frame.key, f"$for{s.lineno}.{s.col_offset}")
        self.write(counter, self.cur, 0)
        header, body, latch, exit_block = (self.new_block(), self.new_block(), self.new_block(),
                                           self.new_block())
        else_block = self.new_block() if s.orelse else exit_block
        self.jump(header)
        self.cur = header
        k = self.read(counter, header)
        self.jump(else_block, cond=self.emit("lt", k, count))
        self.jump(body)
        self.cur = body
        k = self.read(counter, body)
        if start == 0 and step == 1:
            index = k
        else:
            index = self.emit("add", start, self.emit("mul", k, step))
        item = self.emit("getindex", seq, index) if seq is not None else index
        if seqs is not None:
            item = self.emit("tuple", *[self.emit("getindex", q, index) for q in seqs])
        if enum:
            item = self.emit("tuple", k, item)
        self.assign(s.target, item)

        def step():
            self.write(counter, self.cur, self.emit("add", self.read(counter, self.cur), 1))
        self.loop(header, body, latch, exit_block, else_block, s.body, s.orelse, step)

    def static_struct(self, node):
        """The structured value an expression names (x, x.layers, x.layers[0], x.layers[:-1]),
        without emitting code."""
        if isinstance(node, ast.Name):
            frame = self.frame_of(node.id)
            return frame.statics.get(node.id) if frame is not None else None
        if isinstance(node, ast.Attribute):
            base = self.static_struct(node.value)
            if base is not None and node.attr in base.node.keys:
                item = base.field(node.attr)
                return item if isinstance(item, StructValue) else None
        if isinstance(node, ast.Subscript):
            base = self.static_struct(node.value)
            if base is not None and base.is_dict and isinstance(node.slice, ast.Constant):
                key = node.slice.value
                item = base.field(key) if isinstance(key, str) else None
                return item if isinstance(item, StructValue) else None
            if base is not None and base.is_sequence:
                item = self.struct_subscript(base, node)
                return item if isinstance(item, StructValue) else None
        return None

    def static_sequence(self, node):
        """The items of an iterable known while compiling, as frontend values: a structure or a
        slice of one, a tuple or list written out, zip/enumerate of those. None when the iterable
        is a run-time value (a range, an array, a list built at run time)."""
        view = self.dict_view(node)
        if view is not None:
            return [self.struct_item(i) for i in view.items]
        struct = self.static_struct(node)
        if struct is not None:
            if not struct.is_sequence:
                raise self.error(f"a for loop over the {struct.node.cls.__name__} "
                                 f"{struct.label!r} is not supported", node)
            return [self.struct_item(i) for i in struct.items]
        if isinstance(node, (ast.Tuple, ast.List)):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                return None
            return [self.expr(e) for e in node.elts]
        callee = self.static_callee(node)
        strict = [k for k in node.keywords if k.arg == "strict"] if callee is zip else []
        if callee not in (zip, enumerate) or len(node.keywords) > len(strict) or not node.args:
            return None
        parts = [self.static_sequence(a) for a in node.args]
        if any(p is None for p in parts):
            return None
        label = ast.unparse(node)
        if callee is enumerate:
            if len(parts) != 1:
                return None
            return [compile_time_sequence([k, v], label) for k, v in enumerate(parts[0])]
        n = min(len(p) for p in parts)
        if strict and self.expr(strict[0].value) and any(len(p) != n for p in parts):
            raise self.error(f"{label}: the sequences have different lengths "
                             f"({', '.join(str(len(p)) for p in parts)})", node,
                             cls=UnsupportedType)
        return [compile_time_sequence([p[k] for p in parts], label) for k in range(n)]

    def unrolled_for(self, s, items):
        """A loop over a sequence known while compiling (layers of a model, zip of them) is
        specialised element by element: each element may be of a different class."""
        exit_block = self.new_block()
        steps = ([self.new_block() for _ in items]
                 + [self.new_block() if s.orelse else exit_block])
        self.jump(steps[0])
        for k, value in enumerate(items):
            self.seal(steps[k])
            self.cur = steps[k]
            self.assign(s.target, value)
            self.frame.loops.append((steps[k + 1], exit_block))
            self.suite(s.body)
            self.frame.loops.pop()
            if self.cur is not None:
                self.jump(steps[k + 1])
        if s.orelse:
            self.seal(steps[-1])
            self.cur = steps[-1]
            self.suite(s.orelse)
            if self.cur is not None:
                self.jump(exit_block)
        self.seal(exit_block)
        self.cur = exit_block if self.incoming[exit_block.id] else None

    def stmt_Break(self, s):
        if not self.frame.loops:
            raise self.error("break outside a loop", s)
        self.jump(self.frame.loops[-1][1])
        self.cur = None

    def stmt_Continue(self, s):
        if not self.frame.loops:
            raise self.error("continue outside a loop", s)
        self.jump(self.frame.loops[-1][0])
        self.cur = None

    # ---- dicts as structures: keys known while compiling -------------------------------------
    def dict_item(self, base, node):
        """The entry of a structured dict that `base[key]` reads; the key must be known while
        compiling (a string constant, or a key of an unrolled loop over the dict)."""
        key = node.slice
        if isinstance(key, ast.Constant):
            key = key.value
        elif isinstance(key, ast.Name):  # bound to a key by a loop over the dict
            key = self.expr(key)
            key = key.obj if isinstance(key, Static) else key
        if not isinstance(key, str) or key not in base.node.keys:
            keys = ", ".join(map(repr, base.node.keys))
            raise self.error(f"{base.label}[{ast.unparse(node.slice)}]: the keys of {base.label} "
                             f"are {keys}; a key must be one of them, written as a string constant",
                             node, cls=UnsupportedType)
        return base.field(key)

    def dict_view(self, node):
        """For a loop over a structured dict, `d`, `d.keys()`, `d.values()` or `d.items()`: the
        sequence of what each step gets (keys as compile-time strings), else None."""
        view = "keys"
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and not node.args and not node.keywords):
            view, node = node.func.attr, node.func.value
        base = self.static_struct(node)
        if base is None or not base.is_dict or view not in ("keys", "values", "items"):
            return None
        keys = [Static(k) for k in base.node.keys]
        items = {"keys": keys, "values": base.items,
                 "items": [self.pair(k, v) for k, v in zip(keys, base.items, strict=True)]}[view]
        node = Node("tuple", tuple, (), tuple(LEAF for _ in items))
        return StructValue(node, items, None, f"{base.label}.{view}()")

    @staticmethod
    def pair(key, value):
        """A (key, value) step of a loop over d.items()."""
        return StructValue(Node("tuple", tuple, (), (LEAF, LEAF)), [key, value], None, "item")

    def expr_Dict(self, node):
        """A dict literal with string constant keys: a structure whose keys are known while
        compiling."""
        keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
        if not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
            raise self.error("a dict is supported with distinct string constant keys only", node,
                             hint="write {'w': w, 'b': b}", cls=UnsupportedType)
        items = [self.expr(v) for v in node.values]
        children = tuple(v.node if isinstance(v, StructValue) else LEAF for v in items)
        return StructValue(Node("dict", dict, tuple(keys), children), items, None, "dict")

    def static_string(self, node):
        """The string an expression is known to be while compiling (a constant, or a dict key
        bound by a loop over the dict), else None."""
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, ast.Name) and self.frame_of(node.id) is not None:
            v = self.expr(node)
            return v.obj if isinstance(v, Static) and isinstance(v.obj, str) else None
        return None

    def compare_keys(self, node):
        """`key == 'b1'`, `key != ...`, `key in ('b1', 'b2')` and `'b1' in d` for dict keys, known
        while compiling: True or False; None for any other comparison."""
        if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq, ast.In,
                                                               ast.NotIn)):
            return None
        left, right, op = node.left, node.comparators[0], node.ops[0]
        key = self.static_string(left)
        if key is None:
            return None
        if isinstance(op, (ast.Eq, ast.NotEq)):
            other = self.static_string(right)
            return None if other is None else (key == other) == isinstance(op, ast.Eq)
        if isinstance(right, (ast.Tuple, ast.List)):
            keys = [self.static_string(e) for e in right.elts]
            if None in keys:
                return None
        else:
            d = self.static_struct(right)
            if d is None or not d.is_dict:
                return None
            keys = d.node.keys
        return (key in keys) == isinstance(op, ast.In)

    def none_test(self, node):
        """`x is None`, `x is not None`, known while compiling: an attribute that is None is part
        of the structure, and a run-time value is None only where its type says so (a nested
        gradient's part for an int argument), which type inference decides."""
        left, right = self.expr(node.left), self.expr(node.comparators[0])
        if left is not None and right is not None:
            raise self.error("`is` compares with None only (`x is None`); compare values with ==",
                             node)
        value = right if left is None else left
        if isinstance(value, Var):
            test = self.emit("isnone", value)
            return test if isinstance(node.ops[0], ast.Is) else self.emit("not", test)
        return (value is None) == isinstance(node.ops[0], ast.Is)

    def key_test(self, method, node):
        """key.startswith('b') and the like on a dict key, done while compiling."""
        args = [self.static_string(a) for a in node.args]
        if None in args or node.keywords:
            raise self.error(f"{method.__self__!r}.{method.__name__}() takes string constants "
                             "only", node, cls=UnsupportedType)
        return method(*args)

    # ---- raise and assert: the user's exception, on a path that goes no further --------------
    def stmt_Raise(self, s):
        if s.exc is None:
            raise self.error("a bare raise (re-raising an exception) is not supported", s)
        if s.cause is not None and not (isinstance(s.cause, ast.Constant)
                                        and s.cause.value is None):
            raise self.error("raise ... from ... is not supported", s,
                             hint="raise the exception on its own")
        call = s.exc if isinstance(s.exc, ast.Call) else None
        cls = self.peek_static(call.func if call is not None else s.exc)
        if not (isinstance(cls, Static) and isinstance(cls.obj, type)
                and issubclass(cls.obj, BaseException)):
            raise self.error("raise needs an exception class and its arguments", s,
                             hint="raise ValueError('message') or raise ValueError(f'... {n}')")
        if call is not None and call.keywords:
            raise self.error("keyword arguments to an exception are not supported", s)
        self.fail(cls.obj, call.args if call is not None else [], s)

    def stmt_Assert(self, s):
        ok, failed = self.new_block(), self.new_block()
        self.cond_jump(s.test, ok, failed)
        self.seal(ok)
        self.seal(failed)
        if self.incoming[failed.id]:
            self.cur = failed
            self.fail(AssertionError, [s.msg] if s.msg is not None else [], s)
        self.cur = ok if self.incoming[ok.id] else None

    def fail(self, cls, arg_nodes, node):
        """Raise cls(*arguments): the path ends here. In the IR it jumps to the top function's
        return passing RAISED (nothing ever arrives there from it), so no later code sees the
        path: a variable assigned on every other path counts as assigned."""
        arguments, values = [], []
        for a in arg_nodes:
            if isinstance(a, ast.Constant) and isinstance(a.value, (str, int, float, type(None))):
                arguments.append(("constant", a.value))
            elif isinstance(a, ast.JoinedStr):
                template, formatted = self.format_template(a)
                arguments.append(("format", template, len(formatted)))
                values += formatted
            else:
                arguments.append(("value",))
                values.append(self.value(a))
        self.at(node)
        self.emit_effect("raise", Raise(cls, tuple(arguments), self.frame.filename, self.line),
                         *values)
        self.frame.raises = True
        self.jump(self.frames[0].return_block, [RAISED])
        self.cur = None

    def format_template(self, node):
        """An f-string as a str.format template, and the values it formats."""
        text, values = [], []
        for part in node.values:
            if isinstance(part, ast.Constant):
                text.append(part.value.replace("{", "{{").replace("}", "}}"))
                continue
            spec = part.format_spec
            if spec is not None and not all(isinstance(p, ast.Constant) for p in spec.values):
                raise self.error("a computed format in an f-string is not supported", part)
            conversion = "" if part.conversion == -1 else "!" + chr(part.conversion)
            text.append("{" + conversion + (":" + "".join(p.value for p in spec.values)
                                            if spec is not None else "") + "}")
            values.append(self.value(part.value))
        return "".join(text), values

    # ---- conditions (jumping code) --------------------------------------------------------
    def cond_jump(self, test, if_true, if_false):
        """Branch to if_true or if_false on the truth of `test`, short-circuiting and/or/not."""
        self.at(test)
        if isinstance(test, ast.BoolOp):
            for v in test.values[:-1]:
                nxt = self.new_block()
                if isinstance(test.op, ast.And):
                    self.cond_jump(v, nxt, if_false)
                else:
                    self.cond_jump(v, if_true, nxt)
                self.seal(nxt)
                if not self.incoming[nxt.id]:  # decided while compiling: the rest never runs
                    break
                self.cur = nxt
            else:
                self.cond_jump(test.values[-1], if_true, if_false)
        elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            self.cond_jump(test.operand, if_false, if_true)
        else:
            c = self.truth(self.value(test))
            if isinstance(c, bool):
                self.jump(if_true if c else if_false)
            else:
                self.jump(if_false, cond=c)
                self.jump(if_true)
        self.cur = None

    def truth(self, value):
        if isinstance(value, Var):
            defn = self.defining_op(value)
            return value if defn in TRUTH_VALUED else self.emit("truth", value)
        if isinstance(value, Undef):
            return self.emit("truth", value)
        return bool(value)

    def defining_op(self, var):
        s = self.defining_stmt(var)
        return s.op if s is not None else None

    def defining_stmt(self, var):
        for s in self.cur.stmts:
            if s.var is var:
                return s
        return None

    # ---- expressions ---------------------------------------------------------------------
    def value(self, node):
        """A run-time value (Var or constant) for an expression."""
        return self.runtime(self.expr(node), node)

    def runtime(self, v, node):
        if isinstance(v, StructValue):
            if v.is_sequence and all(not isinstance(i, StructValue) for i in v.items):
                return self.emit("tuple", *[self.runtime(self.struct_item(i), node)
                                            for i in v.items])
            use = f"its entries, {v.label}['key']" if v.is_dict else "its fields"
            raise self.error(f"the {v.node.cls.__name__} {v.label!r} cannot be used as a value "
                             f"here; use {use}", node, cls=UnsupportedType)
        if isinstance(v, Static) and isinstance(v.obj, str):
            raise self.error(f"the dict key {v.obj!r} can only index its dict", node,
                             cls=UnsupportedType)
        if isinstance(v, LocalLambda):
            raise self.error("a lambda can only be called or passed to a function", node,
                             cls=UnsupportedType)
        if isinstance(v, (Static, Bound)):
            what = describe(v.obj) if isinstance(v, Static) else f"the method {v.fn.__name__}"
            raise self.error(f"{what} cannot be used as a value here", node, cls=UnsupportedType)
        return v

    def struct_item(self, item):
        """A child of a structured value as the frontend handles it."""
        if isinstance(item, (Var, StructValue, Static, Bound, Undef)):
            return item
        return self.constant(item, None, "this attribute")

    def expr(self, node):
        self.at(node)
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is None:
            raise self.unsupported(node)
        return method(node)

    def expr_Constant(self, node):
        return self.constant(node.value, node, "this constant")

    def constant(self, v, node, what):
        if isinstance(v, (bool, int, float)) or v is None:
            return v
        if isinstance(v, (np.floating, np.integer)) and typeof(v) is not None:
            return v  # as it is: it promotes as its dtype does (NEP 50), as an argument does
        if isinstance(v, (np.floating, np.integer, np.bool_)):  # float16 computes as a float
            return v.item()
        if isinstance(v, tuple):
            return tuple(self.constant(x, node, what) for x in v)
        if isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type,
                          np.ufunc)):
            return Static(v)
        if isinstance(v, complex):
            raise self.error("complex numbers are not supported", node, cls=UnsupportedType)
        if isinstance(v, str):
            raise self.error("strings are not supported", node, cls=UnsupportedType,
                             hint="a string is accepted only as an option of a NumPy call, "
                             "written in the call: np.einsum('ij,jk->ik', a, b), "
                             "np.linalg.norm(x, 'fro')")
        if isinstance(v, np.ndarray):
            raise self.error(f"{what} holds a NumPy array, which can only be captured on its own",
                             node, hint="pass it as an argument, or read it from a global or "
                             "closure variable of its own", cls=UnsupportedType)
        if callable(v):
            return Static(v)
        raise self.error(f"{what} has type {type(v).__name__}, which zygopy does not support", node,
                         cls=UnsupportedType)

    def expr_Name(self, node):
        frame = self.frame_of(node.id)
        if frame is None:
            return self.global_value(node.id, node)
        if node.id in frame.statics:
            return frame.statics[node.id]
        return self.read((frame.key, node.id), self.cur)

    def frame_of(self, name):
        """The frame whose local `name` is: the current one, or for a lambda the frames it was
        written in; None for a global."""
        frame = self.frame
        while frame is not None and name not in frame.statics and name not in frame.locals:
            frame = frame.parent
        return frame

    def expr_Lambda(self, node):
        a = node.args
        positional = a.posonlyargs + a.args
        defaults = {p.arg: self.value(d) for p, d in zip(positional[len(positional)
                                                                    - len(a.defaults):],
                                                          a.defaults, strict=True)}
        defaults.update({p.arg: self.value(d) for p, d in zip(a.kwonlyargs, a.kw_defaults,
                                                              strict=True) if d is not None})
        return LocalLambda(node, self.frame, defaults)

    load_name = expr_Name

    def global_value(self, name, node):
        pyfn = self.frame.pyfn
        if pyfn.__closure__:
            cells = dict(zip(pyfn.__code__.co_freevars, pyfn.__closure__, strict=True))
            if name in cells:
                try:
                    return self.outside(cells[name], name, node, f"the closure variable {name!r}")
                except ValueError:
                    raise self.error(f"the closure variable {name!r} is not assigned yet",
                                     node) from None
        if name in pyfn.__globals__:
            return self.outside(pyfn.__globals__, name, node, f"the global {name!r}")
        if hasattr(builtins, name):
            return Static(getattr(builtins, name))
        raise self.error(f"name {name!r} is not defined", node, cls=UnsupportedType)

    def outside(self, holder, name, node, what, floats_vary=True):
        """The value of `name` in `holder` (captured.read), read from outside the function: arrays,
        and floats where `floats_vary`, become hidden arguments, read at each call; numbers and
        tuples are folded as constants, checked at each call (captured.py)."""
        value = read(holder, name)
        seen = self.captures.get((id(holder), name))
        if seen is not None and seen[1] is not None:
            return seen[1]
        # without `capture` (code called with its arguments only, which can take no hidden ones),
        # every value is folded; it is recorded all the same, so that the code that calls it
        # compiles again when it changes
        runtime = self.capture and (isinstance(value, np.ndarray)
                                    or (floats_vary and is_float(typeof(value))))
        result = self.hidden_argument(value, name, node, what) if runtime else \
            self.constant(value, node, what)
        if seen is None and not (isinstance(result, Static) and _fixed(holder, value)):
            self.watch(holder, name, runtime, result if runtime else None)
        return result

    def watch(self, holder, name, runtime=False, hidden=None):
        """Record that the code depends on `name` in `holder` (captured.py): a function or an
        object by identity, a number by value, a hidden argument by type. A notebook cell run
        again rebinds what it defines, and IPython's autoreload swaps a function's __code__."""
        if (id(holder), name) not in self.captures:
            captured = Captured.now(holder, name, runtime)
            self.captures[(id(holder), name)] = (captured, hidden)
            self.fn.captured.append(captured)

    def watch_function(self, pyfn):
        """The code and defaults of a function whose body is compiled in."""
        for name in ("__code__", "__defaults__", "__kwdefaults__"):
            if getattr(pyfn, name) is not None:
                self.watch(pyfn, name)

    def hidden_argument(self, value, name, node, what):
        t = typeof(value)
        if t is None or (isinstance(value, np.ndarray) and value.dtype.kind == "c"):
            raise self.error(f"{what} is an array of {value.dtype}, which zygopy does not support",
                             node, hint="use float64 or float32 arrays", cls=UnsupportedType)
        arg = self.fn.new_var(name=name)
        self.entry.args.append(arg)  # defined in the entry block: every later use sees it
        return arg

    def peek_static(self, node):
        """The compile-time object a callee expression names, without emitting code; None if
        run-time."""
        if isinstance(node, ast.Name) and self.frame_of(node.id) is None:
            return self.global_value(node.id, node)
        if isinstance(node, ast.Attribute):
            base = self.peek_static(node.value)
            if isinstance(base, Static):
                return self.attribute_of_static(base, node)
        return None

    def static_callee(self, node):
        """The compile-time object a call expression calls (range, enumerate, ...); None if not
        such a call."""
        if isinstance(node, ast.Call):
            callee = self.peek_static(node.func)
            if isinstance(callee, Static):
                return callee.obj
        return None

    def attribute_of_static(self, base, node):
        if not hasattr(base.obj, node.attr):
            raise self.error(f"{describe(base.obj)} has no attribute {node.attr!r}", node,
                             cls=UnsupportedType)
        return self.outside(base.obj, node.attr, node, f"{describe(base.obj)}.{node.attr}",
                            floats_vary=False)

    def attribute_of_struct(self, base, node):
        """A field of a structured value, or one of its class's methods bound to it."""
        if base.is_dict:
            raise self.error(f"{base.label} is a dict: read its entries as "
                             f"{base.label}['key']", node, cls=UnsupportedType,
                             hint="iterate over it with .items(), .keys() or .values() in a for "
                             "loop")
        if node.attr in base.node.keys:
            return self.struct_item(base.field(node.attr))
        attr = getattr(base.node.cls, node.attr, None)
        static = isinstance(inspect.getattr_static(base.node.cls, node.attr, None), staticmethod)
        if static or isinstance(attr, types.FunctionType):
            self.watch(base.node.cls, node.attr)
            return Static(attr) if static else Bound(attr, base)  # a staticmethod: no object
        if isinstance(attr, property) and isinstance(attr.fget, types.FunctionType):
            return self.inline(attr.fget, [base], {}, node)
        if base.node.kind == "namedtuple" or attr is None:
            raise self.error(f"{base.label} has no attribute {node.attr!r}", node,
                             cls=UnsupportedType)
        return self.outside(base.node.cls, node.attr, node, f"{base.label}.{node.attr}",
                            floats_vary=False)

    def expr_Attribute(self, node):
        base = self.expr(node.value)
        if isinstance(base, StructValue):
            return self.attribute_of_struct(base, node)
        if isinstance(base, Static):
            return self.attribute_of_static(base, node)
        if node.attr == "T":
            return self.emit("transpose", base, None)
        return self.emit("getattr", base, node.attr)

    def expr_BinOp(self, node):
        op = BINOPS.get(type(node.op))
        if op is None:
            raise self.error(f"the operator {type(node.op).__name__} is not supported", node)
        a, b = self.value(node.left), self.value(node.right)
        self.at(node)
        return self.emit(op, a, b)

    def expr_UnaryOp(self, node):
        op = UNARYOPS.get(type(node.op))
        if op is None:
            raise self.error(f"the operator {type(node.op).__name__} is not supported", node)
        v = self.value(node.operand)
        if op == "not":
            v = self.truth(v)
            return (not v) if isinstance(v, bool) else self.emit("not", v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v if op == "neg" else +v  # a literal such as -1 is a constant (axis=-1)
        return self.emit(op, v)

    def expr_Compare(self, node):
        known = self.compare_keys(node)
        if known is not None:
            return known
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)):
            return self.none_test(node)
        ops = [CMPOPS.get(type(o)) for o in node.ops]
        if None in ops:
            bad = node.ops[ops.index(None)]
            raise self.error(f"the comparison {type(bad).__name__} is not supported", node)
        left = self.value(node.left)
        if len(ops) == 1:
            return self.emit(ops[0], left, self.value(node.comparators[0]))
        # a < b < c: later comparisons run only while the earlier ones hold
        join = self.new_block(1)
        for i, (op, comp) in enumerate(zip(ops, node.comparators, strict=True)):
            right = self.value(comp)
            c = self.emit(op, left, right)
            if i == len(ops) - 1:
                self.jump(join, [c])
                break
            nxt = self.new_block()
            self.jump(join, [False], cond=c)
            self.jump(nxt)
            self.seal(nxt)
            self.cur, left = nxt, right
        return self.enter_join(join)

    def enter_join(self, join):
        self.seal(join)
        self.cur = join
        return join.args[0]

    def expr_BoolOp(self, node):
        # `a and b` is a when a is falsy, else b; `a or b` is a when a is truthy, else b
        is_and = isinstance(node.op, ast.And)
        join = self.new_block(1)
        for v in node.values[:-1]:
            val = self.value(v)
            c = self.truth(val)
            if isinstance(c, bool):
                if c == is_and:
                    continue
                self.jump(join, [val])
                break
            nxt = self.new_block()
            if is_and:
                self.jump(join, [val], cond=c)
                self.jump(nxt)
            else:
                self.jump(nxt, cond=c)
                self.jump(join, [val])
            self.seal(nxt)
            self.cur = nxt
        else:
            self.jump(join, [self.value(node.values[-1])])
        return self.enter_join(join)

    def expr_IfExp(self, node):
        then, other = self.new_block(), self.new_block()
        self.cond_jump(node.test, then, other)
        self.seal(then)
        self.seal(other)
        join = self.new_block(1)
        for block, e in ((then, node.body), (other, node.orelse)):
            if self.incoming[block.id]:
                self.cur = block
                self.jump(join, [self.value(e)])
        return self.enter_join(join)

    def expr_Tuple(self, node):
        items = [self.expr(e) for e in node.elts]
        if any(isinstance(v, (StructValue, Static, Bound)) for v in items):
            return compile_time_sequence(items, ast.unparse(node))
        return self.emit("tuple", *[self.runtime(v, e) for v, e in zip(items, node.elts,
                                                                         strict=True)])

    def expr_List(self, node):
        """A list of layers or functions is known while compiling, like a tuple; a list of numbers
        or arrays is a run-time list (list_primitives.py), which `append` can grow in a loop."""
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise self.unsupported(next(e for e in node.elts if isinstance(e, ast.Starred)))
        items = [self.expr(e) for e in node.elts]
        if any(isinstance(v, (StructValue, Static, Bound)) for v in items):
            return compile_time_sequence(items, ast.unparse(node), kind="list")
        self.at(node)
        return self.emit("list", *[self.runtime(v, e) for v, e in zip(items, node.elts,
                                                                        strict=True)])

    def list_append(self, base, node):
        """`xs.append(v)`: the list changes in place and `xs` names the result, so that later
        reads come after the append in the IR."""
        target = node.func.value
        if len(node.args) != 1 or node.keywords:
            raise self.error("append takes one argument", node)
        if not isinstance(target, ast.Name):
            raise self.error(f"append to {ast.unparse(target)} is not supported", node,
                             hint="append to a list held in a local variable")
        v = self.value(node.args[0])
        self.at(node)
        self.assign(target, self.emit("list_append", base, v))
        return None

    def expr_Subscript(self, node):
        base = self.expr(node.value)
        if isinstance(base, StructValue) and base.is_dict:
            return self.struct_item(self.dict_item(base, node))
        if isinstance(base, StructValue) and base.is_sequence:
            return self.struct_subscript(base, node)
        return self.emit("getindex", self.runtime(base, node.value), self.index(node.slice))

    def struct_subscript(self, base, node):
        """An item or a slice of a tuple or list known while compiling; the indices must be
        constants."""
        if isinstance(node.slice, ast.Slice):
            bounds = [self.expr(p) if p is not None else None
                      for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            if any(b is not None and (not isinstance(b, int) or isinstance(b, bool))
                   for b in bounds) or bounds[2] == 0:
                raise self.error(f"{base.label} can only be sliced with constant integers", node,
                                 hint="write the bounds as numbers, such as params[:-1]",
                                 cls=UnsupportedType)
            part = slice(*bounds)
            kind = "list" if base.node.kind == "list" else "tuple"
            obj = base.obj[part] if isinstance(base.obj, (tuple, list)) else None
            return StructValue(Node(kind, list if kind == "list" else tuple,
                                    children=base.node.children[part]),
                               base.items[part], obj, f"{base.label}[{ast.unparse(node.slice)}]")
        i = self.expr(node.slice)
        if (not isinstance(i, int) or isinstance(i, bool)
                or not -len(base.items) <= i < len(base.items)):
            raise self.error(f"{base.label} can only be indexed by a constant integer in range",
                             node, hint="loop over it with for, or index it with a number",
                             cls=UnsupportedType)
        return self.struct_item(base.items[i])

    def index(self, node):
        if isinstance(node, ast.Slice):
            parts = [self.value(p) if p is not None else None
                     for p in (node.lower, node.upper, node.step)]
            return self.emit("slice", *parts)
        if isinstance(node, ast.Tuple):
            return self.emit("tuple", *[self.index(e) for e in node.elts])
        v = self.expr(node)
        if isinstance(v, StructValue) and v.node.kind == "list":
            # a list argument is taken apart as a tuple is: a[idx] would read as a[0, 2]
            raise self.error(f"indexing an array with the list {v.label!r} is not supported",
                             node, hint=f"pass np.array({v.label}), an array of indices",
                             cls=UnsupportedType)
        if isinstance(node, ast.List):  # a[[0, 2]] is NumPy's a[np.array([0, 2])]
            return self.emit("list_stack", self.runtime(v, node), 0)
        return self.runtime(v, node)

    def expr_Call(self, node):
        if (any(isinstance(a, ast.Starred) for a in node.args)
                or any(k.arg is None for k in node.keywords)):
            raise self.error("*args/**kwargs in a call are not supported", node)
        if isinstance(node.func, ast.Call):  # zygopy.grad(g)(x): the gradient function, called
            maker = self.peek_static(node.func.func)
            if isinstance(maker, Static) and maker.obj is _api().grad:
                return self.nested_grad(node)
        if isinstance(node.func, ast.Attribute):
            base = self.expr(node.func.value)
            if isinstance(base, StructValue):
                callee = self.attribute_of_struct(base, node.func)
            elif not isinstance(base, Static):
                return self.method_call(base, node)
            else:
                callee = self.attribute_of_static(base, node.func)
        else:
            callee = self.expr(node.func)
        if isinstance(callee, StructValue):  # calling an object: its __call__
            # a class without a __call__ of its own gives type's, which is no FunctionType
            method = callee.node.cls.__call__
            if not isinstance(method, types.FunctionType):
                raise self.error(f"the {callee.node.cls.__name__} {callee.label!r} is not callable",
                                 node)
            self.watch(callee.node.cls, "__call__")
            callee = Bound(method, callee)
        if isinstance(callee, (Bound, LocalLambda)):
            args = [self.expr(a) for a in node.args]
            keywords = {k.arg: self.expr(k.value) for k in node.keywords}
            self.at(node)
            if isinstance(callee, LocalLambda):
                return self.inline_lambda(callee, args, keywords, node)
            unit = self.unit_call(callee, args, keywords, node)
            if unit is not None:
                return unit
            return self.inline(callee.fn, [callee.obj] + args, keywords, node)
        if not isinstance(callee, Static):
            raise self.error("calling a value computed at run time is not supported", node)
        obj = callee.obj
        if isinstance(getattr(obj, "__self__", None), str) and obj.__name__ in STRING_TESTS:
            return self.key_test(obj, node)
        if obj is _api().gradient:
            return self.nested_gradient(node)
        if obj is _api().jvp:
            return self.nested_jvp(node)
        if isinstance(obj, CustomRule):
            if node.keywords:
                raise self.error(f"keyword arguments to the custom rule {obj.__name__!r} are not "
                                 "supported", node)
            args = [self.value(a) for a in node.args]
            self.at(node)
            return self.emit("custom", obj, *args)
        if obj is np.clip:
            if not node.args:
                raise self.error("np.clip needs the array to clip", node)
            return self.clip(self.value(node.args[0]), node.args[1:], node.keywords, node,
                             "np.clip")
        if obj is np.einsum:
            return self.einsum(node)
        prim = _numpy_function(obj)
        if prim in ("list_stack", "asarray") and obj is not np.stack and (
                len(node.args) != 1 or node.keywords):
            raise self.error(f"{describe(obj)} takes just the list or array to convert", node,
                             hint="convert the dtype afterwards with .astype(...)")
        if prim is not None:
            return self.call_array_primitive(prim, node.args, node.keywords, node, describe(obj))
        if obj in (sum, max, min) and not node.keywords and (
                len(node.args) == 1 or obj is sum and len(node.args) == 2):
            return self.reduction(obj.__name__, node)
        if obj is len and len(node.args) == 1 and not node.keywords:
            v = self.expr(node.args[0])
            if isinstance(v, StructValue) and (v.is_sequence or v.is_dict):
                return len(v.items)  # known while compiling
            self.at(node)
            return self.emit("len", self.runtime(v, node.args[0]))
        # structured values pass into user functions as they are; primitives take run-time values
        convert = self.expr if isinstance(obj, types.FunctionType) else self.value
        args = [convert(a) for a in node.args]
        keywords = {k.arg: convert(k.value) for k in node.keywords}
        self.at(node)
        prim = resolve_callable(obj)
        if prim is not None:
            if keywords:
                raise self.error(f"keyword arguments to {describe(obj)} are not supported", node)
            if obj in FLOAT_OPERANDS:
                args = [self.emit("float", a) for a in args]
            if prim in ("min", "max") and len(args) >= 2:
                result = args[0]
                for a in args[1:]:
                    result = self.emit(prim, result, a)
                return result
            if prim in ("min", "max"):
                raise self.error(f"{describe(obj)} of a single iterable is not supported", node,
                                 hint="pass the values as separate arguments")
            if obj is math.log and len(args) == 2:  # a base: Python divides the two logs
                return self.emit("truediv", self.emit("log", args[0]), self.emit("log", args[1]))
            arity = PRIMITIVES[prim].arity
            if len(args) != arity:
                raise self.error(f"{describe(obj)} takes {arity} argument{'s' * (arity > 1)} "
                                 f"here, not {len(args)}", node)
            return self.emit(prim, *args)
        if obj is range:
            raise self.error("range() is only supported as the iterable of a for loop", node)
        if isinstance(obj, types.FunctionType):
            refused = _api().refused_inside(obj, ast.unparse(node.func))
            if refused:
                raise self.error(refused[0], node, hint=refused[1])
            return self.inline(obj, args, keywords, node)
        if isinstance(type(obj).__call__, types.FunctionType):
            # an object with a Python __call__ (a layer, a model) read from a global or closure
            raise self.error(f"calling the {type(obj).__name__} object "
                             f"{ast.unparse(node.func)!r}, which the function reads from outside, "
                             "is not supported", node, hint="pass it as an argument (loss(model, "
                             "x)): an object the function is given is compiled with it")
        raise self.error(f"calling {describe(obj)} is not supported", node,
                         hint="zygopy compiles math/NumPy functions it has rules for and plain "
                         "Python functions")

    def nested_gradient(self, node):
        """zygopy.gradient(g, *args) in compiled code: g's gradient, by forward mode, inlined once
        types are known (adjoint/sweeps.py)."""
        if node.keywords or not node.args:
            raise self.error("zygopy.gradient inside a compiled function takes the function and "
                             "its arguments only", node, hint="pass every argument positionally")
        return self.gradients_of(node.args[0], node.args[1:], node)

    def nested_jvp(self, node):
        """zygopy.jvp(g, (x, ...), (dx, ...)) in compiled code: (g's value, its tangent), g's
        forward mode inlined once types are known (adjoint/sweeps.py)."""
        if (node.keywords or len(node.args) != 3
                or not all(isinstance(a, (ast.Tuple, ast.List)) for a in node.args[1:])
                or len(node.args[1].elts) != len(node.args[2].elts)):
            raise self.error("zygopy.jvp inside a compiled function takes the function, a tuple of "
                             "its arguments and a tuple of as many tangents, written in the call",
                             node, hint="zygopy.jvp(g, (x, y), (dx, dy)); None for a tangent "
                             "that is zero")
        g = self.plain_function(node.args[0], node, "zygopy.jvp")
        values = [self.value(a) for a in node.args[1].elts + node.args[2].elts]
        self.at(node)
        return self.emit("nested_jvp", g, len(node.args[1].elts), *values)

    def plain_function(self, g_node, node, what):
        g = self.expr(g_node)
        if not (isinstance(g, Static) and isinstance(g.obj, types.FunctionType)):
            raise self.error(f"{what} inside a compiled function differentiates a plain Python "
                             "function, named where it is called", node,
                             hint="define the function with def at module level")
        return g.obj

    def gradients_of(self, g_node, arg_nodes, node):
        g = self.plain_function(g_node, node, "zygopy.gradient")
        args = [self.value(a) for a in arg_nodes]
        self.at(node)
        return self.emit("nested_gradient", g, *args)

    def nested_grad(self, node):
        """zygopy.grad(g, argnums)(*args) in compiled code: the gradients of zygopy.gradient,
        picked by argnums (an int gives one, a tuple a tuple)."""
        maker = node.func
        given = {**dict(zip(("fun", "argnums"), maker.args, strict=False)),
                 **{k.arg: k.value for k in maker.keywords}}
        if (node.keywords or len(maker.args) > 2 or "fun" not in given
                or set(given) - {"fun", "argnums"}):
            raise self.error("zygopy.grad inside a compiled function takes the function and "
                             "argnums, and its result the arguments, positionally", node)
        try:
            argnums = ast.literal_eval(given["argnums"]) if "argnums" in given else 0
        except ValueError:
            argnums = None
        picked = argnums if isinstance(argnums, tuple) else (argnums,)
        if not all(isinstance(k, int) and 0 <= k < len(node.args) for k in picked):
            raise self.error("argnums of zygopy.grad must be written as an int or a tuple of ints "
                             "naming the arguments", node)
        grads = self.gradients_of(given["fun"], node.args, node)
        parts = [self.emit("getindex", grads, k) for k in picked]
        return parts[0] if isinstance(argnums, int) else self.emit("tuple", *parts)

    # ---- reductions of iterables and list comprehensions (comprehensions.py) ----------------
    def expr_ListComp(self, node):
        return self.reduction("list", node)

    def reduction(self, kind, node):
        """sum/max/min (`kind`) of the iterable `node.args[0]`, or the list a list comprehension
        builds (kind "list"): a loop, or unrolled, as a for statement over the same iterable."""
        it = node if kind == "list" else node.args[0]
        uid = f"{it.lineno}.{it.col_offset}"
        acc, first = (self.frame.key, f"$acc{uid}"), (self.frame.key, f"$first{uid}")
        if isinstance(it, (ast.GeneratorExp, ast.ListComp)):
            mapping = {n: f"{n}${uid}" for n in comprehension_names(it)}
            loop = comprehension_loop(it, mapping)
        else:
            mapping = {"$item": f"$item{uid}"}
            loop = plain_loop(it, mapping["$item"])
        self.frame.locals |= set(mapping.values())
        self.at(it)
        if kind == "list":
            initial, is_first = self.emit("list"), False
        elif len(node.args) == 2:  # sum(xs, start)
            initial, is_first = self.value(node.args[1]), False
        else:  # the first item: a placeholder whose type is settled once types are known
            # (the position keeps two placeholders from being merged as one expression)
            initial, is_first = self.emit("absent", kind, uid), True
        self.write(acc, self.cur, initial)
        self.write(first, self.cur, is_first)
        self.reductions.append((kind, acc, first))
        try:
            self.at(loop)
            self.stmt(loop)
        finally:
            self.reductions.pop()
        if kind in ("max", "min") and is_first:
            self.fail_if_no_items(kind, self.read(first, self.cur), it)
        return self.read(acc, self.cur)

    def fail_if_no_items(self, kind, still_first, node):
        """max() and min() of no items raise ValueError, as in Python."""
        message = f"{kind}() arg is an empty sequence"  # Python's words
        if isinstance(still_first, bool):  # an iterable known while compiling
            if still_first:
                raise self.error(f"{kind}() of an empty sequence", node,
                                 hint=f"give {kind}() at least one item", cls=UnsupportedType)
            return
        empty, ok = self.new_block(), self.new_block()
        self.jump(ok, cond=still_first)
        self.jump(empty)
        self.seal(empty)
        self.seal(ok)
        self.cur = empty
        self.fail(ValueError, [ast.Constant(message)], node)
        self.cur = ok

    def stmt_Step(self, s):
        """One item of the reduction being built: the first is taken as it is, later ones are
        combined with what came before."""
        kind, acc, first = self.reductions[-1]
        v = self.value(s.value)
        self.at(s)
        if kind == "list":
            self.write(acc, self.cur, self.emit("list_append", self.read(acc, self.cur), v))
            return
        is_first = self.read(first, self.cur)
        if isinstance(is_first, bool):  # known while compiling: an unrolled loop
            new = v if is_first else self.combine(kind, self.read(acc, self.cur), v)
        else:
            then, other, join = self.new_block(), self.new_block(), self.new_block(1)
            self.jump(other, cond=is_first)
            self.jump(then)
            self.seal(then)
            self.seal(other)
            self.cur = then
            self.jump(join, [v])
            self.cur = other
            self.jump(join, [self.combine(kind, self.read(acc, other), v)])
            new = self.enter_join(join)
        self.write(acc, self.cur, new)
        self.write(first, self.cur, False)

    def combine(self, kind, total, v):
        return self.emit({"sum": "add", "max": "max", "min": "min"}[kind], total, v)

    def method_call(self, base, node):
        if node.func.attr == "append":
            return self.list_append(base, node)
        if node.func.attr == "clip":
            return self.clip(base, node.args, node.keywords, node, ".clip()")
        prim = ARRAY_METHODS.get(node.func.attr)
        if prim is None:
            raise self.error(f"the method .{node.func.attr}() is not supported", node)
        args = node.args
        if prim in ("reshape", "transpose") and len(args) > 1:  # a.reshape(2, 3)
            args = [ast.Tuple(elts=list(args), ctx=ast.Load(), lineno=node.lineno,
                              col_offset=node.col_offset)]
        return self.call_array_primitive(prim, args, node.keywords, node,
                                         f".{node.func.attr}()", base)

    def clip(self, x, arg_nodes, keyword_nodes, node, what):
        """np.clip(x, lo, hi) and x.clip(lo, hi), as NumPy defines them: minimum(maximum(x, lo),
        hi), a side left out where its bound is None."""
        names = [("a_min", "min"), ("a_max", "max")]
        if len(arg_nodes) > 2:
            raise self.error(f"too many positional arguments to {what}", node)
        bounds = dict(zip((0, 1), arg_nodes, strict=False))
        for k in keyword_nodes:
            side = next((i for i, pair in enumerate(names) if k.arg in pair), None)
            if side is None or side in bounds:
                raise self.error(f"{what} does not take the keyword argument {k.arg!r}", node,
                                 hint="give the bounds as a_min= and a_max= (or min= and max=)")
            bounds[side] = k.value
        lo, hi = (self.value(bounds[i]) if i in bounds else None for i in (0, 1))
        if lo is None and hi is None:
            raise self.error(f"{what} needs a lower or an upper bound", node)
        self.at(node)
        if lo is not None:
            x = self.emit("max", x, lo)
        return self.emit("min", x, hi) if hi is not None else x

    def call_array_primitive(self, prim, arg_nodes, keyword_nodes, node, what, base=None):
        """A NumPy function or array method: positional arguments, then keyword parameters in
        order."""
        params = PRIMITIVES[prim].params
        if prim == "stack" and arg_nodes and not isinstance(arg_nodes[0], (ast.Tuple, ast.List)):
            prim, params = "list_stack", PRIMITIVES["list_stack"].params  # a run-time list
        if prim in SEQUENCE_ARGUMENT:
            if not arg_nodes or not isinstance(arg_nodes[0], (ast.Tuple, ast.List)):
                raise self.error(f"{what} needs a literal tuple or list of arrays, like ((a, b))",
                                 node, hint="write np.concatenate((a, b)), or np.stack(xs) "
                                 "of a list xs")
            values = [self.value(e) for e in arg_nodes[0].elts]
            arg_nodes = arg_nodes[1:]
        else:
            values = [] if base is None else [base]
        n = 0 if prim in SEQUENCE_ARGUMENT else PRIMITIVES[prim].arity - (base is not None)
        optional = list(params)
        by_position = optional[:PRIMITIVES[prim].positional]
        if len(arg_nodes) < n:
            raise self.error(f"{what} needs {n} positional arguments", node)
        required, extra = [self.value(a) for a in arg_nodes[:n]], arg_nodes[n:]
        if len(extra) > len(by_position):
            raise self.error(f"too many positional arguments to {what}", node,
                             hint=f"pass {', '.join(optional[len(by_position):])} by keyword"
                             if len(by_position) < len(optional) else None)
        chosen = dict(zip(optional, extra, strict=False))
        for k in keyword_nodes:
            if k.arg not in params or k.arg in chosen:
                raise self.error(f"{what} does not take the keyword argument {k.arg!r}", node)
            chosen[k.arg] = k.value
        values += required
        run_time = PRIMITIVES[prim].operand_params
        for name in optional:
            if name not in chosen:
                values.append(params[name])
            else:
                values.append(self.value(chosen[name]) if name in run_time
                              else self.option(name, chosen[name], what))
        self.at(node)
        return self.emit(prim, *values)

    def einsum(self, node):
        """np.einsum('ij,jk->ik', a, b): the subscripts must be a string written in the call."""
        first = node.args[0] if node.args else None
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            raise self.error("np.einsum needs its subscripts as a string literal, like "
                             "np.einsum('ij,jk->ik', a, b)", node, cls=UnsupportedType,
                             hint="write the subscripts in the call; a string computed or stored "
                             "in a variable is not supported")
        if node.keywords:
            raise self.error(f"np.einsum does not take the keyword argument "
                             f"{node.keywords[0].arg!r}", node)
        if len(node.args) < 2:
            raise self.error("np.einsum needs at least one operand", node)
        operands = [self.value(a) for a in node.args[1:]]
        self.at(node)
        return self.emit("einsum", first.value, *operands)

    def option(self, name, node, what):
        """A compile-time option (axis, dtype, keepdims, pad widths, mode) of an array
        primitive."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if name != "dtype" or node.value in DTYPES.values():  # mode="constant", "float32"
                return node.value
        if name == "dtype":
            v = self.expr(node) if not isinstance(node, ast.Constant) else None
            if isinstance(v, Static) and v.obj in DTYPES:
                return DTYPES[v.obj]
            if isinstance(v, Var) and isinstance(node, ast.Attribute) and node.attr == "dtype":
                return v  # an array's dtype, known once types are (compile._dtypes_as_constants)
            raise self.error(f"dtype={ast.unparse(node)} is not supported by {what}", node,
                             hint="use np.float64 or np.float32, or an array's .dtype")
        if isinstance(node, (ast.Tuple, ast.List)):  # axis=(0, 2), pad widths
            return tuple(self.option(name, e, what) for e in node.elts)
        v = self.expr(node)
        if isinstance(v, Var):
            d = self.defining_stmt(v)  # axes = (1, 0, 2) assigned before the call
            if d is not None and d.op == "tuple" and not any(isinstance(a, Var) for a in d.args):
                return tuple(d.args)
            raise self.error(f"{name}= of {what} must be a constant", node, cls=UnsupportedType,
                             hint="write the number itself, or a global or closure integer")
        return v.item() if isinstance(v, np.generic) else v  # a global np.int64 axis: an int


def _numpy_function(obj):
    try:
        return NUMPY_FUNCTIONS.get(obj)
    except TypeError:
        return None


def describe(obj):
    name = (getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
            or type(obj).__name__)
    module = getattr(obj, "__module__", None)
    if isinstance(obj, types.ModuleType):
        return f"the module {obj.__name__}"
    return f"{module}.{name}" if module and module not in ("builtins", "__main__") else name


def _child_value(node, value, i):
    if node.kind == "dict":
        return value[node.keys[i]]
    return value[i] if node.is_sequence else getattr(value, node.keys[i])


def _run_time_leaves(value, out) -> bool:
    """Appends the leaves of a structured argument in the order its callee's parameters take them
    (Frontend.argument); False if one is not a run-time value."""
    if value.obj is None:  # built in the function: no object to take static attributes from
        return False
    for child, item in zip(value.node.children, value.items, strict=True):
        if child.kind == "leaf" and isinstance(item, Var):
            out.append(item)
        elif child.kind not in ("static", "leaf"):
            if not (isinstance(item, StructValue) and _run_time_leaves(item, out)):
                return False
        elif child.kind == "leaf":
            return False
    return True


def _api():
    from .. import api  # zygopy.api builds on this module
    return api


def to_ir(pyfn, structures=None, capture=True, units=None) -> Function:
    """Parse a Python function into (unoptimised) SSA IR; `structures` gives, per parameter, None
    or the (trees.Node, value) of a structured argument, whose leaves become separate arguments.
    The values it reads from outside are listed in `captured` (captured.py); with `capture`, the
    run-time ones are hidden arguments after the others. `units`: see Frontend."""
    return Frontend(pyfn, structures, capture, units).build()

"""Array programs for the gradient fuzzer: everything the scalar generator makes, plus NumPy arrays.

The main function `f_<index>(x0, ..., a0, [a1,] [w,] [flag,] n)` takes 1-d float arrays `a0`, `a1`
of one run-time length m (2-5, drawn per input point) and sometimes an m x m matrix `w`. Its
statements add to the scalar ones:
  new arrays     `b3 = np.zeros(len(a0))`, `np.ones_like`, `np.empty_like` + a loop filling it,
                 `.copy()`, an array expression, or (outside loops) an alias `b3 = a0` that later
                 writes go through
  element reads  `b3[j]`, `b3[j - 1]`, `b3[k % len(b3)]`, `b3[-1]`, `w[j, 0]` inside scalar
                 expressions
  writes         `b3[j] = e` (overwriting), `b3[j] += e` (scatter-adds, indices that repeat), slice
                 writes `b3[1:] = ...`, whole-array `b3 += e` / `*=`, also into the arguments
  loops          `for j in range(len(b3))` (recurrences `b3[j] = c * b3[j - 1] + ...`),
                 `for v in a0`, `for j, v in enumerate(a0)`, nests whose inner loop reads an
                 array at its counter through a costly function (`math.exp(0.4 * a0[k])`,
                 computed once per k before the outer loop: ir/passes/invariants.py)
  NumPy calls    ufuncs, `np.maximum`/`minimum`/`where`/`square`/`clip`/`logaddexp`,
                 `sum`/`mean`/`max`/`min`/`prod`/`var`/`std`/`argmax`, `cumsum`/`cumprod` (with
                 `axis` and `keepdims` on `w`: a softmax's max-subtraction), `@`/`np.dot`, `.T`,
                 `np.concatenate`, `np.stack`, reversed and shifted slices
  index arrays   reads `b3[np.arange(len(a0)) // 2]` (elements repeat: a scatter-add back),
                 `w[rows, cols]`, `np.take`, `np.take_along_axis`, masked sums `np.sum(b3[b3 > c])`,
                 writes `b3[idx] = e`, `b3[idx] += e`, `b3[b3 > c] = e`
  lists          `L = []` and `L.append(...)` of arrays or floats in a loop, then `np.stack(L)`,
                 `np.array(L)`, `L[-1]`, `len(L)`, `sum(L)`, `max(L)`, `min(... for q in L)`
The scalar generator's rules for termination and boundedness carry over: an array that a loop
carries is only updated in a bounded way (squashed, contracted or a small step).
"""
from __future__ import annotations

import ast
from collections import Counter

from .generate import CMP, Program, _Gen, _Scope, constructs_of

UFUNC = ["np.sin({})", "np.cos({})", "np.tanh({})", "np.arctan({})"]
# index arrays of length m into an array of length m (`a0` has it): repeated, shifted, reversed
INDEX_ARRAYS = ["np.arange(len(a0)) // 2", "(np.arange(len(a0)) + 1) % len(a0)",
                "np.arange(len(a0))[::-1]", "(2 * np.arange(len(a0))) % len(a0)"]
REDUCE = ["np.sum({})", "np.mean({})", "np.max({})", "np.min({})", "{}.sum()",
          "np.prod(1.5 + np.sin{})", "np.var({})", "{}.std(ddof=1)", "np.sum({}, keepdims=True)[0]"]


class ArrayGen(_Gen):
    # ---- expressions ------------------------------------------------------------------------
    def squash_array(self, e):
        return self.rng.choice(UFUNC).format(e)

    def subscript(self, sc, arr):
        """An index into the 1-d array `arr` that is in range for every length m >= 2."""
        loop_indices = [k for k in sc.ints if k.startswith("j")]  # 0 <= j < m
        r = self.rng.random()
        if loop_indices and r < 0.5:
            j = self.rng.choice(loop_indices)
            return self.rng.choice([j, j, f"{j} - 1", f"len({arr}) - 1 - {j}"])
        if r < 0.8:
            k = self.rng.choice(sc.ints)
            return self.rng.choice([f"{k} % len({arr})", f"({k} + 1) % len({arr})",
                                    f"(2 * {k}) % len({arr})"])
        return self.rng.choice(["0", "1", "-1", f"len({arr}) - 1"])

    def read(self, sc):
        if sc.matrices and self.chance(0.2):
            w = self.rng.choice(sc.matrices)
            return f"{w}[{self.subscript(sc, 'a0')}, {self.subscript(sc, 'a0')}]"
        a = self.rng.choice(sc.arrays)
        return f"{a}[{self.subscript(sc, a)}]"

    def leaf(self, sc):
        if sc.arrays and self.chance(0.25):
            return self.read(sc)
        return super().leaf(sc)

    def fexpr(self, sc, depth):
        if sc.arrays and depth > 0 and self.chance(0.15):
            return self.reduction(sc, depth - 1)
        return super().fexpr(sc, depth)

    def reduction(self, sc, depth):
        """A float computed from whole arrays."""
        def a():
            return self.aexpr(sc, depth)
        kind = self.pick({"reduce": 5, "dot": 3, "matrix": 2 if sc.matrices else 0, "masked": 1})
        if kind == "reduce":
            return self.rng.choice(REDUCE).format(f"({a()})")
        if kind == "masked":  # a sum over the elements a mask selects (none: 0)
            v = self.rng.choice(sc.arrays)
            return self.one_of(lambda: f"np.sum({v}[{v} {self.rng.choice(CMP)} {self.const()}])",
                               lambda: f"np.sum(({a()})[{v} {self.rng.choice(CMP)} {a()}])")
        if kind == "dot":
            return self.one_of(lambda: f"np.dot({a()}, {a()})", lambda: f"({a()} @ {a()})")
        w = self.rng.choice(sc.matrices)
        return self.one_of(lambda: f"np.sum({w})", lambda: f"np.sum({w} * {self.fexpr(sc, 0)})",
                           lambda: f"({a()} @ {w} @ {a()})", lambda: f"np.max({w})",
                           lambda: f"{w}.var(axis=(0, 1))",
                           lambda: f"{w}[0, np.argmax({w}[0])] * {w}.argmin(axis=1)[-1]")

    def aexpr(self, sc, depth):
        """A 1-d float array of length m, bounded if the variables it reads are."""
        if depth <= 0 or self.chance(0.25):
            a = self.rng.choice(sc.arrays)
            return self.one_of(lambda: a, lambda: a, lambda: f"({self.leaf(sc)} * {a})")
        kind = self.pick({"bin": 25, "scalar": 12, "div": 4, "ufunc": 16, "exp": 3, "log": 3,
                          "sqrt": 3, "pow": 3, "abs": 2, "minmax": 5, "where": 5,
                          "matvec": 8 if sc.matrices else 0, "shuffle": 5, "atan2": 2,
                          "gather": 4, "numpy": 5})
        d = depth - 1

        def a():
            return self.aexpr(sc, d)
        if kind == "bin":
            return f"({a()} {self.rng.choice(['+', '-', '*'])} {a()})"
        if kind == "scalar":
            s = self.fexpr(sc, max(d - 1, 0))
            return self.one_of(lambda: f"({a()} {self.rng.choice(['+', '-', '*'])} {s})",
                               lambda: f"({s} {self.rng.choice(['+', '-', '*'])} {a()})")
        if kind == "div":
            e = a()
            return self.one_of(lambda: f"({a()} / (1.0 + {e} * {e}))",
                               lambda: f"({a()} / (2.0 + np.sin({e})))")
        if kind == "ufunc":
            return self.squash_array(a())
        if kind == "exp":
            return self.one_of(lambda: f"np.exp({self.squash_array(a())})",
                               lambda: f"np.expm1({self.squash_array(a())})")
        if kind == "log":
            e = a()
            return self.rng.choice([f"np.log(1.0 + {e} * {e})", f"np.log1p({e} * {e})"])
        if kind == "sqrt":
            e = a()
            return self.rng.choice([f"np.sqrt(1.0 + {e} * {e})", f"np.hypot({e}, 1.0)"])
        if kind == "pow":
            # parenthesised whole: a method call after it (`.clip`) must not bind to the exponent
            return self.one_of(lambda: f"(({a()}) ** 2)",
                               lambda: f"((1.5 + np.sin({a()})) ** {self.pos_const(0.5, 2.5)})")
        if kind == "abs":
            return f"np.abs({a()})"
        if kind == "minmax":
            fn = self.rng.choice(["np.maximum", "np.minimum"])
            return self.one_of(lambda: f"{fn}({a()}, {a()})",
                               lambda: f"{fn}({a()}, {self.const()})")
        if kind == "where":
            e = a()
            return self.one_of(lambda: f"np.where({e} {self.rng.choice(CMP)} {a()}, {e}, {a()})",
                               lambda: f"np.where({e} {self.rng.choice(CMP)} {self.const()}, "
                                       f"{a()}, {self.const()} * {e})")
        if kind == "matvec":
            w = self.rng.choice(sc.matrices)
            return self.one_of(lambda: f"({w} @ {a()})", lambda: f"({a()} @ {w})",
                               lambda: f"np.dot({w}.T, {a()})",
                               lambda: f"np.sum({w}, axis={self.rng.randint(0, 1)})",
                               lambda: f"np.mean({w} * {self.fexpr(sc, 0)}, "
                                       f"axis={self.rng.randint(0, 1)})",
                               lambda: f"np.max({w}, axis={self.rng.randint(0, 1)})",
                               lambda: f"np.tanh({w} @ {a()} + {a()})",
                               lambda: self.softmax_row(w),
                               lambda: f"np.prod(1.0 + 0.5 * np.sin({w}), axis=(-1,))",
                               lambda: f"np.std({w}, axis=0, keepdims=True)[0]",
                               lambda: f"np.cumsum({w}, axis={self.rng.randint(0, 1)})[-1]",
                               lambda: f"{w}.min(axis=1, keepdims=True)[:, 0]")
        if kind == "shuffle":  # the same length, other elements
            v = self.rng.choice(sc.arrays)
            return self.one_of(lambda: f"{v}[::-1]", lambda: f"np.concatenate(({v}[1:], {v}[:1]))",
                               lambda: f"np.concatenate(({v}[-1:], {v}[:-1]))",
                               lambda: f"np.stack(({a()}, {a()}))[{self.rng.randint(0, 1)}]",
                               lambda: f"np.stack(({a()}, {a()}), axis=1).sum(axis=1)")
        if kind == "gather":
            return self.gather(sc, a)
        if kind == "numpy":
            lo = self.const()
            return self.one_of(lambda: f"np.square({a()})",
                               lambda: f"np.clip({a()}, {lo}, {lo} + 1.0)",
                               lambda: f"{a()}.clip(None, {lo})",
                               lambda: f"np.logaddexp({a()}, {a()})",
                               lambda: f"(np.cumsum({a()}) / len(a0))",
                               lambda: f"np.cumprod(1.0 + 0.5 * np.tanh({a()}))")
        return f"np.arctan2({a()}, 2.0 + np.cos({a()}))"

    def softmax_row(self, w):
        """A row of the softmax of `w`'s rows, as users write it (max-subtraction, keepdims)."""
        e = f"np.exp({w} - np.max({w}, axis=-1, keepdims=True))"
        return f"({e} / np.sum({e}, axis=-1, keepdims=True))[{self.rng.randint(0, 1)}]"

    def gather(self, sc, a):
        """Elements picked by an index array (a length-m result)."""
        idx = self.rng.choice(INDEX_ARRAYS)
        if sc.matrices and self.chance(0.4):
            w = self.rng.choice(sc.matrices)
            cols = self.rng.choice(INDEX_ARRAYS)
            return self.one_of(lambda: f"{w}[np.arange(len(a0)), {cols}]",
                               lambda: f"{w}[{idx}, {self.rng.randint(0, 1)}]",
                               lambda: f"np.take_along_axis({w}, ({idx})[:, None], axis=1)[:, 0]",
                               lambda: f"np.sum({w}[{idx}], axis=0)")
        return self.one_of(lambda: f"({a()})[{idx}]", lambda: f"np.take({a()}, {idx})")

    # ---- statements -------------------------------------------------------------------------
    def stmt(self, sc: _Scope, ind: str) -> list:
        if not sc.arrays or not self.chance(0.45):
            return super().stmt(sc, ind)
        can_nest = sc.depth < 4 and sc.loop_depth < 2
        kind = self.pick({"anew": 10, "aupdate": 6, "awrite": 14, "ascatter": 10, "aslice": 5,
                          "ainplace": 5, "afancy": 5, "aindexloop": 8 if can_nest else 0,
                          "aelemloop": 5 if can_nest else 0,
                          "aalias": 2 if sc.loop_depth == 0 else 0,
                          "afill": 3 if sc.depth < 4 else 0,
                          "alist": 3 if can_nest else 0,
                          "acounters": 4 if sc.loop_depth == 0 and sc.floats else 0})
        return getattr(self, "stmt_" + kind)(sc, ind)

    def new_array(self):
        self.nvar += 1
        return f"b{self.nvar}"

    def target(self, sc):
        """An array to write into: one made here, often, or an argument (zygopy must not change the
        caller's)."""
        own = [a for a in sc.arrays if a.startswith("b")]
        return self.rng.choice(own if own and self.chance(0.75) else sc.arrays)

    def carried(self, sc, t):
        """Writes into t repeat without bound: a loop runs them and t outlives an iteration."""
        return sc.in_loop and t in sc.outer

    def fresh(self, sc, d):
        """An array expression that is a new array (not an alias of a variable)."""
        e = self.aexpr(sc, d)
        return f"{e}.copy()" if e in sc.arrays else e

    def stmt_anew(self, sc, ind):
        b = self.new_array()
        a = self.rng.choice(sc.arrays)
        rhs = self.one_of(lambda: f"np.zeros(len({a}))", lambda: f"np.zeros_like({a})",
                          lambda: f"np.ones_like({a})", lambda: f"{a}.copy()",
                          lambda: f"np.copy({a})",
                          lambda: self.fresh(sc, self.expr_depth()),
                          lambda: self.fresh(sc, self.expr_depth()))
        sc.arrays.append(b)
        return [f"{ind}{b} = {rhs}"]

    def stmt_afill(self, sc, ind):
        """np.empty_like, then a loop that writes every element: nothing is read before it is
        written."""
        b, j = self.new_array(), self.new_int("j")
        a = self.rng.choice(sc.arrays)
        body = sc.child(loop=True)
        body.ints.append(j)
        lines = [f"{ind}{b} = np.empty_like({a})", f"{ind}for {j} in range(len({b})):",
                 f"{ind}    {b}[{j}] = {self.squash(self.fexpr(body, self.expr_depth()))}"]
        sc.arrays.append(b)
        return lines

    def stmt_aalias(self, sc, ind):
        b = self.new_array()
        line = f"{ind}{b} = {self.rng.choice(sc.arrays)}"
        sc.arrays.append(b)
        return [line]

    def stmt_aupdate(self, sc, ind):
        t = self.target(sc)
        d = self.expr_depth()
        if self.carried(sc, t):
            return [ind + self.one_of(
                lambda: f"{t} = {self.squash_array(self.aexpr(sc, d))}",
                lambda: f"{t} = {self.pos_const(0.1, 0.9)} * {t} + {self.pos_const(0.1, 1.0)} * "
                        f"{self.squash_array(self.aexpr(sc, d))}",
                lambda: f"{t} = np.{self.rng.choice(['maximum', 'minimum'])}("
                        f"{t}, {self.squash_array(self.aexpr(sc, d))})")]
        return [f"{ind}{t} = {self.aexpr(sc, d)}"]

    def stmt_awrite(self, sc, ind):
        t = self.target(sc)
        i = self.subscript(sc, t)
        e = self.fexpr(sc, self.expr_depth())
        if self.carried(sc, t):
            return [ind + self.one_of(lambda: f"{t}[{i}] = {self.squash(e)}",
                                      lambda: f"{t}[{i}] = {self.pos_const(0.1, 0.9)} * {t}[{i}]"
                                              f" + {self.squash(e)}")]
        return [f"{ind}{t}[{i}] = {e}"]

    def stmt_ascatter(self, sc, ind):
        t = self.target(sc)
        i = self.subscript(sc, t)
        e = self.fexpr(sc, self.expr_depth())
        if self.carried(sc, t):
            up, down = (f"{self.pos_const(0.05, 0.5)} * {self.squash(e)}" for _ in range(2))
            return [ind + self.rng.choice([f"{t}[{i}] += {up}", f"{t}[{i}] -= {down}",
                                           f"{t}[{i}] *= {self.squash(e)}"])]
        return [ind + self.rng.choice([f"{t}[{i}] += {e}", f"{t}[{i}] -= {e}", f"{t}[{i}] *= {e}"])]

    def stmt_aslice(self, sc, ind):
        t = self.target(sc)
        v = self.rng.choice(sc.arrays)
        s = self.fexpr(sc, 1)
        c = self.pos_const(0.1, 0.9)
        lhs, rhs = self.rng.choice([(f"{t}[1:]", f"{v}[:-1]"), (f"{t}[:-1]", f"{v}[1:]"),
                                    (f"{t}[:]", v), (f"{t}[::-1]", v)])
        if self.carried(sc, t):
            return [f"{ind}{lhs} = {c} * {rhs} + {self.pos_const(0.1, 0.9)} * {self.squash(s)}"]
        return [f"{ind}{lhs} = {c} * {rhs} + {s}"]

    def stmt_afancy(self, sc, ind):
        """A write through an index array (elements named twice: the last write stays, `+=`
        adds once) or a mask."""
        t = self.target(sc)
        d = self.expr_depth()
        where = self.one_of(lambda: self.rng.choice(INDEX_ARRAYS),
                            lambda: f"{t} {self.rng.choice(CMP)} {self.const()}",
                            lambda: f"{self.rng.choice(sc.arrays)} {self.rng.choice(CMP)} "
                                    f"{self.const()}")
        mask = "np.arange" not in where
        if self.carried(sc, t):
            c = self.pos_const(0.1, 0.9)
            value = (f"{c} * {t}[{where}] + {self.pos_const(0.05, 0.5)} * "
                     f"{self.squash(self.fexpr(sc, d))}")
            return [f"{ind}{t}[{where}] = {value}"]
        value = self.fexpr(sc, d) if mask or self.chance(0.3) else self.aexpr(sc, d)
        return [ind + self.rng.choice([f"{t}[{where}] = {value}", f"{t}[{where}] += {value}"])]

    def stmt_ainplace(self, sc, ind):
        t = self.target(sc)
        e = self.aexpr(sc, self.expr_depth())
        if self.carried(sc, t):
            step = f"{self.pos_const(0.05, 0.5)} * {self.squash_array(e)}"
            return [ind + self.rng.choice([f"{t} += {step}", f"{t} *= {self.squash_array(e)}"])]
        return [ind + self.rng.choice([f"{t} += {e}", f"{t} -= {e}", f"{t} *= {e}"])]

    def stmt_aindexloop(self, sc, ind):
        j = self.new_int("j")
        t = self.target(sc)
        body = sc.child(loop=True)
        body.ints.append(j)
        inner = ind + "    "
        if self.chance(0.5):  # a recurrence along the array, reading what the last iteration wrote
            c = self.pos_const(0.1, 0.9)
            e = self.fexpr(body, self.rng.choice([0, 1, 2]))
            step = self.squash(e) if self.carried(sc, t) else e
            update = f"{t}[{j}] = {c} * {t}[{j} - 1] + {step}"
            lines = [f"{ind}for {j} in range(1, len({t})):", inner + update]
        else:
            lines = [f"{ind}for {j} in range(len({t})):"]
        return lines + self.block(body, inner, 1, 3)

    def stmt_aelemloop(self, sc, ind):
        a = self.rng.choice(sc.arrays)
        v = self.new_float()
        body = sc.child(loop=True)
        body.floats.append(v)
        if self.chance(0.5):
            j = self.new_int("j")
            body.ints.append(j)
            head = f"{ind}for {j}, {v} in enumerate({a}):"
        else:
            head = f"{ind}for {v} in {a}:"
        return [head] + self.block(body, ind + "    ", 1, 3)

    def stmt_acounters(self, sc, ind):
        """Loops over i and, inside, over k < len(a): a float accumulates a costly function of
        a[k] (fixed in both loops) combined with what depends on i."""
        i, k = self.new_int("i"), self.new_int("k")
        a, t = self.rng.choice(sc.arrays), self.rng.choice(sc.floats)
        c = self.pos_const(0.1, 0.9)
        costly = self.rng.choice([f"math.exp({c} * {a}[{k}])", f"1.0 / (1.0 + {a}[{k}] * {a}[{k}])",
                                  f"math.sin({a}[{k}] + {c})", f"math.log(2.0 + {a}[{k}] ** 2)",
                                  f"math.tanh({a}[{k}]) / (3.0 + {a}[{k}])"])
        body = sc.child(loop=True).child(loop=True)
        body.ints += [i, k]
        bound = "n" if sc.has_n and self.chance(0.7) else f"len({self.rng.choice(sc.arrays)})"
        step = f"{self.pos_const(0.05, 0.3)} * {self.squash(f'{costly} * {self.fexpr(body, 1)}')}"
        return [f"{ind}for {i} in range({bound}):", f"{ind}    for {k} in range(len({a})):",
                f"{ind}        {t} += {step}"]

    def stmt_alist(self, sc, ind):
        """A list built by `append` in a loop, then stacked, indexed, counted or reduced (the
        habit of collecting a recurrence's states). The append comes first in the body, so that a
        `break` still leaves the list an item."""
        self.nvar += 1
        lst, j, v = f"L{self.nvar}", self.new_int("j"), self.new_float()
        a = self.rng.choice(sc.arrays)
        body = sc.child(loop=True)
        body.ints.append(j)
        d = self.expr_depth()
        inner = ind + "    "
        of_arrays = self.chance(0.5)
        item = (self.squash_array(self.aexpr(body, d)) if of_arrays
                else self.squash(self.fexpr(body, d)))
        lines = [f"{ind}{lst} = []", f"{ind}for {j} in range(len({a})):",
                 f"{inner}{lst}.append({item})"] + self.block(body, inner, 0, 2)
        c = self.pos_const(0.1, 0.9)
        if of_arrays:
            use = self.rng.choice([f"np.sum(np.stack({lst}) * {c})", f"np.sum({lst}[-1])",
                                   f"np.sum(sum({lst}))", f"np.mean(np.stack({lst}, axis=1))",
                                   f"np.sum(np.array({lst})[0] * {lst}[len({lst}) // 2])"])
        else:
            use = self.rng.choice([f"sum({lst})", f"max({lst})", f"{lst}[-1] * len({lst})",
                                   f"np.sum(np.array({lst}) ** 2)",
                                   f"min(q * {c} for q in {lst})"])
        sc.floats.append(v)
        return lines + [f"{ind}{v} = {use}"]

    # ---- the main function ------------------------------------------------------------------
    def ret_expr(self, sc, depth):
        """The result reads some of the arrays, so that what was written into them matters."""
        e = super().ret_expr(sc, depth)
        if self.returns_pair or not sc.arrays:
            return e
        arrays = self.rng.sample(sc.arrays, min(len(sc.arrays), self.rng.choice([1, 2, 3])))
        terms = [self.rng.choice(["np.sum(np.sin({}))", "np.mean({} * {})", "np.dot({}, a0)",
                                  "np.sum(np.tanh({}))",
                                  "np.max({})", "{}[-1]"]).format(b, b) for b in arrays]
        return " + ".join([e] + terms)

    def array_function(self, name, params, budget, n_arrays, has_matrix):
        arrays = [f"a{k}" for k in range(n_arrays)]
        self.returns_pair = False
        self.calls_left = self.rng.randint(1, 3)
        self.nvar = 0
        self.budget = budget
        floats = [p for p in params if p.startswith("x")]
        matrices = ["w"] if has_matrix else []
        sc = _Scope(floats, ["n"], floats + arrays + matrices, 0, 0, True, False,
                    ["flag"] if "flag" in params else [], arrays, matrices)
        lines = [f"def {name}({', '.join(params)}):"]
        lines += self.block(sc, "    ", 2, max(2, budget))
        lines.append(f"    return {self.ret_expr(sc, self.rng.choice([1, 2, 2, 3]))}")
        return "\n".join(lines) + "\n"

    def program(self, seed) -> Program:
        i = self.index
        helpers, sources = self.helpers()
        self.callable = list(helpers)
        n_floats = self.rng.choice([1, 1, 2])
        n_arrays = self.rng.choice([1, 1, 2])
        has_matrix = self.chance(0.3)
        has_flag = self.chance(0.1)
        params = [f"x{k}" for k in range(n_floats)] + [f"a{k}" for k in range(n_arrays)] + \
            (["w"] if has_matrix else []) + (["flag"] if has_flag else []) + ["n"]
        main = f"f_{i}"
        sources.append(self.array_function(main, params, self.rng.randint(3, 12), n_arrays,
                                           has_matrix))
        source = "\n\n".join(sources)
        prog = Program(seed, i, main, [h["name"] for h in helpers], source, n_floats, True,
                       has_flag=has_flag,
                       n_arrays=n_arrays, has_matrix=has_matrix)
        prog.constructs = constructs_of(source, main) + array_constructs(source, main)
        return prog


# ---- what an array program uses ------------------------------------------------------------------
def array_constructs(source: str, main: str) -> Counter:
    tree = ast.parse(source)
    out = Counter()
    params = {a.arg for fn in tree.body if isinstance(fn, ast.FunctionDef) and fn.name == main
              for a in fn.args.args}
    out["array argument"] += 1
    if "a1" in params:
        out["two array arguments"] += 1
    if "w" in params:
        out["matrix argument"] += 1

    def is_array_name(node):
        return isinstance(node, ast.Name) and (node.id[0] in "ab" and node.id[1:].isdigit()
                                               or node.id == "w")

    def walk(node, loops):
        t = type(node)
        if t in (ast.For, ast.While):
            it = getattr(node, "iter", None)
            if isinstance(it, ast.Name):
                out["for over an array"] += 1
            elif (isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                  and it.func.id == "enumerate"):
                out["for over enumerate(array)"] += 1
            elif isinstance(it, ast.Call) and any(isinstance(a, ast.Call)
                                                  and getattr(a.func, "id", "") == "len"
                                                  for a in it.args):
                out["for over range(len(array))"] += 1
            for child in ast.iter_child_nodes(node):
                walk(child, loops + 1)
            return
        if t is ast.Assign and _fancy(node.targets[0]):
            out[f"{_fancy(node.targets[0])} write"] += 1
        elif t is ast.AugAssign and _fancy(node.target):
            out[f"{_fancy(node.target)} +="] += 1
        elif t is ast.Subscript and isinstance(node.ctx, ast.Load) and _fancy(node):
            out[f"{_fancy(node)} read"] += 1
        elif t is ast.Assign:
            target = node.targets[0]
            if isinstance(target, ast.Subscript) and is_array_name(target.value):
                sliced = isinstance(target.slice, ast.Slice)
                out["slice write" if sliced else "element write (overwrites)"] += 1
                if loops:
                    out["array write in a loop"] += 1
                if (not sliced and isinstance(node.value, ast.BinOp)
                        and _reads(node.value, target.value.id)):
                    out["recurrence (write reads the same array)"] += 1
            elif isinstance(target, ast.Name):
                if is_array_name(target) and is_array_name(node.value):
                    out["array alias (b = a)"] += 1
                elif target.id.startswith("b") and loops and _reads(node.value, target.id):
                    out["loop-carried array"] += 1
        elif t is ast.AugAssign:
            if isinstance(node.target, ast.Subscript):
                out[f"scatter {_OPS[type(node.op)]}= into an element"] += 1
                if loops:
                    out["array write in a loop"] += 1
            elif is_array_name(node.target):
                out[f"in-place array {_OPS[type(node.op)]}="] += 1
        elif t is ast.Subscript and isinstance(node.ctx, ast.Load) and is_array_name(node.value):
            if isinstance(node.slice, ast.Slice):
                out["slice read"] += 1
            else:
                out["element read"] += 1
                if isinstance(node.slice, ast.Tuple):
                    out["matrix element read"] += 1
        elif t is ast.BinOp and isinstance(node.op, ast.MatMult):
            out["@"] += 1
        elif t is ast.Call:
            f = node.func
            if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                    and f.value.id == "np"):
                out[f"np.{f.attr}"] += 1
                for k in node.keywords:
                    if k.arg in ("axis", "keepdims"):
                        out[f"{k.arg}="] += 1
            elif isinstance(f, ast.Attribute) and f.attr in ("sum", "copy", "append"):
                out[f".{f.attr}()"] += 1
        elif t is ast.Attribute and node.attr == "T":
            out[".T"] += 1
        for child in ast.iter_child_nodes(node):
            walk(child, loops)

    for fn in tree.body:
        walk(fn, 0)
    return out


_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}


def _fancy(node):
    """'index-array' or 'mask' for a subscript through an index array or a mask, else None."""
    if not isinstance(node, ast.Subscript):
        return None
    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    if any(isinstance(p, ast.Compare) for p in parts):
        return "mask"
    if any(isinstance(n, ast.Attribute) and n.attr == "arange" for p in parts for n in ast.walk(p)):
        return "index-array"
    return None


def _reads(node, name):
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))

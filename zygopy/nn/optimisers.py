"""Optimisers as pure rules with explicit state, in the style of Optimisers.jl:

    state = setup(Adam(1e-3), model)     # a state per trainable array, in the model's shape
    update(state, model, grads)          # one step: the model's arrays change in place

A rule is a small object: `init(x)` makes its state for one array, `step(state, x, g, t)` turns a
gradient into the amount to subtract (in place, into `g`'s buffer); one may also have
`apply(state, x, g, t)`, which subtracts it from x in the same pass when used alone. Rules chain
(`chain(ClipNorm(1.0), WeightDecay(1e-4), Adam())`), learning rates may be schedules (a function
of the step number), and `freeze(state, model.layers[0])` keeps part of a model fixed. The
elementwise updates run as compiled loops (kernels.py), one pass over each array.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from .. import trees
from ..errors import ZygopyError
from . import kernels, layers, sharing
from .saving import named_arrays

__all__ = ["Descent", "Momentum", "Nesterov", "RMSProp", "Adam", "AdamW", "WeightDecay", "ClipGrad",
           "ClipNorm", "OptimiserChain", "chain", "exponential", "cosine", "warmup",
           "OptimiserState", "UntrainableTie", "setup", "freeze", "thaw", "update"]


def _rate(eta, t):
    return eta(t) if callable(eta) else eta


def _constants(dtype, *values):
    """A kernel's scalars, in the dtype of the arrays it updates (kernels.py)."""
    return np.array(values, dtype)


def _zeros(x):
    """A state array for x, C-ordered whatever x's layout: the kernels run over a flat view."""
    return np.zeros(x.shape, x.dtype)


@dataclass
class Descent:
    """x -= eta * g."""
    eta: float = 0.1

    def init(self, x):
        return ()

    def step(self, state, x, g, t):
        g *= _rate(self.eta, t)
        return g


@dataclass
class Momentum:
    """Heavy-ball momentum: v = rho * v + eta * g; x -= v."""
    eta: float = 0.01
    rho: float = 0.9

    def init(self, x):
        return (_zeros(x),)

    def step(self, state, x, g, t):
        kernels.momentum(state[0], g, _constants(g.dtype, _rate(self.eta, t), self.rho))
        return g


@dataclass
class Nesterov:
    """Nesterov's accelerated gradient (as Optimisers.jl writes it)."""
    eta: float = 0.001
    rho: float = 0.9

    def init(self, x):
        return (_zeros(x),)

    def step(self, state, x, g, t):
        kernels.nesterov(state[0], g, _constants(g.dtype, _rate(self.eta, t), self.rho,
                                                 1.0 + self.rho))
        return g


@dataclass
class RMSProp:
    """g / sqrt(running mean of g^2 + eps), scaled by eta (PyTorch's placement of eps)."""
    eta: float = 0.001
    rho: float = 0.9
    eps: float = 1e-8

    def init(self, x):
        return (_zeros(x),)

    def step(self, state, x, g, t):
        kernels.rmsprop(state[0], g, _constants(g.dtype, _rate(self.eta, t), self.rho,
                                                1.0 - self.rho, self.eps))
        return g


@dataclass
class Adam:
    """Kingma and Ba (2015), with bias correction."""
    eta: float = 0.001
    beta: tuple = (0.9, 0.999)
    eps: float = 1e-8

    def init(self, x):
        # the moments, and the steps this array took: its bias correction counts only those (an
        # array frozen for a while, then thawed, starts as a new one would), as PyTorch's does
        return (_zeros(x), _zeros(x), np.zeros(1, np.int64))

    def step(self, state, x, g, t):
        kernels.adam(*state[:2], g, self._corrected(state, g, t))
        return g

    def apply(self, state, x, g, t):
        kernels.adam_apply(x, *state[:2], g, self._corrected(state, g, t))

    def _corrected(self, state, g, t):
        """The kernel's constants for this step: the learning rate at the model's step t, the
        bias corrections at the array's own."""
        count = state[2]
        n = count[0] = int(count[0]) + 1
        return _adam_constants(float(_rate(self.eta, t)), *map(float, self.beta), float(self.eps),
                               n, g.dtype)


@functools.lru_cache(maxsize=64)
def _adam_constants(eta, b1, b2, eps, n, dtype):
    """Adam's kernel constants at step n (kernels._adam_step): the arrays of a model, which
    usually share their step count, share them too (read only)."""
    corrected = math.sqrt(1.0 - b2 ** n)
    return _constants(dtype, eta * corrected / (1.0 - b1 ** n), b1, 1.0 - b1, b2, 1.0 - b2,
                      eps * corrected)


@dataclass
class AdamW:
    """Adam with decoupled weight decay (Loshchilov and Hutter 2019): x -= eta * lambda * x too."""
    eta: float = 0.001
    beta: tuple = (0.9, 0.999)
    decay: float = 0.01
    eps: float = 1e-8

    def init(self, x):
        return Adam(self.eta, self.beta, self.eps).init(x)

    def step(self, state, x, g, t):
        g = Adam(self.eta, self.beta, self.eps).step(state, x, g, t)
        g += (_rate(self.eta, t) * self.decay) * x
        return g


@dataclass
class WeightDecay:
    """L2 regularisation as a gradient term: g += lambda * x (chain it before the update rule)."""
    decay: float = 5e-4

    def init(self, x):
        return ()

    def step(self, state, x, g, t):
        g += self.decay * x
        return g


@dataclass
class ClipGrad:
    """Each gradient element clipped to [-delta, delta]."""
    delta: float = 10.0

    def init(self, x):
        return ()

    def step(self, state, x, g, t):
        np.clip(g, -self.delta, self.delta, out=g)
        return g


@dataclass
class ClipNorm:
    """The gradient scaled down so that its p-norm, over the whole model, is at most omega."""
    omega: float = 10.0
    p: float = 2.0
    whole_model = True  # `update` computes the norm over all gradients first

    def init(self, x):
        return ()

    def step(self, state, x, g, t, scale=1.0):
        g *= scale
        return g

    def scale(self, gradients):
        if self.p == math.inf:
            norm = max((float(np.max(np.abs(g))) for g in gradients if g.size), default=0.0)
        else:
            norm = sum(float(np.sum(np.abs(g) ** self.p)) for g in gradients) ** (1.0 / self.p)
        if not math.isfinite(norm):
            raise FloatingPointError(f"the gradient's norm is {norm}")
        return min(1.0, self.omega / norm) if norm > 0 else 1.0


@dataclass
class OptimiserChain:
    """Rules applied in turn to the gradient: the last one usually makes the step."""
    rules: tuple

    def init(self, x):
        return tuple(r.init(x) for r in self.rules)


def chain(*rules):
    return OptimiserChain(tuple(rules))


# --- learning-rate schedules: functions of the step number t = 1, 2, ...

def exponential(eta, decay, every=1):
    return lambda t: eta * decay ** ((t - 1) // every)


def cosine(eta, steps, floor=0.0):
    return lambda t: floor + 0.5 * (eta - floor) * (1 + math.cos(math.pi * min(t - 1, steps)
                                                                 / steps))


def warmup(eta, steps):
    return lambda t: eta * min(1.0, t / steps)


@dataclass
class OptimiserState:
    """What `setup` returns: the rule, the step count, and per trainable array its state. Its
    arrays, the step count among them, are what `nn.save(path, state)` keeps, so that training
    resumes where it stopped (a schedule's rate, Adam's bias correction)."""
    rule: object
    node: object
    states: list
    frozen: list
    steps: np.ndarray = field(default_factory=lambda: np.zeros((), np.int64))
    ids: dict = field(default_factory=dict)  # id of an array -> the place of the array it trains
    tied: list = field(default_factory=list)  # (an array's place, those of it and its views)
    kinds: list = field(default_factory=list)  # per place: (shape, dtype) of a trained array

    @property
    def t(self) -> int:
        """The step count."""
        return int(self.steps)

    @t.setter
    def t(self, value):
        self.steps[...] = value


def _trainable(leaf):
    if not (isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"):
        return False
    if leaf.dtype not in (np.float32, np.float64):
        raise TypeError(f"setup: an array of {leaf.dtype}; the optimisers train float32 and "
                        "float64 arrays")
    return True


class UntrainableTie(ZygopyError, ValueError):
    """Arrays of the model that share memory without being views of one of them (two overlapping
    slices of an array the model does not hold, say): there is no one array to train."""


def setup(rule, model):
    """The rule's state for each trainable array of the model. An array the model holds in
    several places (a layer used twice) or through views (a tied weight, `dec.weight =
    enc.weight.T`) has one state, as in PyTorch, and takes one step from the sum of its places'
    gradients, each mapped back through its view."""
    node, leaves = trees.flatten(model)
    state = layers.buffers(model)
    trained = [k for k, x in enumerate(leaves) if _trainable(x) and id(x) not in state]
    owner = {k: k for k in trained}  # a trained place -> the place of the array it trains
    tied = []
    for group in sharing.groups([leaves[k] for k in trained]):
        places = [trained[i] for i in group]
        i = sharing.whole([leaves[k] for k in places])
        if i is None:
            names = _names(model, leaves)
            raise UntrainableTie(f"setup: {', '.join(names[k] for k in places)} share memory, "
                                 "but are not all views of one of them with its dtype, each "
                                 "element once: tie them as views of one array of the model")
        owner.update(dict.fromkeys(places, places[i]))
        tied.append((places[i], tuple(places)))
    states = [rule.init(x) if owner.get(k) == k else None for k, x in enumerate(leaves)]
    ids = {}
    for k, x in enumerate(leaves):
        ids.setdefault(id(x), owner.get(k, k))
    kinds = [(x.shape, x.dtype) if k in owner else None for k, x in enumerate(leaves)]
    return OptimiserState(rule, node, states, [False] * len(leaves), ids=ids, tied=tied,
                          kinds=kinds)


def _names(model, leaves):
    """Each leaf's path in the model (`layers.0.weight`), for messages."""
    paths = iter(named_arrays(model))
    return [next(paths) if isinstance(x, np.ndarray) else f"leaf {k}"
            for k, x in enumerate(leaves)]


def freeze(state, part, frozen=True):
    """Keep the arrays of `part` (a layer or any sub-tree of the model) fixed, or free them
    again with frozen=False."""
    _, leaves = trees.flatten(part)
    found = [state.ids[id(x)] for x in leaves if id(x) in state.ids]
    if not found:
        raise ValueError("freeze: none of these arrays belong to the model set up")
    for k in found:
        state.frozen[k] = frozen


def thaw(state, part):
    freeze(state, part, False)


def update(state, model, grads):
    """One optimiser step: each trainable array of `model` moves by the rule's step computed from
    its gradient in `grads` (a tree of the model's shape, as `zygopy.gradient` returns it);
    then BatchNorm's running averages take in the statistics the step's forward recorded, and
    Dropout draws new masks for the next step (from the process's stream, layers.MASKS)."""
    node, params = trees.flatten(model)
    if node != state.node:
        raise ValueError("update: the model's structure differs from the one set up")
    gs = list(trees.leaves_like(node, grads))
    _check_kinds(state, params, gs)
    for j, places in state.tied:
        gs[j] = sharing.summed(params[j], [(params[k], gs[k]) for k in places])
    state.t += 1
    live = [k for k, x in enumerate(params)
            if state.states[k] is not None and not state.frozen[k] and gs[k] is not None]
    if hasattr(state.rule, "apply") and all(params[k].flags.c_contiguous for k in live):
        apply, t = state.rule.apply, state.t
        for k in live:  # one pass over each array, the gradient read where it is
            x = params[k]
            apply(state.states[k], x, np.ascontiguousarray(gs[k], dtype=x.dtype), t)
        return _stepped(node, model, state)
    # steps computed in place, C-ordered as the states are (the kernels run over flat views)
    work = {k: np.array(gs[k], dtype=params[k].dtype, order="C") for k in live}
    rules = state.rule.rules if isinstance(state.rule, OptimiserChain) else (state.rule,)
    for r, rule in enumerate(rules):
        scale = rule.scale(list(work.values())) if getattr(rule, "whole_model", False) else None
        for k in live:
            s = state.states[k][r] if isinstance(state.rule, OptimiserChain) else state.states[k]
            if scale is None:
                work[k] = rule.step(s, params[k], work[k], state.t)
            else:
                work[k] = rule.step(s, params[k], work[k], state.t, scale)
    for k in live:
        params[k] -= work[k]
    return _stepped(node, model, state)


def _check_kinds(state, params, gs):
    """Each trained array has the shape and dtype its state was set up for (the kernels would
    run past the end of a smaller state), its gradient the array's shape, and some array has a
    gradient (given a tree of another shape, leaves_like finds none). The arrays set up as one
    still share memory (a tie replaced by a copy would be trained in the old array)."""
    for j, places in state.tied:
        for k in places:
            if not np.may_share_memory(params[k], params[j]):
                raise ValueError(f"update: the model's array {k} no longer shares memory with "
                                 f"array {j}, as it did when set up: call setup again for the "
                                 "changed model")
    trained = [k for k, kind in enumerate(state.kinds) if kind is not None]
    for k in trained:
        shape, dtype = state.kinds[k]
        x, g = params[k], gs[k]
        if (x.shape, x.dtype) != (shape, dtype):
            raise ValueError(f"update: the model's array {k} is now {x.dtype} of shape "
                             f"{x.shape}, set up as {dtype} of shape {shape}: call setup "
                             "again for the changed model")
        if g is not None and np.shape(g) != shape:
            raise ValueError(f"update: the gradient of array {k} has shape {np.shape(gs[k])}, "
                             f"the array {shape}")
    if trained and all(gs[k] is None for k in trained):
        raise ValueError("update: `grads` holds no gradient for the model's arrays; zygopy."
                         "gradient(loss, model, x, y) returns one gradient per argument: pass "
                         "its first, the model's")


def _stepped(node, model, state):
    """What follows a step: BatchNorm's statistics folded in, new Dropout masks."""
    if _holds(node, "fold_statistics"):
        layers.fold_statistics(model)
    if _holds(node, "resample"):
        layers.resample(model)
    return state


@functools.cache
def _holds(node, method) -> bool:
    """Whether a model of this structure has a layer with the method (BatchNorm's
    fold_statistics, Dropout's resample): the walk is skipped for the rest."""
    return hasattr(node.cls, method) or any(_holds(child, method) for child in node.children)

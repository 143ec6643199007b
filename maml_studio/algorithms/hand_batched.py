"""Meta-gradients of every algorithm, hand-batched over all tasks for the MLP (no autograd).

The same numbers as each learner's `meta_gradient` (its `torch.func` form, the
reference), in far fewer dispatches: forward and backward passes over all
tasks as batched matrix products, and MAML's second-order term as
Hessian-vector products through the inner steps. This is the fast path when
the meta-step is not compiled (no C++ compiler, the desktop bundle,
``compile = "off"``), and it is what training runs until a compiled step is ready.

Going back through an inner step ``θ' = θ − α ⊙ g(θ)`` with the gradient
``v = ∂L/∂θ'``: ``∂L/∂θ = v − H(α ⊙ v)`` (first order drops ``H``) and, for
Meta-SGD's learned rates, ``∂L/∂α = −g ⊙ v``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from maml_studio.algorithms import mlp_calculus as calc
from maml_studio.algorithms.base import MetaLearner
from maml_studio.algorithms.loss_derivatives import has_derivatives, loss_with_derivatives
from maml_studio.algorithms.maml import MAML
from maml_studio.algorithms.maml_plus_plus import MAMLPlusPlus
from maml_studio.algorithms.metasgd import RATE_PREFIX, MetaSGD
from maml_studio.algorithms.pretrained import Pretrained
from maml_studio.algorithms.reptile import Reptile
from maml_studio.model import Params

MetaGradient = Callable[..., tuple[Params, torch.Tensor]]


def hand_batched_meta_gradient(learner: MetaLearner) -> MetaGradient | None:
    """A function like ``learner.meta_gradient`` without autograd, or None where none is written."""
    model = learner.model
    if model.activation not in ("relu", "tanh") or not has_derivatives(learner.loss_fn):
        return None
    adapted = _adapted_layers(learner)
    if adapted is None:
        return None
    if isinstance(learner, MAMLPlusPlus) and (learner.learned_rates or learner.uses_step_weights):
        return None  # per-step rates and losses: the torch.func step
    if isinstance(learner, Pretrained):
        return _Pretrained(learner)
    if isinstance(learner, Reptile):
        return _Reptile(learner, adapted)
    if isinstance(learner, MAML):
        return _MAML(learner, adapted)
    return None


def _adapted_layers(learner: MetaLearner) -> list[int] | None:
    """Indices of the layers the inner loop adapts, if they are whole layers at the top."""
    layers = learner.model.num_layers
    names = set(learner.adapted_names)
    indices = sorted({int(name[5:name.index(".")]) for name in names})
    whole = all({f"layer{i}.weight", f"layer{i}.bias"} <= names for i in indices)
    if not whole or len(names) != 2 * len(indices) or indices != list(range(indices[0], layers)):
        return None
    return indices


def _layers(params: Params, count: int) -> list[calc.Layer]:
    return [(params[f"layer{i}.weight"], params[f"layer{i}.bias"]) for i in range(count)]


def _named(layers: dict[int, calc.Layer]) -> Params:
    named = {}
    for i, (weight, bias) in layers.items():
        named[f"layer{i}.weight"], named[f"layer{i}.bias"] = weight, bias
    return named


class _Algorithm:
    def __init__(self, learner: MetaLearner, adapted: list[int] | None = None) -> None:
        self.learner = learner
        self.activation = learner.model.activation
        self.count = learner.model.num_layers
        self.outputs = learner.model.dim_out
        self.adapted = adapted or []

    def _loss(self, target: torch.Tensor):
        return loss_with_derivatives(self.learner.loss_fn, target, self.outputs)

    def _adapt(self, state: Params, support_x, support_y, steps: int, keep: bool):
        """Inner SGD steps on every task; returns the final layers and, if ``keep``, each step's record."""
        rates = self.learner.inner_rates(state)
        rate = [(rates[f"layer{i}.weight"], rates[f"layer{i}.bias"]) for i in self.adapted]
        loss = self._loss(support_y)
        lowest = self.adapted[0]
        layers = _layers(state, self.count)
        first = None
        records = []
        for _ in range(steps):
            p = calc.forward(layers, self.activation, support_x, first, lowest)
            first = first or p
            delta, saved = loss.gradient(p.output)
            grads = calc.backward(p, self.activation, delta, stop=lowest)
            if keep:
                records.append((p, saved, grads))
            layers = layers[:lowest] + [
                (_step(weight, rw, grads[i][0]), _step(bias, rb, grads[i][1]))
                for i, (weight, bias), (rw, rb) in zip(
                    self.adapted, layers[lowest:], rate, strict=True)]
        return layers, records, loss, rate


def _step(value: torch.Tensor, rate: torch.Tensor | float, grad: torch.Tensor) -> torch.Tensor:
    """``value − rate · grad`` in one dispatch."""
    if isinstance(rate, torch.Tensor):
        return torch.addcmul(value, rate, grad, value=-1.0)
    return torch.add(value, grad, alpha=-rate)


def _common_rate(rate: list[tuple]) -> float | None:
    """The one step size every adapted parameter shares, if there is one (not Meta-SGD's)."""
    values = {r for pair in rate for r in pair if not isinstance(r, torch.Tensor)}
    return values.pop() if len(values) == 1 and len(rate) * 2 == sum(
        not isinstance(r, torch.Tensor) for pair in rate for r in pair) else None


class _MAML(_Algorithm):
    """MAML, first-order MAML, ANIL and Meta-SGD."""

    def __call__(self, state: Params, support_x, support_y, query_x, query_y):
        learner = self.learner
        second_order = not learner.first_order
        learned = isinstance(learner, MetaSGD)
        layers, records, support_loss, rate = self._adapt(
            state, support_x, support_y, learner.config.inner_steps,
            keep=second_order or learned)
        query_loss = self._loss(query_y)
        query = calc.forward(layers, self.activation, query_x)
        delta, _ = query_loss.gradient(query.output)
        delta.mul_(1.0 / support_x.shape[0])  # the meta-loss is the mean over tasks
        # v = ∂L/∂θ of each task (summed over tasks once nothing needs them apart)
        summed = not (second_order or learned)
        v = calc.backward(query, self.activation, delta, sum_tasks=summed)
        rate_grads = {}
        shared_rate = _common_rate(rate)
        for step, (p, saved, grads) in reversed(list(enumerate(records))):
            if learned:
                for i in self.adapted:
                    part = ((grads[i][0] * v[i][0]).sum(0), (grads[i][1] * v[i][1]).sum(0))
                    old = rate_grads.get(i)
                    rate_grads[i] = part if old is None else (old[0] + part[0], old[1] + part[1])
            if second_order:
                if shared_rate is None:
                    direction = {i: (rw * v[i][0], rb * v[i][1])
                                 for i, (rw, rb) in zip(self.adapted, rate, strict=True)}
                else:
                    direction = {i: v[i] for i in self.adapted}
                last = step == 0  # θ₀ is shared: only the sum over tasks is wanted
                product = calc.hessian_times(p, self.activation, support_loss, saved, direction,
                                             scale=shared_rate or 1.0, sum_tasks=last)
                if last:
                    v, summed = {i: (v[i][0].sum(0) - product[i][0], v[i][1].sum(0) - product[i][1])
                                 for i in v}, True
                else:
                    v = {i: (v[i][0] - product[i][0], v[i][1] - product[i][1]) for i in v}
        result = _named(v) if summed else {name: g.sum(0) for name, g in _named(v).items()}
        for name, g in _named(rate_grads).items():
            result[RATE_PREFIX + name] = -g
        return {name: result[name] for name in state}, query_loss.value(query.output).mean()


class _Reptile(_Algorithm):
    def __call__(self, state: Params, support_x, support_y, query_x, query_y):
        layers, _, _, _ = self._adapt(state, support_x, support_y,
                                      self.learner.config.inner_steps, keep=False)
        output = calc.forward(layers, self.activation, query_x).output
        adapted = _named(dict(enumerate(layers)))
        grads = {name: state[name] - adapted[name].mean(0) if adapted[name].dim() > state[name].dim()
                 else torch.zeros_like(state[name]) for name in state}
        return grads, self._loss(query_y).value(output).mean()


class _Pretrained(_Algorithm):
    def __call__(self, state: Params, support_x, support_y, query_x, query_y):
        x = torch.cat([support_x, query_x], dim=1)
        loss = self._loss(torch.cat([support_y, query_y], dim=1))
        p = calc.forward(_layers(state, self.count), self.activation, x)
        delta, _ = loss.gradient(p.output)
        delta.mul_(1.0 / x.shape[0])  # the loss is the mean over tasks
        grads = _named(calc.backward(p, self.activation, delta, sum_tasks=True))
        return {name: grads[name] for name in state}, loss.value(p.output).mean()

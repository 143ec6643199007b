"""Inside the meta-gradient: MAML's full meta-gradient, its first-order part and Reptile's direction.

At one set of weights θ and on one batch of T tasks, with U_i(θ) the network's
parameters after the inner steps on task i's support set and L_i task i's
query loss:

- g_MAML = ∇θ (1/T) Σ_i L_i(U_i(θ)), differentiating through the inner steps;
- g_FO = (1/T) Σ_i ∇L_i evaluated at U_i(θ), the inner steps held constant;
- the second-order term = g_MAML − g_FO;
- the Reptile direction = θ − (1/T) Σ_i U_i(θ);

and their cosines, norms and per-tensor norms, over the adapted parameters
flattened into one vector. One forward pass through every task's inner loop
(vmap over tasks) gives U_i and, with one vector-Jacobian product, g_MAML;
the per-task query gradients at U_i give g_FO on the way.

``differentiation`` chooses whose inner loop and derivative order:

- ``"maml"`` (the default): what second-order MAML with the run's ``inner_lr``
  and ``inner_steps`` would do at these weights, adapting every parameter
  with that one step size, whatever the run's algorithm. For FOMAML, Reptile,
  ANIL and Meta-SGD runs this is the comparison: ANIL's head-only loop,
  Meta-SGD's and MAML++'s learned rates are not used (the multi-step loss
  never is: L_i is the loss after the last step).
- ``"run"``: the run's own inner loop (ANIL's head, Meta-SGD's or MAML++'s
  learned rates) differentiated as the run is: a first-order run (FOMAML,
  Reptile, MAML++ before its derivative-order switch at ``iteration``) takes
  g_MAML = g_FO, so its second-order term is zero by construction.

Everything returned is numpy or float, for a view on another thread.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.func import grad, vjp, vmap

from maml_studio.algorithms import MetaLearner, Pretrained
from maml_studio.algorithms.hand_batched import hand_batched_meta_gradient
from maml_studio.algorithms.maml import MAML
from maml_studio.config import ExperimentConfig
from maml_studio.config_sections import MAML_PLUS_PLUS
from maml_studio.experiment import Experiment, seed_stream
from maml_studio.flat_params import flatten
from maml_studio.model import Params
from maml_studio.peak_memory import peak_memory_bytes
from maml_studio.tasks import TaskBatch

Differentiation = Literal["maml", "run"]
PARTS = ("maml", "fomaml", "second_order", "reptile")


@dataclass(frozen=True)
class StepCost:
    """What one meta-step of the run costs on this batch (eager, as training runs uncompiled)."""

    milliseconds: float  # median of the timed repeats
    peak_memory_mb: float  # allocated at the peak, above what was allocated before


@dataclass(frozen=True)
class Anatomy:
    differentiation: str  # "maml" or "run"
    first_order: bool  # g_MAML was taken first-order (a first-order run in "run" mode)
    names: tuple[str, ...]  # the parameter tensors the vectors hold, in order
    shapes: tuple[tuple[int, ...], ...]
    vectors: dict[str, np.ndarray]  # PARTS → flat float64 [P]
    cosine_maml_fomaml: float
    cosine_maml_reptile: float
    second_order_ratio: float  # ||g_MAML − g_FO|| / ||g_MAML||
    norms: dict[str, float]  # PARTS → norm
    per_layer: dict[str, dict[str, float]]  # tensor name → PARTS → norm
    tasks: int
    query_loss: float  # mean query loss after the inner steps
    cost: StepCost | None = None

    def to_json(self) -> dict:
        """The numbers (no vectors); NaN becomes None so that the result is valid JSON."""
        def number(value: float) -> float | None:
            return value if math.isfinite(value) else None

        result = {
            "cosine_maml_fomaml": number(self.cosine_maml_fomaml),
            "cosine_maml_reptile": number(self.cosine_maml_reptile),
            "second_order_ratio": number(self.second_order_ratio),
            "norms": {k: number(v) for k, v in self.norms.items()},
            "per_layer": {name: {k: number(v) for k, v in parts.items()}
                          for name, parts in self.per_layer.items()},
            "differentiation": self.differentiation, "first_order": self.first_order,
            "tasks": self.tasks, "query_loss": number(self.query_loss),
        }
        if self.cost is not None:
            result["milliseconds_per_meta_step"] = self.cost.milliseconds
            result["peak_memory_mb_per_meta_step"] = self.cost.peak_memory_mb
        return result


def sample_batch(config: ExperimentConfig, tasks: int = 25, seed: int = 0) -> TaskBatch:
    """Fresh tasks of the run's family (its held-out tasks for task files), K + Q points each."""
    family = Experiment.from_config(config).family.evaluation_family()
    alg = config.algorithm
    return family.sample(tasks, alg.support_size, alg.query_size, seed_stream(seed, "anatomy"))


def maml_counterpart(learner: MetaLearner) -> MAML:
    """Second-order MAML with the run's inner step size and steps, adapting every parameter."""
    options = dict.fromkeys(MAML_PLUS_PLUS, 0)
    options["learned_step_rates"] = False
    config = dataclasses.replace(learner.config, name="maml", first_order=False, **options)
    return MAML(learner.model, learner.loss_fn, config)


def _run_is_first_order(learner: MetaLearner, iteration: int | None) -> bool:
    if hasattr(learner, "first_order_at"):
        return learner.first_order_at(iteration if iteration is not None else 2**62)
    return bool(getattr(learner, "first_order", True))  # Reptile's loop is first-order


def meta_gradient_anatomy(learner: MetaLearner, state: Params, batch: TaskBatch, *,
                          differentiation: Differentiation = "maml", iteration: int | None = None,
                          measure_cost: bool = False, dtype: torch.dtype | None = None) -> Anatomy:
    """g_MAML, g_FO, their difference and Reptile's direction at ``state`` on ``batch``.

    ``iteration``: the run's meta-iteration, for MAML++'s derivative-order annealing in
    ``"run"`` mode (None: as after the switch). ``measure_cost`` also times one meta-step
    of the run and measures its peak memory (a profiled run: tens of milliseconds more).
    ``dtype`` computes in another precision (float64 for checks). Refuses the baseline.
    """
    if isinstance(learner, Pretrained):
        raise ValueError("the pretrained baseline has no inner loop: no meta-gradient to dissect")
    if differentiation not in ("maml", "run"):
        raise ValueError(f"differentiation is 'maml' or 'run', not {differentiation!r}")
    cost = _step_cost(learner, state, batch, iteration) if measure_cost else None
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
        batch = TaskBatch(*(t.to(dtype) for t in (batch.support_x, batch.support_y, batch.query_x,
                                                  batch.query_y, batch.params)))
    if differentiation == "maml":
        inner, first_order = maml_counterpart(learner), False
        state = inner.network(state)
    else:
        inner, first_order = learner, _run_is_first_order(learner, iteration)
    with torch.enable_grad():
        parts, loss = _gradients(inner, state, batch, first_order)
    names = tuple(inner.adapted_names)
    flat = {part: flatten(parts[part], names).double() for part in PARTS}
    norms = {part: float(torch.linalg.vector_norm(flat[part])) for part in PARTS}
    per_layer = {name: {part: float(torch.linalg.vector_norm(parts[part][name].double()))
                        for part in PARTS} for name in names}
    return Anatomy(
        differentiation=differentiation, first_order=first_order, names=names,
        shapes=tuple(tuple(state[name].shape) for name in names),
        vectors={part: flat[part].cpu().numpy() for part in PARTS},
        cosine_maml_fomaml=_cosine(flat["maml"], flat["fomaml"]),
        cosine_maml_reptile=_cosine(flat["maml"], flat["reptile"]),
        second_order_ratio=_ratio(norms["second_order"], norms["maml"]),
        norms=norms, per_layer=per_layer, tasks=batch.num_tasks, query_loss=loss, cost=cost)


def _gradients(learner: MetaLearner, state: Params, batch: TaskBatch, first_order: bool
               ) -> tuple[dict[str, Params], float]:
    """Every part, as named tensors of the network's shapes, and the mean query loss."""
    network = learner.network(state)
    rates_and_more = {k: v.detach() for k, v in state.items() if k not in network}
    steps, tasks = learner.config.inner_steps, batch.num_tasks

    def adapt_all(theta: Params) -> Params:
        full = {**rates_and_more, **theta}
        return vmap(lambda x, y: learner.adapt_task(full, x, y, steps)[-1])(
            batch.support_x, batch.support_y)

    theta = {k: v.detach() for k, v in network.items()}
    if first_order:
        with torch.no_grad():
            adapted = {k: v.detach() for k, v in adapt_all(theta).items()}
        pullback = None
    else:
        adapted, pullback = vjp(adapt_all, theta)
        adapted = {k: v.detach() for k, v in adapted.items()}

    def query_loss(params, x, y):
        return learner.query_loss(params, x, y)

    per_task = vmap(grad(query_loss))(adapted, batch.query_x, batch.query_y)  # ∇L_i at U_i
    with torch.no_grad():
        loss = float(vmap(query_loss)(adapted, batch.query_x, batch.query_y).mean())
    fomaml = {k: g.mean(0) for k, g in per_task.items()}
    # a first-order run's own gradient is g_FO itself: no second-order term at all
    maml = fomaml if pullback is None else pullback({k: g / tasks for k, g in per_task.items()})[0]
    with torch.no_grad():
        reptile = {k: theta[k] - adapted[k].mean(0) for k in theta}
        second = {k: torch.zeros_like(fomaml[k]) if maml is fomaml else maml[k] - fomaml[k]
                  for k in theta}
    parts = {"maml": maml, "fomaml": fomaml, "second_order": second, "reptile": reptile}
    return {part: {k: v.detach() for k, v in values.items()} for part, values in parts.items()}, loss


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    denominator = float(torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b))
    if denominator == 0:
        return math.nan
    return max(-1.0, min(1.0, float(torch.dot(a, b)) / denominator))  # rounding stays within ±1


def _ratio(numerator: float, denominator: float) -> float:
    if numerator == 0.0:
        return 0.0
    return numerator / denominator if denominator > 0 else math.nan


def _step_cost(learner: MetaLearner, state: Params, batch: TaskBatch, iteration: int | None,
               repeats: int = 3, memory: Callable[[Callable[[], object]], int] | None = None
               ) -> StepCost:
    """Milliseconds (median of ``repeats``) and peak memory of the run's eager meta-step.

    ``memory`` measures the peak bytes of a call (default: `peak_memory_bytes`, the profiler,
    which must not run while other threads compute; `thread_memory` measures beside them).
    """
    if iteration is not None and getattr(learner, "first_order_at", lambda _: False)(iteration) \
            and not learner.first_order:
        learner = learner.with_first_order()
    step = hand_batched_meta_gradient(learner) or learner.meta_gradient
    weights = getattr(learner, "step_weights", lambda _: None)(iteration or 0)
    extra = () if weights is None else (weights.to(batch.support_x.device),)
    args = (state, batch.support_x, batch.support_y, batch.query_x, batch.query_y, *extra)

    def run():
        return step(*args)

    run()  # warm up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - started))
    cuda = batch.support_x.is_cuda
    peak = memory(run) if memory is not None else peak_memory_bytes(run, cuda=cuda)
    return StepCost(float(np.median(times)), peak / 2**20)


def step_cost(learner: MetaLearner, state: Params, batch: TaskBatch, iteration: int | None = None,
              *, memory: Callable[[Callable[[], object]], int] | None = None) -> StepCost:
    """What one eager meta-step of the run costs on ``batch`` at ``state`` (see `StepCost`)."""
    return _step_cost(learner, state, batch, iteration, memory=memory)

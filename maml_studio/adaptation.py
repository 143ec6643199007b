"""Adapt a trained model to support points and predict after every step.

Used by the CLI (`maml-studio adapt`), the evaluation protocol and the GUI's
adaptation panel. All tasks and all steps come from one vectorised call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from maml_studio.algorithms import MetaLearner
from maml_studio.model import Params


@dataclass
class AdaptationResult:
    predictions: torch.Tensor  # [steps + 1, T, Q, m]: after 0, 1, …, steps steps
    diverged_at: int | None  # first step whose predictions are not finite, if any

    @property
    def last_finite_step(self) -> int:
        steps = self.predictions.shape[0] - 1
        return steps if self.diverged_at is None else self.diverged_at - 1


def adapt_and_predict(
    learner: MetaLearner,
    state: Params,
    support_x: torch.Tensor,
    support_y: torch.Tensor,
    query_x: torch.Tensor,
    steps: int,
    lr: float | None = None,
    every_step: bool = True,
) -> AdaptationResult:
    """Predictions on ``query_x [T, Q, d]`` after each of 0 … ``steps`` adaptation steps.

    With ``every_step=False`` only the predictions after the last finite step are
    kept (``[1, T, Q, m]``), so memory does not grow with the number of steps.
    """
    predictions, diverged_at = [], None
    for step, params in enumerate(learner.adapt_steps(state, support_x, support_y, steps, lr=lr)):
        with torch.no_grad():
            prediction = learner.model.forward(params, query_x)
        if diverged_at is None and not bool(torch.isfinite(prediction).all()):
            diverged_at = step
        if every_step:
            predictions.append(prediction)
        elif diverged_at is None or not predictions:  # non-finite from the start: keep step 0
            predictions = [prediction]
        else:
            break
    return AdaptationResult(torch.stack(predictions), diverged_at)


def _first_non_finite(predictions: torch.Tensor) -> int | None:
    """The first step (leading dimension) whose predictions are not all finite."""
    finite = torch.isfinite(predictions).flatten(1).all(dim=1)
    return None if bool(finite.all()) else int((~finite).nonzero()[0])


def adapt_models_together(
    models: list[tuple[MetaLearner, Params]],
    support_x: torch.Tensor,
    support_y: torch.Tensor,
    query_x: torch.Tensor,
    steps: int,
    lr: float | None = None,
    interrupted: Callable[[], bool] | None = None,
) -> list[AdaptationResult] | None:
    """Adapt several models of one architecture to one task's points, as one batch.

    The interactive path: the meta-learned model, the baseline and a random
    initialisation are stacked along a leading model dimension and take their
    SGD steps together with plain autograd, each with its own step sizes (a
    learned rate per parameter for Meta-SGD, zero for what ANIL keeps fixed).
    Matches `MetaLearner.adapt` step for step. ``support_x [K, d]``,
    ``support_y [K, m]``, ``query_x [Q, d]``; one result per model, with
    predictions ``[steps + 1, 1, Q, m]``. None when ``interrupted()`` turns true (asked
    before every step): newer points have made the result useless.
    """
    model, loss_fn = models[0][0].model, models[0][0].loss_fn
    names, params, rates = _stacked(models, lr)
    count, k = len(models), support_x.shape[0]
    support = support_x.expand(count, -1, -1)
    queries = query_x.expand(count, -1, -1)
    targets = support_y.expand(count, -1, -1)
    predictions = []
    tensors = [params[name].detach().clone().requires_grad_(True) for name in names]
    rate_list = [rates[name] for name in names]
    varying = _rates_vary(models)
    for step in range(steps + 1):
        if interrupted is not None and interrupted():
            return None
        current = dict(zip(names, tensors, strict=True))
        with torch.no_grad():  # the query points need no graph: backward then sees K rows only
            predictions.append(model.forward(current, queries))
        if step == steps or k == 0:
            continue
        with torch.enable_grad():
            loss = loss_fn(model.forward(current, support), targets).sum()  # models are independent
            grads = torch.autograd.grad(loss, tensors)
        if varying:  # MAML++'s learned rates: one per step
            rate_list = [_rates(models, lr, step, params)[name] for name in names]
        with torch.no_grad():
            tensors = [(t - r * g).requires_grad_(True)
                       for t, r, g in zip(tensors, rate_list, grads, strict=True)]
    if k == 0:
        predictions = predictions[:1] * (steps + 1)
    stacked = torch.stack(predictions)  # [steps + 1, models, Q, m]
    results = []
    for index in range(count):
        per_model = stacked[:, index].unsqueeze(1)
        results.append(AdaptationResult(per_model, _first_non_finite(per_model)))
    return results


def _stacked(models: list[tuple[MetaLearner, Params]], lr: float | None):
    """Parameter names, and every model's parameters and inner rates stacked along dim 0."""
    names = list(models[0][0].model.shapes())
    params = {name: torch.stack([learner.network(state)[name] for learner, state in models])
              for name in names}
    return names, params, _rates(models, lr, 0, params)


def _rates(models: list[tuple[MetaLearner, Params]], lr: float | None, step: int,
           params: Params) -> Params:
    """Every model's step sizes of inner step ``step``, stacked along dim 0 like ``params``."""
    rates = {}
    for name, stacked in params.items():
        rates[name] = torch.stack([
            torch.as_tensor(learner.step_rates(state, step, lr).get(name, 0.0),
                            dtype=stacked.dtype).expand(stacked.shape[1:])
            for learner, state in models])
    return rates


def _rates_vary(models: list[tuple[MetaLearner, Params]]) -> bool:
    """Whether a model's step sizes change from step to step (MAML++'s learned rates)."""
    return any(getattr(learner, "learned_rates", False) for learner, _ in models)


def adapted_parameters_together(
    models: list[tuple[MetaLearner, Params]],
    support_x: torch.Tensor,
    support_y: torch.Tensor,
    steps: int,
    lr: float | None = None,
    start: Params | None = None,
    first_step: int = 0,
) -> list[Params]:
    """Every model's parameters after 0 … ``steps`` steps on one task's support points.

    Like `adapt_models_together` without predictions: each entry holds the
    models stacked along dim 0, for `MLP.forward` on inputs ``[models, N, d]``.
    Used where predicting at every step would be wasted work (a 100×100 plane).
    ``start`` continues an earlier trajectory from its last entry, which is the
    parameters after ``first_step`` steps (for step sizes that change by step).
    """
    model, loss_fn = models[0][0].model, models[0][0].loss_fn
    names, params, rates = _stacked(models, lr)
    tensors = [(params if start is None else start)[name].detach() for name in names]
    trajectory = [dict(zip(names, tensors, strict=True))]
    if support_x.shape[0] == 0:
        return trajectory * (steps + 1)
    count = len(models)
    inputs, targets = support_x.expand(count, -1, -1), support_y.expand(count, -1, -1)
    varying = _rates_vary(models)
    for step in range(first_step, first_step + steps):
        if varying:
            rates = _rates(models, lr, step, params)
        with torch.enable_grad():
            tensors = [t.detach().requires_grad_(True) for t in tensors]
            loss = loss_fn(model.forward(dict(zip(names, tensors, strict=True)), inputs), targets).sum()
            grads = torch.autograd.grad(loss, tensors)
        with torch.no_grad():
            tensors = [t - rates[name] * g for t, name, g in zip(tensors, names, grads, strict=True)]
        trajectory.append(dict(zip(names, tensors, strict=True)))
    return trajectory

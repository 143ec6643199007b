"""Decision maps of 2-D classifiers adapted to a few labelled points.

What the adaptation panel's plane shows: every model (meta-learned, baseline,
random initialisation) takes its steps on the support points together; then
its class probabilities over a square grid are computed for the one step on
show, and its accuracy on the support and query points for every step (cheap,
so the step slider can label each model without recomputing the grid).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from maml_studio.adaptation import adapted_parameters_together
from maml_studio.algorithms import MetaLearner
from maml_studio.losses import accuracy, class_probabilities
from maml_studio.model import Params


@dataclass
class DecisionMaps:
    step: int  # the step the maps are for
    probabilities: dict[str, torch.Tensor]  # name → [resolution, resolution, classes], rows along y
    support_accuracy: dict[str, torch.Tensor]  # name → [step + 1]
    query_accuracy: dict[str, torch.Tensor] | None  # name → [step + 1], with a query set
    diverged_at: dict[str, int | None]  # first step up to `step` whose outputs are not finite
    seconds: float
    trajectory: list[Params]  # the stacked parameters after 0 … steps steps, to reuse


def decision_maps(
    models: dict[str, tuple[MetaLearner, Params]],
    support_x: torch.Tensor,
    support_y: torch.Tensor,
    plane: torch.Tensor,
    steps: int,
    step: int,
    lr: float | None = None,
    query_x: torch.Tensor | None = None,
    query_y: torch.Tensor | None = None,
    trajectory: list[Params] | None = None,
) -> DecisionMaps:
    """Adapt every model ``steps`` steps; maps over ``plane [R², 2]`` after ``step`` of them.

    ``support_x [K, 2]`` and ``support_y [K, 1]`` (class labels); an optional
    query set ``query_x [Q, 2]``, ``query_y [Q, 1]`` gives query accuracies.
    A model whose adaptation diverges is shown at its last finite step. An
    earlier result's ``trajectory`` for the same models and points is reused
    and extended to ``steps`` as needed, so moving the step costs little.
    """
    started = time.perf_counter()
    names = list(models)
    learners = list(models.values())
    model = learners[0][0].model
    count = len(names)
    if trajectory is None:
        trajectory = adapted_parameters_together(learners, support_x, support_y, steps, lr)
    elif len(trajectory) <= steps:
        more = adapted_parameters_together(learners, support_x, support_y, steps + 1 - len(trajectory),
                                           lr, start=trajectory[-1], first_step=len(trajectory) - 1)
        trajectory = trajectory + more[1:]
    scored = torch.cat([support_x, query_x]) if query_x is not None else support_x
    k, shown_steps = support_x.shape[0], step + 1
    with torch.no_grad():
        # Every step of every model in one batched forward: parameters [steps × models, …].
        every_step = {key: torch.stack([params[key] for params in trajectory[:shown_steps]]).flatten(0, 1)
                      for key in trajectory[0]}
        output = model.forward(every_step, scored.expand(shown_steps * count, -1, -1))
        output = output.reshape(shown_steps, count, *output.shape[1:])  # [steps, models, N, out]
        finite_steps = torch.isfinite(output).flatten(2).all(dim=2).T  # [models, steps + 1]
        support_table = (accuracy(output[:, :, :k], support_y.expand(shown_steps, count, -1, -1)).T
                         if k else torch.full((count, shown_steps), float("nan")))
        query_table = None if query_x is None else \
            accuracy(output[:, :, k:], query_y.expand(shown_steps, count, -1, -1)).T
        diverged_at = {}
        shown = []
        for index, name in enumerate(names):
            bad = (~finite_steps[index]).nonzero()
            diverged_at[name] = int(bad[0]) if len(bad) else None
            last_finite = step if diverged_at[name] is None else max(diverged_at[name] - 1, 0)
            shown.append(min(step, last_finite))
        params = {key: torch.stack([trajectory[s][key][i] for i, s in enumerate(shown)])
                  for key in trajectory[0]}
        resolution = round(plane.shape[0] ** 0.5)
        probabilities = class_probabilities(model.forward(params, plane.expand(count, -1, -1)))
        probabilities = probabilities.reshape(count, resolution, resolution, -1)
    return DecisionMaps(
        step,
        {name: probabilities[i] for i, name in enumerate(names)},
        {name: support_table[i] for i, name in enumerate(names)},
        None if query_table is None else {name: query_table[i] for i, name in enumerate(names)},
        diverged_at,
        time.perf_counter() - started,
        trajectory,
    )

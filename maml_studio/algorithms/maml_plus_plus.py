"""MAML++ (Antoniou, Edwards & Storkey, ICLR 2019) as options of MAML.

- Multi-step loss (MSL): the meta-loss is ``Σ_j w_j · L_query(θ_j)`` over the
  parameters after every inner step j = 1 … N. The weights start uniform and
  are annealed towards the last step over ``multi_step_loss_iterations``
  iterations, exactly as the paper's code anneals them over epochs (non-final
  weights fall linearly to a floor of 0.03/N, the last one rises to keep the
  sum 1); after that only the last step's loss counts, as in plain MAML.
- Learned per-layer, per-step inner learning rates (LSLR): one scalar rate per
  parameter tensor and inner step, kept in the state as ``lslr.<name> [N]``
  (initialised to ``inner_lr``), meta-learned with the initialisation, saved
  in checkpoints and used when adapting; a step beyond the N learned ones
  takes the last step's rate.
- Derivative-order annealing: the trainer asks `first_order_at` and runs the
  first ``first_order_iterations`` meta-steps with `with_first_order()`.

Cosine annealing of the outer learning rate is ``training.lr_decay = "cosine"``,
a trainer setting of every algorithm. With every option at its default the
learner is plain `MAML` (`build_learner` never builds this class then).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
from torch.func import grad_and_value, vmap

from maml_studio.algorithms.maml import MAML
from maml_studio.model import Params

STEP_RATE_PREFIX = "lslr."
FLOOR = 0.03  # the paper's floor of a non-final step's weight, times the number of steps


def step_loss_weights(steps: int, iteration: int, anneal_iterations: int) -> list[float]:
    """The multi-step loss weights of inner steps 1 … ``steps`` at ``iteration``.

    Antoniou et al.'s ``get_per_step_loss_importance_vector``, per iteration:
    uniform at 0, non-final weights lowered by ``1/steps/anneal`` per iteration
    down to ``0.03/steps``, the last raised by as much as they lose (capped so
    the sum stays 1). From ``anneal_iterations`` on: the last step only.
    """
    if iteration >= anneal_iterations or steps == 1:
        return [0.0] * (steps - 1) + [1.0]
    decay = 1.0 / steps / anneal_iterations
    floor = FLOOR / steps
    weights = [max(1.0 / steps - iteration * decay, floor) for _ in range(steps - 1)]
    last = min(1.0 / steps + iteration * (steps - 1) * decay, 1.0 - (steps - 1) * floor)
    return [*weights, last]


class MAMLPlusPlus(MAML):
    """MAML with any of the MAML++ options of its config switched on."""

    name = "maml"
    title = "MAML++"

    # -- options ------------------------------------------------------------------------------------
    @property
    def learned_rates(self) -> bool:
        return self.config.learned_step_rates

    @property
    def uses_step_weights(self) -> bool:
        """Whether `meta_gradient` takes the multi-step loss weights (``step_weights``)."""
        return self.config.multi_step_loss_iterations > 0

    def step_weights(self, iteration: int) -> torch.Tensor | None:
        """The multi-step loss weights at ``iteration`` ``[inner_steps]``, or None when MSL is off."""
        if not self.uses_step_weights:
            return None
        return torch.tensor(step_loss_weights(self.config.inner_steps, iteration,
                                              self.config.multi_step_loss_iterations))

    def first_order_at(self, iteration: int) -> bool:
        """Whether meta-step ``iteration`` (0-based) is first-order."""
        return self.first_order or iteration < self.config.first_order_iterations

    def with_first_order(self) -> MAMLPlusPlus:
        """The same learner with first-order meta-gradients (derivative-order annealing's start)."""
        return MAMLPlusPlus(self.model, self.loss_fn,
                            dataclasses.replace(self.config, first_order=True))

    # -- meta-parameters and step sizes ------------------------------------------------------------
    def init_state(self, generator: torch.Generator) -> Params:
        state = super().init_state(generator)
        if self.learned_rates:
            for name in self.adapted_names:
                state[STEP_RATE_PREFIX + name] = torch.full(
                    (self.config.inner_steps,), self.config.inner_lr, dtype=state[name].dtype,
                    device=state[name].device)
        return state

    def step_rates(self, state: Params, step: int, lr: float | None = None):
        """Step sizes of inner step ``step`` (0-based); an explicit ``lr`` scales learned ones."""
        if not self.learned_rates:
            return self.inner_rates(state, lr)
        scale = 1.0 if lr is None else lr / self.config.inner_lr
        index = min(step, self.config.inner_steps - 1)
        return {name: state[STEP_RATE_PREFIX + name][index] * scale for name in self.adapted_names}

    # -- the inner loop with per-step rates --------------------------------------------------------
    def adapt_task(self, state: Params, x, y, steps: int, first_order: bool = False,
                   lr: float | None = None) -> list[Params]:
        params = self.network(state)
        trajectory = [params]
        for step in range(steps):
            params = self.inner_step(params, self.step_rates(state, step, lr), x, y, first_order)
            trajectory.append(params)
        return trajectory

    def adapt_steps(self, state: Params, support_x, support_y, steps: int,
                    lr: float | None = None) -> Iterator[Params]:
        tasks = support_x.shape[0]
        params = {k: v.expand(tasks, *v.shape) for k, v in self.network(state).items()}
        with torch.no_grad():
            yield params
            for step in range(steps):
                rates = self.step_rates(state, step, lr)
                params = vmap(lambda p, x, y, r=rates: self.inner_step(p, r, x, y))(
                    params, support_x, support_y)
                yield params

    # -- the meta-loss ------------------------------------------------------------------------------
    def task_query_loss(self, state: Params, support_x, support_y, query_x, query_y,
                        step_weights: torch.Tensor | None = None) -> torch.Tensor:
        trajectory = self.adapt_task(state, support_x, support_y, self.config.inner_steps,
                                     first_order=self.first_order)
        if step_weights is None:
            return self.query_loss(trajectory[-1], query_x, query_y)
        losses = [self.query_loss(params, query_x, query_y) for params in trajectory[1:]]
        return (torch.stack(losses) * step_weights).sum()

    def meta_loss(self, state: Params, support_x, support_y, query_x, query_y,
                  step_weights: torch.Tensor | None = None) -> torch.Tensor:
        per_task = vmap(self.task_query_loss, in_dims=(None, 0, 0, 0, 0, None))(
            state, support_x, support_y, query_x, query_y, step_weights)
        return per_task.mean()

    def meta_gradient(self, state, support_x, support_y, query_x, query_y,
                      step_weights: torch.Tensor | None = None):
        return grad_and_value(self.meta_loss)(state, support_x, support_y, query_x, query_y,
                                              step_weights)

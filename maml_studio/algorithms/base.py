"""The interface every meta-learning algorithm shares, and the inner loop they reuse.

An algorithm owns no tensors. Its meta-parameters (the *state*) are a dict of
tensors that the trainer optimises; `meta_gradient` is a pure function of the
state and a batch of tasks, so it can be compiled, and it runs over all tasks
of the batch in one vectorised computation (`torch.func.vmap`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.func import grad, vmap

from maml_studio.config_sections import AlgorithmConfig
from maml_studio.losses import LossFn
from maml_studio.model import MLP, Params


class MetaLearner:
    """Shared behaviour: MAML-style SGD adaptation of all network parameters."""

    name = ""
    title = ""

    def __init__(self, model: MLP, loss_fn: LossFn, config: AlgorithmConfig) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.config = config

    # -- meta-parameters ----------------------------------------------------------------------
    def init_state(self, generator: torch.Generator) -> Params:
        return self.model.init_params(generator)

    def network(self, state: Params) -> Params:
        """The network's initial parameters inside the state."""
        return {name: state[name] for name in self.model.shapes()}

    @property
    def adapted_names(self) -> tuple[str, ...]:
        """The parameters the inner loop changes."""
        return tuple(self.model.shapes())

    def inner_rates(self, state: Params, lr: float | None = None) -> dict[str, torch.Tensor | float]:
        rate = self.config.inner_lr if lr is None else lr
        return dict.fromkeys(self.adapted_names, rate)

    def step_rates(self, state: Params, step: int, lr: float | None = None
                   ) -> dict[str, torch.Tensor | float]:
        """The step sizes of inner step ``step`` (0-based): the same at every step here."""
        return self.inner_rates(state, lr)

    # -- the inner loop -------------------------------------------------------------------------
    def inner_step(self, params: Params, rates, x: torch.Tensor, y: torch.Tensor,
                   first_order: bool = False) -> Params:
        """One SGD step on one task's support set (called under `vmap`)."""
        adapted = {name: params[name] for name in self.adapted_names}

        def support_loss(trainable: Params) -> torch.Tensor:
            return self.loss_fn(self.model.forward({**params, **trainable}, x), y)

        grads = grad(support_loss)(adapted)
        if first_order:
            grads = {name: g.detach() for name, g in grads.items()}
        return {**params, **{name: adapted[name] - rates[name] * grads[name] for name in adapted}}

    def adapt_task(self, state: Params, x: torch.Tensor, y: torch.Tensor, steps: int,
                   first_order: bool = False, lr: float | None = None) -> list[Params]:
        """One task's parameters after 0, 1, …, ``steps`` inner steps."""
        params, rates = self.network(state), self.inner_rates(state, lr)
        trajectory = [params]
        for _ in range(steps):
            params = self.inner_step(params, rates, x, y, first_order)
            trajectory.append(params)
        return trajectory

    def adapt(self, state: Params, support_x: torch.Tensor, support_y: torch.Tensor,
              steps: int, lr: float | None = None) -> list[Params]:
        """Adapt to every task of ``support_x [T, K, d]`` at once.

        Returns the parameters after each of 0 … ``steps`` steps, each with a
        leading task dimension. No meta-gradient is kept.
        """
        return list(self.adapt_steps(state, support_x, support_y, steps, lr))

    def adapt_steps(self, state: Params, support_x: torch.Tensor, support_y: torch.Tensor,
                    steps: int, lr: float | None = None) -> Iterator[Params]:
        """Like `adapt`, one step at a time: memory stays flat however many steps."""
        rates = self.inner_rates(state, lr)
        step = vmap(lambda p, x, y: self.inner_step(p, rates, x, y), in_dims=(0, 0, 0))
        tasks = support_x.shape[0]
        params = {k: v.expand(tasks, *v.shape) for k, v in self.network(state).items()}
        with torch.no_grad():
            yield params
            for _ in range(steps):
                params = step(params, support_x, support_y)
                yield params

    # -- meta-training ---------------------------------------------------------------------------
    def meta_gradient(self, state: Params, support_x, support_y, query_x, query_y
                      ) -> tuple[Params, torch.Tensor]:
        """The gradient the outer optimiser applies to the state, and the meta-training loss."""
        raise NotImplementedError

    def query_loss(self, params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.model.forward(params, x), y)

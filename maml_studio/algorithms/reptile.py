"""Reptile (Nichol et al. 2018): move the initialisation towards the task-adapted weights.

The meta-gradient handed to the outer optimiser is ``θ − mean(θ'_task)``; with
plain SGD at rate ε this is exactly Reptile's update θ ← θ + ε·(mean θ' − θ).
"""

from __future__ import annotations

import torch
from torch.func import vmap

from maml_studio.algorithms.base import MetaLearner
from maml_studio.model import Params


class Reptile(MetaLearner):
    name = "reptile"
    title = "Reptile"

    def _adapted_and_loss(self, state: Params, support_x, support_y, query_x, query_y):
        params = self.adapt_task(state, support_x, support_y, self.config.inner_steps,
                                 first_order=True)[-1]
        return params, self.query_loss(params, query_x, query_y)

    def meta_gradient(self, state, support_x, support_y, query_x, query_y):
        adapted, losses = vmap(self._adapted_and_loss, in_dims=(None, 0, 0, 0, 0))(
            state, support_x, support_y, query_x, query_y)
        grads = {name: state[name] - adapted[name].mean(0) for name in adapted}
        return grads, losses.mean().detach()

    def meta_loss(self, state: Params, support_x, support_y, query_x, query_y) -> torch.Tensor:
        return self.meta_gradient(state, support_x, support_y, query_x, query_y)[1]

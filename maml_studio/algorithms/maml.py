"""MAML (Finn et al. 2017): differentiate the query loss through the inner SGD steps."""

from __future__ import annotations

import torch
from torch.func import grad_and_value, vmap

from maml_studio.algorithms.base import MetaLearner
from maml_studio.model import Params


class MAML(MetaLearner):
    name = "maml"
    title = "MAML"

    @property
    def first_order(self) -> bool:
        return self.config.first_order

    def task_query_loss(self, state: Params, support_x, support_y, query_x, query_y
                        ) -> torch.Tensor:
        params = self.adapt_task(state, support_x, support_y, self.config.inner_steps,
                                 first_order=self.first_order)[-1]
        return self.query_loss(params, query_x, query_y)

    def meta_loss(self, state: Params, support_x, support_y, query_x, query_y) -> torch.Tensor:
        per_task = vmap(self.task_query_loss, in_dims=(None, 0, 0, 0, 0))(
            state, support_x, support_y, query_x, query_y)
        return per_task.mean()

    def meta_gradient(self, state, support_x, support_y, query_x, query_y):
        return grad_and_value(self.meta_loss)(state, support_x, support_y, query_x, query_y)

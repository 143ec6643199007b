"""The paper's baseline: one network trained on all tasks jointly, fine-tuned at test time."""

from __future__ import annotations

import torch
from torch.func import grad_and_value

from maml_studio.algorithms.base import MetaLearner
from maml_studio.model import Params


class Pretrained(MetaLearner):
    name = "pretrained"
    title = "Pretrained baseline"

    def meta_loss(self, state: Params, support_x, support_y, query_x, query_y) -> torch.Tensor:
        """Mean loss of the shared network on every point of every task (no adaptation)."""
        x = torch.cat([support_x, query_x], dim=1)
        y = torch.cat([support_y, query_y], dim=1)
        return self.query_loss(state, x, y).mean()

    def meta_gradient(self, state, support_x, support_y, query_x, query_y):
        return grad_and_value(self.meta_loss)(state, support_x, support_y, query_x, query_y)

"""Meta-SGD (Li et al. 2017): learn a step size per parameter along with the initialisation."""

from __future__ import annotations

import torch

from maml_studio.algorithms.maml import MAML
from maml_studio.model import Params

RATE_PREFIX = "lr."


class MetaSGD(MAML):
    name = "metasgd"
    title = "Meta-SGD"

    def init_state(self, generator: torch.Generator) -> Params:
        state = super().init_state(generator)
        for name in self.adapted_names:
            state[RATE_PREFIX + name] = torch.full_like(state[name], self.config.inner_lr)
        return state

    def inner_rates(self, state: Params, lr: float | None = None):
        """The learned rates; an explicit ``lr`` scales them by ``lr / inner_lr``."""
        scale = 1.0 if lr is None else lr / self.config.inner_lr
        return {name: state[RATE_PREFIX + name] * scale for name in self.adapted_names}

"""ANIL (Raghu et al. 2020): MAML whose inner loop adapts only the last layer."""

from __future__ import annotations

from maml_studio.algorithms.maml import MAML


class ANIL(MAML):
    name = "anil"
    title = "ANIL"

    @property
    def adapted_names(self) -> tuple[str, ...]:
        return self.model.head_names

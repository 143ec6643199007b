"""The loss history of a run: one value per iteration, and the meta-validations."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

VALIDATION_COLUMNS = ("iteration", "before", "after", "baseline_before", "baseline_after")


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    baseline_loss: list[float] = field(default_factory=list)
    validation: list[tuple[float, ...]] = field(default_factory=list)

    @property
    def iterations(self) -> int:
        return len(self.train_loss)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {
            "history.train_loss": torch.tensor(self.train_loss, dtype=torch.float32),
            "history.baseline_loss": torch.tensor(self.baseline_loss, dtype=torch.float32),
        }
        tensors["history.validation"] = torch.tensor(
            self.validation, dtype=torch.float64).reshape(-1, len(VALIDATION_COLUMNS))
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> History:
        if "history.train_loss" not in tensors:
            return cls()
        return cls(
            tensors["history.train_loss"].tolist(),
            tensors["history.baseline_loss"].tolist(),
            [tuple(row) for row in tensors["history.validation"].tolist()],
        )

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
        """Iterations with a recorded training loss (where a resumed run continues)."""
        return len(self.train_loss)

    @property
    def last_iteration(self) -> int:
        """The last iteration the history knows of, from the losses or the validations."""
        last_validation = int(self.validation[-1][0]) if self.validation else 0
        return max(self.iterations, last_validation)

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
        """The history stored in a checkpoint; ValueError if it is malformed."""
        if "history.train_loss" not in tensors:
            return cls()
        empty = torch.zeros(0)
        train = tensors["history.train_loss"]
        baseline = tensors.get("history.baseline_loss", empty)
        validation = tensors.get("history.validation", empty.reshape(0, len(VALIDATION_COLUMNS)))
        if train.ndim != 1 or baseline.ndim != 1:
            raise ValueError("loss curves must be one-dimensional")
        if validation.ndim != 2 or validation.shape[1] != len(VALIDATION_COLUMNS):
            raise ValueError(f"validation must be [rows, {len(VALIDATION_COLUMNS)}], "
                             f"got {list(validation.shape)}")
        return cls(train.tolist(), baseline.tolist(),
                   [tuple(row) for row in validation.tolist()])

    def copy(self) -> History:
        return History(list(self.train_loss), list(self.baseline_loss), list(self.validation))


def history_to_csv(history: History) -> str:
    """One row per iteration; validation columns are filled where a validation ran."""
    validation = {int(row[0]): row[1:] for row in history.validation}
    lines = ["iteration,train_loss,baseline_loss,validation_before,validation_after,"
             "baseline_validation_before,baseline_validation_after"]
    last = max([history.iterations, *validation], default=0)
    for iteration in range(1, last + 1):
        train = _cell(history.train_loss, iteration - 1)
        baseline = _cell(history.baseline_loss, iteration - 1)
        checks = validation.get(iteration)
        extra = ",".join("" if v != v else f"{v:.7g}" for v in checks) if checks else ",,,"
        lines.append(f"{iteration},{train},{baseline},{extra}")
    return "\n".join(lines) + "\n"


def _cell(values: list[float], index: int) -> str:
    return f"{values[index]:.7g}" if index < len(values) else ""

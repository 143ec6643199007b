"""The loss history of a run: one value per iteration, and the meta-validations."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

VALIDATION_COLUMNS = ("iteration", "before", "after", "baseline_before", "baseline_after",
                      "accuracy_before", "accuracy_after", "baseline_accuracy_before",
                      "baseline_accuracy_after")
LOSS_COLUMNS = 5  # histories written before accuracies existed have only these


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
        width = len(VALIDATION_COLUMNS)  # rows without accuracies are padded with NaN
        rows = [tuple(row) + (math.nan,) * (width - len(row)) for row in self.validation]
        validation = torch.tensor(rows, dtype=torch.float64).reshape(-1, width)
        # A validation whose adaptation blew up reads as infinite; it is kept as NaN, "no finite
        # value", which every reader of a checkpoint accepts and draws as a gap.
        tensors["history.validation"] = torch.where(torch.isinf(validation), math.nan, validation)
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
        if validation.ndim != 2 or validation.shape[1] not in (LOSS_COLUMNS, len(VALIDATION_COLUMNS)):
            raise ValueError(f"validation must be [rows, {len(VALIDATION_COLUMNS)}], "
                             f"got {list(validation.shape)}")
        if not (torch.isfinite(train).all() and torch.isfinite(baseline).all()):
            raise ValueError("a loss curve holds NaN or infinite values")
        if torch.isinf(validation).any():
            raise ValueError("a validation holds infinite values")
        iterations = validation[:, 0].double() if validation.numel() else empty
        if not (torch.isfinite(iterations).all() and (iterations == iterations.round()).all()
                and (iterations >= 1).all() and (iterations <= 2**53).all()):
            raise ValueError("validation iterations must be whole numbers from 1 on")
        if validation.shape[1] == LOSS_COLUMNS:  # no accuracies recorded
            padding = torch.full((validation.shape[0], len(VALIDATION_COLUMNS) - LOSS_COLUMNS), math.nan)
            validation = torch.cat([validation.double(), padding.double()], dim=1)
        return cls(train.tolist(), baseline.tolist(),
                   [tuple(row) for row in validation.tolist()])

    def copy(self) -> History:
        return History(list(self.train_loss), list(self.baseline_loss), list(self.validation))


def history_to_csv(history: History) -> str:
    """One row per iteration; validation columns are filled where a validation ran.

    Accuracy columns are written only for runs that recorded accuracies.
    """
    with_accuracy = any(v == v for row in history.validation for v in row[LOSS_COLUMNS:])
    width = len(VALIDATION_COLUMNS) if with_accuracy else LOSS_COLUMNS
    validation = {int(row[0]): row[1:width] for row in history.validation}
    header = ("iteration,train_loss,baseline_loss,validation_before,validation_after,"
              "baseline_validation_before,baseline_validation_after")
    if with_accuracy:
        header += (",validation_accuracy_before,validation_accuracy_after,"
                   "baseline_validation_accuracy_before,baseline_validation_accuracy_after")
    lines = [header]
    last = max([history.iterations, *validation], default=0)
    for iteration in range(1, last + 1):
        train = _cell(history.train_loss, iteration - 1)
        baseline = _cell(history.baseline_loss, iteration - 1)
        checks = validation.get(iteration)
        extra = ",".join("" if v != v else f"{v:.7g}" for v in checks) if checks else "," * (width - 2)
        lines.append(f"{iteration},{train},{baseline},{extra}")
    return "\n".join(lines) + "\n"


def _cell(values: list[float], index: int) -> str:
    return f"{values[index]:.7g}" if index < len(values) else ""

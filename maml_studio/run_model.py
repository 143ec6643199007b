"""The run on show, without Qt: the one owner of its loss history that views bind to.

The trainer works on its own thread and sends what it adds; the window hands
that to the run, and the loss plot (and anything else that shows the history)
draws from the run's events instead of keeping a copy of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from psygnal import Signal

from maml_studio.history import History


class RunModel:
    """A run's history; emits `reset` when it is replaced and `extended` when it grows."""

    reset = Signal()  # a new (empty) or loaded history: redraw everything
    extended = Signal(int, int, int)  # training losses, baseline losses and validations added

    def __init__(self) -> None:
        self.history = History()

    def clear(self) -> None:
        self.history = History()
        self.reset.emit()

    def load(self, history: History) -> None:
        """Show a copy of ``history`` (a loaded checkpoint's): later appends never change it."""
        self.history = history.copy()
        self.reset.emit()

    def append(self, train_losses: Sequence[float], baseline_losses: Sequence[float] = (),
               validations: Sequence[tuple[float, ...]] = ()) -> None:
        added = (len(train_losses), len(baseline_losses), len(validations))
        self.history.train_loss.extend(float(v) for v in train_losses)
        self.history.baseline_loss.extend(float(v) for v in baseline_losses)
        self.history.validation.extend(tuple(row) for row in validations)
        if any(added):
            self.extended.emit(*added)

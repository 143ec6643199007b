"""Runs waiting their turn, without Qt: the queue "Compare algorithms" fills.

The window trains one run at a time; when one ends it takes the next from the
queue unless the queue is paused. The user can reorder, remove and cancel
what waits. Changes are announced with a psygnal event, like the other
models views bind to.
"""

from __future__ import annotations

from psygnal import Signal

from maml_studio.compare import PlannedRun, plan_runs
from maml_studio.config import ExperimentConfig


class RunQueue:
    changed = Signal()

    def __init__(self) -> None:
        self.waiting: list[PlannedRun] = []
        self.current: PlannedRun | None = None  # the queued run that is training now
        self.paused = False

    def plan(self, config: ExperimentConfig, algorithms: list[str], seeds: int) -> list[PlannedRun]:
        """Queue ``config`` under each algorithm × seed (ConfigError or CompareError if unfit)."""
        planned = plan_runs(config, algorithms, seeds)
        self.waiting.extend(planned)
        self.changed.emit()
        return planned

    def take_next(self) -> PlannedRun | None:
        """The next run to train (now the current one), or None when paused or empty."""
        self.current = None
        if self.paused or not self.waiting:
            self.changed.emit()
            return None
        self.current = self.waiting.pop(0)
        self.changed.emit()
        return self.current

    def finished(self) -> None:
        """The current run ended (or was given up)."""
        if self.current is not None:
            self.current = None
            self.changed.emit()

    def put_back(self, run: PlannedRun) -> None:
        """A run that could not start waits again, first in line."""
        if self.current is run:
            self.current = None
        self.waiting.insert(0, run)
        self.changed.emit()

    def move(self, index: int, delta: int) -> int:
        """Move a waiting run up (−1) or down (+1); returns where it is now."""
        target = min(max(index + delta, 0), len(self.waiting) - 1)
        if 0 <= index < len(self.waiting) and target != index:
            self.waiting.insert(target, self.waiting.pop(index))
            self.changed.emit()
            return target
        return index

    def remove(self, indices: list[int]) -> None:
        keep = set(range(len(self.waiting))) - set(indices)
        self.waiting = [run for i, run in enumerate(self.waiting) if i in keep]
        self.changed.emit()

    def cancel(self) -> None:
        """Drop every waiting run (the one training now goes on until stopped)."""
        self.waiting.clear()
        self.changed.emit()

    def set_paused(self, paused: bool) -> None:
        if self.paused != paused:
            self.paused = paused
            self.changed.emit()

    @property
    def active(self) -> bool:
        return self.current is not None or bool(self.waiting)

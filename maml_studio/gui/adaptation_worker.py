"""Adaptation off the GUI thread: requests coalesce and the newest one wins.

While one adaptation runs, later requests replace each other in a single
pending slot, so dragging a point costs at most one computation at a time.
Every result carries the serial number of its request; the panel drops any
result that is older than the points it shows.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PySide6.QtCore import QObject, QThread, Signal, Slot

from maml_studio.adaptation import adapt_models_together
from maml_studio.algorithms import MetaLearner
from maml_studio.model import Params


@dataclass(frozen=True)
class AdaptationRequest:
    serial: int
    models: dict[str, tuple[MetaLearner, Params]]  # curve name → learner and its parameters
    support_x: np.ndarray  # [K]
    support_y: np.ndarray  # [K]
    grid_x: np.ndarray  # [G]
    steps: int
    lr: float  # inner step size (Meta-SGD scales its learned rates by lr / its training rate)
    submitted: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class AdaptationResult:
    serial: int
    curves: dict[str, np.ndarray]  # name → predictions [steps + 1, G]
    support_predictions: dict[str, np.ndarray]  # name → predictions at the support x [steps + 1, K]
    diverged_at: dict[str, int | None]
    seconds: float  # from submission to result


def compute(request: AdaptationRequest) -> AdaptationResult:
    """Adapt every model to the request's points; predictions after every step."""
    xs = torch.as_tensor(request.support_x, dtype=torch.float32).reshape(-1, 1)
    ys = torch.as_tensor(request.support_y, dtype=torch.float32).reshape(-1, 1)
    grid = torch.as_tensor(request.grid_x, dtype=torch.float32).reshape(-1, 1)
    results = adapt_models_together(list(request.models.values()), xs, ys, torch.cat([grid, xs]),
                                    request.steps, lr=request.lr)
    curves, at_support, diverged = {}, {}, {}
    for name, result in zip(request.models, results, strict=True):
        predictions = result.predictions[:, 0, :, 0].numpy()
        curves[name] = predictions[:, :len(grid)]
        at_support[name] = predictions[:, len(grid):]
        diverged[name] = result.diverged_at
    return AdaptationResult(request.serial, curves, at_support, diverged,
                            time.perf_counter() - request.submitted)


class AdaptationWorker(QObject):
    done = Signal(object)  # AdaptationResult
    failed = Signal(str)
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: AdaptationRequest | None = None
        self._wake.connect(self._process)

    def submit(self, request: AdaptationRequest) -> None:
        """Called from the GUI thread; replaces any request still waiting."""
        with self._lock:
            self._pending = request
        self._wake.emit()

    @Slot()
    def _process(self) -> None:
        while True:
            with self._lock:
                request, self._pending = self._pending, None
            if request is None:
                return
            try:
                self.done.emit(compute(request))
            except Exception as exc:  # a bad model or input must not kill the thread
                self.failed.emit(f"{type(exc).__name__}: {exc}")


class AdaptationThread(QObject):
    """Owns the worker's thread; `submit` is safe to call as often as the user drags."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("maml-adaptation")
        self.thread.setStackSize(64 * 1024 * 1024)
        self.worker = AdaptationWorker()
        self.worker.moveToThread(self.thread)
        self.worker.done.connect(self.done)
        self.worker.failed.connect(self.failed)
        self.thread.start()

    def submit(self, request: AdaptationRequest) -> None:
        self.worker.submit(request)

    def shutdown(self) -> None:
        self.thread.quit()
        self.thread.wait()

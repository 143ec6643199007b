"""Adaptation off the GUI thread: requests coalesce and the newest one wins.

While one adaptation runs, later requests replace each other in a single
pending slot, so dragging a point costs at most one computation at a time.
A curve request is computed in phases, the step on show first (see
`AdaptationRequest.phases`); newer points cut the later phases short. Every
result carries the serial number of its request; the panel drops any result
that is older than the points it shows. The computations themselves
are in `maml_studio.adaptation_jobs`.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QThread, Signal, Slot

from maml_studio.adaptation_jobs import (
    AdaptationRequest,
    PlaneRequest,
    compute,
    compute_plane,
)


class AdaptationWorker(QObject):
    done = Signal(object)  # AdaptationResult or PlaneResult
    failed = Signal(str)
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: AdaptationRequest | PlaneRequest | None = None
        self._wake.connect(self._process)

    def submit(self, request: AdaptationRequest | PlaneRequest) -> None:
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
                if isinstance(request, PlaneRequest):
                    self.done.emit(compute_plane(request))
                    continue
                for index, phase in enumerate(request.phases()):
                    # Newer points make the later phases useless: they stop at the next step.
                    result = compute(phase, self._superseded if index else None)
                    if result is None:
                        break
                    self.done.emit(result)
            except Exception as exc:  # a bad model or input must not kill the thread
                self.failed.emit(f"{type(exc).__name__}: {exc}")

    def _superseded(self) -> bool:
        with self._lock:
            return self._pending is not None


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

    def submit(self, request: AdaptationRequest | PlaneRequest) -> None:
        self.worker.submit(request)

    def shutdown(self) -> None:
        self.thread.quit()
        self.thread.wait()

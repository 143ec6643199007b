"""Runs a `Trainer` on a worker thread and forwards its events to the GUI thread.

The worker's loop never returns to an event loop while training, so pause,
resume and stop go straight to the trainer's thread-safe flags. The GUI gets
progress at most every ~50 ms (with every loss since the last report) and a
detached CPU snapshot of the parameters a few times a second.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal, Slot

from maml_studio.config import ConfigError, ExperimentConfig
from maml_studio.exit_guard import wait_at_exit
from maml_studio.history import History
from maml_studio.model import Params
from maml_studio.training import CompileStatus, Finished, Progress, Trainer, Validation

PROGRESS_INTERVAL = 0.05
SNAPSHOT_INTERVAL = 0.25
# torch.compile and its imports recurse deeply; give the worker the stack a main thread has.
TRAINING_STACK_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class LossUpdate:
    """The losses since the last update; `progress` is None for the final flush.

    Signals carry this one object: PySide6 mishandles a bare None sent across threads.
    """

    progress: Progress | None
    train_losses: list[float]
    baseline_losses: list[float]


class TrainingWorker(QObject):
    progress = Signal(object)  # LossUpdate
    validated = Signal(object)  # Validation
    compile_status = Signal(object)  # CompileStatus
    snapshot = Signal(object)  # {"state": Params, "baseline": Params | None}
    finished = Signal(object)  # Finished (also for failures, with status "failed")

    def __init__(self, config: ExperimentConfig, state: Params | None,
                 baseline: Params | None, history: History | None,
                 optimizer_state: dict | None = None) -> None:
        super().__init__()
        self.config = config
        self.trainer: Trainer | None = None
        self._resume = (state, baseline, history, optimizer_state)
        self._sent = (0, 0)
        self._stop_requested = False
        self._pause_requested = False

    @Slot()
    def run(self) -> None:
        try:
            state, baseline, history, optimizer_state = self._resume
            self.trainer = Trainer(self.config, state=state, baseline_state=baseline,
                                   history=history, optimizer_state=optimizer_state,
                                   progress_interval=PROGRESS_INTERVAL)
            if self._pause_requested:
                self.trainer.pause()
            if self._stop_requested:
                self.trainer.stop()
            self._loop(self.trainer)
        except Exception as exc:  # out of memory, a driver error, anything: report, keep the app
            iterations = 0
            if self.trainer is not None:
                self._flush(None)  # the losses and parameters learned before the failure
                iterations = self.trainer.history.iterations
            self.finished.emit(Finished("failed", iterations, _failure_message(exc)))

    def _loop(self, trainer: Trainer) -> None:
        self._sent = (len(trainer.history.train_loss), len(trainer.history.baseline_loss))
        last_snapshot = 0.0
        for event in trainer.run():
            if isinstance(event, Progress):
                self._send_losses(event)
                now = time.perf_counter()
                if now - last_snapshot >= SNAPSHOT_INTERVAL or trainer.paused:  # paused: exact
                    last_snapshot = now
                    self.snapshot.emit(trainer.snapshot())
            elif isinstance(event, Validation):
                self.validated.emit(event)
            elif isinstance(event, CompileStatus):
                self.compile_status.emit(event)
            elif isinstance(event, Finished):
                self._flush(event)

    def _send_losses(self, progress: Progress | None) -> None:
        """Every loss recorded since the last update, with the progress report if any."""
        history = self.trainer.history
        sent_train, sent_baseline = self._sent
        new_train = history.train_loss[sent_train:]
        new_baseline = history.baseline_loss[sent_baseline:]
        self._sent = (sent_train + len(new_train), sent_baseline + len(new_baseline))
        self.progress.emit(LossUpdate(progress, new_train, new_baseline))

    def _flush(self, finished: Finished | None) -> None:
        """The losses after the last progress report, the final parameters, the outcome."""
        self._send_losses(None)
        self.snapshot.emit(self.trainer.snapshot())
        if finished is not None:
            self.finished.emit(finished)

    def pause(self) -> None:
        self._pause_requested = True
        if self.trainer is not None:
            self.trainer.pause()

    def resume(self) -> None:
        self._pause_requested = False
        if self.trainer is not None:
            self.trainer.resume()

    def stop(self) -> None:
        self._stop_requested = True
        if self.trainer is not None:
            self.trainer.stop()


def _failure_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return (f"Training ran out of memory ({text}). Try a smaller meta-batch, fewer inner "
                "steps, a smaller network or first-order MAML. The last parameters are kept.")
    if isinstance(exc, ConfigError):  # a setting that only showed its problem while training
        return f"{text}. The last parameters are kept."
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    place = f" (in {where.name})" if where else ""
    return f"Training failed: {type(exc).__name__}: {text}{place}. The last parameters are kept."


class TrainingController(QObject):
    """Owns the worker thread of the current run; lives on the GUI thread."""

    progress = Signal(object)
    validated = Signal(object)
    compile_status = Signal(object)
    snapshot = Signal(object)
    finished = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread: QThread | None = None
        self.worker: TrainingWorker | None = None
        self.paused = False
        self.optimizer_state: dict | None = None  # of the last finished run, to continue it
        self._retiring: list[tuple[QThread, TrainingWorker]] = []  # stopped, ending their step
        wait_at_exit(self.shutdown, self.wait_for_stopped_runs)  # a script that never quits Qt

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.isRunning()

    def start(self, config: ExperimentConfig, state=None, baseline=None, history=None,
              optimizer_state=None) -> None:
        if self.running:
            raise RuntimeError("training is already running")
        self.thread = QThread()
        self.thread.setObjectName("maml-training")
        self.thread.setStackSize(TRAINING_STACK_BYTES)
        worker = TrainingWorker(config, state, baseline, history, optimizer_state)
        self.worker = worker
        worker.moveToThread(self.thread)
        # Queued to this object on the GUI thread, where _current() drops the events of a
        # run that was shut down meanwhile (Reset, closing).
        worker.progress.connect(self._relay_progress)
        worker.validated.connect(self._relay_validated)
        worker.compile_status.connect(self._relay_compile_status)
        worker.snapshot.connect(self._relay_snapshot)
        worker.finished.connect(self._worker_finished)
        self.thread.started.connect(self.worker.run)
        self.paused = False
        self.thread.start()

    def _current(self) -> bool:
        sender = self.sender()
        return sender is not None and sender is self.worker

    @Slot(object)
    def _relay_progress(self, update) -> None:
        if self._current():
            self.progress.emit(update)

    @Slot(object)
    def _relay_validated(self, event) -> None:
        if self._current():
            self.validated.emit(event)

    @Slot(object)
    def _relay_compile_status(self, event) -> None:
        if self._current():
            self.compile_status.emit(event)

    @Slot(object)
    def _relay_snapshot(self, snapshot) -> None:
        if self._current():
            self.snapshot.emit(snapshot)

    @Slot(object)
    def _worker_finished(self, event: Finished) -> None:
        if not self._current():
            return  # a run already shut down
        worker = self.worker
        self.optimizer_state = worker.trainer.optimizer_state() if worker.trainer else None
        self.thread.quit()
        self.thread.wait()
        self.thread = None
        self.paused = False
        self.finished.emit(event)

    def pause(self) -> None:
        if self.running and self.worker:
            self.worker.pause()
            self.paused = True

    def resume(self) -> None:
        if self.running and self.worker:
            self.worker.resume()
            self.paused = False

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def shutdown(self) -> None:
        """Stop the run and forget it at once (Reset, closing); its pending events are dropped.

        The GUI thread never waits for the worker: a meta-step (or a validation's chunk) under
        way finishes on its own thread, which is released when it ends.
        """
        if self.thread is None:
            return
        self.stop()
        thread, worker = self.thread, self.worker
        thread.quit()  # its event loop ends as soon as the run returns
        self._retiring.append((thread, worker))
        thread.finished.connect(self._retired)
        self.thread = None
        self.worker = None
        self.paused = False

    @property
    def stopping(self) -> int:
        """Runs that were stopped and are still ending their current step."""
        return sum(thread.isRunning() for thread, _ in self._retiring)

    @Slot()
    def _retired(self) -> None:
        self._retiring = [(t, w) for t, w in self._retiring if t.isRunning()]

    def wait_for_stopped_runs(self) -> None:
        """Let stopped runs end (at exit, when no window is on screen any more)."""
        for thread, _ in self._retiring:
            thread.wait()
        self._retiring.clear()

"""Read a file on a background thread while the window stays responsive, with a Cancel.

The work is a plain function (no Qt); its result or its error comes back to the GUI
thread through a queued signal. Cancel stops waiting and drops the result: nothing
of the file is applied. A short read finishes before the progress dialog appears.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

SHOW_AFTER_MS = 300


class BackgroundRead(QObject):
    done = Signal(object)
    failed = Signal(str)
    _finished = Signal(object, str)  # from the reading thread: (result, error)

    def __init__(self, parent: QWidget, title: str, work: Callable[[], object]) -> None:
        super().__init__(parent)
        self.cancelled = False
        self._work = work
        self.dialog = QProgressDialog(title, "Cancel", 0, 0, parent)  # 0..0: busy, no percentage
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(SHOW_AFTER_MS)
        self.dialog.setAccessibleName(title)
        self.dialog.canceled.connect(self.cancel)
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._thread = threading.Thread(target=self._run, name="maml-read", daemon=True)

    def start(self) -> BackgroundRead:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancelled = True
        self.dialog.reset()

    def _run(self) -> None:
        try:
            result, error = self._work(), ""
        except (OSError, ValueError, MemoryError) as exc:  # PointFileError is a ValueError
            result, error = None, str(exc) or type(exc).__name__
        self._finished.emit(result, error)

    def _deliver(self, result: object, error: str) -> None:
        self.dialog.reset()
        if self.cancelled:
            return
        if error:
            self.failed.emit(error)
        else:
            self.done.emit(result)

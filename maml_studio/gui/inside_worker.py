"""A computation off the GUI thread where the latest request wins, for the "inside MAML" views.

One thread per view (at the lowest CPU priority unless asked otherwise: a view
the user watches live keeps up better at the usual one): while it computes, newer
requests replace each other in one waiting slot, so a view that asks on every
snapshot of a live run costs at most one computation at a time, always of the
newest weights. Results and failures reach the GUI thread as queued signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal

from maml_studio.anatomy_sampler import lower_priority
from maml_studio.exit_guard import wait_at_exit


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(str)


class LatestWorker(QObject):
    done = Signal(object)  # what ``compute`` returned
    failed = Signal(str)

    def __init__(self, compute: Callable[[object], object], name: str,
                 parent: QObject | None = None, *, low_priority: bool = True) -> None:
        super().__init__(parent)
        self._compute = compute
        self._low_priority = low_priority
        self._condition = threading.Condition()
        self._pending: object | None = None
        self._busy = False
        self._stopped = False
        self._relay = _Relay()
        self._relay.done.connect(self.done, Qt.ConnectionType.QueuedConnection)
        self._relay.failed.connect(self.failed, Qt.ConnectionType.QueuedConnection)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        wait_at_exit(self.ask_to_stop, self.wait)

    @property
    def busy(self) -> bool:
        """A request is being computed or waits."""
        with self._condition:
            return self._busy or self._pending is not None

    def submit(self, request: object) -> None:
        """Replace any request still waiting; called from the GUI thread."""
        with self._condition:
            self._pending = request
            self._condition.notify()

    def stop(self, timeout: float | None = 5.0) -> None:
        self.ask_to_stop()
        self._thread.join(timeout)

    def ask_to_stop(self) -> None:
        """End the thread after the computation under way (if any); no new one starts."""
        with self._condition:
            self._stopped = True
            self._pending = None
            self._condition.notify()

    def wait(self) -> None:
        """Until the computation under way (if any) has ended; after `stop`, at exit."""
        self._thread.join()

    def _loop(self) -> None:
        if self._low_priority:
            lower_priority()
        while True:
            with self._condition:
                while self._pending is None and not self._stopped:
                    self._condition.wait()
                if self._stopped:
                    return
                request, self._pending = self._pending, None
                self._busy = True
            try:
                result = self._compute(request)
            except Exception as exc:  # a bad model must not end the thread
                self._relay.failed.emit(f"{type(exc).__name__}: {exc}")
            else:
                self._relay.done.emit(result)
            finally:
                with self._condition:
                    self._busy = False

"""Python's garbage collector must only run on the GUI thread.

A collection triggered on the training thread can delete Qt objects there and
crash Qt. pyqtgraph's `GarbageCollector` turns automatic collection off and
collects from a timer on the GUI thread instead; one per process.
"""

from __future__ import annotations

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None


def collect_on_gui_thread(interval: float = 0.5) -> None:
    global _collector
    if _collector is None:
        _collector = GarbageCollector(interval=interval)

"""Python's garbage collector must only run on the GUI thread.

A collection triggered on the training thread can delete Qt objects there and
crash Qt. pyqtgraph's `GarbageCollector` turns automatic collection off and
collects from a timer on the GUI thread instead; one per process.
"""

from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None


def collect_on_gui_thread(interval: float = 0.5) -> None:
    global _collector
    if _collector is None:
        _collector = GarbageCollector(interval=interval)


def freeze_startup_objects() -> None:
    """Exclude everything alive after start-up (torch, Qt, modules) from later collections.

    A full collection over those objects takes a tenth of a second or more on the GUI
    thread; frozen, the periodic collections only scan what the session creates.
    """
    gc.freeze()

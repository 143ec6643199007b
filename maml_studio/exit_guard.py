"""Background computations are waited for when the process exits.

An interpreter that shuts down while another thread is inside torch aborts the
process ("terminate called without an active exception"). Objects that own such
a thread register a way to ask it to stop and a way to wait for it; at exit each
is asked, then waited for (a computation under way finishes first).
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from collections.abc import Callable

_registered: list[tuple[weakref.WeakMethod, weakref.WeakMethod]] = []
_handler_installed = False


def wait_at_exit(stop: Callable[[], object], wait: Callable[[], object]) -> None:
    """``stop`` and ``wait``: bound methods of the owner, held weakly (an owner that is gone
    has nothing left to wait for)."""
    global _handler_installed
    if not _handler_installed:  # installed late, so it runs before Qt's own exit handlers
        atexit.register(_stop_and_wait)
        _handler_installed = True
    _registered[:] = [(s, w) for s, w in _registered if s() is not None]  # owners gone
    _registered.append((weakref.WeakMethod(stop), weakref.WeakMethod(wait)))


def _stop_and_wait() -> None:
    calls = [(stop(), wait()) for stop, wait in _registered]
    for stop, _ in calls:
        if stop is not None:
            with contextlib.suppress(Exception):  # an owner half torn down: nothing to ask
                stop()
    for _, wait in calls:
        if wait is not None:
            with contextlib.suppress(Exception):
                wait()

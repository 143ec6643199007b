"""Background computations are waited for when the process exits.

An interpreter that shuts down while another thread is inside torch aborts the
process ("terminate called without an active exception"). Objects that own such
a thread register here; at exit each is asked to stop and its computation under
way, if any, is waited for.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from typing import Protocol


class Stoppable(Protocol):
    def stop(self, timeout: float | None = ...) -> None: ...

    def wait(self) -> None: ...


_owners: weakref.WeakSet = weakref.WeakSet()


def wait_at_exit(owner: Stoppable) -> None:
    _owners.add(owner)


@atexit.register
def _wait_for_owners() -> None:
    owners = list(_owners)
    for owner in owners:
        with contextlib.suppress(Exception):  # an owner half torn down: nothing left to wait for
            owner.stop(timeout=0)
    for owner in owners:
        with contextlib.suppress(Exception):
            owner.wait()

"""The Qt binding must keep Python's reference counts straight when signals fire."""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal(object)


def test_emitting_signals_does_not_leak_references_to_singletons():
    emitter = _Emitter()
    received = []
    emitter.fired.connect(received.append)
    before = {name: sys.getrefcount(obj) for name, obj in
              (("True", True), ("False", False), ("None", None))}
    for _ in range(2000):
        emitter.fired.emit(1.5)
    after = {name: sys.getrefcount(obj) for name, obj in
             (("True", True), ("False", False), ("None", None))}
    assert len(received) == 2000
    for name in before:
        assert abs(after[name] - before[name]) < 100, f"{name}: {before[name]} → {after[name]}"

"""The queue of runs under the Runs table: what trains now, what waits, and its controls.

Bound to a `RunQueue` (which owns the order); shown only while the queue holds
runs. Up and Down reorder the waiting runs, Remove drops the selected ones,
Pause keeps the queue from starting the next run, Cancel drops them all.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from maml_studio.run_queue import RunQueue


class QueuePanel(QWidget):
    def __init__(self, queue: RunQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.setAccessibleName("Run queue")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel()
        layout.addWidget(self.title)
        self.list = QListWidget()
        self.list.setAccessibleName("Waiting runs")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setMaximumHeight(120)
        layout.addWidget(self.list)
        buttons = QHBoxLayout()
        self.buttons = {}
        for text, tip, slot in (
                ("Up", "Move the selected run earlier", lambda: self._move(-1)),
                ("Down", "Move the selected run later", lambda: self._move(1)),
                ("Remove", "Drop the selected runs from the queue", self._remove),
                ("Pause queue", "Start no further run until resumed (the one training goes on)",
                 lambda: queue.set_paused(not queue.paused)),
                ("Cancel queue", "Drop every waiting run", queue.cancel)):
            button = QPushButton(text)
            button.setAccessibleName(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.addWidget(button)
            self.buttons[text] = button
        buttons.addStretch(1)
        layout.addLayout(buttons)
        queue.changed.connect(self._refresh)
        self._refresh()

    def _refresh(self) -> None:
        queue = self.queue
        self.setVisible(queue.active)
        selected = self.list.currentRow()
        self.list.clear()
        self.list.addItems([run.name for run in queue.waiting])
        if 0 <= selected < self.list.count():
            self.list.setCurrentRow(selected)
        now = f"training {queue.current.name}" if queue.current else "nothing training"
        state = " · paused" if queue.paused else ""
        self.title.setText(f"Queue: {now}, {len(queue.waiting)} waiting{state}")
        self.buttons["Pause queue"].setText("Resume queue" if queue.paused else "Pause queue")

    def _move(self, delta: int) -> None:
        row = self.list.currentRow()
        if row >= 0:
            self.list.setCurrentRow(self.queue.move(row, delta))

    def _remove(self) -> None:
        self.queue.remove([index.row() for index in self.list.selectedIndexes()])

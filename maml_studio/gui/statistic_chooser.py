"""The chooser of what a curve over many tasks shows: their mean with its 95% band, or their
median with the quartiles (`task_statistics.STATISTICS`). Shared by the Evaluation and
Inner loop tabs."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QComboBox

from maml_studio.task_statistics import STATISTIC_TEXTS

TOOLTIP = "The mean over the tasks with its 95% interval, or the median with the 25th and 75th percentiles"


def statistic_chooser(name: str, current: str, chosen: Callable[[str], None]) -> QComboBox:
    """A combo box named ``name`` showing ``current``; ``chosen`` hears each choice."""
    box = QComboBox()
    box.setAccessibleName(name)
    box.setToolTip(TOOLTIP)
    for statistic, text in STATISTIC_TEXTS.items():
        box.addItem(text, statistic)
    box.setCurrentIndex(box.findData(current))
    box.currentIndexChanged.connect(lambda _: chosen(box.currentData()))
    return box


def show_statistic(box: QComboBox, statistic: str) -> None:
    """Show ``statistic`` (a choice made elsewhere); the box then reports it as chosen."""
    index = box.findData(statistic)
    if index != box.currentIndex():
        box.setCurrentIndex(index)

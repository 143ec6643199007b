"""The task editor's rows for families the user defines: a formula, or task files.

Typing in the formula or parameter fields waits for a pause (debounced)
before asking for a new preview. A problem is shown under the formula with a
caret at its column; the typed text is never changed or cleared.
"""

from __future__ import annotations

import html
import tomllib

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from maml_studio.config_sections import field_help
from maml_studio.errors import ConfigError
from maml_studio.tasks.formula_parser import FormulaError, split_outputs

DEBOUNCE_MS = 300
DEFAULT_FORMULA = "a * sin(b * x + c) + d"
DEFAULT_RANGES = "a = [0.1, 5.0], b = [0.5, 2.0], c = [0.0, 3.14159], d = [-1.0, 1.0]"


def parse_ranges(text: str) -> dict:
    """Ranges typed as ``a = [0.1, 5.0], p = [0, 3.14]`` (a TOML inline table's body)."""
    if not text.strip():
        return {}
    try:
        return tomllib.loads(f"r = {{ {text} }}")["r"]
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        raise ConfigError("task.ranges: write each parameter as name = [low, high], separated "
                          "by commas, e.g. a = [0.1, 5.0], p = [0, 3.14]") from None


class UserFamilyRows(QWidget):
    """Formula, parameter ranges and output kind; or a task path and held-out share."""

    edited = Signal()  # after a pause in typing, or at once for a chosen file or option

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.form = form
        self.formula = QLineEdit(DEFAULT_FORMULA)
        self.formula.setAccessibleName("Formula")
        self.formula.setToolTip(field_help("task.formula"))
        self.ranges = QLineEdit(DEFAULT_RANGES)
        self.ranges.setAccessibleName("Parameter ranges")
        self.ranges.setToolTip("Each parameter as name = [low, high], separated by commas.")
        self.output = QComboBox()
        self.output.addItem("Values (regression)", "values")
        self.output.addItem("Classes (sign, or largest of several)", "classes")
        self.output.setAccessibleName("Formula output")
        self.problem = QLabel()
        self.problem.setAccessibleName("Formula problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b3261e;")
        form.addRow("Formula", self.formula)
        form.addRow(self.problem)
        form.addRow("Parameters", self.ranges)
        form.addRow("Output", self.output)

        self.path = QLineEdit()
        self.path.setAccessibleName("Task files")
        self.path.setToolTip(field_help("task.path"))
        self.path.setPlaceholderText("a folder of CSV files, or an .npz file")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QWidget()
        row = QHBoxLayout(path_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.path_row = path_row
        self.held_out = QDoubleSpinBox()
        self.held_out.setRange(0.05, 0.9)
        self.held_out.setSingleStep(0.05)
        self.held_out.setValue(0.2)
        self.held_out.setAccessibleName("Held-out share")
        self.held_out.setToolTip(field_help("task.held_out"))
        self.labels = QComboBox()
        self.labels.addItem("Values (regression)", 0)
        for classes in range(2, 11):
            self.labels.addItem(f"{classes} classes (integer labels)", classes)
        self.labels.setAccessibleName("Task file targets")
        form.addRow("Task files", path_row)
        form.addRow("Held out", self.held_out)
        form.addRow("Targets", self.labels)

        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.edited)
        for edit in (self.formula, self.ranges, self.path):
            edit.textEdited.connect(self.timer.start)
        for box in (self.output, self.labels):
            box.currentIndexChanged.connect(self.edited)
        self.held_out.valueChanged.connect(self.timer.start)
        self.show_family("formula")

    def show_family(self, name: str) -> None:
        for widget in (self.formula, self.problem, self.ranges, self.output):
            self.form.setRowVisible(widget, name == "formula")
        self.problem.setVisible(name == "formula" and bool(self.problem.text()))
        for widget in (self.path_row, self.held_out, self.labels):
            self.form.setRowVisible(widget, name == "tasks")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Task files", self.path.text(),
                                              "Task files (*.npz *.csv)")
        if path.lower().endswith(".csv"):  # one CSV stands for its folder of tasks
            path = path.rsplit("/", 1)[0]
        if path:
            self.path.setText(path)
            self.edited.emit()

    # -- reading and writing ------------------------------------------------------------------------
    def fields(self, name: str) -> dict:
        """The task fields these rows set for family ``name``; raises `ConfigError`."""
        if name == "formula":
            text = self.formula.text()
            classes = 0
            if self.output.currentData() == "classes":
                classes = max(2, len(split_outputs(text)))
            return {"formula": text, "ranges": parse_ranges(self.ranges.text()),
                    "num_classes": classes}
        return {"path": self.path.text().strip(), "held_out": round(self.held_out.value(), 4),
                "num_classes": self.labels.currentData()}

    def set_fields(self, config) -> None:
        for widget in (self.formula, self.ranges, self.path, self.output, self.labels,
                       self.held_out):
            widget.blockSignals(True)
        if config.family == "formula":
            self.formula.setText(config.formula)
            self.ranges.setText(", ".join(f"{name} = [{low:g}, {high:g}]"
                                          for name, (low, high) in config.ranges.items()))
            self.output.setCurrentIndex(1 if config.num_classes else 0)
        elif config.family == "tasks":
            self.path.setText(config.path)
            self.held_out.setValue(config.held_out)
            self.labels.setCurrentIndex(max(0, self.labels.findData(config.num_classes)))
        for widget in (self.formula, self.ranges, self.path, self.output, self.labels,
                       self.held_out):
            widget.blockSignals(False)

    def show_problem(self, error: ConfigError | None) -> None:
        """Say what is wrong, with a caret under the formula's column where there is one."""
        if error is None:
            self.problem.clear()
            self.problem.hide()  # no empty gap under the formula
            return
        self.problem.show()
        text = html.escape(str(error))
        if isinstance(error, FormulaError) and error.column:
            typed = self.formula.text()
            start = max(0, error.column - 40)
            shown = html.escape(typed[start:error.column + 20])
            caret = "&nbsp;" * (error.column - 1 - start) + "^"
            text = (f"<span style='font-family: monospace; white-space: pre'>{shown}<br>{caret}"
                    f"</span><br>{text}")
        self.problem.setText(text)

"""Form widgets for config fields, built from the fields' own help and allowed values."""

from __future__ import annotations

import math
from dataclasses import fields

import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from maml_studio.config import SECTIONS, ConfigError

QT_INT_MAX = 2**31 - 1

LABELS = {
    "model.hidden": "Hidden layers",
    "model.activation": "Activation",
    "algorithm.name": "Algorithm",
    "algorithm.first_order": "First-order approximation",
    "algorithm.inner_lr": "Inner learning rate",
    "algorithm.inner_steps": "Inner steps (training)",
    "algorithm.test_inner_steps": "Inner steps (testing)",
    "algorithm.support_size": "Support points (K-shot)",
    "algorithm.query_size": "Query points",
    "algorithm.multi_step_loss_iterations": "MAML++ multi-step loss (iterations)",
    "algorithm.learned_step_rates": "MAML++ learned per-step rates",
    "algorithm.first_order_iterations": "MAML++ first-order iterations",
    "training.iterations": "Iterations",
    "training.meta_batch_size": "Meta-batch size",
    "training.optimizer": "Outer optimiser",
    "training.outer_lr": "Outer learning rate",
    "training.lr_decay": "Learning-rate schedule",
    "training.grad_clip": "Gradient clipping",
    "training.train_baseline": "Train pretrained baseline",
    "training.seed": "Seed",
    "training.device": "Device",
    "training.validate_every": "Validate every",
    "training.validation_tasks": "Validation tasks",
    "training.compile": "Compilation",
    "training.threads": "CPU threads",
}

CHOICE_TEXT = {
    "maml": "MAML", "fomaml": "First-order MAML", "reptile": "Reptile", "metasgd": "Meta-SGD",
    "anil": "ANIL", "relu": "ReLU", "tanh": "tanh", "adam": "Adam", "sgd": "SGD",
    "none": "constant", "linear": "linear decay to 0", "cosine": "cosine annealing to 0",
    "auto": "auto", "cpu": "CPU",
    "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)", "off": "off", "wait": "before training",
}


class KeepingSpinBox(QSpinBox):
    """A spin box that keeps refused text when it loses focus, instead of reverting silently."""

    def focusOutEvent(self, event) -> None:
        if self.hasAcceptableInput():
            super().focusOutEvent(event)
        else:
            QWidget.focusOutEvent(self, event)


class KeepingFloatBox(pg.SpinBox):
    """pyqtgraph's float spin box, keeping refused text when it loses focus."""

    def focusOutEvent(self, event) -> None:
        if self.textValid:
            super().focusOutEvent(event)
        else:
            QWidget.focusOutEvent(self, event)


def field_meta(key: str):
    section, _, name = key.partition(".")
    for f in fields(SECTIONS[section]):
        if f.name == name:
            return f.metadata
    raise KeyError(key)


class FieldEditor(QObject):
    """One config field: a widget, and how to read and write its value."""

    changed = Signal()

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.label = LABELS[key]
        meta = field_meta(key)
        kind, choices = meta["kind"], meta["choices"]
        if choices:
            widget = QComboBox()
            for choice in choices:
                widget.addItem(CHOICE_TEXT.get(choice, choice), choice)
            widget.currentIndexChanged.connect(self.changed)
        elif kind is bool:
            widget = QCheckBox()
            widget.toggled.connect(self.changed)
        elif kind is int:
            widget = KeepingSpinBox()
            widget.setRange(int(meta["minimum"]), min(int(meta["maximum"]), QT_INT_MAX))
            widget.setGroupSeparatorShown(True)
            widget.valueChanged.connect(self.changed)
        elif kind is float:
            low = meta["minimum"]
            if meta["exclusive_minimum"]:
                low = 1e-7
            widget = KeepingFloatBox(bounds=(low, meta["maximum"]), dec=True, step=0.5, minStep=1e-7,
                                     decimals=4, compactHeight=False)
            widget.sigValueChanged.connect(self.changed)
        elif key == "model.hidden":
            widget = QLineEdit()
            widget.setValidator(QRegularExpressionValidator(r"^(\s*\d+(\s*,\s*\d+)*\s*,?)?\s*$"))
            widget.setPlaceholderText("none: a linear model (e.g. 40, 40)")
            widget.textChanged.connect(self.changed)
        else:
            raise TypeError(f"no editor for {key}")
        self.help = meta["help"]
        widget.setToolTip(meta["help"])
        widget.setAccessibleName(self.label)
        widget.setAccessibleDescription(meta["help"])
        widget.setObjectName(key)
        self.widget = widget
        self._meta = meta
        # The row the form shows: the field, and under it why a typed value is refused.
        self.row = QWidget()
        column = QVBoxLayout(self.row)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(widget)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setAccessibleName(f"{self.label} problem")
        self.problem.setStyleSheet("color: #c0392b;")
        self.problem.hide()
        column.addWidget(self.problem)
        if isinstance(widget, QSpinBox | pg.SpinBox):
            widget.lineEdit().textEdited.connect(self._check_text)

    def _check_text(self, text: str) -> None:
        """Say next to the field why the text is refused; the text itself stays as typed."""
        message = refusal(text, self._meta, self.widget)
        self.problem.setText(message or "")
        self.problem.setVisible(bool(message))

    def refused_text(self) -> str | None:
        """Why the field's current text is refused, or None when it holds a value."""
        return self.problem.text() or None if self.problem.isVisible() else None

    def value(self):
        w = self.widget
        if (problem := self.refused_text()) is not None:
            raise ConfigError(f"{self.label}: {problem}")
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return w.value()
        if isinstance(w, QLineEdit):  # empty: no hidden layer (the model is linear)
            parts = [p.strip() for p in w.text().split(",") if p.strip()]
            if not all(p.isdigit() for p in parts):
                raise ConfigError(f"{self.label}: enter layer sizes separated by commas, e.g. 40, 40, "
                                  "or nothing for no hidden layer")
            sizes = [int(p) for p in parts]
            if len(sizes) > 16 or not all(1 <= size <= 4096 for size in sizes):
                raise ConfigError(f"{self.label}: up to 16 layers of 1 to 4096 units each")
            return sizes
        return float(w.value())

    def set_value(self, value) -> None:
        w = self.widget
        self.problem.hide()
        if isinstance(w, QComboBox):
            w.setCurrentIndex(max(0, w.findData(value)))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QSpinBox):
            w.setValue(min(int(value), QT_INT_MAX))
        elif isinstance(w, QLineEdit):
            w.setText(", ".join(str(v) for v in value))
        else:
            w.setValue(float(value))


def refusal(text: str, meta, widget: QWidget) -> str | None:
    """Why ``text`` is not a value of this numeric field, in words; None if it is one."""
    cleaned = text.strip().replace(",", "").replace("\u2212", "-")
    if isinstance(widget, pg.SpinBox) and widget.opts.get("suffix"):
        cleaned = cleaned.removesuffix(widget.opts["suffix"]).strip()
    try:
        value = float(cleaned)
    except ValueError:
        return f"'{text.strip()}' is not a number" if cleaned else "enter a number"
    if meta["kind"] is int and not value.is_integer():
        return f"{text.strip()} is not a whole number"
    low = -math.inf if meta["minimum"] is None else meta["minimum"]
    high = math.inf if meta["maximum"] is None else meta["maximum"]
    if meta["exclusive_minimum"] and value <= low:
        return f"must be greater than {low:g}; {text.strip()} is refused"
    if value < low or value > high:
        return f"must be between {low:g} and {high:g}; {text.strip()} is refused"
    return None

"""Form widgets for config fields, built from the fields' own help and allowed values."""

from __future__ import annotations

from dataclasses import fields

import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

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
    "none": "constant", "linear": "linear decay to 0", "auto": "auto", "cpu": "CPU",
    "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)", "off": "off", "wait": "before training",
}


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
            widget = QSpinBox()
            widget.setRange(int(meta["minimum"]), min(int(meta["maximum"]), QT_INT_MAX))
            widget.setGroupSeparatorShown(True)
            widget.valueChanged.connect(self.changed)
        elif kind is float:
            low = meta["minimum"]
            if meta["exclusive_minimum"]:
                low = 1e-7
            widget = pg.SpinBox(bounds=(low, meta["maximum"]), dec=True, step=0.5, minStep=1e-7,
                                decimals=4, compactHeight=False)
            widget.sigValueChanged.connect(self.changed)
        elif key == "model.hidden":
            widget = QLineEdit()
            widget.setValidator(QRegularExpressionValidator(r"^\s*\d+(\s*,\s*\d+)*\s*,?\s*$"))
            widget.setPlaceholderText("e.g. 40, 40")
            widget.textChanged.connect(self.changed)
        else:
            raise TypeError(f"no editor for {key}")
        self.help = meta["help"]
        widget.setToolTip(meta["help"])
        widget.setAccessibleName(self.label)
        widget.setAccessibleDescription(meta["help"])
        widget.setObjectName(key)
        self.widget = widget

    def value(self):
        w = self.widget
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return w.value()
        if isinstance(w, QLineEdit):
            parts = [p.strip() for p in w.text().split(",") if p.strip()]
            if not parts or not all(p.isdigit() for p in parts):
                raise ConfigError(f"{self.label}: enter layer sizes separated by commas, e.g. 40, 40")
            return [int(p) for p in parts]
        return float(w.value())

    def set_value(self, value) -> None:
        w = self.widget
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

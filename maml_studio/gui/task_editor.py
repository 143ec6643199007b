"""Choose a task family and edit its parameter ranges, x range, noise and options."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QWidget,
)

from maml_studio.config import TaskConfig, field_help
from maml_studio.tasks import FAMILY_NAMES, MULTIMODAL_DEFAULT, SIMPLE_FAMILIES, TaskFamily, build_family


def _number_box(value: float, name: str, tip: str) -> pg.SpinBox:
    box = pg.SpinBox(value=value, step=0.1, decimals=4, compactHeight=False)
    box.setAccessibleName(name)
    box.setToolTip(tip)
    box.setMinimumWidth(70)
    return box


class RangeRow(QWidget):
    """Low and high bounds of one interval."""

    def __init__(self, name: str, low: float, high: float, tip: str) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.low = _number_box(low, f"{name} minimum", tip)
        self.high = _number_box(high, f"{name} maximum", tip)
        layout.addWidget(self.low)
        layout.addWidget(QLabel("to"))
        layout.addWidget(self.high)

    def bounds(self) -> list[float]:
        return [float(self.low.value()), float(self.high.value())]


class TaskEditor(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.family_box = QComboBox()
        for name in FAMILY_NAMES:
            self.family_box.addItem(build_family(TaskConfig(family=name)).title, name)
        self.family_box.setAccessibleName("Task family")
        self.family_box.setToolTip(field_help("task.family"))
        self.family_box.currentIndexChanged.connect(self._family_changed)
        self.form.addRow("Task family", self.family_box)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setAccessibleName("Task family description")
        self.form.addRow(self.description)

        self.members = QListWidget()
        self.members.setAccessibleName("Mixed families")
        self.members.setToolTip(field_help("task.members"))
        self.members.setMaximumHeight(120)
        for name, cls in SIMPLE_FAMILIES.items():
            item = QListWidgetItem(cls.title)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in MULTIMODAL_DEFAULT
                               else Qt.CheckState.Unchecked)
            self.members.addItem(item)
        self.members.itemChanged.connect(self._members_changed)
        self.form.addRow("Mixed families", self.members)

        self.dim_in = self._dim_box("Input dimension", "task.dim_in", 10)
        self.dim_out = self._dim_box("Output dimension", "task.dim_out", 1)
        self.noise = _number_box(0.0, "Observation noise", field_help("task.noise_std"))
        self.noise.setOpts(bounds=(0.0, 100.0))
        self.noise.sigValueChanged.connect(self.changed)
        self.form.addRow("Observation noise", self.noise)
        self.x_range: RangeRow | None = None
        self.range_rows: dict[str, RangeRow] = {}
        self._dynamic_rows: list[QWidget] = []
        self._building = False
        self._family_changed()

    def _dim_box(self, label: str, key: str, value: int) -> QSpinBox:
        box = QSpinBox()
        box.setRange(1, 1000)
        box.setValue(value)
        box.setAccessibleName(label)
        box.setToolTip(field_help(key))
        box.valueChanged.connect(self._rebuild_and_notify)
        self.form.addRow(label, box)
        return box

    # -- building the family-specific rows ----------------------------------------------------
    @property
    def family_name(self) -> str:
        return self.family_box.currentData()

    def _current_family(self, ranges=None, x_range=None) -> TaskFamily:
        return build_family(self._config(ranges or {}, x_range or []))

    def _config(self, ranges: dict, x_range: list) -> TaskConfig:
        name = self.family_name
        return TaskConfig(
            family=name, ranges=ranges, x_range=x_range, noise_std=float(self.noise.value()),
            members=self._checked_members() if name == "multimodal" else [],
            dim_in=self.dim_in.value() if name == "linear" else 0,
            dim_out=self.dim_out.value() if name == "linear" else 0,
        )

    def _checked_members(self) -> list[str]:
        return [self.members.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.members.count())
                if self.members.item(i).checkState() == Qt.CheckState.Checked]

    def _rebuild(self, family: TaskFamily) -> None:
        self._building = True
        for widget in self._dynamic_rows:
            self.form.removeRow(widget)
        self._dynamic_rows = []
        self.range_rows = {}
        self.x_range = RangeRow("x range", *family.x_range, field_help("task.x_range"))
        self._add_dynamic("x range", self.x_range)
        for spec in family.param_specs:
            row = RangeRow(spec.name, *family.ranges[spec.name], spec.description)
            self.range_rows[spec.name] = row
            self._add_dynamic(f"{spec.symbol}  ({spec.name})", row)
        name = self.family_name
        self.form.setRowVisible(self.members, name == "multimodal")
        self.form.setRowVisible(self.dim_in, name == "linear")
        self.form.setRowVisible(self.dim_out, name == "linear")
        self.description.setText(family.description)
        self._building = False

    def _add_dynamic(self, label: str, row: RangeRow) -> None:
        for box in (row.low, row.high):
            box.sigValueChanged.connect(self._value_changed)
        self.form.addRow(label, row)
        self._dynamic_rows.append(row)

    def _value_changed(self) -> None:
        if not self._building:
            self.changed.emit()

    def _family_changed(self) -> None:
        self._rebuild(self._current_family())
        self.changed.emit()

    def _members_changed(self) -> None:
        if self.family_name == "multimodal" and self._checked_members():
            self._rebuild_and_notify()

    def _rebuild_and_notify(self) -> None:
        self._rebuild(self._current_family())
        self.changed.emit()

    # -- reading and writing ------------------------------------------------------------------------
    def task_config(self) -> TaskConfig:
        """The edited task; raises `ConfigError` when it is not usable."""
        default = self._current_family()
        ranges = {name: row.bounds() for name, row in self.range_rows.items()
                  if tuple(row.bounds()) != default.ranges[name]}
        x_range = self.x_range.bounds()
        config = self._config(ranges, [] if tuple(x_range) == default.x_range else x_range)
        build_family(config)
        return config

    def set_task_config(self, config: TaskConfig) -> None:
        self.blockSignals(True)
        self.family_box.setCurrentIndex(max(0, self.family_box.findData(config.family)))
        self.noise.setValue(config.noise_std)
        members = config.members or MULTIMODAL_DEFAULT
        self.members.blockSignals(True)
        for i in range(self.members.count()):
            item = self.members.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in members
                               else Qt.CheckState.Unchecked)
        self.members.blockSignals(False)
        self.dim_in.setValue(config.dim_in or 10)
        self.dim_out.setValue(config.dim_out or 1)
        self._rebuild(build_family(config))
        self.blockSignals(False)
        self.changed.emit()

"""Choose a task family and edit its parameter ranges, x range, noise and options.

Regression families take observation noise; classification families take
label noise, the number of classes (N-way blobs) and the class shares of
support sets. Rows that do not apply to the chosen family are hidden.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QWidget,
)

from maml_studio.config_sections import TaskConfig, field_help
from maml_studio.errors import ConfigError
from maml_studio.gui.user_family_rows import UserFamilyRows
from maml_studio.tasks import (
    FAMILY_NAMES,
    MULTIMODAL_DEFAULT,
    SIMPLE_FAMILIES,
    USER_FAMILY_NAMES,
    TaskFamily,
    build_family,
)

DIMENSION_FAMILIES = ("linear", "halfplane", "blobs")  # the families that take task.dim_in


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
        self.family_box.addItem("Formula…", "formula")
        self.family_box.addItem("Task files…", "tasks")
        self.family_box.setAccessibleName("Task family")
        self.family_box.setToolTip(field_help("task.family"))
        self.family_box.currentIndexChanged.connect(self._family_changed)
        self.form.addRow("Task family", self.family_box)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setAccessibleName("Task family description")
        self.form.addRow(self.description)
        self.user_rows = UserFamilyRows()
        self.user_rows.edited.connect(self._rebuild_and_notify)
        self.form.addRow(self.user_rows)

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
        self.classes = self._dim_box("Classes (N-way)", "task.num_classes", 2)
        self.classes.setRange(2, 10)
        self.noise = _number_box(0.0, "Observation noise", field_help("task.noise_std"))
        self.noise.setOpts(bounds=(0.0, 100.0))
        self.noise.sigValueChanged.connect(self.changed)
        self.form.addRow("Observation noise", self.noise)
        self.label_noise = _number_box(0.0, "Label noise", field_help("task.label_noise"))
        self.label_noise.setOpts(bounds=(0.0, 0.5), step=0.05)
        self.label_noise.sigValueChanged.connect(self.changed)
        self.form.addRow("Label noise", self.label_noise)
        self.balance = QLineEdit()
        self.balance.setPlaceholderText("equal (K shots of every class)")
        self.balance.setAccessibleName("Class shares")
        self.balance.setToolTip(field_help("task.class_balance") + " Separate shares with commas.")
        self.balance.editingFinished.connect(self.changed)
        self.form.addRow("Class shares", self.balance)
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

    @property
    def user_family(self) -> bool:
        return self.family_name in USER_FAMILY_NAMES

    def _current_family(self, ranges=None, x_range=None) -> TaskFamily:
        """The family with these ranges; class shares and label noise do not change its rows."""
        if self.user_family:
            return build_family(self._config({}, self._typed_x_range(), with_labels=False))
        return build_family(self._config(ranges or {}, x_range or [], with_labels=False))

    def _typed_x_range(self) -> list:
        return self.x_range.bounds() if self.x_range and self.family_name == "formula" else []

    def _config(self, ranges: dict, x_range: list, with_labels: bool = True) -> TaskConfig:
        name = self.family_name
        if self.user_family:
            fields = self.user_rows.fields(name)
            classifier = bool(fields["num_classes"])
            return TaskConfig(
                family=name, x_range=x_range, **fields,
                noise_std=0.0 if classifier or name == "tasks" else float(self.noise.value()),
                label_noise=float(self.label_noise.value()) if classifier and with_labels and
                name == "formula" else 0.0,
                class_balance=self._shares() if classifier and with_labels and name == "formula"
                else [])
        classifier = self._is_classifier(name)
        return TaskConfig(
            family=name, ranges=ranges, x_range=x_range,
            noise_std=0.0 if classifier else float(self.noise.value()),
            members=self._checked_members() if name == "multimodal" else [],
            dim_in=self.dim_in.value() if name in DIMENSION_FAMILIES else 0,
            dim_out=self.dim_out.value() if name == "linear" else 0,
            num_classes=self.classes.value() if name == "blobs" else 0,
            label_noise=float(self.label_noise.value()) if classifier and with_labels else 0.0,
            class_balance=self._shares() if classifier and with_labels else [],
        )

    def _is_classifier(self, name: str) -> bool:
        if name in USER_FAMILY_NAMES:
            try:
                return bool(self.user_rows.fields(name)["num_classes"])
            except ConfigError:
                return False
        return build_family(TaskConfig(family=name)).kind == "classification"

    def _shares(self) -> list[float]:
        """The class shares typed as ``3, 1``; empty means equal shares."""
        text = self.balance.text().strip()
        if not text:
            return []
        try:
            return [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
        except ValueError:
            raise ConfigError(f"task.class_balance: expected numbers separated by commas, "
                              f"e.g. 3, 1; got '{text}'") from None

    def _checked_members(self) -> list[str]:
        return [self.members.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.members.count())
                if self.members.item(i).checkState() == Qt.CheckState.Checked]

    def _rebuild_user(self) -> None:
        """Rows of a formula or task-file family; they stay while the typed text is unusable."""
        self._building = True
        name = self.family_name
        x_range = self.x_range.bounds() if self.x_range else [-5.0, 5.0]
        for widget in self._dynamic_rows:
            self.form.removeRow(widget)
        self._dynamic_rows, self.range_rows = [], {}
        self.x_range = RangeRow("x range", *x_range, field_help("task.x_range"))
        if name == "formula":
            self._add_dynamic("x range", self.x_range)
        classifier = self._is_classifier(name)
        for widget, shown in ((self.members, False), (self.dim_in, False), (self.dim_out, False),
                              (self.classes, False), (self.noise, name == "formula" and not classifier),
                              (self.label_noise, name == "formula" and classifier),
                              (self.balance, name == "formula" and classifier),
                              (self.user_rows, True)):
            self.form.setRowVisible(widget, shown)
        self.user_rows.show_family(name)
        self.description.setText("Your own expression in x (or x1, x2, …) with a range per parameter; "
                                 "see `maml-studio families` for the grammar." if name == "formula"
                                 else "Your own tasks from files; a share of them is held out.")
        self._building = False

    def _rebuild(self, family: TaskFamily) -> None:
        if self.user_family:
            self._rebuild_user()
            return
        self._building = True
        self.form.setRowVisible(self.user_rows, False)
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
        classifier = family.kind == "classification"
        self.form.setRowVisible(self.members, name == "multimodal")
        self.form.setRowVisible(self.dim_in, name in DIMENSION_FAMILIES)
        self.form.setRowVisible(self.dim_out, name == "linear")
        self.form.setRowVisible(self.classes, name == "blobs")
        self.form.setRowVisible(self.noise, not classifier)
        self.form.setRowVisible(self.label_noise, classifier)
        self.form.setRowVisible(self.balance, classifier)
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
        # Each family starts from its own default input dimension (10 for linear, 2 for the plane).
        self.balance.clear()  # shares name the classes of the family they were typed for
        if self.user_family:
            self._rebuild_user()
            self.changed.emit()
            return
        self.dim_in.blockSignals(True)
        self.dim_in.setValue(build_family(TaskConfig(family=self.family_name)).dim_in)
        self.dim_in.blockSignals(False)
        self._rebuild(self._current_family())
        self.changed.emit()

    def _members_changed(self) -> None:
        if self.family_name == "multimodal" and self._checked_members():
            self._rebuild_and_notify()

    def _rebuild_and_notify(self) -> None:
        if self.user_family:
            self._rebuild_user()
        else:
            self._rebuild(self._current_family())
        self.changed.emit()

    # -- reading and writing ------------------------------------------------------------------------
    def task_config(self) -> TaskConfig:
        """The edited task; raises `ConfigError` when it is not usable."""
        if self.user_family:
            try:
                config = self._config({}, self._typed_x_range())
                build_family(config)
            except ConfigError as exc:
                self.user_rows.show_problem(exc)
                raise
            self.user_rows.show_problem(None)
            return config
        default = self._current_family()
        ranges = {name: row.bounds() for name, row in self.range_rows.items()
                  if tuple(row.bounds()) != default.ranges[name]}
        x_range = self.x_range.bounds()
        config = self._config(ranges, [] if tuple(x_range) == default.x_range else x_range)
        build_family(config)
        return config

    def set_task_config(self, config: TaskConfig) -> None:
        self.blockSignals(True)
        self.user_rows.set_fields(config)
        self.family_box.setCurrentIndex(max(0, self.family_box.findData(config.family)))
        self.noise.setValue(config.noise_std)
        members = config.members or MULTIMODAL_DEFAULT
        self.members.blockSignals(True)
        for i in range(self.members.count()):
            item = self.members.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in members
                               else Qt.CheckState.Unchecked)
        self.members.blockSignals(False)
        if config.family in USER_FAMILY_NAMES:
            self.label_noise.setValue(config.label_noise)
            self.balance.setText(", ".join(f"{v:g}" for v in config.class_balance))
            if config.x_range and self.x_range:
                self.x_range.low.setValue(config.x_range[0])
                self.x_range.high.setValue(config.x_range[1])
            self._rebuild_user()
            self.blockSignals(False)
            self.changed.emit()
            return
        self.dim_in.setValue(config.dim_in or build_family(TaskConfig(family=config.family)).dim_in)
        self.dim_out.setValue(config.dim_out or 1)
        self.classes.setValue(config.num_classes or 2)
        self.label_noise.setValue(config.label_noise)
        self.balance.setText(", ".join(f"{v:g}" for v in config.class_balance))
        self._rebuild(build_family(config))
        self.blockSignals(False)
        self.changed.emit()

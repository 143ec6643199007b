"""The experiment form: task family with its preview, model, algorithm and training settings."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from maml_studio.config import ConfigError, ExperimentConfig
from maml_studio.config_sections import MAML_PLUS_PLUS
from maml_studio.devices import device_availability
from maml_studio.gui.fields import FieldEditor
from maml_studio.gui.preview_plot import PreviewPlot
from maml_studio.gui.task_editor import TaskEditor
from maml_studio.gui.wheel_guard import guard_wheel_in
from maml_studio.tasks import build_family

GROUPS = {
    "Model": ["model.hidden", "model.activation"],
    "Algorithm": ["algorithm.name", "algorithm.first_order", "algorithm.inner_lr",
                  "algorithm.inner_steps", "algorithm.test_inner_steps", "algorithm.support_size",
                  "algorithm.query_size", "algorithm.multi_step_loss_iterations",
                  "algorithm.learned_step_rates", "algorithm.first_order_iterations"],
    "Training": ["training.iterations", "training.meta_batch_size", "training.optimizer",
                 "training.outer_lr", "training.lr_decay", "training.grad_clip",
                 "training.train_baseline", "training.seed", "training.device",
                 "training.validate_every", "training.validation_tasks", "training.compile",
                 "training.threads"],
}


NOT_APPLICABLE = {
    ("fomaml", "first_order"): "First-order MAML always drops the second-order term.",
    ("reptile", "first_order"): "Reptile has no second-order term: it moves the initialisation "
                                "towards the adapted weights.",
    ("reptile", "query_size"): "Reptile's update uses only the support points; query points "
                               "would only measure the loss shown while training.",
}


MAML_PLUS_PLUS_KEYS = tuple(f"algorithm.{name}" for name in MAML_PLUS_PLUS)


class ExperimentPanel(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.lock_note = QLabel("Settings are locked while training runs. Stop or reset to change them.")
        self.lock_note.setWordWrap(True)
        self.lock_note.setAccessibleName("Settings locked")
        self.lock_note.setStyleSheet("color: #b06000; font-weight: bold;")
        self.lock_note.hide()
        layout.addWidget(self.lock_note)

        task_group = QGroupBox("Task family")
        task_layout = QVBoxLayout(task_group)
        self.task_editor = TaskEditor()
        self.preview = PreviewPlot()
        task_layout.addWidget(self.task_editor)
        task_layout.addWidget(self.preview)
        layout.addWidget(task_group)

        self.editors: dict[str, FieldEditor] = {}
        self.inapplicable: set[str] = set()  # MAML++ options the chosen algorithm lacks
        self.form_widgets: list[QWidget] = [self.task_editor]
        for title, keys in GROUPS.items():
            group = QGroupBox(title)
            form = QFormLayout(group)
            for key in keys:
                editor = FieldEditor(key, self)
                self.editors[key] = editor
                form.addRow(editor.label, editor.row)
                editor.changed.connect(self.changed)
            layout.addWidget(group)
            self.form_widgets.append(group)
        layout.addStretch(1)
        self._disable_absent_devices()
        self.task_editor.changed.connect(self._task_changed)
        self.editors["algorithm.name"].changed.connect(self._algorithm_changed)
        self.editors["training.seed"].changed.connect(self.refresh_preview)
        self.set_config(ExperimentConfig())
        guard_wheel_in(self)

    def _disable_absent_devices(self) -> None:
        box = self.editors["training.device"].widget
        model: QStandardItemModel = box.model()
        for name, (present, reason) in device_availability().items():
            item = model.item(box.findData(name))
            if not present:
                item.setEnabled(False)
                item.setToolTip(f"Not available: {reason}")
                item.setText(f"{item.text()} (not available)")
            else:
                item.setToolTip(reason)

    def _algorithm_changed(self) -> None:
        """Fields that do not apply to the chosen algorithm are disabled, and say why."""
        name = self.editors["algorithm.name"].value()
        first_order, query = self.editors["algorithm.first_order"], self.editors["algorithm.query_size"]
        if name == "fomaml":  # first-order MAML is MAML with the switch on: show it so
            first_order.set_value(True)
        first_order.widget.setEnabled(name not in ("fomaml", "reptile"))
        first_order.widget.setToolTip(NOT_APPLICABLE.get((name, "first_order"), first_order.help))
        query.widget.setEnabled(name != "reptile")
        query.widget.setToolTip(NOT_APPLICABLE.get((name, "query_size"), query.help))
        self.inapplicable = set()  # options of MAML: one the algorithm lacks keeps its default
        for key in MAML_PLUS_PLUS_KEYS:
            editor = self.editors[key]
            applies = name in ("maml", "fomaml") and not (
                key == "algorithm.first_order_iterations" and name == "fomaml")
            if not applies:
                self.inapplicable.add(key)
            editor.widget.setEnabled(applies)
            editor.widget.setToolTip(editor.help if applies else
                                     f"A MAML++ option of second-order MAML; not for {name}."
                                     if key == "algorithm.first_order_iterations" else
                                     f"A MAML++ option of MAML; not for {name}.")

    def _task_changed(self) -> None:
        guard_wheel_in(self)  # the family's range rows may be new
        self.refresh_preview()
        self.changed.emit()

    def refresh_preview(self) -> None:
        try:
            family = build_family(self.task_editor.task_config())
        except ConfigError as exc:  # say what is wrong; the typed text stays as it is
            self.preview.show_message(str(exc))
            return
        try:
            self.preview.show_family(family, self.editors["training.seed"].value())
        except ConfigError as exc:  # ranges that leave a class no room in some tasks
            self.preview.show_message(str(exc))

    def config(self) -> ExperimentConfig:
        """The config the form describes; raises `ConfigError` naming the bad field."""
        config = ExperimentConfig()
        config.task = self.task_editor.task_config()
        for key, editor in self.editors.items():
            if key in self.inapplicable:
                continue  # an option the chosen algorithm does not have: left at its default
            config.set(key, editor.value())
        config.check()
        return config

    def set_config(self, config: ExperimentConfig) -> None:
        self.blockSignals(True)
        self.task_editor.set_task_config(config.task)
        values = config.to_dict()
        for key, editor in self.editors.items():
            section, _, name = key.partition(".")
            editor.set_value(values[section][name])
        self._algorithm_changed()
        self.blockSignals(False)
        self.refresh_preview()
        self.changed.emit()

    def set_locked(self, locked: bool) -> None:
        for widget in self.form_widgets:
            widget.setEnabled(not locked)
        self.lock_note.setVisible(locked)

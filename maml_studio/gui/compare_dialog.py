"""Compare algorithms…: queue the current config under several algorithms and seeds.

The runs train one after another on the training thread and appear in the Runs
table as they finish. "Show the bundled models" compares the five bundled sine
models at once, with no training.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

ALGORITHMS = {"maml": "MAML", "fomaml": "First-order MAML", "reptile": "Reptile", "anil": "ANIL",
              "metasgd": "Meta-SGD"}
MAX_SEEDS = 20


class CompareDialog(QDialog):
    def __init__(self, parent=None, *, bundled_available: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare algorithms")
        self.setAccessibleName("Compare algorithms")
        self.show_bundled = False
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Train the experiment's config with each ticked algorithm and "
                                "seed, one run after another. Each run joins the workspace "
                                "when it ends."))
        form = QFormLayout()
        boxes = QHBoxLayout()
        self.boxes = {}
        for key, text in ALGORITHMS.items():
            box = QCheckBox(text)
            box.setAccessibleName(f"Compare {text}")
            box.setChecked(key in ("maml", "fomaml", "reptile"))
            box.toggled.connect(self._update)
            boxes.addWidget(box)
            self.boxes[key] = box
        form.addRow("Algorithms", boxes)
        self.seeds = QSpinBox()
        self.seeds.setRange(1, MAX_SEEDS)
        self.seeds.setAccessibleName("Seeds per algorithm")
        self.seeds.valueChanged.connect(self._update)
        form.addRow("Seeds", self.seeds)
        layout.addLayout(form)
        self.summary = QLabel()
        layout.addWidget(self.summary)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.queue_button = buttons.addButton("Queue and start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.queue_button.setAccessibleName("Queue and start")
        if bundled_available:
            bundled = QPushButton("Show the bundled models")
            bundled.setAccessibleName("Show the bundled models")
            bundled.setToolTip("MAML, first-order MAML, Reptile, ANIL and Meta-SGD trained on the "
                               "paper's sine family, shown side by side now (no training)")
            bundled.clicked.connect(self._bundled)
            buttons.addButton(bundled, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._update()

    def algorithms(self) -> list[str]:
        return [key for key, box in self.boxes.items() if box.isChecked()]

    def _update(self) -> None:
        count = len(self.algorithms()) * self.seeds.value()
        self.queue_button.setEnabled(count > 0)
        self.summary.setText(f"{count} run{'s' if count != 1 else ''} to train" if count
                             else "Tick at least one algorithm.")

    def _bundled(self) -> None:
        self.show_bundled = True
        self.accept()

"""The adaptation panel's controls under the plot: sampling, the steps, the step size, the
curves shown. Each widget changes the panel's `AdaptationSession`; the panel shows what the
session's events say back.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
)

from maml_studio.adaptation_session import LR_BOUNDS, MAX_SHOTS, MAX_STEPS
from maml_studio.gui.flow_layout import FlowLayout


def add_controls(panel, layout: QVBoxLayout) -> None:
    """Build the rows of controls into ``layout``, kept as attributes of ``panel``."""
    controls = QHBoxLayout()
    panel.sample_button = _button("Sample task", "Sample task", panel.sample_task,
                                  "Draw a random task from the family and K points from it")
    panel.shots = QSpinBox()
    panel.shots.setRange(1, MAX_SHOTS)
    panel.shots.setValue(panel.session.shots)
    panel.shots.valueChanged.connect(panel.session.set_shots)
    panel.shots.setAccessibleName("Sampled points")
    panel.shots.setToolTip("How many support points Sample task draws (K)")
    panel.clear_button = _button("Clear", "Clear points", panel.session.clear_points,
                                 "Remove every support point")
    panel.fit_button = _button("Fit view", "Fit view", panel.fit_view,
                               "Show the family's frame and every point (or double click "
                               "the plot); the wheel zooms, dragging the axes pans")
    panel.paper_button = _button("Paper figure", "Paper figure", panel.toggle_paper_figure,
                                 "The MAML paper's Figure 2: a sine task, 10 points, the "
                                 "models after 0, 1 and 10 steps")
    panel.paper_button.setCheckable(True)
    panel.play_button = _button("Play", "Play adaptation", panel.play,
                                "Animate the adaptation from step 0 to the chosen step")
    controls.addWidget(panel.sample_button)
    controls.addWidget(QLabel("K"))
    controls.addWidget(panel.shots)
    panel.class_label = QLabel("Class")
    panel.class_box = QComboBox()
    panel.class_box.setAccessibleName("Point class")
    panel.class_box.setToolTip("Class of the points a left click adds (keys 1–9 choose)")
    panel.class_box.currentIndexChanged.connect(
        lambda index: panel.session.set_chosen_class(index) if index >= 0 else None)
    controls.addWidget(panel.class_label)
    controls.addWidget(panel.class_box)
    controls.addWidget(panel.clear_button)
    controls.addWidget(panel.fit_button)
    controls.addWidget(panel.paper_button)
    controls.addStretch(1)
    layout.addLayout(controls)
    controls = QHBoxLayout()  # the steps on a row of their own: the slider keeps its length
    controls.addWidget(QLabel("Steps"))
    panel.slider = QSlider(Qt.Orientation.Horizontal)
    panel.slider.setRange(0, MAX_STEPS)
    panel.slider.setValue(panel.session.step)
    panel.slider.setAccessibleName("Adaptation steps")
    panel.slider.setToolTip("Gradient steps taken on the support points")
    panel.slider.valueChanged.connect(panel.session.set_step)
    controls.addWidget(panel.slider, 1)
    panel.step_label = QLabel(str(panel.session.step))
    panel.step_label.setMinimumWidth(30)
    panel.step_label.setAccessibleName("Shown step")
    controls.addWidget(panel.step_label)
    controls.addWidget(panel.play_button)
    controls.addWidget(QLabel("α"))
    panel.lr_box = pg.SpinBox(value=panel.session.lr, bounds=LR_BOUNDS, dec=True, step=0.5,
                             minStep=1e-6, decimals=4, compactHeight=False)
    panel.lr_box.setAccessibleName("Adaptation learning rate")
    panel.lr_box.setToolTip("Inner learning rate used to adapt (Meta-SGD scales its learned "
                           "rates by this over its training rate)")
    panel.lr_box.setMinimumWidth(80)
    panel.lr_box.sigValueChanged.connect(lambda box: panel.session.set_lr(float(box.value())))
    controls.addWidget(panel.lr_box)
    layout.addLayout(controls)

    toggles = FlowLayout()  # wraps onto a second row where the panel is narrow
    panel.toggles = {}
    for key, text in (("maml", "meta-learned"), ("steps", "earlier steps"),
                      ("pretrained", "pretrained baseline"), ("random", "random init"),
                      ("truth", "true function")):
        box = QCheckBox(text)
        box.setChecked(panel.session.shown[key])
        box.setAccessibleName(f"Show {text}")
        box.toggled.connect(lambda on, key=key: panel.session.set_shown({key: on}))
        toggles.addWidget(box)
        panel.toggles[key] = box
    panel.live_box = QCheckBox("Live: follow training")
    panel.live_box.setChecked(True)
    panel.live_box.setAccessibleName("Follow training live")
    panel.live_box.setToolTip("While training runs, re-adapt with every new parameter snapshot")
    toggles.addWidget(panel.live_box)
    layout.addLayout(toggles)
    panel.info = QLabel("")
    panel.info.setAccessibleName("Adaptation status")
    panel.info.setWordWrap(True)
    layout.addWidget(panel.info)


def _button(text: str, name: str, slot, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(name)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button

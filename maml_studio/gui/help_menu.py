"""Help menu: keyboard shortcuts, what each curve means, and what this installation runs on."""

from __future__ import annotations

import platform

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QMenu, QMessageBox

from maml_studio import __version__
from maml_studio.devices import device_availability

SHORTCUTS = [
    ("Space", "start, pause or resume training"),
    ("Esc", "stop training (Start then continues the run)"),
    ("F9", "show or hide the Experiment panel"),
    ("F11", "presentation mode: full screen, larger text and lines"),
    ("Ctrl+O / Ctrl+S", "open a checkpoint or session / save the session"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo a change to the support points"),
    ("Ctrl+L / Ctrl+G", "log scale for the loss plot / grid lines"),
    ("Ctrl+Shift+F", "fit the loss plot to the ticked runs (double click: everything)"),
    ("Left click, drag", "add a support point, move it (adaptation view)"),
    ("Right click, Ctrl+click", "remove a support point"),
    ("1 – 9", "choose the class of new points (classification)"),
]

EXPLANATION = """
<h3>Training tab: the loss plot</h3>
<p><b>meta-training loss</b> (faint: every iteration; bold: its moving average) is the query
loss after the inner steps, averaged over each meta-batch: what meta-training lowers.</p>
<p><b>validation, before adaptation</b> is the loss of the meta-learned initialisation itself
on held-out tasks, with no gradient step. It usually stays high, and that is MAML's point:
the initialisation is not meant to fit any one task, but to be a few steps away from every
task.</p>
<p><b>validation, after adaptation</b> is the same held-out tasks after the test-time inner
steps. This is the number meta-learning improves.</p>
<p><b>pretrained baseline</b> curves show one network trained on all tasks at once, then
fine-tuned the same way: what you get without meta-learning.</p>
<h3>Adaptation tab</h3>
<p>Click to add support points. Each model is fine-tuned on your points by plain gradient
descent, and its curve after the chosen number of steps is drawn: <b>meta-learned</b>
(adapts in one or a few steps), <b>pretrained baseline</b> (barely moves: it averages the
tasks), and <b>random initialisation</b> (no prior at all). With a sampled task the
<b>true function</b> and each curve's mean squared error are shown. <b>Paper figure</b> draws
Figure 2 of Finn et al. (2017): one task, its points, both models after 0, 1 and 10 steps.</p>
<p>For 2-D classifiers the plane shows each model's decision boundary, a heat map of one
model's class probability and, for a sampled task, its true boundary and query accuracy.</p>
"""


def build_help_menu(window: QMainWindow) -> QMenu:
    menu = window.menuBar().addMenu("&Help")
    menu.setObjectName("Help")
    menu.setAccessibleName("Help")
    menu.addAction("&Keyboard shortcuts", lambda: _show(window, "Keyboard shortcuts", shortcuts_html()))
    menu.addAction("&What am I looking at?", lambda: _show(window, "What am I looking at?", EXPLANATION))
    menu.addAction("&About MAML Studio", lambda: _show(window, "About MAML Studio", about_html()))
    return menu


def shortcuts_html() -> str:
    rows = "".join(f"<tr><td><b>{keys}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>" for keys, what in SHORTCUTS)
    return f"<table>{rows}</table>"


def about_html() -> str:
    devices = ", ".join(name for name, (present, _) in device_availability().items() if present)
    return (f"<h3>MAML Studio {__version__}</h3>"
            "<p>Model-Agnostic Meta-Learning (Finn, Abbeel &amp; Levine, ICML 2017), live.</p>"
            f"<p>torch {torch.__version__}, Python {platform.python_version()}<br>"
            f"devices here: {devices}</p>")


def _show(window: QMainWindow, title: str, html: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.NoIcon, title, html, QMessageBox.StandardButton.Close, window)
    box.setAccessibleName(title)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.open()
    window.help_box = box  # kept for tests and so that it is not collected while open
    return box

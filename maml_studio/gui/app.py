"""Start the desktop app: application identity, theme, the main window, command-line state."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from maml_studio import __version__
from maml_studio.gui.main_window import APPLICATION, ORGANIZATION, MainWindow
from maml_studio.resources import resource_dir

DESKTOP_FILE_NAME = "io.github.mamlstudio.MAMLStudio"


# The training thread hands the interpreter back this often (Python's default is 5 ms):
# the GUI thread then waits at most ~1 ms whenever it needs Python during a redraw.
GIL_SWITCH_INTERVAL_S = 0.001


def make_application(argv: list[str] | None = None) -> QApplication:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    icon = resource_dir() / "icons" / "maml-studio.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def run_app(preset: str | None = None, config: Path | None = None, open_file: Path | None = None,
            autostart: bool = False) -> int:
    app = make_application()
    window = MainWindow(load_bundled=True)
    window.show()
    if preset:
        window.load_preset(preset)
    elif config:
        window.load_config_file(config)
    elif open_file:
        window.open_file(open_file)
    if autostart:
        QTimer.singleShot(0, window.start_training)
    return app.exec()

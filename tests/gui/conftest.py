import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QWidget

from maml_studio.gui.main_window import MainWindow
from tests.conftest import TEST_THREADS


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self, what: True)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.unsaved = False  # whatever a test patched, the window closes and joins its threads
    win.close()
    win.wait_for_background_work()  # what the application does when it quits


def by_name(root: QWidget, name: str) -> QWidget:
    found = [w for w in root.findChildren(QWidget) if w.accessibleName() == name]
    assert found, f"no widget named {name!r}"
    return found[0]


def quick_run(win: MainWindow, iterations: int = 100_000) -> None:
    """Make the form describe a short eager run that a test can watch."""
    panel = win.experiment_panel
    panel.editors["training.iterations"].set_value(iterations)
    panel.editors["training.compile"].set_value("off")
    panel.editors["training.validate_every"].set_value(100)
    panel.editors["training.validation_tasks"].set_value(20)
    panel.editors["training.threads"].set_value(TEST_THREADS)

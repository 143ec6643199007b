"""The desktop app. Every Qt import of MAML Studio lives in this package."""

from __future__ import annotations

__all__ = ["MainWindow"]


def __getattr__(name: str):
    if name == "MainWindow":  # imported on demand so `import maml_studio.gui` stays light
        from maml_studio.gui.main_window import MainWindow

        return MainWindow
    raise AttributeError(name)

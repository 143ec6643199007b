"""The main window's dialogs: file choosers, questions and error messages, recent files.

A mixin of `MainWindow`. Error messages are window-modal and never block the
event loop; large point files are read off the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from maml_studio.gui import mp4_writer
from maml_studio.gui.background_read import BackgroundRead
from maml_studio.session import SESSION_SUFFIX

MAX_RECENT = 8
MODEL_FILTER = f"Checkpoints and sessions (*.safetensors *{SESSION_SUFFIX});;All files (*)"
BACKGROUND_READ_BYTES = 1_000_000  # larger point files are read off the GUI thread


class WindowDialogs:
    # -- dialogs ---------------------------------------------------------------------------------------
    def _directory(self) -> str:
        return str(self.settings.value("last_directory", str(Path.home())))

    def _dialog_path(self, title: str, filters: str, save: bool, suffix: str = "") -> Path | None:
        function = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        name, _ = function(self, title, self._directory(), filters)
        if not name:
            return None
        path = Path(name)
        if save and suffix and not path.suffix:
            path = path.with_suffix(suffix)
        self.settings.setValue("last_directory", str(path.parent))
        return path

    def _open_config_dialog(self) -> None:
        if path := self._dialog_path("Open config", "Configs (*.toml *.json);;All files (*)", False):
            self.load_config_file(path)

    def _save_config_dialog(self) -> None:
        if path := self._dialog_path("Save config", "TOML (*.toml);;JSON (*.json)", True, ".toml"):
            self.save_config_file(path)

    def _open_model_dialog(self) -> None:
        if path := self._dialog_path("Open checkpoint or session", MODEL_FILTER, False):
            self.open_file(path)

    def _save_session_dialog(self) -> None:
        filters = f"Sessions (*{SESSION_SUFFIX})"
        if path := self._dialog_path("Save session", filters, True, SESSION_SUFFIX):
            self.save_session_file(path)

    def _save_checkpoint_dialog(self) -> None:
        if path := self._dialog_path("Save checkpoint", "Checkpoints (*.safetensors)", True,
                                     ".safetensors"):
            self.save_checkpoint_file(path)

    def _export_csv_dialog(self) -> None:
        if path := self._dialog_path("Export loss history", "CSV (*.csv)", True, ".csv"):
            self.export_history_csv(path)

    def _export_figure_dialog(self) -> None:
        if path := self._dialog_path("Export figure", "PNG image (*.png);;SVG image (*.svg)", True, ".png"):
            self.export_figure(path)

    def _export_animation_dialog(self) -> None:
        filters = "Animated GIF (*.gif)" if mp4_writer.unavailable_reason() else \
            "Animated GIF (*.gif);;MP4 video (*.mp4)"
        if path := self._dialog_path("Export animation", filters, True, ".gif"):
            self.export_animation(path)

    def _export_plot_dialog(self) -> None:
        if path := self._dialog_path("Export loss plot", "PNG image (*.png);;SVG image (*.svg)",
                                     True, ".png"):
            self.export_plot(path)

    def _import_points_dialog(self) -> None:
        if path := self._dialog_path("Import support points", "Point sets (*.csv *.npz);;All files (*)",
                                     False):
            self.import_points_file(path)

    def import_points_file(self, path: str | Path) -> bool:
        """Support points for the adaptation panel (x, y; or x1, x2 and a class label y)."""
        if self.adaptation.experiment is None:
            self.show_error("Cannot import points", "The adaptation panel has no model to adapt.")
            return False
        path = Path(path)
        read = self.adaptation.points_reader(path)
        try:
            large = path.is_file() and path.stat().st_size > BACKGROUND_READ_BYTES
        except OSError:
            large = False
        if large:  # read off the GUI thread, with a Cancel; applied when it arrives
            self._reading = BackgroundRead(self, f"Reading {path.name}…", read)
            self._reading.done.connect(self._apply_imported_points)
            self._reading.failed.connect(lambda text: self.show_error("Cannot import points", text))
            self._reading.start()
            return True
        try:
            points = read()
        except (OSError, ValueError) as exc:  # PointFileError is a ValueError
            self.show_error("Cannot import points", str(exc))
            return False
        self._apply_imported_points(points)
        return True

    def _apply_imported_points(self, points) -> None:
        try:
            self.adaptation.apply_imported_points(points)
        except ValueError as exc:  # the model changed while the file was being read
            self.show_error("Cannot import points", str(exc))
            return
        self.tabs.setCurrentWidget(self.adaptation)

    def _export_predictions_dialog(self) -> None:
        if path := self._dialog_path("Export adapted predictions", "CSV (*.csv)", True, ".csv"):
            try:
                self.adaptation.export_predictions(path)
            except (OSError, RuntimeError) as exc:
                self.show_error("Cannot export predictions", str(exc))

    def show_error(self, title: str, text: str) -> None:
        """A window-modal message that does not block the event loop."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAccessibleName(title)
        box.open()
        self.message_box = box

    def confirm_memory(self, estimate: str) -> bool:
        """Ask before a run that needs more memory than is available; No is the default."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Start training",
                          "This run may not fit in this computer's memory.", parent=self)
        box.setInformativeText(f"{estimate}.\n\nStarting it anyway can make the computer swap "
                               "for minutes, or the app be stopped by the system.")
        start = box.addButton("Start anyway", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
        box.exec()
        return box.clickedButton() is start

    def confirm_discard(self, what: str) -> bool:
        answer = QMessageBox.question(
            self, what, f"{what} discards the model trained in this window, which is not saved. "
            "Continue?")
        return answer == QMessageBox.StandardButton.Yes

    # -- recent files and settings ---------------------------------------------------------------------
    def _remember(self, path: Path) -> None:
        recent = [str(path.resolve())] + [p for p in self._recent() if p != str(path.resolve())]
        self.settings.setValue("recent_files", recent[:MAX_RECENT])
        self._fill_recent_menu()

    def _recent(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for name in self._recent():
            self.recent_menu.addAction(Path(name).name, lambda p=name: self.open_file(p)) \
                .setToolTip(name)
        self.recent_menu.setEnabled(bool(self._recent()))

"""The main window's files: open and save checkpoints, sessions and configs; export what it shows.

A mixin of `MainWindow`: every method here works on the window's run, model,
form and views. A file is checked whole before any of it is applied; a
refused file leaves the window as it was. The support points on show at quit
are kept for the next start.
"""

from __future__ import annotations

from pathlib import Path

from maml_studio.checkpoint import Checkpoint, CheckpointError, atomic_write_bytes, load_checkpoint
from maml_studio.config import ConfigError, load_config, load_preset, save_config
from maml_studio.gui import figure_export
from maml_studio.gui.plot_export import export_plot
from maml_studio.history import history_to_csv
from maml_studio.kept_points import kept_points, restore_kept_points
from maml_studio.resources import bundled_checkpoint
from maml_studio.session import load_session, save_session
from maml_studio.tasks import build_family

KEPT_POINTS_KEY = "kept_points"  # settings: the support points on show at quit


class WindowFiles:
    _kept_pending = True  # the points kept at the last quit have not been shown yet

    def _keep_points(self) -> None:
        """At quit: the points on show; with none, kept points never shown (placed for another
        family than any opened since) stay kept."""
        text = kept_points(self.adaptation.session)
        if text or not self._kept_pending:
            self.settings.setValue(KEPT_POINTS_KEY, text or "")

    def _restore_kept_points(self) -> None:
        """The support points on show at the last quit, once, with the first model of the family
        they were placed for."""
        if not self._kept_pending:
            return
        count, problem = restore_kept_points(self.adaptation.session,
                                             self.settings.value(KEPT_POINTS_KEY, "") or None)
        self._kept_pending = not (count or problem)
        if problem:
            self.announce(f"Not restored: {problem}.", 15000)
        elif count:
            self.announce(
                f"Restored the {count} support point{'s' if count != 1 else ''} on show at the "
                "last quit (Clear or Ctrl+Z removes them).", 15000)

    def _load_bundled_model(self) -> None:
        path = bundled_checkpoint()
        try:
            self.apply_model(load_checkpoint(path), {})
            self.unsaved = False
            self.state_label.setText("Loaded the bundled meta-trained sine model: "
                                     "adapt it now, or press Start to train your own.")
        except CheckpointError as exc:
            self.state_label.setText(f"The bundled model could not be loaded: {exc}")

    def apply_model(self, checkpoint: Checkpoint, view: dict) -> None:
        self._clear_run()
        self._stored_run = None  # Continue from here keeps a new run, replacing none
        self.model = checkpoint
        self.adaptation.set_model(checkpoint)
        self.show_runs(self.runs_panel.shown_ids())  # the ticked runs beside this model too
        self.run.load(checkpoint.history)
        self.run_config = checkpoint.config
        self.controller.optimizer_state = None  # a file holds no optimiser state
        self.experiment_panel.set_config(checkpoint.config)
        self.loss_plot.set_kind(build_family(checkpoint.config.task).kind)
        log = bool(view.get("log_scale", self.log_action.isChecked()))
        self.log_action.setChecked(log)
        self.loss_plot.set_log_scale(log)
        if isinstance(view.get("adaptation"), dict):
            self.adaptation.restore_view(view["adaptation"])
        else:  # a session file brings its own points
            self._restore_kept_points()
        iterations = self.history.last_iteration
        self.resumable = 0 < self.history.iterations < checkpoint.config.training.iterations
        self.status = "idle"
        self.iteration_label.setText(f"{iterations:,} / {checkpoint.config.training.iterations:,}")
        self._update_controls()

    def open_file(self, path: str | Path) -> bool:
        """Open a checkpoint, a session or a config; refused files change nothing."""
        path = Path(path)
        if self.controller.running:
            self.show_error("Training is running", "Stop training before opening a file.")
            return False
        if path.suffix.lower() in (".toml", ".json"):
            return self.load_config_file(path)
        if self.unsaved and not self.confirm_discard("Open another model"):
            return False
        try:
            checkpoint, view = load_session(path)
            self._check_view(path, checkpoint, view)  # whole, before anything is applied
        except CheckpointError as exc:
            self.show_error("Cannot open file", str(exc))
            return False
        self.apply_model(checkpoint, view)
        self.unsaved = False
        self.state_label.setText(f"Opened {path.name}")
        self._remember(path)
        return True

    def _check_view(self, path: Path, checkpoint: Checkpoint, view: dict) -> None:
        """Refuse a session whose stored view state the window could not apply whole."""
        if "log_scale" in view and not isinstance(view["log_scale"], bool):
            raise CheckpointError(f"{path}: its view state is corrupt (log_scale is not true or false)")
        adaptation = view.get("adaptation")
        if adaptation is None:
            return
        family = build_family(checkpoint.config.task)
        drawable = (family.kind == "classification" and family.dim_in == 2) or \
            (family.kind != "classification" and family.dim_in == 1 and family.dim_out == 1)
        if not drawable:
            return  # the panel does not show this family, nor its view
        try:
            self.adaptation.check_view(adaptation, checkpoint.experiment())
        except ValueError as exc:
            raise CheckpointError(f"{path}: its adaptation view is unusable ({exc})") from None

    def load_config_file(self, path: str | Path) -> bool:
        try:
            config = load_config(path)
        except ConfigError as exc:
            self.show_error("Cannot open config", str(exc))
            return False
        if not self._start_new_experiment(config, "Open a config"):
            return False
        self.state_label.setText(f"Loaded config {Path(path).name}")
        self._remember(Path(path))
        return True

    def load_preset(self, name: str) -> bool:
        try:
            config = load_preset(name)
        except ConfigError as exc:
            self.show_error("Cannot load preset", str(exc))
            return False
        if not self._start_new_experiment(config, "Load a preset"):
            return False
        self.state_label.setText(f"Preset {name} loaded; press Start to train it.")
        return True

    def save_config_file(self, path: str | Path) -> bool:
        try:
            save_config(self.experiment_panel.config(), path)
        except (ConfigError, OSError) as exc:
            self.show_error("Cannot save config", str(exc))
            return False
        self._remember(Path(path))
        return True

    def current_checkpoint(self) -> Checkpoint | None:
        """The model as it is now (mid-run: the trainer's latest parameters)."""
        if self.model is None:
            return None
        config, state, baseline = self.model.config, self.model.state, self.model.baseline_state
        worker = self.controller.worker
        if self.controller.running and worker is not None and worker.trainer is not None:
            snapshot = worker.trainer.snapshot()
            config, state, baseline = self.run_config, snapshot["state"], snapshot["baseline"]
        return Checkpoint(config, state, baseline, self.history.copy())

    def save_session_file(self, path: str | Path) -> bool:
        return self._save_model(path, session=True)

    def save_checkpoint_file(self, path: str | Path) -> bool:
        return self._save_model(path, session=False)

    def _save_model(self, path: str | Path, session: bool) -> bool:
        checkpoint = self.current_checkpoint()
        if checkpoint is None:
            self.show_error("Nothing to save", "There is no model yet: train one or open a file.")
            return False
        try:
            if session:
                save_session(path, checkpoint, {"log_scale": self.log_action.isChecked(),
                                                "adaptation": self.adaptation.view_state()})
            else:
                from maml_studio.checkpoint import save_checkpoint

                save_checkpoint(checkpoint, path)
        except OSError as exc:
            self.show_error("Cannot save", f"{path}: {exc}")
            return False
        self.unsaved = self.controller.running
        self.state_label.setText(f"Saved {Path(path).name}")
        self._remember(Path(path))
        return True

    def export_history_csv(self, path: str | Path) -> bool:
        try:
            atomic_write_bytes(path, history_to_csv(self.history).encode())
        except OSError as exc:
            self.show_error("Cannot export", f"{path}: {exc}")
            return False
        return True

    def export_plot(self, path: str | Path, plot=None) -> bool:
        try:
            export_plot(plot or self.loss_plot, path)
        except OSError as exc:
            self.show_error("Cannot export plot", f"{path}: {exc}")
            return False
        return True

    def export_figure(self, path: str | Path) -> bool:
        """The view on screen (adaptation, paper figure, plane or loss plot) as PNG or SVG."""
        try:
            figure_export.export_view(self, path)
        except (OSError, ValueError) as exc:
            self.show_error("Cannot export figure", f"{path}: {exc}")
            return False
        return True

    def export_animation(self, path: str | Path) -> bool:
        """Play (steps 0 … the current step) as an animated GIF or an MP4 video."""
        try:
            figure_export.export_animation(self, path)
        except (OSError, ValueError) as exc:
            self.show_error("Cannot export animation", f"{path}: {exc}")
            return False
        return True

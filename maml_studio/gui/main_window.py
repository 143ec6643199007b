"""The main window: experiment form, live loss plot, run controls, files and views."""

from __future__ import annotations

import math
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QTabWidget,
    QToolBar,
)

from maml_studio.checkpoint import Checkpoint
from maml_studio.config import ConfigError, ExperimentConfig
from maml_studio.devices import resolve_device
from maml_studio.gui.adaptation_panel import AdaptationPanel
from maml_studio.gui.evaluation_view import EvaluationView
from maml_studio.gui.experiment_panel import ExperimentPanel
from maml_studio.gui.gc_guard import collect_on_gui_thread, freeze_startup_objects
from maml_studio.gui.help_menu import build_help_menu
from maml_studio.gui.loss_plot import LossPlot
from maml_studio.gui.theme import (
    THEMES,
)
from maml_studio.gui.training_controller import LossUpdate, TrainingController
from maml_studio.gui.window_dialogs import WindowDialogs
from maml_studio.gui.window_files import WindowFiles
from maml_studio.gui.window_inside import WindowInside
from maml_studio.gui.window_runs import WindowRuns
from maml_studio.gui.window_sweeps import WindowSweeps
from maml_studio.gui.window_view import WINDOW_STATE_VERSION, WindowView
from maml_studio.history import History
from maml_studio.memory import check_memory
from maml_studio.resources import preset_names
from maml_studio.run_model import RunModel
from maml_studio.tasks import build_family
from maml_studio.training import Finished, Validation

ORGANIZATION = "MAML Studio"
APPLICATION = "MAML Studio"


class MainWindow(WindowView, WindowInside, WindowFiles, WindowDialogs, WindowSweeps, WindowRuns,
                 QMainWindow):
    def __init__(self, *, load_bundled: bool = True, settings: QSettings | None = None,
                 workspace: str | Path | None = None) -> None:
        super().__init__()
        self._waiting_messages: list[tuple[str, int]] = []  # said before the window shows
        collect_on_gui_thread()
        self.setWindowTitle("MAML Studio")
        self.setAccessibleName("MAML Studio")
        self.settings = settings or QSettings(ORGANIZATION, APPLICATION)
        self.controller = TrainingController(self)
        # A run stopped by Reset or Close ends its step on its own thread, and the inside views'
        # computations theirs; the process waits for them only once the windows are gone.
        QApplication.instance().aboutToQuit.connect(self.wait_for_background_work)
        self.model: Checkpoint | None = None  # the parameters the app currently shows and adapts
        self.run = RunModel()  # the one owner of the run's history; the loss plot draws it
        self.run_config: ExperimentConfig | None = None
        self.resumable = False  # a stopped run of this window that Start continues
        self.unsaved = False
        self.status = "idle"
        self.message_box: QMessageBox | None = None
        self.presentation = False
        self.theme = self.settings.value("theme", "light")
        if self.theme not in THEMES:
            self.theme = "light"
        self._base_font = self.font()
        self._run_started = 0.0
        self._state_before_presentation = Qt.WindowState.WindowNoState
        self._layout_before_presentation: tuple | None = None  # geometry and dock state

        self.experiment_panel = ExperimentPanel()
        scroll = QScrollArea()
        scroll.setWidget(self.experiment_panel)
        scroll.setWidgetResizable(True)
        # As wide as the form's widest row needs: no field cut off, no sideways scrolling.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(max(380, self.experiment_panel.minimumSizeHint().width()
                                   + scroll.verticalScrollBar().sizeHint().width() + 4))
        self.experiment_dock = QDockWidget("Experiment", self)
        self.experiment_dock.setObjectName("experiment-dock")
        self.experiment_dock.setWidget(scroll)
        self.experiment_dock.setAccessibleName("Experiment panel")
        self.experiment_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable |
                                         QDockWidget.DockWidgetFeature.DockWidgetFloatable |
                                         QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.experiment_dock)
        self._stored_run: str | None = None  # this window's run, once it is in the workspace

        self.loss_plot = LossPlot(run=self.run)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Views")
        self.tabs.addTab(self.loss_plot, "Training")
        self.adaptation = AdaptationPanel()
        self.tabs.addTab(self.adaptation, "Adaptation")
        self.evaluation = EvaluationView()
        self.tabs.addTab(self.evaluation, "Evaluation")
        self.adaptation.status_changed.connect(self._adaptation_status)
        self.setCentralWidget(self.tabs)
        self._build_runs_dock(workspace)  # after the views it draws into
        self._build_sweeps_view()  # the workspace's studies

        self._build_actions()
        self._build_status_bar()
        self._connect_controller()
        self._build_inside_views()  # Meta-gradient, Inner loop, Parameter space: after the controller
        self.experiment_panel.changed.connect(self._form_changed)
        self._restore_settings()
        self.apply_theme(self.theme)
        self._update_controls()
        if load_bundled:
            self._load_bundled_model()  # with the points on show at the last quit
            self.tabs.setCurrentWidget(self.adaptation)  # the demo comes first
        self.restore_shown_runs()  # after the model on show: they are compared with it
        if self._workspace_problem:
            self.announce(f"Workspace: {self._workspace_problem}", 15000)
        freeze_startup_objects()

    # -- construction ------------------------------------------------------------------------------

    @property
    def history(self) -> History:
        """The run's history, owned by `self.run`."""
        return self.run.history
    def _action(self, text: str, slot, shortcut=None, name: str | None = None,
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(name or text.replace("&", "").replace("…", ""))
        action.setObjectName(name or text)
        action.setCheckable(checkable)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.start_action = self._action("Start", self.start_training, None, "Start training")
        self.pause_action = self._action("Pause", self.toggle_pause, None, "Pause training")
        self.stop_action = self._action("Stop", self.stop_training, Qt.Key.Key_Escape, "Stop training")
        self.reset_action = self._action("Reset", self.reset_training, None, "Reset training")
        self.space_action = self._action("Start or pause", self._space_pressed, Qt.Key.Key_Space,
                                         "Start or pause training")
        toolbar = QToolBar("Run")
        toolbar.setObjectName("run-toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (self.start_action, self.pause_action, self.stop_action, self.reset_action):
            toolbar.addAction(action)
            toolbar.widgetForAction(action).setAccessibleName(action.toolTip())
        self.addToolBar(toolbar)

        menu = self.menuBar().addMenu("&File")
        self.presets_menu = menu.addMenu("New from &preset")
        for name in preset_names():
            self.presets_menu.addAction(name, lambda n=name: self.load_preset(n))
        menu.addSeparator()
        menu.addAction(self._action("&Open config…", self._open_config_dialog, "Ctrl+Shift+O"))
        menu.addAction(self._action("Save &config as…", self._save_config_dialog, "Ctrl+Shift+S"))
        menu.addSeparator()
        menu.addAction(self._action("&Open checkpoint or session…", self._open_model_dialog,
                                    QKeySequence.StandardKey.Open))
        menu.addAction(self._action("&Save session as…", self._save_session_dialog,
                                    QKeySequence.StandardKey.Save))
        menu.addAction(self._action("Save check&point as…", self._save_checkpoint_dialog))
        self.recent_menu = menu.addMenu("Open &recent")
        menu.addAction(self._action("Open &workspace…", self._open_workspace_dialog,
                                    name="Open workspace"))
        menu.addSeparator()
        menu.addAction(self._action("Export loss history as CS&V…", self._export_csv_dialog))
        menu.addAction(self._action("Export loss &plot as PNG or SVG…", self._export_plot_dialog))
        menu.addAction(self._action("Export &figure…", self._export_figure_dialog, name="Export figure"))
        menu.addAction(self._action("Export a&nimation…", self._export_animation_dialog,
                                    name="Export animation"))
        menu.addSeparator()
        menu.addAction(self._action("&Import support points…", self._import_points_dialog))
        menu.addAction(self._action("Export &adapted predictions as CSV…", self._export_predictions_dialog))
        menu.addSeparator()
        menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        run = self.menuBar().addMenu("&Run")
        for action in (self.start_action, self.pause_action, self.stop_action, self.reset_action):
            run.addAction(action)

        self._build_view_menu()
        build_help_menu(self)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.state_label = QLabel("Idle")
        self.iteration_label = QLabel("")
        self.rate_label = QLabel("")
        self.time_label = QLabel("")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setAccessibleName("Training progress")
        self.device_label = QLabel("")
        self.compile_label = QLabel("")
        for widget, name in ((self.state_label, "Training state"), (self.iteration_label, "Iteration"),
                             (self.rate_label, "Iterations per second"),
                             (self.time_label, "Elapsed and remaining time"),
                             (self.device_label, "Device"), (self.compile_label, "Compilation")):
            widget.setAccessibleName(name)
        bar.addWidget(self.state_label, 1)
        for widget in (self.iteration_label, self.rate_label, self.time_label, self.progress_bar,
                       self.device_label, self.compile_label):
            bar.addPermanentWidget(widget)
        self._update_device_label()

    def _connect_controller(self) -> None:
        self.controller.progress.connect(self._on_progress)
        self.controller.validated.connect(self._on_validation)
        self.controller.compile_status.connect(self._on_compile_status)
        self.controller.snapshot.connect(self._on_snapshot)
        self.controller.finished.connect(self._on_finished)

    # -- running ----------------------------------------------------------------------------------
    def start_training(self) -> bool:
        if self.controller.running:
            return False
        try:
            config = self.experiment_panel.config()
            resolve_device(config.training.device)
        except ConfigError as exc:
            self.show_error("Cannot start training", str(exc))
            return False
        try:
            check_memory(config)
        except ConfigError as exc:  # every field in range, the whole too large for this computer
            if not self.confirm_memory(str(exc)):
                self.state_label.setText("Not started: the run would not fit in memory.")
                return False
        continuing = (self.resumable and self.run_config is not None and self.model is not None
                      and _same_run(config, self.run_config)
                      and self.history.iterations < config.training.iterations)
        if continuing:
            self.controller.start(config, self.model.state, self.model.baseline_state,
                                  self.history.copy(), self.controller.optimizer_state)
        else:
            if self.unsaved and not self.confirm_discard("Start a new run"):
                return False
            self.run.clear()
            self._stored_run = None  # a new run: kept as a new entry of the workspace
            self.loss_plot.set_kind(build_family(config.task).kind)
            self.controller.start(config)
        self.run_config = config
        self.resumable = False
        self.unsaved = True
        self._run_started = time.perf_counter()
        self._started_at_iteration = self.history.iterations
        self.status = "training"
        self.compile_label.setText("")
        self.state_label.setText("Continuing training…" if continuing else "Training…")
        self._update_device_label(config)
        self._update_controls()
        return True

    def toggle_pause(self) -> None:
        if not self.controller.running:
            return
        if self.controller.paused:
            self.controller.resume()
            self.status = "training"
            self.state_label.setText("Training…")
        else:
            self.controller.pause()
            self.status = "paused"
            self.state_label.setText("Paused. Press Space or Resume to continue.")
            self.time_label.setText(f"{_duration(time.perf_counter() - self._run_started)} elapsed")
        self._update_controls()

    def stop_training(self) -> None:
        if self.controller.running:
            self.controller.stop()
            self.status = "stopping"
            self.state_label.setText("Stopping after the current step…")

    def reset_training(self) -> None:
        if self.unsaved and not self.confirm_discard("Reset"):
            return
        if self.controller.running:
            self.controller.shutdown()
        if self.queue.current is not None:  # the queued run is dropped; the rest waits
            self.queue.finished()
            self.queue.set_paused(bool(self.queue.waiting))
        self._clear_run()
        self.state_label.setText("Reset: the next Start begins a new run.")
        self._update_controls()

    def _clear_run(self) -> None:
        """Forget the run's curves, read-outs, rate, time and compile state."""
        self.run.clear()
        self.resumable = False
        self.unsaved = False
        self.controller.optimizer_state = None
        self.status = "idle"
        for label in (self.iteration_label, self.rate_label, self.time_label, self.compile_label):
            label.setText("")
        self.progress_bar.setValue(0)

    def _start_new_experiment(self, config: ExperimentConfig, what: str) -> bool:
        """Show a loaded preset or config with nothing of what came before; False if declined."""
        if self.unsaved and not self.confirm_discard(what):
            return False
        self._clear_run()
        self.model, self.run_config = None, None
        family = build_family(config.task)
        self.loss_plot.set_kind(family.kind)
        self.adaptation.clear_model(plane=family.kind == "classification" and family.dim_in == 2)
        self.experiment_panel.set_config(config)
        self._update_controls()
        return True

    def _space_pressed(self) -> None:
        if self.controller.running:
            self.toggle_pause()
        else:
            self.start_training()

    def _on_progress(self, update: LossUpdate) -> None:
        self.run.append(update.train_losses, update.baseline_losses)
        progress = update.progress
        if progress is None or self.status not in ("training", "paused"):
            return
        total = progress.total
        self.iteration_label.setText(f"{progress.iteration:,} / {total:,}")
        self.progress_bar.setValue(int(1000 * progress.iteration / total))
        if self.status != "training":  # no rate or ETA while paused
            return
        self.rate_label.setText(f"{progress.iterations_per_second:,.0f} it/s")
        elapsed = time.perf_counter() - self._run_started
        remaining = (total - progress.iteration) / progress.iterations_per_second \
            if progress.iterations_per_second > 0 else math.nan
        self.time_label.setText(f"{_duration(elapsed)} elapsed, {_duration(remaining)} left")

    def _on_validation(self, validation: Validation) -> None:
        self.run.append([], [], [validation.history_row()])

    def _on_compile_status(self, status) -> None:
        text = {"compiling": "compiling…", "ready": "compiled", "failed": "eager (compile failed)",
                "off": "eager"}[status.status]
        self.compile_label.setText(text)
        self.compile_label.setToolTip(status.message)

    def _on_snapshot(self, snapshot) -> None:
        self.model = Checkpoint(self.run_config, snapshot["state"], snapshot["baseline"], self.history)
        self.adaptation.set_model(self.model, live=True)

    def _on_finished(self, event: Finished) -> None:
        self.resumable = event.status in ("stopped",)
        self.status = event.status
        total = (self.run_config or ExperimentConfig()).training.iterations
        self.iteration_label.setText(f"{event.iteration:,} / {total:,}")  # agrees with the message
        self.time_label.setText(f"{_duration(time.perf_counter() - self._run_started)} elapsed")
        if self.compile_label.text() == "compiling…":
            self.compile_label.setText("")
        texts = {
            "completed": event.message,
            "stopped": f"{event.message} Start continues the run; Reset begins a new one.",
        }
        self.state_label.setText(texts.get(event.status, event.message))
        self.adaptation.set_model(self.model)  # the final parameters, even with Live off
        self._keep_finished_run(event)
        self._queued_run_ended(event.status)
        if event.status in ("diverged", "failed"):
            title = "Training diverged" if event.status == "diverged" else "Training failed"
            self.show_error(title, event.message)
        self._update_controls()

    # -- state of the controls -------------------------------------------------------------------------
    def _update_controls(self) -> None:
        running = self.controller.running
        paused = running and self.controller.paused
        self.start_action.setEnabled(not running)
        self.start_action.setText("Continue" if self.resumable and not running else "Start")
        self.pause_action.setEnabled(running)
        self.pause_action.setText("Resume" if paused else "Pause")
        self.pause_action.setToolTip("Resume training" if paused else "Pause training")
        self.stop_action.setEnabled(running)
        self.experiment_panel.set_locked(running)
        self.presets_menu.setEnabled(not running)
        for action in self.findChildren(QAction):
            if action.objectName() in ("&Open config…", "&Open checkpoint or session…"):
                action.setEnabled(not running)
        self.recent_menu.setEnabled(not running)

    def _form_changed(self) -> None:
        if not self.controller.running and self.resumable:
            try:
                same = _same_run(self.experiment_panel.config(), self.run_config)
            except ConfigError:
                same = False
            self.start_action.setText("Continue" if same else "Start")

    def _update_device_label(self, config: ExperimentConfig | None = None) -> None:
        config = config or ExperimentConfig()
        try:
            device = resolve_device(config.training.device)
            self.device_label.setText(f"device: {device.type}")
        except ConfigError:
            self.device_label.setText("device: unavailable")

    # -- settings ------------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:  # 1280×800, or nine tenths of a smaller screen
            screen = QApplication.primaryScreen()
            available = screen.availableGeometry() if screen is not None else None
            width, height = 1280, 800
            if available is not None:
                width = min(width, int(0.9 * available.width()))
                height = min(height, int(0.9 * available.height()))
            self.resize(width, height)
        window_state = self.settings.value("window_state")
        if window_state is not None:
            self.restoreState(window_state, WINDOW_STATE_VERSION)  # an older layout is ignored
        self._fill_recent_menu()

    def announce(self, text: str, milliseconds: int) -> None:
        """A message in the status bar for a while. Those given before the window is first shown
        wait until then, all in one line: shown earlier, they would be drawn over the state label."""
        if self.isVisible():
            self.statusBar().showMessage(text, milliseconds)
        else:
            self._waiting_messages.append((text, milliseconds))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        waiting, self._waiting_messages = self._waiting_messages, []
        if waiting:
            self.statusBar().showMessage("  ·  ".join(text for text, _ in waiting),
                                         max(ms for _, ms in waiting))

    def _adaptation_status(self, text: str) -> None:
        if text:
            self.statusBar().showMessage(text, 8000)

    def closeEvent(self, event) -> None:
        if self.unsaved and not self.confirm_discard("Quit"):
            event.ignore()
            return
        if self.controller.running:
            self.state_label.setText("Stopping training…")
            self.controller.shutdown()
        self.adaptation.shutdown()
        self._shutdown_inside()
        self.evaluation.stop()
        self.evaluation.wait(10)  # between two runs' evaluations: at most one run's worth
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState(WINDOW_STATE_VERSION))
        self._keep_points()
        super().closeEvent(event)

    def wait_for_background_work(self) -> None:
        """After closing: until the threads' computations under way have ended (a process that
        exits while torch computes on another thread aborts)."""
        self.controller.shutdown()  # asked already when the window closed; not if it never did
        self._shutdown_inside()
        self.evaluation.ask_to_stop()
        self.controller.wait_for_stopped_runs()
        self._wait_for_inside()
        self.evaluation.wait()


def _same_run(a: ExperimentConfig, b: ExperimentConfig) -> bool:
    """Whether two configs describe the same run, apart from how long it lasts."""
    left, right = a.to_dict(), b.to_dict()
    for data in (left, right):
        data["training"].pop("iterations")
    return left == right


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


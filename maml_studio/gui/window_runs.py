"""The main window's workspace: every run kept, shown side by side, reopened at start.

A mixin of `MainWindow`. The `RunStore` owns the runs; the Runs dock lists
them; checked runs are drawn over the loss plot (one colour per run, or a seed
group's mean and band) and adapted to the same points in the adaptation view.
Every run the window trains is added to the workspace when it ends.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer
from PySide6.QtWidgets import QDialog, QDockWidget, QFileDialog

from maml_studio.adaptation_session import ComparedRun
from maml_studio.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from maml_studio.gui.compare_dialog import CompareDialog
from maml_studio.gui.loss_overlays import BandOverlay, RunOverlay
from maml_studio.gui.runs_dock import RunsPanel
from maml_studio.resources import bundled_comparison
from maml_studio.run_groups import seed_band, seed_groups
from maml_studio.run_queue import RunQueue
from maml_studio.run_store import RunStore, WorkspaceError, default_workspace
from maml_studio.training import Finished

MODEL_ON_SHOW_COLOUR = "#c81e32"  # the meta-learned curve's red
SHOWN_RUNS_KEY = "shown_runs"  # settings: the ticked runs, with their workspace's folder
WATCH_SETTLE_MS = 300


class WindowRuns:
    def _build_runs_dock(self, workspace: str | Path | None) -> None:
        self.store = self._open_store(workspace)
        self._run_cache: dict[str, tuple[str, Checkpoint]] = {}  # id → (file, checkpoint)
        self.queue = RunQueue()
        self.queue.changed.connect(self._queue_changed)
        self._queued_name: str | None = None
        self.runs_panel = RunsPanel(self.store, self.queue)
        self.runs_panel.shown_changed.connect(self.show_runs)
        self.runs_panel.shown_changed.connect(self._remember_shown_runs)
        self.runs_panel.open_requested.connect(self.open_run)
        self.runs_panel.compare_requested.connect(self.compare_algorithms)
        self.evaluation.evaluate_button.clicked.connect(lambda: self.evaluate_runs())
        # Runs that `train --workspace` or `compare` add while the window is open appear too.
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(lambda _: self._refresh_timer.start())
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(WATCH_SETTLE_MS)  # after a writer's rename has settled
        self._refresh_timer.timeout.connect(self._refresh_store)
        self._watch(self.store)
        self.runs_dock = QDockWidget("Runs", self)
        self.runs_dock.setObjectName("runs-dock")
        self.runs_dock.setAccessibleName("Runs")
        self.runs_dock.setWidget(self.runs_panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.runs_dock)
        self.tabifyDockWidget(self.experiment_dock, self.runs_dock)
        self.experiment_dock.raise_()

    def _open_store(self, workspace: str | Path | None) -> RunStore:
        folder = workspace or self.settings.value("workspace") or default_workspace()
        try:
            store = RunStore(folder)
        except WorkspaceError as exc:  # keep working in a folder of this session only
            fallback = RunStore(tempfile.mkdtemp(prefix="maml-studio-workspace-"))
            self._workspace_problem = f"{exc}; runs are kept in {fallback.folder} for now"
            return fallback
        self._workspace_problem = "; ".join(store.repairs) if store.repairs else None
        return store

    # -- the workspace -----------------------------------------------------------------------------
    def open_workspace(self, folder: str | Path) -> bool:
        """Show the runs of another workspace folder (created if it does not exist)."""
        try:
            store = RunStore(folder)
        except WorkspaceError as exc:
            self.show_error("Cannot open workspace", str(exc))
            return False
        self.store, self._run_cache, self._stored_run = store, {}, None
        self._watch(store)
        self._switching_store = True
        try:
            self.runs_panel.set_store(store)
        finally:
            self._switching_store = False
        self.settings.setValue("workspace", str(store.folder))
        self.restore_shown_runs()
        repaired = f" (repaired: {'; '.join(store.repairs)})" if store.repairs else ""
        self.state_label.setText(f"Workspace {store.folder}: {len(store.runs())} runs{repaired}")
        return True

    def _watch(self, store: RunStore) -> None:
        if self._watcher.directories():
            self._watcher.removePaths(self._watcher.directories())
        self._watcher.addPath(str(store.folder))

    def _refresh_store(self) -> None:
        try:
            self.store.refresh()
        except (WorkspaceError, OSError) as exc:  # the folder went away, or became unreadable
            self.statusBar().showMessage(f"Workspace: {exc}", 10000)

    def _open_workspace_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open workspace", str(self.store.folder))
        if folder:
            self.open_workspace(folder)

    def open_run(self, run_id: str) -> bool:
        """Show a run of the workspace as the window's model."""
        if self.controller.running:
            self.show_error("Training is running", "Stop training before opening a run.")
            return False
        if self.unsaved and not self.confirm_discard("Open a run"):
            return False
        try:
            checkpoint = self._checkpoint_of(run_id)
        except (CheckpointError, WorkspaceError) as exc:
            self.show_error("Cannot open run", str(exc))
            return False
        self.apply_model(checkpoint, {})
        self.unsaved = False
        self.state_label.setText(f"Opened the run {self.store.get(run_id).name}")
        return True

    def _checkpoint_of(self, run_id: str) -> Checkpoint:
        """The run's checkpoint, read again whenever its file has changed."""
        path = self.store.path(run_id)
        try:
            stat = path.stat()
        except OSError as exc:
            raise WorkspaceError(f"the run's file {path} is gone: {exc.strerror}") from None
        key = (path.name, stat.st_size, stat.st_mtime_ns, stat.st_ino)
        cached = self._run_cache.get(run_id)
        if cached is None or cached[0] != key:
            cached = (key, self.store.open(run_id))
            self._run_cache[run_id] = cached
        return cached[1]

    # -- runs shown side by side -------------------------------------------------------------------
    def _remember_shown_runs(self, run_ids: list[str]) -> None:
        """The ticked runs of each workspace, ticked again when it is next opened."""
        if getattr(self, "_switching_store", False):
            return  # a new store's empty table says nothing of what its user ticked
        saved = self._shown_runs_saved()
        saved[str(self.store.folder)] = list(run_ids)
        self.settings.setValue(SHOWN_RUNS_KEY, json.dumps(saved))

    def _shown_runs_saved(self) -> dict:
        try:
            saved = json.loads(str(self.settings.value(SHOWN_RUNS_KEY) or "{}"))
        except ValueError:
            return {}  # an unreadable setting: nothing to restore
        return saved if isinstance(saved, dict) else {}

    def restore_shown_runs(self) -> None:
        """Tick the runs that were ticked when this workspace was last on show."""
        known = {run.id for run in self.store.runs()}
        wanted = self._shown_runs_saved().get(str(self.store.folder))
        for run_id in wanted if isinstance(wanted, list) else []:
            if isinstance(run_id, str) and run_id in known:
                self.runs_panel.set_shown(run_id, True)

    def show_runs(self, run_ids: list[str]) -> None:
        """Draw these runs over the loss plot and adapt their models beside the one on show."""
        shown, problems = [], []
        for run_id in run_ids:
            try:
                shown.append((self.store.get(run_id), self._checkpoint_of(run_id)))
            except (CheckpointError, WorkspaceError) as exc:
                problems.append(str(exc))
        self.loss_plot.set_overlays(self._overlays(shown))
        problems += self.adaptation.session.set_compared(
            [ComparedRun(info.id, info.name, info.colour, checkpoint) for info, checkpoint in shown])
        if problems:
            self.statusBar().showMessage("Not compared: " + "; ".join(problems), 10000)

    def _overlays(self, shown: list) -> list:
        checkpoints = {info.id: checkpoint for info, checkpoint in shown}
        if not self.runs_panel.group_box.isChecked():
            return [RunOverlay(info.id, info.name, info.colour, checkpoints[info.id].history)
                    for info, _ in shown]
        overlays = []
        for group in seed_groups([info for info, _ in shown]):
            histories = [checkpoints[info.id].history for info in group]
            if len(group) == 1 or min(len(h.train_loss) for h in histories) == 0:
                overlays += [RunOverlay(info.id, info.name, info.colour, checkpoints[info.id].history)
                             for info in group]
                continue
            spread = self.runs_panel.spread
            band = seed_band(histories, spread)
            first = group[0]
            overlays.append(BandOverlay("group:" + ",".join(info.id for info in group) + spread,
                                        f"{first.algorithm}, {len(group)} seeds "
                                        f"(mean, {'± sd' if spread == 'std' else 'min–max'})",
                                        first.colour, band.mean, band.low, band.high))
        return overlays

    # -- runs trained here ---------------------------------------------------------------------------
    def _keep_finished_run(self, event: Finished) -> None:
        """Add the run that just ended to the workspace (a partial run says so in its status)."""
        checkpoint = self.current_checkpoint()
        if checkpoint is None or event.iteration == 0:
            return
        seconds = time.perf_counter() - self._run_started
        done = event.iteration - getattr(self, "_started_at_iteration", 0)
        status = event.status if event.status in ("completed", "stopped", "diverged") else "failed"
        previous = None
        if self._stored_run is not None:  # a continued run replaces what it had kept
            previous = next((r for r in self.store.runs() if r.id == self._stored_run), None)
        name, colour = (previous.name, previous.colour) if previous else (self._queued_name, None)
        if previous is not None:
            seconds += previous.seconds or 0.0
        self._queued_name = None
        try:
            kept = self.store.add(
                checkpoint, name=name, colour=colour, status=status, seconds=seconds,
                replaces=previous.id if previous is not None else None,
                iterations_per_second=done / (time.perf_counter() - self._run_started)
                if done > 0 else None)
            if previous is not None:
                self.store.delete(previous.id)
        except (WorkspaceError, OSError) as exc:
            self.statusBar().showMessage(f"The run was not kept in the workspace: {exc}", 10000)
            return
        self._stored_run = kept.id
        self.unsaved = False  # it is saved, in the workspace
        if previous is not None and previous.id in self.runs_panel.shown_ids():
            self.runs_panel.set_shown(kept.id, True)  # shown as the entry it replaces was

    # -- comparing algorithms ------------------------------------------------------------------------
    def compare_algorithms(self, algorithms: list[str] | None = None, seeds: int = 1) -> bool:
        """Queue the form's config under each algorithm × seed and start; ask when not given."""
        if algorithms is None:
            dialog = CompareDialog(self, bundled_available=bool(bundled_comparison()))
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return False
            if dialog.show_bundled:
                return self.show_bundled_comparison()
            algorithms, seeds = dialog.algorithms(), dialog.seeds.value()
        try:
            self.queue.plan(self.experiment_panel.config(), algorithms, seeds)
        except ValueError as exc:  # ConfigError and CompareError are ValueErrors
            self.show_error("Cannot compare algorithms", str(exc))
            return False
        self.queue.set_paused(False)
        self._start_next_queued()  # now if idle, else when the run under way ends
        return True

    def _start_next_queued(self) -> None:
        """Start the next waiting run, unless training runs already or the queue is paused."""
        if self.controller.running or self.queue.current is not None:
            return
        run = self.queue.take_next()
        if run is None:
            return
        self.experiment_panel.set_config(run.config)
        self.resumable, self._stored_run, self._queued_name = False, None, run.name
        if not self.start_training():  # refused or declined: it waits again, first in line
            self._queued_name = None
            self.queue.put_back(run)
            self.queue.set_paused(True)

    def _queue_changed(self) -> None:
        if not self.queue.paused and self.queue.waiting and not self.controller.running:
            QTimer.singleShot(0, self._start_next_queued)  # resumed, or runs added while idle

    def _queued_run_ended(self, status: str) -> None:
        """Any run ended: the queue goes on (a stopped queued run pauses it)."""
        if self.queue.current is not None:
            self.queue.finished()
            if status == "stopped":  # the user stopped it: nothing more until resumed
                self.queue.set_paused(True)
        QTimer.singleShot(0, self._start_next_queued)

    def show_bundled_comparison(self) -> bool:
        """The bundled sine models of every algorithm, side by side, with no training."""
        if self.controller.running:
            self.show_error("Training is running", "Stop training before showing the bundled models.")
            return False
        needs_sine = self.model is None or self.model.config.task.family != "sine"
        if needs_sine and self.unsaved and not self.confirm_discard("Show the bundled models"):
            return False
        known = {run.name: run for run in self.store.runs()}
        shown = []
        for name, path in bundled_comparison():
            label = f"bundled {name}"
            try:
                run = known.get(label) or self.store.add(load_checkpoint(path), name=label)
            except (CheckpointError, WorkspaceError) as exc:
                self.show_error("Cannot show the bundled models", str(exc))
                return False
            shown.append(run.id)
        if not shown:
            self.show_error("Cannot show the bundled models", "this installation has none")
            return False
        if needs_sine:
            self._load_bundled_model()
        for run_id in self.runs_panel.shown_ids():
            self.runs_panel.set_shown(run_id, False)
        for run_id in shown:
            self.runs_panel.set_shown(run_id, True)
        self.tabs.setCurrentWidget(self.adaptation)
        if not len(self.adaptation.points):
            self.adaptation.sample_task()
        self.runs_dock.raise_()
        return True

    # -- the evaluation view ---------------------------------------------------------------------------
    def evaluate_runs(self, tasks: int = 600) -> bool:
        """Figure 3 (left) for the model on show and the shown runs, off the GUI thread."""
        runs = []
        if self.model is not None:
            runs.append(("model on show", MODEL_ON_SHOW_COLOUR, self.model))
        for run_id in self.runs_panel.shown_ids():
            try:
                info = self.store.get(run_id)
                runs.append((info.name, info.colour, self._checkpoint_of(run_id)))
            except (CheckpointError, WorkspaceError) as exc:
                self.statusBar().showMessage(f"Not evaluated: {exc}", 10000)
        self.tabs.setCurrentWidget(self.evaluation)
        return self.evaluation.evaluate(runs, tasks)

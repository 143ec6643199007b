"""The main window's workspace: every run kept, shown side by side, reopened at start.

A mixin of `MainWindow`. The `RunStore` owns the runs; the Runs dock lists
them; checked runs are drawn over the loss plot (one colour per run, or a seed
group's mean and band) and adapted to the same points in the adaptation view.
Every run the window trains is added to the workspace when it ends.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QFileDialog

from maml_studio.adaptation_session import ComparedRun
from maml_studio.checkpoint import Checkpoint, CheckpointError
from maml_studio.gui.loss_overlays import BandOverlay, RunOverlay
from maml_studio.gui.runs_dock import RunsPanel
from maml_studio.run_store import RunStore, WorkspaceError, default_workspace, seed_band, seed_groups
from maml_studio.training import Finished


class WindowRuns:
    def _build_runs_dock(self, workspace: str | Path | None) -> None:
        self.store = self._open_store(workspace)
        self._run_cache: dict[str, tuple[str, Checkpoint]] = {}  # id → (file, checkpoint)
        self.runs_panel = RunsPanel(self.store)
        self.runs_panel.shown_changed.connect(self.show_runs)
        self.runs_panel.open_requested.connect(self.open_run)
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
        self.store, self._run_cache = store, {}
        self.runs_panel.set_store(store)
        self.settings.setValue("workspace", str(store.folder))
        repaired = f" (repaired: {'; '.join(store.repairs)})" if store.repairs else ""
        self.state_label.setText(f"Workspace {store.folder}: {len(store.runs())} runs{repaired}")
        return True

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
        info = self.store.get(run_id)
        cached = self._run_cache.get(run_id)
        if cached is None or cached[0] != info.file:
            cached = (info.file, self.store.open(run_id))
            self._run_cache[run_id] = cached
        return cached[1]

    # -- runs shown side by side -------------------------------------------------------------------
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
            band = seed_band(histories)
            first = group[0]
            overlays.append(BandOverlay("group:" + ",".join(info.id for info in group),
                                        f"{first.algorithm}, {len(group)} seeds (mean ± sd)",
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
        try:
            if self._stored_run is not None:  # a continued run replaces what it had kept
                previous = self.store.get(self._stored_run)
                name, colour = previous.name, previous.colour
                seconds += previous.seconds or 0.0
                self.store.delete(self._stored_run)
            else:
                name, colour = None, None
            self._stored_run = self.store.add(
                checkpoint, name=name, colour=colour, status=status, seconds=seconds,
                iterations_per_second=done / (time.perf_counter() - self._run_started)
                if done > 0 else None).id
        except WorkspaceError as exc:
            self._stored_run = None
            self.statusBar().showMessage(f"The run was not kept in the workspace: {exc}", 10000)

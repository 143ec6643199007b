"""The main window's Sweeps tab: the studies that `maml-studio sweep` keeps in the workspace.

A mixin of `MainWindow`, after `WindowRuns` (whose workspace it follows). The tab reads
the workspace's sweep storage when it is first shown, when runs appear in or leave the
workspace (each finished trial adds one), when another workspace is opened, and on its
Refresh button. "Open run" opens a trial's run the way the Runs dock does.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer

from maml_studio.gui.sweeps_view import SweepsView
from maml_studio.run_store import RunStore, WorkspaceError

REFRESH_SETTLE_MS = 500  # runs arrive one by one; one read after the last


class WindowSweeps:
    def _build_sweeps_view(self) -> None:
        self.sweeps_view = SweepsView(self.store.folder)
        self.sweeps_view.open_requested.connect(self.open_trial_run)
        self.tabs.addTab(self.sweeps_view, "Sweeps")
        self._sweeps_timer = QTimer(self)
        self._sweeps_timer.setSingleShot(True)
        self._sweeps_timer.setInterval(REFRESH_SETTLE_MS)
        self._sweeps_timer.timeout.connect(self._refresh_sweeps_if_shown)
        self._sweeps_stale = True
        self._sweeps_store: RunStore | None = None
        self._follow_store_for_sweeps(self.store)
        self.tabs.currentChanged.connect(lambda _: self._refresh_sweeps_if_shown())

    def open_workspace(self, folder: str | Path) -> bool:
        opened = super().open_workspace(folder)
        if opened:
            self._follow_store_for_sweeps(self.store)
            self.sweeps_view.set_workspace(self.store.folder)
        return opened

    def open_trial_run(self, run_id: str, written_to: str = "") -> bool:
        """Open a trial's run; say where it is when this workspace does not hold it."""
        if run_id not in {run.id for run in self.store.runs()}:
            self._refresh_store()  # written moments ago by a sweep: not listed yet
        try:
            self.store.get(run_id)
        except WorkspaceError:
            elsewhere = f" (it was written to {written_to})" if written_to and \
                Path(written_to) != self.store.folder else ""
            self.show_error("Cannot open run", f"The workspace {self.store.folder} holds no run "
                            f"{run_id!r}{elsewhere}. Open that workspace, or copy the run's file here.")
            return False
        if not self.open_run(run_id):
            return False
        self.tabs.setCurrentWidget(self.loss_plot)  # the run's curves
        return True

    def _follow_store_for_sweeps(self, store: RunStore) -> None:
        if self._sweeps_store is not None:
            for signal in self._sweeps_signals(self._sweeps_store):
                signal.disconnect(self._sweeps_changed)
        self._sweeps_store = store
        for signal in self._sweeps_signals(store):
            signal.connect(self._sweeps_changed)

    @staticmethod
    def _sweeps_signals(store: RunStore) -> list:
        return [store.run_added, store.run_removed, store.run_changed]

    def _sweeps_changed(self, *_) -> None:
        self._sweeps_stale = True
        self._sweeps_timer.start()

    def _refresh_sweeps_if_shown(self) -> None:
        if self.tabs.currentWidget() is self.sweeps_view and self._sweeps_stale:
            self._sweeps_stale = False
            self.sweeps_view.refresh()

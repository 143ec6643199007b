"""The Runs dock: every run of the workspace in a table, bound to the `RunStore`.

A check box per run chooses what the loss plot and the adaptation view show
beside the run on screen; the table sorts by any column and selects several
rows. Double click (or Open) shows a run as the window's model; its context
menu renames, recolours and deletes. The store owns the runs: the table only
mirrors its events.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from maml_studio.gui.queue_panel import QueuePanel
from maml_studio.run_queue import RunQueue
from maml_studio.run_store import RunInfo, RunStore, WorkspaceError
from maml_studio.runs_table import write_runs_table

COLUMNS = ("Run", "Algorithm", "Family", "K", "Iterations", "Validation after", "it/s", "Time")
ID_ROLE = Qt.ItemDataRole.UserRole + 1


class _Number(QTableWidgetItem):
    """A cell that sorts by its number, not its text; empty cells sort last."""

    def __init__(self, value: float | None, text: str) -> None:
        super().__init__(text)
        self.value = value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine = self.value if self.value is not None else float("inf")
        theirs = getattr(other, "value", None)
        return mine < (theirs if theirs is not None else float("inf"))


class RunsPanel(QWidget):
    shown_changed = Signal(list)  # ids of the runs checked to be shown beside the model
    open_requested = Signal(str)  # a run's id
    compare_requested = Signal()

    def __init__(self, store: RunStore, queue: RunQueue | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: RunStore | None = None
        self.setAccessibleName("Runs")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setAccessibleName("Runs table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # Oldest first until the user sorts by a column (sorting by name would be Qt's default).
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setMinimumWidth(240)  # the table scrolls sideways rather than widen the window
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.itemDoubleClicked.connect(lambda item: self.open_requested.emit(self._id(item)))
        self.table.itemChanged.connect(self._item_changed)
        layout.addWidget(self.table, 1)
        self.index_warning = QLabel()
        self.index_warning.setAccessibleName("Workspace index problem")
        self.index_warning.setWordWrap(True)
        self.index_warning.setStyleSheet("color: #c0392b;")
        self.index_warning.hide()
        layout.addWidget(self.index_warning)
        self.queue_panel = QueuePanel(queue or RunQueue())
        layout.addWidget(self.queue_panel)
        row = QHBoxLayout()
        self.group_box = QCheckBox("Group seeds")
        self.group_box.setAccessibleName("Group seeds")
        self.group_box.setToolTip("Runs that differ only in their seed: one mean curve with a band "
                                  "of ± one standard deviation")
        self.group_box.toggled.connect(lambda _: self.shown_changed.emit(self.shown_ids()))
        row.addWidget(self.group_box)
        self.spread_box = QComboBox()
        self.spread_box.addItem("± sd", "std")
        self.spread_box.addItem("min–max", "range")
        self.spread_box.setAccessibleName("Seed band")
        self.spread_box.setToolTip("The band of a seed group: ± one standard deviation, or from "
                                   "the lowest to the highest run")
        self.spread_box.currentIndexChanged.connect(
            lambda _: self.shown_changed.emit(self.shown_ids()) if self.group_box.isChecked() else None)
        row.addWidget(self.spread_box)
        compare = QPushButton("Compare algorithms…")
        compare.setAccessibleName("Compare algorithms")
        compare.setToolTip("Train the current config with several algorithms and seeds, one "
                           "after another, into this workspace")
        compare.clicked.connect(self.compare_requested)
        row.addWidget(compare)
        export = QPushButton("Export table…")
        export.setAccessibleName("Export runs table")
        export.setToolTip("The table as CSV or Markdown (.md)")
        export.clicked.connect(self._export_dialog)
        row.addWidget(export)
        row.addStretch(1)
        self.folder_label = QLabel()
        self.folder_label.setAccessibleName("Workspace folder")
        # A long path must not widen the dock: the label shrinks, its tooltip holds the whole path.
        self.folder_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row.addWidget(self.folder_label)
        layout.addLayout(row)
        self._filling = False
        self.set_store(store)

    # -- binding to the store -----------------------------------------------------------------
    def set_store(self, store: RunStore) -> None:
        """List ``store``'s runs and follow its events (and no longer another store's)."""
        if self.store is not None:
            for signal, slot in self._bindings():
                signal.disconnect(slot)
        self.store = store
        for signal, slot in self._bindings():
            signal.connect(slot)
        self.folder_label.setText(f"workspace: {store.folder.name}")
        self.folder_label.setToolTip(f"Workspace: {store.folder}")
        self.table.setRowCount(0)
        for run in store.runs():
            self._add_row(run)
        self.table.resizeColumnsToContents()
        self._index_problem(store.index_problem)
        self.shown_changed.emit(self.shown_ids())

    def _bindings(self) -> list:
        store = self.store
        return [(store.run_added, self._added), (store.run_changed, self._changed),
                (store.run_removed, self._removed),
                (store.index_problem_changed, self._index_problem)]

    def _index_problem(self, problem: str | None) -> None:
        self.index_warning.setVisible(problem is not None)
        self.index_warning.setText(
            "" if problem is None else f"⚠ {problem}. Every run listed here is saved in its own "
            "file; the index is rebuilt from the files when the workspace is next opened.")

    def _added(self, run: RunInfo) -> None:
        self._add_row(run)
        self.table.resizeColumnsToContents()

    def _changed(self, run: RunInfo) -> None:
        row = self._row_of(run.id)
        if row is None:
            self._add_row(run)
            return
        shown = self.table.item(row, 0).checkState() == Qt.CheckState.Checked
        self._fill_row(row, run, shown)
        if shown:  # its name or colour on the plots
            self.shown_changed.emit(self.shown_ids())

    def _removed(self, run_id: str) -> None:
        row = self._row_of(run_id)
        if row is not None:
            was_shown = self.table.item(row, 0).checkState() == Qt.CheckState.Checked
            self.table.removeRow(row)
            if was_shown:
                self.shown_changed.emit(self.shown_ids())

    # -- rows -----------------------------------------------------------------------------------
    def _add_row(self, run: RunInfo, shown: bool = False) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self._fill_row(row, run, shown)

    def _fill_row(self, row: int, run: RunInfo, shown: bool) -> None:
        self._filling = True
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)  # or the row would move while it is filled
        name = QTableWidgetItem(run.name)
        name.setData(ID_ROLE, run.id)
        name.setIcon(_swatch(run.colour))
        name.setFlags(name.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        name.setCheckState(Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)
        name.setToolTip(f"{run.name} · {run.status} · {run.file}")
        after = run.final_accuracy if run.final_accuracy is not None else run.final_loss
        after_text = "" if after is None else (f"{100 * after:.1f}%" if run.final_accuracy is not None
                                               else f"{after:.3f}")
        cells = [name, QTableWidgetItem(run.algorithm), QTableWidgetItem(run.family),
                 _Number(run.shots, str(run.shots)), _iterations_cell(run),
                 _Number(after, after_text),
                 _Number(run.iterations_per_second, "" if run.iterations_per_second is None
                         else f"{run.iterations_per_second:,.0f}"),
                 _Number(run.seconds, "" if run.seconds is None else _duration(run.seconds))]
        for column, cell in enumerate(cells):
            cell.setData(ID_ROLE, run.id)
            self.table.setItem(row, column, cell)
        self.table.setSortingEnabled(sorting)
        self._filling = False

    def _row_of(self, run_id: str) -> int | None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(ID_ROLE) == run_id:
                return row
        return None

    def _id(self, item: QTableWidgetItem) -> str:
        return item.data(ID_ROLE)

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() == 0:
            self.shown_changed.emit(self.shown_ids())

    def shown_ids(self) -> list[str]:
        """The checked runs, in the table's order."""
        return [self.table.item(row, 0).data(ID_ROLE) for row in range(self.table.rowCount())
                if self.table.item(row, 0).checkState() == Qt.CheckState.Checked]

    def set_shown(self, run_id: str, shown: bool) -> None:
        row = self._row_of(run_id)
        if row is not None:
            self.table.item(row, 0).setCheckState(Qt.CheckState.Checked if shown
                                                  else Qt.CheckState.Unchecked)

    def selected_ids(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        return [self.table.item(row, 0).data(ID_ROLE) for row in rows]

    # -- actions ----------------------------------------------------------------------------------
    def _context_menu(self, position) -> None:
        item = self.table.itemAt(position)
        if item is None:
            return
        run_id, selected = self._id(item), self.selected_ids() or [self._id(item)]
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_requested.emit(run_id))
        menu.addAction("Rename…", lambda: self.rename(run_id))
        menu.addAction("Colour…", lambda: self.recolour(run_id))
        menu.addSeparator()
        menu.addAction(f"Delete {len(selected)} run{'s' if len(selected) != 1 else ''}…",
                       lambda: self.delete(selected))
        menu.exec(self.table.viewport().mapToGlobal(position))

    def rename(self, run_id: str, name: str | None = None) -> bool:
        if name is not None:
            return self._try(lambda: self.store.rename(run_id, name))
        typed = self.store.get(run_id).name
        while True:  # a refused name asks again, with what was typed
            typed, ok = QInputDialog.getText(self, "Rename run", "Name:", text=typed)
            if not ok:
                return False
            if self._try(lambda typed=typed: self.store.rename(run_id, typed)):
                return True

    def recolour(self, run_id: str, colour: str | None = None) -> bool:
        if colour is None:
            chosen = QColorDialog.getColor(QColor(self.store.get(run_id).colour), self, "Run colour")
            if not chosen.isValid():
                return False
            colour = chosen.name()
        return self._try(lambda: self.store.recolour(run_id, colour))

    def delete(self, run_ids: list[str], confirm: bool = True) -> bool:
        if confirm:
            names = ", ".join(self.store.get(i).name for i in run_ids[:3]) + \
                (f" and {len(run_ids) - 3} more" if len(run_ids) > 3 else "")
            answer = QMessageBox.question(self, "Delete runs",
                                          f"Delete {names} from the workspace? "
                                          f"{'Their files are' if len(run_ids) > 1 else 'Its file is'} "
                                          "removed.")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return all(self._try(lambda i=i: self.store.delete(i)) for i in run_ids)

    @property
    def spread(self) -> str:
        return self.spread_box.currentData()

    def export_table(self, path) -> bool:
        """Every run of the table, in its order, as CSV (or Markdown for .md)."""
        order = [self.table.item(row, 0).data(ID_ROLE) for row in range(self.table.rowCount())]
        return self._try(lambda: write_runs_table([self.store.get(i) for i in order], path))

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export runs", "runs.csv",
                                              "CSV (*.csv);;Markdown (*.md)")
        if path:
            self.export_table(path)

    def _try(self, action) -> bool:
        try:
            action()
        except (WorkspaceError, ValueError) as exc:
            QMessageBox.warning(self, "Runs", str(exc))
            return False
        return True


def _iterations_cell(run: RunInfo) -> _Number:
    """Iterations, with the run's status when it did not complete: "3,030 of 30,000, stopped"."""
    planned = run.config.get("training", {}).get("iterations")
    text = f"{run.iterations:,}"
    if run.status != "completed":
        if isinstance(planned, int) and planned > run.iterations:
            text += f" of {planned:,}"
        text += f", {run.status}"
    cell = _Number(run.iterations, text)
    if run.status in ("diverged", "failed"):
        cell.setForeground(QColor("#d62728"))
        cell.setToolTip(f"The run {run.status} at iteration {run.iterations:,}: its validation "
                        "figures are from before that")
    return cell


def _swatch(colour: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"

"""The Sweeps tab: the studies of the workspace's sweep storage, one study's trials and plots.

The studies are read by `maml_studio.sweep_results` (plain data, no Qt) on a thread of
its own: a refresh asked for while one reads runs when it ends, and only the newest
result is shown. For the chosen study the tab shows the trials table (number, state,
objective, parameters, duration, note), the objective of the complete trials against
a chosen parameter and against the trial number (with the best so far), and the best
trial highlighted in all three. "Open run" (or a double click) asks the window to open
the run a trial kept in the workspace; a click on a point selects its trial.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from maml_studio.gui.runs_dock import _duration, _Number
from maml_studio.gui.sweep_plots import SweepPlots, metric_name

NUMBER_ROLE = Qt.ItemDataRole.UserRole + 1


class _Relay(QObject):
    read = Signal(object, object, str, int)  # studies, study results, problems, generation


def read_workspace(folder: Path, chosen: tuple[str, str] | None):
    """The studies of every storage of the workspace as (storage URL, summary), one study's
    trials (the chosen one, else the first), and what could not be read, in words."""
    from maml_studio.sweep_results import read_studies, read_study, workspace_storages
    from maml_studio.sweep_storage import shown_url

    studies, problems = [], []
    for url in workspace_storages(folder):
        try:
            studies += [(url, summary) for summary in read_studies(url)]
        except Exception as exc:  # a server out of reach, a file being created: said, not fatal
            problems.append(f"{shown_url(url)}: {str(exc).splitlines()[0][:200] if str(exc) else exc!r}")
    keys = [(url, summary.name) for url, summary in studies]
    key = chosen if chosen in keys else (keys[0] if keys else None)
    return studies, read_study(*key) if key else None, "; ".join(problems)


class SweepsView(SweepPlots, QWidget):
    open_requested = Signal(str, str)  # a trial's run id, and the workspace it was written to

    def __init__(self, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Sweeps")
        self.folder = Path(folder)
        self.studies: list = []
        self.results = None  # StudyResults of the study on show
        self._log_metric: str | None = None  # the metric the log box was last set for
        self._shown_key: tuple[str, str] | None = None  # (storage, name) of the study in the table
        self._generation = 0
        self._reading = False
        self._again = False
        self._relay = _Relay()
        self._relay.read.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        layout = QVBoxLayout(self)

        top = QHBoxLayout()
        top.addWidget(QLabel("Study"))
        self.study_box = QComboBox()
        self.study_box.setAccessibleName("Study")
        self.study_box.setMinimumContentsLength(18)
        self.study_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.study_box.activated.connect(lambda _: self.refresh())
        top.addWidget(self.study_box)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh sweeps")
        self.refresh_button.setToolTip("Read the studies of the workspace again")
        self.refresh_button.clicked.connect(self.refresh)
        top.addWidget(self.refresh_button)
        self.status = QLabel("")
        self.status.setAccessibleName("Sweeps status")
        self.status.setWordWrap(True)
        top.addWidget(self.status, 1)
        layout.addLayout(top)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 0)
        self.table.setAccessibleName("Trials table")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSortingEnabled(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(lambda _: self.open_selected())
        left_layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open run")
        self.open_button.setAccessibleName("Open run")
        self.open_button.setToolTip("Show the run this trial kept in the workspace as the window's model")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_selected)
        row.addWidget(self.open_button)
        self.counts = QLabel("")
        self.counts.setAccessibleName("Trial counts")
        row.addWidget(self.counts, 1)
        left_layout.addLayout(row)
        splitter.addWidget(left)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self._build_plots(right_layout)
        self.theme = "light"
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        self.splitter = splitter
        self._halved = False
        layout.addWidget(splitter, 1)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            # The window's theme changed: the plots' background is the palette's base colour.
            dark = self.palette().color(QPalette.ColorRole.Base).lightness() < 128
            self.set_theme("dark" if dark else "light")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._halved:  # the table and the plots share the width at first
            self._halved = True
            half = max(1, self.splitter.width() // 2)
            self.splitter.setSizes([half, half])

    # -- reading -----------------------------------------------------------------------------------
    def set_workspace(self, folder: Path) -> None:
        """Show the studies of another workspace (its own study choice starts afresh)."""
        self.folder = Path(folder)
        self.study_box.clear()
        self.refresh()

    def refresh(self) -> None:
        """Read the studies again off the GUI thread; one read at a time, the newest shown."""
        if self._reading:
            self._again = True
            return
        self._reading, self._again = True, False
        self._generation += 1
        chosen = self.study_box.currentData()  # (storage URL, study name)
        generation, folder, study = self._generation, self.folder, tuple(chosen) if chosen else None
        self.refresh_button.setEnabled(False)

        def work() -> None:
            try:
                studies, results, problems = read_workspace(folder, study)
            except Exception as exc:  # a study removed while it was read, a damaged file: said
                studies, results, problems = None, None, str(exc) or type(exc).__name__
            self._relay.read.emit(studies, results, problems, generation)

        threading.Thread(target=work, name="maml-sweeps-read", daemon=True).start()

    @property
    def reading(self) -> bool:
        return self._reading

    def _deliver(self, studies, results, problems: str, generation: int) -> None:
        self._reading = False
        self.refresh_button.setEnabled(True)
        if self._again:
            self.refresh()
            return
        if generation != self._generation:
            return
        if studies is None:
            self.status.setText(f"Cannot read the sweeps: {problems.splitlines()[0][:300]}")
            return
        self.studies = studies
        self._fill_studies(results)
        self.show_results(results)
        if problems:
            self.status.setText(f"{self.status.text()} (not read: {problems[:300]})")

    def _fill_studies(self, results) -> None:
        from maml_studio.sweep_results import workspace_storage
        from maml_studio.sweep_storage import shown_url

        own = workspace_storage(self.folder)
        self.study_box.blockSignals(True)
        self.study_box.clear()
        for url, summary in self.studies:
            text = summary.name if url == own else f"{summary.name} ({shown_url(url)})"
            self.study_box.addItem(text, (url, summary.name))
            self.study_box.setItemData(self.study_box.count() - 1,
                                       f"{summary.complete} of {summary.trials} trials complete, "
                                       f"{summary.direction}s {summary.metric}; {shown_url(url)}",
                                       Qt.ItemDataRole.ToolTipRole)
            if results is not None and (url, summary.name) == (results.storage, results.name):
                self.study_box.setCurrentIndex(self.study_box.count() - 1)
        self.study_box.blockSignals(False)

    # -- showing a study ---------------------------------------------------------------------------
    def show_results(self, results) -> None:
        self.results = results
        if results is None:
            self.status.setText(f"No sweeps in this workspace yet: maml-studio sweep … --workspace "
                                f"{self.folder} adds them.")
            self.counts.setText("")
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            self.parameter_box.clear()
            self._draw_parameter()
            self._draw_trials()
            return
        best = results.trial(results.best) if results.best is not None else None
        self.status.setText(f"{results.name}: {results.direction}s {metric_name(results.metric)}"
                            + (f"; best trial {best.number}, {_value(results.metric, best.value)}"
                               if best is not None else "; no complete trial yet"))
        states = [_state(trial) for trial in results.trials]
        self.counts.setText(", ".join(f"{states.count(state)} {state}" for state in dict.fromkeys(
            ("complete", "pruned", "diverged", "fail", "running", "waiting", *states)) if state in states))
        self._fill_table(results)
        chosen = self.parameter_box.currentData()
        self.parameter_box.blockSignals(True)
        self.parameter_box.clear()
        for parameter in results.parameters:
            self.parameter_box.addItem(_short(parameter, results.parameters), parameter)
        if chosen in results.parameters:
            self.parameter_box.setCurrentIndex(results.parameters.index(chosen))
        self.parameter_box.blockSignals(False)
        if self._log_metric != results.metric:  # losses on a log axis at first, accuracies not
            self._log_metric = results.metric
            self.log_box.blockSignals(True)
            self.log_box.setChecked(results.metric != "accuracy")
            self.log_box.blockSignals(False)
        self._redraw()

    def _fill_table(self, results) -> None:
        same_study = self._shown_key == (results.storage, results.name)
        self._shown_key = (results.storage, results.name)
        selected = self.selected_number() if same_study else None  # kept while one study refreshes
        metric = metric_name(results.metric)
        headers = ["Trial", "State", metric, *[_short(p, results.parameters) for p in results.parameters],
                   "Duration", "Note"]
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(results.trials))
        bold = QFont(self.table.font())
        bold.setBold(True)
        for row, trial in enumerate(results.trials):
            is_best = trial.number == results.best
            diverged = _state(trial) == "diverged"
            value = None if diverged else trial.value  # a diverged trial's last finite value is no score
            cells = [_Number(trial.number, f"{trial.number} ★" if is_best else str(trial.number)),
                     QTableWidgetItem(_state(trial)),
                     _Number(value, _value(results.metric, value, short=True))]
            for parameter in results.parameters:
                value = trial.params.get(parameter)
                number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
                cells.append(_Number(number, _param_text(value)) if number is not None
                             else QTableWidgetItem(_param_text(value)))
            cells += [_Number(trial.seconds, "" if trial.seconds is None else _duration(trial.seconds)),
                      QTableWidgetItem("" if diverged else trial.note)]
            for column, cell in enumerate(cells):
                cell.setData(NUMBER_ROLE, trial.number)
                if is_best:
                    cell.setFont(bold)
                    cell.setToolTip(f"the best trial: {_value(results.metric, trial.value)}")
                elif trial.run_id is None:
                    cell.setToolTip("this trial kept no run")
                self.table.setItem(row, column, cell)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        if selected is None and results.best is not None:
            selected = results.best  # a study shown afresh opens on its best trial
        if selected is not None:
            self.select_trial(selected)
        self._selection_changed()

    def _redraw(self) -> None:
        self._draw_parameter()
        self._draw_trials()

    # -- trials ------------------------------------------------------------------------------------
    def selected_number(self) -> int | None:
        items = self.table.selectedItems()
        return items[0].data(NUMBER_ROLE) if items else None

    def select_trial(self, number: int) -> bool:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(NUMBER_ROLE) == number:
                self.table.selectRow(row)
                self.table.scrollToItem(item)
                return True
        return False

    def _point_clicked(self, spots) -> None:
        if len(spots):
            self.select_trial(int(spots[0].data()))

    def _selection_changed(self) -> None:
        number = self.selected_number()
        trial = self.results.trial(number) if self.results is not None and number is not None else None
        self.open_button.setEnabled(trial is not None and trial.run_id is not None)

    def open_selected(self) -> bool:
        number = self.selected_number()
        if self.results is None or number is None:
            return False
        trial = self.results.trial(number)
        if trial.run_id is None:
            self.status.setText(f"Trial {number} kept no run ({trial.state}).")
            return False
        self.open_requested.emit(trial.run_id, trial.workspace or "")
        return True


def _state(trial) -> str:
    """A trial's state as the table says it: a pruned trial that diverged says so."""
    return "diverged" if trial.state == "pruned" and trial.note == "diverged" else trial.state


def _value(metric: str, value: float | None, short: bool = False) -> str:
    if value is None:
        return ""
    if metric == "accuracy":
        return f"{100 * value:.2f}%"
    return f"{value:.4g}" if short else f"{metric_name(metric)} {value:.4g}"


def _param_text(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _short(parameter: str, parameters: tuple[str, ...]) -> str:
    tail = parameter.partition(".")[2] or parameter
    tails = [p.partition(".")[2] for p in parameters]
    return tail if tails.count(tail) == 1 else parameter

"""The main window's View menu: log scale, grid, fitting the loss plot to the ticked runs,
presentation mode, themes and the docks. A mixin of `MainWindow`; the looks themselves
live in `theme`."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication

from maml_studio.gui.theme import (
    PRESENTATION_FONT_SCALE,
    PRESENTATION_LINE_SCALE,
    THEMES,
    apply_theme,
    scaled_font,
    style_plot,
)

# The docks' layout as saved on closing; raised when docks are added (2: the Runs dock), so
# that a layout saved without them does not scatter the new ones.
WINDOW_STATE_VERSION = 2


class WindowView:
    @property
    def font_scale(self) -> float:
        """How much larger than usual the plots' text is drawn (presentation mode)."""
        return PRESENTATION_FONT_SCALE if self.presentation else 1.0

    def _build_view_menu(self) -> None:
        view = self.menuBar().addMenu("&View")
        self.log_action = self._action("&Log scale", self.loss_plot.set_log_scale, "Ctrl+L",
                                       "Log scale", checkable=True)
        view.addAction(self.log_action)
        self.grid_action = self._action("Show &grid", self.set_grid, "Ctrl+G", "Show grid",
                                        checkable=True)
        view.addAction(self.grid_action)
        view.addAction(self._action("&Fit to ticked runs", self.fit_to_ticked_runs, "Ctrl+Shift+F",
                                    "Fit to ticked runs"))
        self.presentation_action = self._action("&Presentation mode", self.set_presentation_mode,
                                                Qt.Key.Key_F11, "Presentation mode", checkable=True)
        view.addAction(self.presentation_action)
        themes = QActionGroup(self)
        self.theme_actions = {}
        for theme in THEMES:
            action = self._action(f"{theme.title()} theme", lambda _=False, t=theme: self.apply_theme(t),
                                  name=f"{theme.title()} theme", checkable=True)
            themes.addAction(action)
            view.addAction(action)
            self.theme_actions[theme] = action
        panel_action = self.experiment_dock.toggleViewAction()
        panel_action.setText("&Experiment panel")
        panel_action.setShortcut(QKeySequence(Qt.Key.Key_F9))
        panel_action.setToolTip("Show or hide the Experiment panel (F9)")
        self.addAction(panel_action)
        view.addAction(panel_action)
        runs_action = self.runs_dock.toggleViewAction()
        runs_action.setText("&Runs")
        runs_action.setShortcut(QKeySequence("Ctrl+R"))
        runs_action.setToolTip("Show or hide the runs of the workspace (Ctrl+R)")
        self.addAction(runs_action)
        view.addAction(runs_action)

    # -- views --------------------------------------------------------------------------------------
    def apply_theme(self, theme: str) -> None:
        self.theme = theme
        apply_theme(QApplication.instance(), theme)
        scale = PRESENTATION_FONT_SCALE if self.presentation else 1.0
        for plot in self.plots():
            style_plot(plot, theme, scale)
        self.adaptation.set_theme(theme)
        self._style_inside(theme, scale, PRESENTATION_LINE_SCALE if self.presentation else 1.0)
        self.theme_actions[theme].setChecked(True)
        self.settings.setValue("theme", theme)

    def set_grid(self, on: bool) -> None:
        """Grid lines on the loss and adaptation plots (they make every redraw dearer)."""
        self.loss_plot.set_grid(on)
        self.adaptation.set_grid(on)

    def plots(self) -> list:
        return [self.loss_plot, self.experiment_panel.preview, self.adaptation.plot,
                self.adaptation.paper_plot, self.evaluation.plot, *self.sweeps_view.plots(),
                *self.inside_plots()]

    def set_presentation_mode(self, on: bool) -> None:
        self.presentation = bool(on)
        self.presentation_action.setChecked(self.presentation)
        scale = PRESENTATION_FONT_SCALE if self.presentation else 1.0
        self.setFont(scaled_font(self._base_font, scale))
        self.loss_plot.set_line_scale(PRESENTATION_LINE_SCALE if self.presentation else 1.0)
        self.adaptation.set_line_scale(PRESENTATION_LINE_SCALE if self.presentation else 1.0)
        for plot in self.plots():
            style_plot(plot, self.theme, scale)
        self._style_inside(self.theme, scale, PRESENTATION_LINE_SCALE if self.presentation else 1.0)
        if self.presentation:
            if not self.isFullScreen():
                self._state_before_presentation = self.windowState()
                self._layout_before_presentation = (self.saveGeometry(),
                                                    self.saveState(WINDOW_STATE_VERSION))
            # The plots take the whole screen; F9 brings the experiment panel back.
            for dock in (self.experiment_dock, self.runs_dock):
                dock.hide()
            self.showFullScreen()
        elif self.isFullScreen():
            self.setWindowState(self._state_before_presentation)
            if self._layout_before_presentation is not None:  # docks and size as they were
                geometry, docks = self._layout_before_presentation
                self.restoreState(docks, WINDOW_STATE_VERSION)
                if not self._state_before_presentation & (Qt.WindowState.WindowMaximized |
                                                          Qt.WindowState.WindowFullScreen):
                    self.restoreGeometry(geometry)

    def fit_to_ticked_runs(self) -> None:
        """The Training tab framed on the runs ticked in the Runs dock (a double click undoes it)."""
        self.tabs.setCurrentWidget(self.loss_plot)
        if not self.loss_plot.fit_to_overlays():
            self.statusBar().showMessage("No runs are ticked: tick runs in the Runs dock to "
                                         "fit the loss plot to them.", 8000)

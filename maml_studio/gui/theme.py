"""Light and dark themes, and presentation mode's larger fonts."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPalette, QPen
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle

from maml_studio.gui.view_colors import BACKGROUND, FOREGROUND

THEMES = ("light", "dark")
PRESENTATION_FONT_SCALE = 1.5
PRESENTATION_LINE_SCALE = 2.0


CHECK_BORDER_DARK = "#8a8a8a"  # 3:1 against the dark base and window colours


class _VisibleCheckBoxes(QProxyStyle):
    """Fusion with a light border round check boxes: on a dark palette Fusion draws their
    outline in the window colour darkened, the same as the base colour they sit on, so an
    unticked box (a run's box in the Runs table) could not be seen."""

    _BOXES = (QStyle.PrimitiveElement.PE_IndicatorCheckBox,
              QStyle.PrimitiveElement.PE_IndicatorItemViewItemCheck)

    def drawPrimitive(self, element, option, painter, widget=None) -> None:
        super().drawPrimitive(element, option, painter, widget)
        if element in self._BOXES:
            painter.save()
            painter.setPen(QPen(QColor(CHECK_BORDER_DARK)))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(option.rect.adjusted(0, 0, -1, -1))
            painter.restore()


def apply_theme(app: QApplication, theme: str) -> None:
    app.setStyle(_VisibleCheckBoxes("Fusion") if theme == "dark" else "Fusion")
    if theme == "dark":
        palette = QPalette()
        colors = {
            QPalette.ColorRole.Window: "#2b2d31", QPalette.ColorRole.WindowText: "#e6e6e6",
            QPalette.ColorRole.Base: "#1f2023", QPalette.ColorRole.AlternateBase: "#2b2d31",
            QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#35373c",
            QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.Highlight: "#4a7fd4",
            QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#35373c",
            QPalette.ColorRole.ToolTipText: "#e6e6e6", QPalette.ColorRole.PlaceholderText: "#8a8a8a",
        }
        for role, color in colors.items():
            palette.setColor(role, QColor(color))
        palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#777777"))
        palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#777777"))
        palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#777777"))
        app.setPalette(palette)
    else:
        app.setPalette(app.style().standardPalette())


def style_plot(plot: pg.PlotWidget, theme: str, font_scale: float = 1.0) -> None:
    background, foreground = (QColor(*BACKGROUND[theme]).name(), QColor(*FOREGROUND[theme]).name())
    plot.setBackground(background)
    font = QFont()
    font.setPointSizeF(9 * font_scale)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(foreground)
        axis.setTextPen(foreground)
        axis.setTickFont(font)
        axis.label.setFont(font)
    legend = plot.getPlotItem().legend
    if legend is not None:
        legend.setBrush(pg.mkBrush(background + "d0"))
        legend.setLabelTextColor(foreground)
        legend.setLabelTextSize(f"{9 * font_scale:.0f}pt")
        for _, label in legend.items:  # existing entries keep their size otherwise
            label.setText(label.text, size=f"{9 * font_scale:.0f}pt", color=foreground)


def scaled_font(base: QFont, scale: float) -> QFont:
    font = QFont(base)
    font.setPointSizeF(base.pointSizeF() * scale)
    return font

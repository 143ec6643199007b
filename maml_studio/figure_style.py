"""Colours, sizes and labels of exported figures, and the contrast they must keep.

Plain values without Qt, so that the command line, the window and the tests
agree on them. Every colour keeps a contrast ratio of at least 3:1 (WCAG 2.1)
against its theme's background.
"""

from __future__ import annotations

THEMES = ("light", "dark")
MIN_CONTRAST = 3.0
BASE_HEIGHT = 1080  # sizes below are for a 1080-pixel-high image and scale with its height

BACKGROUND = {"light": "#ffffff", "dark": "#1f2023"}
FOREGROUND = {"light": "#222222", "dark": "#e6e6e6"}  # axes, ticks, titles, legend text
TRUTH = {"light": "#1a4f9c", "dark": "#7fb8ff"}  # blue: apart from the red and orange fits
POINTS = {"light": "#202020", "dark": "#f2f2f2"}
# One ramp per model, from the fewest steps to the most. On white the ramp runs light to
# dark; on a dark background dim to bright, so that the most adapted fit stands out in both.
RAMPS = {
    ("maml", "light"): ("#c0505a", "#c8102e", "#7a0019"),
    ("maml", "dark"): ("#c0505a", "#ff6b75", "#ffc2c7"),
    ("pretrained", "light"): ("#c46a12", "#8a4600", "#4a2400"),
    ("pretrained", "dark"): ("#a86a2a", "#ffb04d", "#ffe0b0"),
}
MODEL_LABELS = {"maml": "meta-learned", "pretrained": "pretrained"}
PANEL_TITLES = {"maml": "MAML", "pretrained": "pretrained"}

# Sizes in pixels at BASE_HEIGHT.
LEGEND_TEXT_PX = 30
AXIS_TEXT_PX = 26
TITLE_TEXT_PX = 32
FIT_WIDTH_PX = 5.0
TRUTH_WIDTH_PX = 4.0
POINT_SIZE_PX = 22.0


def scale_for(height: int) -> float:
    return height / BASE_HEIGHT


def ramp(model: str, theme: str, count: int) -> list[str]:
    """``count`` colours of ``model``'s ramp, the last the most salient."""
    if count <= 1:
        return [ramp_colour(model, theme, 1.0)]
    return [ramp_colour(model, theme, index / (count - 1)) for index in range(count)]


def ramp_colour(model: str, theme: str, position: float) -> str:
    """The colour at ``position`` (0: fewest steps … 1: most) of ``model``'s ramp."""
    rgb = [_rgb(c) for c in RAMPS[(model, theme)]]
    t = min(max(position, 0.0), 1.0) * (len(rgb) - 1)
    low = min(int(t), len(rgb) - 2)
    f = t - low
    mixed = tuple(round(a + (b - a) * f) for a, b in zip(rgb[low], rgb[low + 1], strict=True))
    return "#{:02x}{:02x}{:02x}".format(*mixed)


def step_label(step: int) -> str:
    """The paper's words: "pre-update", "1 grad step", "10 grad steps"."""
    if step == 0:
        return "pre-update"
    return f"{step} grad step{'s' if step != 1 else ''}"


def _rgb(colour: str) -> tuple[int, int, int]:
    text = colour.lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def relative_luminance(colour: str | tuple) -> float:
    rgb = _rgb(colour) if isinstance(colour, str) else colour[:3]
    channels = [c / 255 for c in rgb]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str | tuple, b: str | tuple) -> float:
    """WCAG contrast ratio of two colours ("#rrggbb" or (r, g, b)), from 1 to 21."""
    low, high = sorted((relative_luminance(a), relative_luminance(b)))
    return (high + 0.05) / (low + 0.05)

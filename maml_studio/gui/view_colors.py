"""Colours of the adaptation view in each theme, chosen for a contrast of at least 3:1.

The ratio is WCAG's: (L1 + 0.05) / (L2 + 0.05) of the relative luminances. A colour
drawn with transparency is judged as it appears, blended over the background.
"""

from __future__ import annotations

BACKGROUND = {"light": (255, 255, 255), "dark": (31, 32, 35)}
FOREGROUND = {"light": (51, 51, 51), "dark": (208, 208, 208)}  # axes and legend text
MIN_CONTRAST = 3.0

VIEW_COLORS = {
    "light": {"maml": (200, 30, 50), "pretrained": (190, 100, 0), "random": (130, 130, 130),
              "truth": (20, 20, 20), "points": (30, 30, 30), "outline": (255, 255, 255),
              "message": (150, 30, 30)},
    "dark": {"maml": (240, 80, 100), "pretrained": (240, 160, 60), "random": (150, 150, 150),
             "truth": (235, 235, 235), "points": (240, 240, 240), "outline": (31, 32, 35),
             "message": (255, 120, 120)},
}
# The models the adaptation view draws: curve name → (legend text, line width before scaling).
MODEL_CURVES = {"maml": ("meta-learned", 3.0), "pretrained": ("pretrained baseline", 2.0),
                "random": ("random initialisation", 1.5)}
EARLIER_STEPS_ALPHA = 190  # the fan of earlier steps: lighter than the shown curve, still legible


def relative_luminance(rgb) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = rgb[:3]
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def blended(rgba, background) -> tuple[float, float, float]:
    """How a colour with alpha looks over an opaque background."""
    alpha = (rgba[3] if len(rgba) > 3 else 255) / 255
    return tuple(alpha * c + (1 - alpha) * b for c, b in zip(rgba[:3], background, strict=True))


def contrast_ratio(color, background) -> float:
    light, dark = sorted((relative_luminance(blended(color, background)),
                          relative_luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)

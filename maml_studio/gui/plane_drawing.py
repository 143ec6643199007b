"""The adaptation panel's class colours, symbols and names, which now live in `maml_studio.plane_maps`."""

from maml_studio.plane_maps import CLASS_COLORS, CLASS_SYMBOLS, class_name

__all__ = ["CLASS_COLORS", "CLASS_SYMBOLS", "class_name"]

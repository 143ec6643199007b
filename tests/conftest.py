import os

# Tests never need a display: Qt renders offscreen. Set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

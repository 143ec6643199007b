"""Locate the bundled resources (presets, checkpoints, icons).

A wheel or a desktop bundle carries them inside the package as ``_resources``;
a source checkout keeps them in the top-level ``resources/`` folder.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir() -> Path:
    packaged = _PACKAGE_DIR / "_resources"
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / "resources"


def presets_dir() -> Path:
    return resource_dir() / "presets"


def checkpoints_dir() -> Path:
    return resource_dir() / "checkpoints"


def preset_names() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.toml"))


def preset_path(name: str) -> Path:
    path = presets_dir() / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(preset_names()) or "none"
        raise FileNotFoundError(f"unknown preset '{name}' (available: {known})")
    return path


def bundled_checkpoint(name: str = "sine-finn2017") -> Path:
    return checkpoints_dir() / f"{name}.safetensors"


# The sine models of the paper's set-up, one per algorithm, that "Compare algorithms" shows
# without training: algorithm → (name shown, file stem).
BUNDLED_COMPARISON = {"maml": ("MAML", "sine-finn2017"), "fomaml": ("first-order MAML", "sine-fomaml"),
                      "reptile": ("Reptile", "sine-reptile"), "anil": ("ANIL", "sine-anil"),
                      "metasgd": ("Meta-SGD", "sine-metasgd")}


def bundled_comparison() -> list[tuple[str, Path]]:
    """(name, checkpoint) of each bundled comparison model that is present."""
    found = [(name, bundled_checkpoint(stem)) for name, stem in BUNDLED_COMPARISON.values()]
    return [(name, path) for name, path in found if path.is_file()]

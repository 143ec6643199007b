"""Which compute devices are present, and what 'auto' means."""

from __future__ import annotations

import os

import torch

from maml_studio.errors import ConfigError


def device_availability() -> dict[str, tuple[bool, str]]:
    """Each device name with whether it can be used, and why not when it cannot."""
    cuda = torch.cuda.is_available()
    mps_backend = getattr(torch.backends, "mps", None)
    mps = bool(mps_backend and mps_backend.is_available())
    return {
        "cpu": (True, f"{os.cpu_count() or 1} cores"),
        "cuda": (cuda, torch.cuda.get_device_name(0) if cuda else
                 "no CUDA GPU found (or this torch build has no CUDA support)"),
        "mps": (mps, "Apple GPU" if mps else "Apple Metal (MPS) is only on Apple silicon Macs"),
    }


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda, then mps, then cpu; an absent device is a clear error."""
    available = device_availability()
    if name == "auto":
        for candidate in ("cuda", "mps", "cpu"):
            if available[candidate][0]:
                return torch.device(candidate)
    if name not in available:
        raise ConfigError(f"training.device: unknown device '{name}' (auto, cpu, cuda, mps)")
    present, reason = available[name]
    if not present:
        raise ConfigError(f"training.device: '{name}' is not available here: {reason}")
    return torch.device(name)


def training_threads(requested: int) -> int:
    """Threads for training: as asked, or all cores but one (the GUI keeps a core)."""
    if requested > 0:
        return requested
    return max(1, (os.cpu_count() or 1) - 1)

"""One run's entry in a workspace: what the index lists about it (`RunInfo`), read from its
checkpoint, written to and checked on reading back from the index, and the checks on a
name or a colour a user gives. `run_store` keeps the entries of a folder."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from maml_studio.history import History
from maml_studio.inputs import DocumentError, one_line, parse_json, shown

RUN_SUFFIX = ".safetensors"
STATUSES = ("completed", "stopped", "diverged", "failed")
MAX_NAME = 200
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class WorkspaceError(OSError):
    """A workspace that cannot be used as asked; the message says why in one line."""


@dataclass(frozen=True)
class RunInfo:
    """What the index lists about one run."""

    id: str  # the file's stem: stable however often the index is rebuilt
    file: str
    name: str
    colour: str  # "#rrggbb"
    algorithm: str
    family: str
    shots: int  # K, the support size it was trained with
    seed: int
    iterations: int  # completed
    status: str  # one of STATUSES
    seconds: float | None  # wall-clock training time, when known
    iterations_per_second: float | None
    final_loss: float | None  # the last meta-validation's query loss after adaptation
    final_accuracy: float | None  # the same for classifiers
    created: str  # ISO 8601, UTC
    config: dict = field(default_factory=dict, hash=False, repr=False)


def describe(file: str, config, history: History, facts: dict[str, Any]) -> RunInfo:
    last = history.validation[-1] if history.validation else ()
    return RunInfo(
        id=file[:-len(RUN_SUFFIX)], file=file, name=facts["name"], colour=facts["colour"].lower(),
        algorithm=config.algorithm.name, family=config.task.family,
        shots=config.algorithm.support_size, seed=config.training.seed,
        iterations=history.last_iteration, status=facts["status"],
        seconds=facts.get("seconds"), iterations_per_second=facts.get("iterations_per_second"),
        final_loss=finite_or_none(last[2]) if len(last) > 2 else None,
        final_accuracy=finite_or_none(last[6]) if len(last) > 6 else None,
        created=facts["created"], config=config.to_dict())


def facts_from(text: str | None) -> dict[str, Any]:
    """The run facts stored in a checkpoint, keeping only the well-formed ones."""
    try:
        data = parse_json(text) if text else {}
    except DocumentError:
        return {}
    if not isinstance(data, dict):
        return {}
    facts: dict[str, Any] = {}
    if isinstance(data.get("name"), str) and data["name"].strip() and len(data["name"]) <= MAX_NAME:
        facts["name"] = data["name"]
    if isinstance(data.get("colour"), str) and _COLOUR.fullmatch(data["colour"]):
        facts["colour"] = data["colour"].lower()
    if data.get("status") in STATUSES:
        facts["status"] = data["status"]
    for key in ("seconds", "iterations_per_second"):
        if _is_number(data.get(key)):
            facts[key] = float(data[key])
    if isinstance(data.get("created"), str) and len(data["created"]) < 64:
        facts["created"] = data["created"]
    return facts


_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,), "file": (str,), "name": (str,), "colour": (str,), "algorithm": (str,),
    "family": (str,), "shots": (int,), "seed": (int,), "iterations": (int,), "status": (str,),
    "created": (str,), "config": (dict,),
}
_OPTIONAL_NUMBERS = ("seconds", "iterations_per_second", "final_loss", "final_accuracy")


def entry_to_json(run: RunInfo) -> dict[str, Any]:
    return dataclasses.asdict(run)


def entry_from_json(item: Any) -> tuple[RunInfo, tuple[int, int, int]] | None:
    """An index entry, or None when it is damaged in any way (the file is then re-read)."""
    if not isinstance(item, dict):
        return None
    for key, types in _TYPES.items():
        if not isinstance(item.get(key), types) or isinstance(item.get(key), bool):
            return None
    for key in _OPTIONAL_NUMBERS:
        if item.get(key) is not None and not _is_number(item.get(key)):
            return None
    stat = tuple(item.get(key) for key in ("file_size", "file_mtime_ns", "file_inode"))
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in stat):
        return None
    file = item["file"]
    if (not file.endswith(RUN_SUFFIX) or not RUN_ID.fullmatch(file[:-len(RUN_SUFFIX)])
            or item["id"] != file[:-len(RUN_SUFFIX)] or item["status"] not in STATUSES
            or not _COLOUR.fullmatch(item["colour"]) or not item["name"].strip()
            or len(item["name"]) > MAX_NAME):
        return None
    values = {f.name: item.get(f.name) for f in dataclasses.fields(RunInfo)}
    return RunInfo(**values), stat


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise WorkspaceError("a run's name must not be empty")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise WorkspaceError(f"a run's name holds at most {MAX_NAME} characters, got {len(name)}")
    if one_line(name) != name:
        raise WorkspaceError(f"a run's name must be one line without control characters: {shown(name)}")
    return name


def check_colour(colour: str) -> str:
    if not isinstance(colour, str) or not _COLOUR.fullmatch(colour):
        raise WorkspaceError(f"a colour is written #rrggbb, got {shown(colour)}")
    return colour.lower()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None

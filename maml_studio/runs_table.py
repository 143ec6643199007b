"""The comparison table of a workspace's runs, as rows and as a CSV or Markdown file."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.inputs import one_line
from maml_studio.run_store import RunInfo, WorkspaceError

TABLE_COLUMNS = ("name", "algorithm", "family", "K", "seed", "iterations", "status",
                 "validation_after", "validation_accuracy_after", "it_per_s", "seconds", "file")


def runs_table(runs: Sequence[RunInfo]) -> list[dict[str, Any]]:
    """One row per run with the columns of TABLE_COLUMNS (None where a value is unknown)."""
    return [dict(zip(TABLE_COLUMNS, (run.name, run.algorithm, run.family, run.shots, run.seed,
                                     run.iterations, run.status, run.final_loss, run.final_accuracy,
                                     run.iterations_per_second, run.seconds, run.file), strict=True))
            for run in runs]


def write_runs_table(runs: Sequence[RunInfo], path: str | Path) -> None:
    """The table as CSV (.csv), or as a Markdown table (.md); WorkspaceError for another kind
    of file or a folder that does not exist."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".md"):
        raise WorkspaceError(f"{path.name}: name a .csv or .md file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise WorkspaceError(f"cannot write {path}: the folder {folder} does not exist")
    rows = runs_table(runs)

    def cell(value: Any) -> str:
        if value is None:
            return ""
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    if path.suffix.lower() == ".md":
        lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
        lines += ["| " + " | ".join(cell(row[c]).replace("|", "\\|") for c in TABLE_COLUMNS) + " |"
                  for row in rows]
        text = "\n".join(lines) + "\n"
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(TABLE_COLUMNS)
        writer.writerows([[cell(row[c]) for c in TABLE_COLUMNS] for row in rows])
        text = out.getvalue()
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise WorkspaceError(f"cannot write {path}: {one_line(exc.strerror or str(exc))}") from None

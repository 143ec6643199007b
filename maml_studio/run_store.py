"""A workspace of runs, without Qt: one checkpoint file per run and an index beside them.

The folder holds ``ID.safetensors`` for each run (the ordinary checkpoint format; the
run's name, colour, status and timings ride in its metadata) and ``runs.json``, an
index that lists every run's facts so a window can show the list without opening
each file. The files are the truth and the index is a cache of them: opening a
workspace whose index is missing, unreadable or out of date (a file it does not
list, a file it lists that is gone, a file changed since it was listed) rebuilds
or repairs it from the files and says what it repaired in `RunStore.repairs`.
Every write goes through a temporary file and a rename, so a crash mid-write
leaves the old file whole; a corrupt checkpoint in the folder is left alone,
reported and not listed, and never stops the other runs from opening.

`RunStore` announces its changes with psygnal events (``run_added``,
``run_changed``, ``run_removed``, ``index_problem_changed``), like the other Qt-free
models views bind to. One run's entry is in `run_entries`, seed groups in `run_groups`, the table
export in `runs_table`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import safetensors
import safetensors.torch
from psygnal import Signal

from maml_studio.atomic_files import atomic_write_bytes, remove_stale_temporaries
from maml_studio.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from maml_studio.inputs import DocumentError, file_problem, one_line, parse_json, shown
from maml_studio.run_entries import (
    MAX_NAME,
    RUN_ID,
    RUN_SUFFIX,
    STATUSES,
    RunInfo,
    WorkspaceError,
    check_colour,
    check_name,
    describe,
    entry_from_json,
    entry_to_json,
    facts_from,
    finite_or_none,
)

INDEX_NAME = "runs.json"
INDEX_FORMAT = "maml-studio-workspace"
INDEX_VERSION = 1
RUN_KEY = "workspace_run"  # checkpoint metadata: the run's facts as JSON, so the index can be rebuilt
MAX_INDEX_BYTES = 64 * 2**20
ENVIRONMENT_VARIABLE = "MAML_STUDIO_WORKSPACE"
# Distinct hues with a contrast of at least 3:1 (WCAG) on the light (#ffffff) and the dark
# (#1f2023) plot background alike: relative luminance between about 0.15 and 0.30.
# The adaptation view draws its own models in red (pink in dark), orange and grey: runs get
# those last.
PALETTE = ("#1f77b4", "#1b9e77", "#9467bd", "#65a30d", "#a6761d", "#e7298a", "#d95f02",
           "#d62728", "#7f7f7f")

def default_workspace() -> Path:
    """``$MAML_STUDIO_WORKSPACE``, or the ``workspace`` folder in the user's data directory."""
    override = os.environ.get(ENVIRONMENT_VARIABLE)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("MAML Studio")) / "workspace"


# Facts that only the run's creator knows; the rest are read from the checkpoint itself.
_OWN_FACTS = ("name", "colour", "status", "seconds", "iterations_per_second", "created")


class RunStore:
    """The runs of a workspace folder; emits an event after every change it sees or makes."""

    run_added = Signal(object)  # RunInfo
    run_changed = Signal(object)  # RunInfo, as it now is
    run_removed = Signal(str)  # the run's id
    # Why the index could not be written, or None once it is again. The runs' files are safe
    # and complete: the index is only rebuilt from them when the workspace is next opened.
    index_problem_changed = Signal(object)

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder).expanduser() if folder is not None else default_workspace()
        self.index_path = self.folder / INDEX_NAME
        self._check_folder()
        self._runs: dict[str, RunInfo] = {}
        self._stats: dict[str, tuple[int, int, int]] = {}  # file → (size, mtime_ns, inode) listed
        self._unreadable: dict[str, tuple[int, int, int]] = {}  # corrupt files already reported
        self._pending: tuple[RunInfo, tuple[int, int, int]] | None = None  # a file just written
        self.index_problem: str | None = None
        self.repairs: list[str] = self.refresh()

    # -- reading ------------------------------------------------------------------------------
    def runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        return sorted(self._runs.values(), key=lambda run: (run.created, run.id))

    def get(self, run_id: str) -> RunInfo:
        try:
            return self._runs[run_id]
        except KeyError:
            raise WorkspaceError(f"no run {shown(run_id)} in the workspace {self.folder}") from None

    def path(self, run_id: str) -> Path:
        return self.folder / self.get(run_id).file

    def open(self, run_id: str) -> Checkpoint:
        """The run's whole checkpoint (`CheckpointError` if its file has become unusable)."""
        return load_checkpoint(self.path(run_id))

    # -- changing -----------------------------------------------------------------------------
    def add(self, checkpoint: Checkpoint, *, name: str | None = None, status: str = "completed",
            seconds: float | None = None, iterations_per_second: float | None = None,
            colour: str | None = None, replaces: str | None = None) -> RunInfo:
        """Write the run's checkpoint into the workspace, then list it; returns what is listed.

        A name another run has gets a number, "maml seed 0 (2)", unless that run is the one
        this run ``replaces`` (which the caller deletes once this one is kept).
        """
        config = checkpoint.config
        name = self._unique_name(check_name(name if name is not None else
                                             f"{config.algorithm.name} seed {config.training.seed}"),
                                 replaces)
        if status not in STATUSES:
            raise WorkspaceError(f"unknown run status {shown(status)} (one of {', '.join(STATUSES)})")
        colour = check_colour(colour) if colour is not None else self.next_colour()
        facts = {"name": name, "colour": colour, "status": status,
                 "seconds": finite_or_none(seconds),
                 "iterations_per_second": finite_or_none(iterations_per_second),
                 "created": datetime.now(UTC).isoformat(timespec="microseconds")}
        info = {**checkpoint.info, RUN_KEY: json.dumps(facts)}
        path = self.folder / f"{name}{RUN_SUFFIX}"
        try:
            run_id = self._free_id(name)  # reads the folder: it may have gone meanwhile
            path = self.folder / f"{run_id}{RUN_SUFFIX}"
            save_checkpoint(Checkpoint(config, checkpoint.state, checkpoint.baseline_state,
                                       checkpoint.history, info), path)
        except OSError as exc:
            raise WorkspaceError(f"cannot write the run {shown(name)} to {path}: "
                                 f"{one_line(exc.strerror or str(exc))}") from None
        self._listed(describe(path.name, config, checkpoint.history, facts), path)
        self._commit()
        return self._runs[run_id]

    def rename(self, run_id: str, name: str) -> RunInfo:
        return self._update(run_id, name=check_name(name))

    def recolour(self, run_id: str, colour: str) -> RunInfo:
        return self._update(run_id, colour=check_colour(colour))

    def delete(self, run_id: str) -> None:
        """Remove the run's file and its entry; no other file is touched."""
        path = self.path(run_id)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot delete {path}: {one_line(exc.strerror or str(exc))}") from None
        self._commit()

    def _unique_name(self, name: str, replaces: str | None) -> str:
        taken = {run.name for run in self._runs.values() if run.id != replaces}
        number = 1
        candidate = name
        while candidate in taken:
            number += 1
            candidate = f"{name} ({number})"
        return candidate

    def next_colour(self) -> str:
        """The first palette colour no run uses; when all are used, the least used one."""
        used = [run.colour.lower() for run in self._runs.values()]
        return min(PALETTE, key=lambda colour: (used.count(colour), PALETTE.index(colour)))

    def refresh(self) -> list[str]:
        """Bring the list and the index in line with the files; returns what was repaired."""
        repairs, runs, stats = self._reconcile()
        self._apply(runs, stats)
        return repairs

    # -- internals ----------------------------------------------------------------------------
    def _check_folder(self) -> None:
        folder = self.folder
        if folder.exists() and not folder.is_dir():
            raise WorkspaceError(f"the workspace {folder} is a file, not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot create the workspace {folder}: "
                                 f"{one_line(exc.strerror or str(exc))}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise WorkspaceError(f"the workspace {folder} is not writable")
        if self.index_path.is_dir():
            raise WorkspaceError(f"the workspace index {self.index_path} is a folder")

    def _update(self, run_id: str, **changes: str) -> RunInfo:
        run = self.get(run_id)
        path = self.folder / run.file
        facts = {**{key: getattr(run, key) for key in _OWN_FACTS}, **changes}
        try:  # the file first: the index is rebuilt from it
            with safetensors.safe_open(str(path), framework="pt") as handle:
                metadata = dict(handle.metadata() or {})
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
            metadata[RUN_KEY] = json.dumps(facts)
            atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=metadata))
        except OSError as exc:
            raise WorkspaceError(f"cannot update {path}: {one_line(exc.strerror or str(exc))}") from None
        except Exception as exc:  # safetensors reports a damaged file in several types
            raise WorkspaceError(f"cannot update {path}: the file is damaged "
                                 f"({one_line(str(exc))[:200]})") from None
        self._listed(dataclasses.replace(run, **changes), path)
        self._commit()
        return self._runs[run_id]

    def _listed(self, run: RunInfo, path: Path) -> None:
        """Note a file this store has just written, so reconciling does not read it back."""
        self._pending = (run, _stat(path))

    def _commit(self) -> None:
        repairs, runs, stats = self._reconcile()
        self.repairs.extend(repairs)
        self._apply(runs, stats)

    def _apply(self, runs: dict[str, RunInfo], stats: dict[str, tuple[int, int, int]]) -> None:
        """Take the reconciled runs, write the index if it differs, then announce the changes."""
        before = self._runs
        self._runs, self._stats = runs, stats
        try:
            self._write_index()
            problem = None
        except WorkspaceError as exc:  # the change itself is on disk: announce it all the same
            problem = str(exc)
        for run_id in before.keys() - runs.keys():
            self.run_removed.emit(run_id)
        for run in self.runs():
            if run.id not in before:
                self.run_added.emit(run)
            elif before[run.id] != run:
                self.run_changed.emit(run)
        if problem != self.index_problem:
            self.index_problem = problem
            self.index_problem_changed.emit(problem)

    def _reconcile(self) -> tuple[list[str], dict[str, RunInfo], dict[str, tuple[int, int, int]]]:
        """The runs as the files show them, from what is known of each file, read only where needed."""
        repairs = [f"removed {p.name}, a temporary file an interrupted write left behind"
                   for p in self._remove_stale_temporaries()]
        listed, index_problem = self._read_index()
        known = {run.file: (run, self._stats[run.file]) for run in self._runs.values()
                 if run.file in self._stats}
        pending, self._pending = self._pending, None
        if pending is not None:
            known[pending[0].file] = pending
        runs: dict[str, RunInfo] = {}
        stats: dict[str, tuple[int, int, int]] = {}
        files = self._run_files()
        if index_problem and (files or index_problem != "was missing"):  # a new workspace has none
            repairs.append(f"the index {INDEX_NAME} {index_problem}; rebuilt it from the run files")
        for name, stat in files.items():
            entry = listed.get(name)
            if pending is not None and pending[0].file == name and pending[1] == stat:
                run = pending[0]  # just written here: newer than any index
            elif entry is not None and entry[1] == stat:
                run = entry[0]
            elif name in known and known[name][1] == stat:
                run = known[name][0]
            elif self._unreadable.get(name) == stat:
                continue
            else:
                run, problem = self._read_run(name, runs)
                if run is None:
                    self._unreadable[name] = stat
                    repairs.append(f"skipped {name}: {problem} (the file is kept)")
                    continue
                if not index_problem and entry is None:
                    repairs.append(f"listed {name}, which the index did not list")
                elif not index_problem and run != entry[0]:
                    repairs.append(f"re-read {name}, which changed since it was listed")
            runs[run.id], stats[name] = run, stat
        if not index_problem:
            for name in listed.keys() - files.keys():
                if name not in known:
                    repairs.append(f"removed {name} from the index: the file is missing")
        return repairs, runs, stats

    def _run_files(self) -> dict[str, tuple[int, int, int]]:
        found = {}
        try:
            entries = list(os.scandir(self.folder))
        except OSError as exc:
            raise WorkspaceError(f"cannot read the workspace {self.folder}: "
                                 f"{one_line(exc.strerror or str(exc))}") from None
        for entry in entries:
            if (entry.name.endswith(RUN_SUFFIX) and RUN_ID.fullmatch(entry.name[:-len(RUN_SUFFIX)])
                    and entry.is_file(follow_symlinks=False)):
                try:
                    found[entry.name] = _stat(Path(entry.path))
                except OSError:
                    continue
        return found

    def _remove_stale_temporaries(self) -> list[Path]:
        """Temporaries (``.NAME.PID-XXXX.tmp``) of writers that no longer run."""
        targets = set()
        try:
            names = [entry.name for entry in os.scandir(self.folder)]
        except OSError:
            return []
        for name in names:
            target = re.fullmatch(r"\.(.+)\.[^.]*\.tmp", name)
            if target and (target.group(1) == INDEX_NAME or target.group(1).endswith(RUN_SUFFIX)):
                targets.add(target.group(1))
        return [path for name in sorted(targets) for path in remove_stale_temporaries(self.folder / name)]

    def _read_index(self) -> tuple[dict[str, tuple[RunInfo, tuple[int, int, int]]], str | None]:
        """The index's entries by file name, and what is wrong with it (None when it is sound)."""
        path = self.index_path
        if not path.exists():
            return {}, "was missing"
        problem = file_problem(path)
        if problem:
            return {}, problem
        try:
            if path.stat().st_size > MAX_INDEX_BYTES:
                return {}, "is too large to be an index"
            data = parse_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, DocumentError) as exc:
            return {}, f"was unreadable ({one_line(str(exc))[:120]})"
        if not (isinstance(data, dict) and data.get("format") == INDEX_FORMAT
                and isinstance(data.get("runs"), list)):
            return {}, "was not a workspace index"
        if data.get("version") != INDEX_VERSION:
            return {}, f"has an unknown version {shown(data.get('version'))}"
        entries = {}
        for item in data["runs"]:
            parsed = entry_from_json(item)
            if parsed is None:
                return {}, "held a damaged entry"
            entries[parsed[0].file] = parsed
        return entries, None

    def _read_run(self, name: str, taken: dict[str, RunInfo]) -> tuple[RunInfo | None, str]:
        """A run described from its file's checkpoint, or None and why it cannot be."""
        path = self.folder / name
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as exc:
            text = str(exc)
            return None, one_line(text[len(str(path)) + 2:] if text.startswith(f"{path}: ") else text)
        facts = facts_from(checkpoint.info.get(RUN_KEY))
        facts.setdefault("name", path.stem[:MAX_NAME])
        facts.setdefault("status", "completed" if checkpoint.history.last_iteration
                         >= checkpoint.config.training.iterations else "stopped")
        facts.setdefault("created", datetime.fromtimestamp(path.stat().st_mtime, UTC)
                         .isoformat(timespec="microseconds"))
        if "colour" not in facts:
            used = [run.colour for run in (*self._runs.values(), *taken.values())]
            facts["colour"] = min(PALETTE, key=lambda c: (used.count(c), PALETTE.index(c)))
        return describe(name, checkpoint.config, checkpoint.history, facts), ""

    def _write_index(self) -> None:
        entries = [{**entry_to_json(run), **dict(zip(("file_size", "file_mtime_ns", "file_inode"),
                                                        self._stats[run.file], strict=True))}
                   for run in self.runs()]
        data = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "runs": entries}
        try:
            current = self.index_path.read_bytes() if self.index_path.is_file() else None
        except OSError:
            current = None
        text = (json.dumps(data, indent=1) + "\n").encode("utf-8")
        if text == current:
            return
        try:
            atomic_write_bytes(self.index_path, text)
        except OSError as exc:
            raise WorkspaceError(f"cannot write the workspace index {self.index_path}: "
                                 f"{one_line(exc.strerror or str(exc))}") from None

    def _free_id(self, name: str) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "run"
        existing = {path.name.lower() for path in self.folder.iterdir()}
        for number in range(1, 100_000):
            candidate = slug if number == 1 else f"{slug}-{number}"
            if f"{candidate}{RUN_SUFFIX}".lower() not in existing and candidate not in self._runs:
                return candidate
        raise WorkspaceError(f"no free file name for the run {shown(name)} in {self.folder}")


def _stat(path: Path) -> tuple[int, int, int]:
    """What changes whenever a file is written (each write renames a new file into place)."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino

"""A workspace of runs: listing, editing, recovery of its index after a crash, seed groups."""

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from maml_studio.checkpoint import Checkpoint, save_checkpoint
from maml_studio.config import ExperimentConfig
from maml_studio.experiment import Experiment
from maml_studio.history import History
from maml_studio.run_groups import seed_band, seed_groups, smoothed
from maml_studio.run_store import (
    INDEX_NAME,
    PALETTE,
    RunStore,
    WorkspaceError,
    default_workspace,
)


def make_checkpoint(seed: int = 0, inner_lr: float = 0.01, losses=(2.0, 1.5, 1.0),
                    final: float = 0.5) -> Checkpoint:
    """A small checkpoint without training: initial parameters and a made-up history."""
    config = ExperimentConfig()
    config.set("training.seed", seed)
    config.set("training.iterations", len(losses))
    config.set("algorithm.inner_lr", inner_lr)
    experiment = Experiment.from_config(config)
    state = experiment.learner.init_state(torch.Generator().manual_seed(seed))
    baseline = experiment.baseline.init_state(torch.Generator().manual_seed(seed + 1))
    validation = [(len(losses), 1.0, final, 1.1, 0.9) + (math.nan,) * 4]
    return Checkpoint(config, state, baseline, History(list(losses), list(losses), validation))


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_add_list_rename_recolour_delete_with_events(tmp_path):
    store = RunStore(tmp_path / "ws")
    assert store.repairs == [] and store.runs() == []
    events = []
    store.run_added.connect(lambda run: events.append(("added", run.id)))
    store.run_changed.connect(lambda run: events.append(("changed", run.id, run.name, run.colour)))
    store.run_removed.connect(lambda run_id: events.append(("removed", run_id)))

    first = store.add(make_checkpoint(seed=0), seconds=2.0, iterations_per_second=1.5)
    second = store.add(make_checkpoint(seed=1), name="second", status="stopped")
    assert [run.id for run in store.runs()] == [first.id, second.id]
    assert first.name == "maml seed 0" and first.algorithm == "maml" and first.family == "sine"
    assert (first.shots, first.seed, first.iterations, first.status) == (10, 0, 3, "completed")
    assert (first.seconds, first.iterations_per_second, first.final_loss) == (2.0, 1.5, 0.5)
    assert first.final_accuracy is None and second.status == "stopped"
    assert first.colour != second.colour and {first.colour, second.colour} <= set(PALETTE)

    store.rename(first.id, "the first run")
    store.recolour(second.id, "#ABCDEF")
    assert store.get(first.id).name == "the first run" and store.get(second.id).colour == "#abcdef"
    assert store.open(second.id).history.train_loss == [2.0, 1.5, 1.0]

    reopened = RunStore(tmp_path / "ws")
    assert reopened.repairs == []
    assert [(r.name, r.colour) for r in reopened.runs()] == [
        ("the first run", first.colour), ("second", "#abcdef")]

    store.delete(first.id)
    assert [run.id for run in store.runs()] == [second.id]
    assert not (tmp_path / "ws" / first.file).exists()
    assert [run.id for run in RunStore(tmp_path / "ws").runs()] == [second.id]
    assert events == [("added", first.id), ("added", second.id),
                      ("changed", first.id, "the first run", first.colour),
                      ("changed", second.id, "second", "#abcdef"), ("removed", first.id)]


def test_names_and_colours_survive_the_loss_of_the_index(tmp_path):
    store = RunStore(tmp_path)
    run = store.add(make_checkpoint())
    store.rename(run.id, "renamed")
    store.recolour(run.id, "#123456")
    (tmp_path / INDEX_NAME).unlink()
    again = RunStore(tmp_path)
    assert [(r.id, r.name, r.colour) for r in again.runs()] == [(run.id, "renamed", "#123456")]
    assert any("missing" in line for line in again.repairs)


@pytest.mark.parametrize("index", ["missing", "truncated", "garbage"])
def test_a_kill_mid_write_loses_no_run(tmp_path, index):
    """A writer killed mid-write leaves its temporary file; the index may be gone or damaged,
    and a checkpoint may have landed without its index entry: every run comes back."""
    store = RunStore(tmp_path)
    runs = [store.add(make_checkpoint(seed=s)) for s in range(3)]
    store.rename(runs[1].id, "renamed")
    # A checkpoint written while the index update was lost.
    save_checkpoint(make_checkpoint(seed=7), tmp_path / "late.safetensors")
    pid = dead_pid()
    index_temp = tmp_path / f".{INDEX_NAME}.{pid}-abcd1234.tmp"
    index_temp.write_bytes(b'{"format": "maml-studio-workspace", "runs": [{"id"')
    run_temp = tmp_path / f".late.safetensors.{pid}-zz99.tmp"
    run_temp.write_bytes(b"\x00" * 100)
    if index == "missing":
        (tmp_path / INDEX_NAME).unlink()
    elif index == "truncated":
        text = (tmp_path / INDEX_NAME).read_bytes()
        (tmp_path / INDEX_NAME).write_bytes(text[:len(text) // 2])
    else:
        (tmp_path / INDEX_NAME).write_bytes(b"\xff\xfe not json")

    recovered = RunStore(tmp_path)
    assert sorted(r.id for r in recovered.runs()) == sorted([*(r.id for r in runs), "late"])
    assert recovered.get(runs[1].id).name == "renamed"
    assert recovered.get("late").seed == 7 and recovered.get("late").name == "late"
    assert len({r.colour for r in recovered.runs()}) == 4
    assert not index_temp.exists() and not run_temp.exists()
    assert any(index in line or "unreadable" in line for line in recovered.repairs), recovered.repairs
    assert all("\n" not in line for line in recovered.repairs)
    assert RunStore(tmp_path).repairs == []  # the index was rewritten


def test_an_out_of_date_index_is_repaired_and_says_what_it_did(tmp_path):
    store = RunStore(tmp_path)
    kept, gone = store.add(make_checkpoint(seed=0)), store.add(make_checkpoint(seed=1))
    (tmp_path / gone.file).unlink()  # listed, but its file is missing
    save_checkpoint(make_checkpoint(seed=5), tmp_path / "extra.safetensors")  # not listed
    save_checkpoint(make_checkpoint(seed=9), tmp_path / kept.file)  # replaced since it was listed

    repaired = RunStore(tmp_path)
    assert sorted(r.id for r in repaired.runs()) == sorted([kept.id, "extra"])
    assert repaired.get(kept.id).seed == 9
    text = " / ".join(repaired.repairs)
    assert gone.file in text and "extra.safetensors" in text and kept.file in text


def test_a_corrupt_checkpoint_is_reported_and_kept_and_never_stops_the_others(tmp_path):
    store = RunStore(tmp_path)
    good = store.add(make_checkpoint())
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    opened = RunStore(tmp_path)
    assert [r.id for r in opened.runs()] == [good.id]
    assert any(line.startswith("skipped broken.safetensors:") and "kept" in line
               for line in opened.repairs), opened.repairs
    assert bad.exists()
    assert opened.open(good.id).config.training.seed == 0


def test_deleting_a_run_touches_no_other_file(tmp_path):
    store = RunStore(tmp_path)
    runs = [store.add(make_checkpoint(seed=s)) for s in range(3)]
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "broken.safetensors").write_bytes(b"junk")
    before = {p.name: digest(p) for p in tmp_path.iterdir() if p.name != INDEX_NAME}
    store.delete(runs[1].id)
    after = {p.name: digest(p) for p in tmp_path.iterdir() if p.name != INDEX_NAME}
    del before[runs[1].file]
    assert after == before
    assert [r.id for r in RunStore(tmp_path).runs()] == [runs[0].id, runs[2].id]


def test_bad_folders_and_values_are_refused_in_one_line(tmp_path, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(WorkspaceError, match="is a file, not a folder"):
        RunStore(a_file)
    with pytest.raises(WorkspaceError, match="cannot create the workspace"):
        RunStore(a_file / "inside")
    store = RunStore(tmp_path / "ws")
    with pytest.raises(WorkspaceError, match="#rrggbb"):
        store.add(make_checkpoint(), colour="red")
    with pytest.raises(WorkspaceError, match="must not be empty"):
        store.add(make_checkpoint(), name="  ")
    with pytest.raises(WorkspaceError, match="one line"):
        store.add(make_checkpoint(), name="two\nlines")
    with pytest.raises(WorkspaceError, match="no run 'nope'"):
        store.rename("nope", "x")
    assert store.runs() == [] and list((tmp_path / "ws").glob("*.safetensors")) == []
    monkeypatch.setattr("maml_studio.run_store.os.access", lambda path, mode: False)
    with pytest.raises(WorkspaceError, match="not writable") as caught:
        RunStore(tmp_path / "ws")
    assert isinstance(caught.value, OSError) and "\n" not in str(caught.value)


def test_default_workspace_is_in_the_users_data_directory_and_can_be_overridden(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.delenv("MAML_STUDIO_WORKSPACE", raising=False)
    assert default_workspace() == Path(platformdirs.user_data_dir("MAML Studio")) / "workspace"
    monkeypatch.setenv("MAML_STUDIO_WORKSPACE", str(tmp_path / "mine"))
    assert RunStore().folder == tmp_path / "mine"


def relative_luminance(rgb) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2])


def test_palette_colours_are_distinct_and_legible_on_light_and_dark_plots(tmp_path):
    rgb = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in PALETTE]
    for colour, values in zip(PALETTE, rgb, strict=True):
        for background in ((255, 255, 255), (31, 32, 35)):  # the plot in either theme
            lighter, darker = sorted((relative_luminance(values), relative_luminance(background)),
                                     reverse=True)
            assert (lighter + 0.05) / (darker + 0.05) >= 3.0, (colour, background)
    distances = [math.dist(a, b) for i, a in enumerate(rgb) for b in rgb[i + 1:]]
    assert min(distances) > 55
    store = RunStore(tmp_path)
    colours = [store.add(make_checkpoint(seed=s)).colour for s in range(len(PALETTE) + 1)]
    assert colours[:len(PALETTE)] == list(PALETTE) and colours[-1] in PALETTE


def test_seeds_of_one_config_group_together_and_another_inner_lr_does_not(tmp_path):
    store = RunStore(tmp_path)
    a0 = store.add(make_checkpoint(seed=0))
    other = store.add(make_checkpoint(seed=0, inner_lr=0.02))
    a1 = store.add(make_checkpoint(seed=1))
    groups = seed_groups(store.runs())
    assert [[run.id for run in group] for group in groups] == [[a0.id, a1.id], [other.id]]


def test_band_is_the_mean_and_spread_of_smoothed_losses_over_the_common_length():
    assert smoothed([0.0, 2.0, 4.0, 6.0], window=2).tolist() == [0.0, 1.0, 3.0, 5.0]
    histories = [History([1.0] * 5), History([3.0] * 4), History([2.0, 2.0, 2.0, 8.0, 8.0, 8.0])]
    band = seed_band(histories, window=1)
    assert band.runs == 3 and band.iterations.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(band.mean, [2.0, 2.0, 2.0, 4.0])
    np.testing.assert_allclose(band.high - band.mean, [1.0, 1.0, 1.0, np.std([1, 3, 8], ddof=1)])
    np.testing.assert_allclose(band.mean - band.low, band.high - band.mean)
    span = seed_band(histories, spread="range", window=2)
    np.testing.assert_allclose(span.low, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(span.high, [3.0, 3.0, 3.0, 5.0])  # (2 + 8) / 2 at iteration 4
    assert seed_band([History([4.0, 2.0])], window=1).high.tolist() == [4.0, 2.0]
    with pytest.raises(ValueError, match="spread"):
        seed_band(histories, spread="iqr")


def test_the_table_of_runs_exports_as_csv_and_markdown(tmp_path):
    import csv as csv_module

    from maml_studio.runs_table import TABLE_COLUMNS, write_runs_table

    store = RunStore(tmp_path / "ws")
    first = _table_run(store, 0, "a | b")
    second = _table_run(store, 1, "second")
    write_runs_table([first, second], tmp_path / "runs.csv")
    rows = list(csv_module.DictReader((tmp_path / "runs.csv").read_text().splitlines()))
    assert [row["name"] for row in rows] == ["a | b", "second"] and list(rows[0]) == list(TABLE_COLUMNS)
    assert rows[1]["seed"] == "1" and rows[0]["iterations"] == str(first.iterations)
    write_runs_table([first, second], tmp_path / "runs.md")
    lines = (tmp_path / "runs.md").read_text().splitlines()
    assert len(lines) == 4 and lines[2].startswith("| a \\| b | ")
    with pytest.raises(WorkspaceError):
        write_runs_table([first], tmp_path)  # a folder, not a file
    with pytest.raises(WorkspaceError, match=r"name a \.csv or \.md file"):
        write_runs_table([first], tmp_path / "runs.xyz")
    with pytest.raises(WorkspaceError, match="does not exist"):
        write_runs_table([first], tmp_path / "no" / "such" / "runs.csv")
    assert not (tmp_path / "no").exists() and not (tmp_path / "runs.xyz").exists()


def _table_run(store, seed, name):
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.resources import bundled_checkpoint

    checkpoint = load_checkpoint(bundled_checkpoint("sine-finn2017"))
    checkpoint.config.training.seed = seed
    return store.add(checkpoint, name=name)


def test_a_failed_index_write_keeps_the_run_announces_it_and_says_why(tmp_path):
    store = RunStore(tmp_path)
    added, problems = [], []
    store.run_added.connect(added.append)
    store.index_problem_changed.connect(problems.append)
    (tmp_path / INDEX_NAME).unlink()
    (tmp_path / INDEX_NAME).mkdir()  # the index can no longer be replaced
    run = store.add(make_checkpoint(0), name="kept anyway")
    assert [r.id for r in added] == [run.id] and store.path(run.id).is_file()
    assert store.index_problem is not None and "cannot write the workspace index" in store.index_problem
    assert problems == [store.index_problem]
    store.rename(run.id, "still kept")  # the same problem is not announced again
    assert problems == [store.index_problem] and store.get(run.id).name == "still kept"
    (tmp_path / INDEX_NAME).rmdir()
    store.add(make_checkpoint(1), name="second")
    assert store.index_problem is None and problems[-1] is None
    assert [r.name for r in RunStore(tmp_path).runs()] == ["still kept", "second"]


def test_a_name_another_run_has_gets_a_number_unless_that_run_is_replaced(tmp_path):
    store = RunStore(tmp_path)
    first = store.add(make_checkpoint(0))
    second = store.add(make_checkpoint(0))
    third = store.add(make_checkpoint(0), name="maml seed 0")
    assert [first.name, second.name, third.name] == ["maml seed 0", "maml seed 0 (2)", "maml seed 0 (3)"]
    continued = store.add(make_checkpoint(0), name="maml seed 0", replaces=first.id)
    assert continued.name == "maml seed 0"

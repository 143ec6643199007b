"""`maml-studio compare`: algorithms × seeds trained into a workspace, evaluated, summarised."""

import contextlib
import csv
import io
import json
import signal

import pytest

from maml_studio.checkpoint import load_checkpoint
from maml_studio.cli import main
from maml_studio.run_groups import seed_groups
from maml_studio.run_store import RunStore
from tests.conftest import TEST_THREADS

TINY = ["--preset", "sine-finn2017", "--iterations", "20", "--tasks", "20", "--steps", "0,1",
        "--set", "training.compile=off", "--set", "training.validation_tasks=10",
        "--set", f"training.threads={TEST_THREADS}", "--quiet"]
COLUMNS = ["id", "name", "algorithm", "seed", "status", "iterations", "seconds", "it_per_s",
           "mse_step0", "mse_step0_ci95", "mse_step1", "mse_step1_ci95",
           "pretrained_mse_step0", "pretrained_mse_step0_ci95",
           "pretrained_mse_step1", "pretrained_mse_step1_ci95"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """Two algorithms × two seeds, 20 iterations each: (workspace, exit status, stdout, stderr)."""
    out = tmp_path_factory.mktemp("compare") / "ws"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["compare", *TINY, "--algorithms", "maml,reptile", "--seeds", "2",
                     "--out", str(out), "--json"])
    return out, code, stdout.getvalue(), stderr.getvalue()


def test_compare_trains_every_algorithm_and_seed_into_a_workspace(compared):
    out, code, _, stderr = compared
    assert code == 0, stderr
    files = sorted(p.name for p in out.glob("*.safetensors"))
    assert files == ["maml-seed-0.safetensors", "maml-seed-1.safetensors",
                     "reptile-seed-0.safetensors", "reptile-seed-1.safetensors"]
    for name in files:
        checkpoint = load_checkpoint(out / name)
        assert checkpoint.history.iterations == 20
        assert checkpoint.config.algorithm.name == name.split("-")[0]
        assert checkpoint.config.training.seed == int(name[-len("0.safetensors")])
    store = RunStore(out)
    assert store.repairs == []
    assert {(r.algorithm, r.seed, r.status) for r in store.runs()} == {
        ("maml", 0, "completed"), ("maml", 1, "completed"),
        ("reptile", 0, "completed"), ("reptile", 1, "completed")}
    assert all(r.seconds > 0 and r.iterations_per_second > 0 for r in store.runs())
    groups = seed_groups(store.runs())
    assert sorted(sorted(r.seed for r in g) for g in groups) == [[0, 1], [0, 1]]
    assert all(len({r.algorithm for r in g}) == 1 for g in groups)


def test_compare_writes_the_summary_as_csv_markdown_and_json(compared):
    out, code, stdout, _ = compared
    assert code == 0
    with (out / "summary.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == COLUMNS
    assert [row[0] for row in rows[1:]] == ["maml-seed-0", "maml-seed-1", "reptile-seed-0",
                                            "reptile-seed-1"]
    for row in rows[1:]:
        values = dict(zip(COLUMNS, row, strict=True))
        assert values["status"] == "completed" and values["iterations"] == "20"
        assert float(values["it_per_s"]) > 0
        assert all(float(values[c]) > 0 for c in COLUMNS[8:])
    table = [line for line in (out / "summary.md").read_text().splitlines() if line.startswith("|")]
    assert len(table) == 2 + 4 and "pretrained step 1" in table[0]
    report = json.loads(stdout)
    assert report["columns"] == COLUMNS and report["metric"] == "mse" and report["shots"] == 5
    assert report["steps"] == [0, 1] and report["tasks"] == 20 and report["interrupted"] is False
    assert [[r[c] for c in COLUMNS[:6]] for r in report["rows"]] == \
        [[row[0], row[1], row[2], int(row[3]), row[4], int(row[5])] for row in rows[1:]]
    # The same evaluation tasks for every run: one seed's baseline scores alike in both algorithms.
    by_id = {r["id"]: r for r in report["rows"]}
    assert by_id["maml-seed-0"]["pretrained_mse_step1"] == by_id["reptile-seed-0"]["pretrained_mse_step1"]


@pytest.mark.parametrize("extra, message", [
    (["--algorithms", "maml,bogus"],
     "unknown algorithm 'bogus'; valid: maml, fomaml, reptile, metasgd, anil"),
    (["--algorithms", ","], "--algorithms names none"),
    (["--algorithms", "maml", "--seeds", "0"], "--seeds must be between 1 and"),
    (["--algorithms", "maml", "--steps", "1,a"], "--steps expects comma-separated integers"),
    (["--algorithms", "maml", "--tasks", "0"], "--tasks must be at least 1"),
    (["--algorithms", "maml", "--set", "algorithm.inner_lr=-1"], "algorithm.inner_lr"),
])
def test_refused_inputs_are_one_line_and_status_2_and_create_nothing(extra, message, tmp_path, capsys):
    out = tmp_path / "ws"
    assert main(["compare", *TINY, *extra, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("maml-studio compare: error: ")
    assert message in lines[0]
    assert not out.exists()


def test_an_out_folder_that_is_a_file_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "ws"
    out.write_text("not a folder")
    assert main(["compare", *TINY, "--algorithms", "maml", "--out", str(out)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"maml-studio compare: error: the workspace {out} is a file, not a folder"]
    assert out.read_text() == "not a folder"


def test_ctrl_c_keeps_and_summarises_the_finished_runs(tmp_path, capsys, monkeypatch):
    """Ctrl-C once the first run is stored: it is still evaluated and summarised, the second
    never starts, and the exit status is the interrupted one (128 + SIGINT)."""
    added = RunStore.add

    def add_then_interrupt(self, *args, **kwargs):
        info = added(self, *args, **kwargs)
        signal.raise_signal(signal.SIGINT)  # runs the command's handler, as a key press would
        return info

    monkeypatch.setattr(RunStore, "add", add_then_interrupt)
    out = tmp_path / "ws"
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["compare", *TINY, "--algorithms", "maml,fomaml", "--out", str(out), "--json"]) == 130
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["interrupted"] is True and [r["id"] for r in report["rows"]] == ["maml-seed-0"]
    assert len((out / "summary.csv").read_text().splitlines()) == 2
    assert [p.name for p in out.glob("*.safetensors")] == ["maml-seed-0.safetensors"]
    assert "stopping" in captured.err
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_a_second_comparison_in_the_workspace_keeps_the_first_summary(tmp_path, capsys):
    out = tmp_path / "ws"
    assert main(["compare", *TINY, "--algorithms", "maml", "--out", str(out)]) == 0
    first = (out / "summary.csv").read_text()
    assert main(["compare", *TINY, "--algorithms", "reptile", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert (out / "summary.csv").read_text() == first  # not replaced
    second = (out / "summary-2.csv").read_text()
    assert "reptile" in second and "maml" not in second.split("\n", 1)[1]
    assert (out / "summary-2.md").is_file() and f"{out / 'summary-2.csv'} and summary-2.md" in err


def test_a_comparison_stopped_before_any_run_finished_says_no_summary_was_written(
        tmp_path, capsys, monkeypatch):
    from pathlib import Path

    from maml_studio import compare as compare_module

    def nothing_finished(config, algorithms, seeds, store, **kwargs):
        return compare_module.Comparison("sine", "mse", 5, 20, [0, 1], Path(store.folder),
                                         signals=[2])

    monkeypatch.setattr(compare_module, "compare", nothing_finished)
    out = tmp_path / "ws"
    assert main(["compare", *TINY, "--algorithms", "maml", "--out", str(out)]) == 130
    assert "no run finished and was evaluated: no summary written" in capsys.readouterr().err
    assert not (out / "summary.csv").exists()

"""`train --workspace` keeps the run where the window lists it."""

from maml_studio.cli import main
from maml_studio.run_store import RunStore


def tiny(tmp_path, *extra):
    return ["train", "--preset", "sine-finn2017", "--iterations", "20", "--compile", "off", "--quiet",
            "--set", "training.validate_every=10", "--set", "training.validation_tasks=5",
            "--out", str(tmp_path / "run.safetensors"), *extra]


def test_a_trained_run_joins_the_workspace(tmp_path, capsys):
    assert main(tiny(tmp_path, "--workspace", str(tmp_path / "ws"))) == 0
    runs = RunStore(tmp_path / "ws").runs()
    assert len(runs) == 1 and runs[0].iterations == 20 and runs[0].status == "completed"
    assert runs[0].iterations_per_second > 0
    assert "in the workspace" in capsys.readouterr().err
    assert (tmp_path / "run.safetensors").is_file()


def test_a_workspace_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "ws").write_text("a file")
    assert main(tiny(tmp_path, "--workspace", str(tmp_path / "ws"))) == 2
    err = capsys.readouterr().err.strip()
    assert "is a file, not a folder" in err and "\n" not in err
    assert not (tmp_path / "run.safetensors").exists()

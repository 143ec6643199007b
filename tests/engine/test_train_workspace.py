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


def test_an_index_that_cannot_be_written_is_a_warning_and_the_run_is_kept(tmp_path, capsys,
                                                                          monkeypatch):
    import errno

    from maml_studio import run_store

    written = run_store.atomic_write_bytes

    def disk_full_for_the_index(path, data):
        if path.name == run_store.INDEX_NAME:
            raise OSError(errno.ENOSPC, "No space left on device")
        written(path, data)

    monkeypatch.setattr(run_store, "atomic_write_bytes", disk_full_for_the_index)
    assert main(tiny(tmp_path, "--workspace", str(tmp_path / "ws"))) == 0
    err = capsys.readouterr().err
    assert "warning: cannot write the workspace index" in err and "No space left" in err
    monkeypatch.undo()
    runs = RunStore(tmp_path / "ws").runs()  # rebuilt from the run's file
    assert len(runs) == 1 and runs[0].iterations == 20

import io

from maml_studio.gui import self_test


def test_self_test_passes_every_check(qapp):
    out = io.StringIO()
    assert self_test.run_self_test(out) == 0
    lines = out.getvalue().splitlines()
    assert sum(line.startswith("ok ") for line in lines) == 6
    assert lines[-1] == "self-test: 6 of 6 checks passed"


def test_self_test_reports_a_broken_installation(qapp, monkeypatch, tmp_path):
    monkeypatch.setattr("maml_studio.resources.resource_dir", lambda: tmp_path)
    out = io.StringIO()
    assert self_test.run_self_test(out) == 1
    assert "FAIL  resources" in out.getvalue()

"""`bench` prints its own report and nothing else: no native library's log lines."""

from maml_studio.bench import peak_memory_mb


def test_memory_measurement_writes_nothing_to_the_terminal(capfd):
    # The profiler behind the memory figures logs its start and stop on the process's stderr.
    assert peak_memory_mb(1) > 0
    out, err = capfd.readouterr()
    assert out == "" and err == ""

"""`bench` prints its own report and nothing else: no native library's log lines."""

from maml_studio.bench import peak_memory_mb


def test_memory_measurement_writes_nothing_to_the_terminal(capfd):
    # The profiler behind the memory figures logs its start and stop on the process's stderr.
    assert peak_memory_mb(1) > 0
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_the_bench_command_prints_its_report_and_progress_only():
    """The whole command in a process of its own, so that what native code writes to the
    terminal's file descriptors is seen too (capsys sees only Python's writes)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "maml_studio", "bench", "--seconds", "0.2",
                           "--no-compile"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out, err = done.stdout.splitlines(), done.stderr.splitlines()
    assert out and out[0].startswith("MAML Studio") and any(line.startswith("peak memory") for line in out)
    foreign = [line for line in out if "USDT" in line or "profiler" in line.lower()]
    # stderr holds bench's progress lines ("memory: 1 inner step(s) …") and nothing else.
    foreign += [line for line in err if not line.endswith(" …")]
    assert not foreign, foreign

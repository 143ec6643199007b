import atexit
import os
import shutil
import tempfile

# Tests never need a display: Qt renders offscreen. Set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Each test session compiles into a cache of its own: inductor's code shared with other
# processes compiling at the same time (other test sessions, the app) is not what a test
# of this checkout should run. Set before torch is imported.
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="maml-studio-tests-inductor-")
atexit.register(shutil.rmtree, os.environ["TORCHINDUCTOR_CACHE_DIR"], ignore_errors=True)

import torch  # noqa: E402

# Every test trains and adapts with this many CPU threads (MAML_STUDIO_TEST_THREADS, default 1),
# so the suite can prove that its assertions hold whatever the thread count. Together with
# ATEN_CPU_CAPABILITY (default, avx2, avx512) it covers the float paths of other CPUs.
TEST_THREADS = int(os.environ.get("MAML_STUDIO_TEST_THREADS", "1"))
torch.set_num_threads(TEST_THREADS)


def pytest_report_header(config) -> str:
    return (f"torch {torch.__version__}, CPU kernels {torch.backends.cpu.get_cpu_capability()}, "
            f"{TEST_THREADS} thread(s)")


import threading  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_compile_outlives_its_test():
    """A run that ends before its background compile has finished leaves the compile going
    on; inductor running beside the next test's training can abort the process. Each test
    waits for compiles it started."""
    yield
    for thread in threading.enumerate():
        if thread.name == "maml-compile":
            thread.join(timeout=180)


@pytest.fixture(autouse=True)
def _workspace_of_the_test(tmp_path, monkeypatch):
    """Runs a test trains go to a workspace of its own, never to the user's data directory."""
    monkeypatch.setenv("MAML_STUDIO_WORKSPACE", str(tmp_path / "workspace"))

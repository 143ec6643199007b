import os

# Tests never need a display: Qt renders offscreen. Set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch

# Every test trains and adapts with this many CPU threads (MAML_STUDIO_TEST_THREADS, default 1),
# so the suite can prove that its assertions hold whatever the thread count. Together with
# ATEN_CPU_CAPABILITY (default, avx2, avx512) it covers the float paths of other CPUs.
TEST_THREADS = int(os.environ.get("MAML_STUDIO_TEST_THREADS", "1"))
torch.set_num_threads(TEST_THREADS)


def pytest_report_header(config) -> str:
    return (f"torch {torch.__version__}, CPU kernels {torch.backends.cpu.get_cpu_capability()}, "
            f"{TEST_THREADS} thread(s)")

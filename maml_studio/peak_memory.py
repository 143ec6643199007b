"""The peak memory one computation allocates, measured (not estimated, as `memory` does).

On a CUDA device the allocator's peak; on the CPU the profiler's allocation
events, summed in time order. Measuring costs a profiled run of the
computation, so callers measure now and then, not every step.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

import torch


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Drop what native code writes to stderr meanwhile (the profiler logs its start and stop)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (a windowed app): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory_bytes(fn: Callable[[], object], cuda: bool = False) -> int:
    """Bytes allocated at the peak while ``fn()`` runs, above what was allocated before it.

    ``cuda``: the computation runs on the current CUDA device (its allocator's peak).
    """
    if cuda:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        result = fn()
        torch.cuda.synchronize()
        del result
        return max(0, torch.cuda.max_memory_allocated() - before)
    from torch.profiler import ProfilerActivity, profile

    with native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU],
                                           profile_memory=True) as prof:
        result = fn()
        del result
    events = sorted((e for e in prof.events() if e.cpu_memory_usage),
                    key=lambda e: e.time_range.start)
    live = peak = 0
    for event in events:
        live += event.cpu_memory_usage
        peak = max(peak, live)
    return peak

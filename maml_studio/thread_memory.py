"""The peak tensor memory one computation allocates on the calling thread, measured safely
while other threads compute.

`peak_memory.peak_memory_bytes` runs the torch profiler, which is process-wide:
started or stopped while another thread runs tensor operations (the training
thread, the adaptation thread) it can crash the process. This measures with a
`TorchDispatchMode` instead, which sees only the calling thread's operations:
every storage an operation creates counts from its creation until it is freed
(a weak reference on the storage tells), and the peak of that sum is the
answer. Like the profiler's figure it counts tensor storage, not the
allocator's rounding or caches; storages that existed before are not counted.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class _StorageTracker(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._known: dict[int, tuple[weakref.ref, int]] = {}  # id → (weak storage, bytes)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = {leaf.untyped_storage().data_ptr() for leaf in tree_leaves((args, kwargs))
                  if isinstance(leaf, torch.Tensor) and not leaf.is_meta}
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor) and not leaf.is_meta:
                storage = leaf.untyped_storage()
                if storage.data_ptr() not in inputs:  # an input's own (in place, a view): not new
                    self._track(storage)
        return out

    def _track(self, storage: torch.UntypedStorage) -> None:
        key = id(storage)
        known = self._known.get(key)
        if known is not None and known[0]() is storage:
            return
        size = storage.nbytes()
        self._known[key] = (weakref.ref(storage, lambda _, k=key, n=size: self._freed(k, n)), size)
        self.live += size
        self.peak = max(self.peak, self.live)

    def _freed(self, key: int, size: int) -> None:
        self.live -= size
        self._known.pop(key, None)


def thread_peak_memory_bytes(fn: Callable[[], object]) -> int:
    """Bytes of tensor storage at the peak while ``fn()`` runs on this thread, above what existed."""
    tracker = _StorageTracker()
    with tracker:
        result = fn()
        del result
    return max(0, tracker.peak)

"""Compile the meta-step in the background so that training never waits for it.

The trainer starts at once with the eager function and asks `ready()` between
steps; when the compiled function has been built and checked against the
eager one it switches over. Inductor's on-disk cache lives in the user's
cache directory, so later runs compile in seconds.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch


def unavailable_reason() -> str | None:
    """Why the meta-step cannot be compiled here, or None when it can be tried."""
    if getattr(sys, "frozen", False):
        return ("the desktop bundle trains with the hand-batched eager step: compiling needs a "
                "Python installation and a C++ compiler")
    if find_cxx_compiler() is None:
        return ("no C++ compiler found (g++, clang++ or cl on PATH, or $CXX): training runs "
                "the hand-batched eager step")
    return None


def find_cxx_compiler() -> str | None:
    """The C++ compiler torch.compile would use, if there is one."""
    candidates = [os.environ.get("CXX"), "g++", "c++", "clang++", "cl"]
    return next((path for name in candidates if name and (path := shutil.which(name))), None)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "maml-studio" / "torch-compile"


def configure_cache() -> None:
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir()))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")


# torch.compile is not safe to run on two threads at once (seen: an abort inside inductor's
# code when a second run started compiling while the first one's compile was still going).
_COMPILING = threading.Lock()


def pending_compiles() -> int:
    """How many background compiles are still running (a process waits for them to exit)."""
    return sum(thread.name == "maml-compile" and thread.is_alive() for thread in threading.enumerate())


class BackgroundCompiler:
    """Builds ``torch.compile(fn)`` on a thread of its own, warmed up on example arguments."""

    def __init__(self, fn: Callable, example_args: tuple, compile_threads: int = 1) -> None:
        self._fn = fn
        self._example_args = example_args
        self._compiled: Callable | None = None
        self.error: str | None = None
        self.seconds: float | None = None
        self._done = threading.Event()
        self._compile_threads = compile_threads
        # Not a daemon: the interpreter waits for it at exit. Ended mid-compile, inductor's
        # threads abort the process ("terminate called without an active exception").
        self._thread = threading.Thread(target=self._build, name="maml-compile", daemon=False)

    def start(self) -> BackgroundCompiler:
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def ready(self) -> Callable | None:
        """The compiled function once it is built and checked, else None."""
        return self._compiled if self._done.is_set() else None

    def _build(self) -> None:
        started = time.perf_counter()
        try:
            with _COMPILING:  # a run stopped early may leave its compile going on: never two at once
                self._compile_and_check()
        except Exception as exc:  # any failure leaves training on the eager path
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            self.error = f"{type(exc).__name__}: {first_line[:300]}"
        finally:
            self.seconds = time.perf_counter() - started
            self._done.set()

    def _compile_and_check(self) -> None:
        configure_cache()
        import torch._inductor.config as inductor_config

        inductor_config.compile_threads = self._compile_threads
        compiled = torch.compile(self._fn, dynamic=False)
        got = compiled(*self._example_args)
        expected = self._fn(*self._example_args)
        _check_close(got, expected)
        self._compiled = compiled


def _check_close(got, expected) -> None:
    flat_got, _ = torch.utils._pytree.tree_flatten(got)
    flat_expected, _ = torch.utils._pytree.tree_flatten(expected)
    for a, b in zip(flat_got, flat_expected, strict=True):
        scale = float(b.abs().max()) if b.numel() else 0.0
        if not torch.allclose(a, b, rtol=1e-3, atol=1e-4 * max(1.0, scale)):
            raise RuntimeError("the compiled meta-step disagrees with the eager one")

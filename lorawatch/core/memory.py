"""Keeping the service's resident memory close to its data.

Python frees the objects of every batch, but glibc's allocator keeps the freed pages of its
heaps (one per thread that allocates: the bridge, the store writer, the receiver's reader)
for reuse: after a drain of 100,000 uplinks a third of the service's resident memory was
such free space (bench/memory.py). ``malloc_trim(0)`` returns it; :class:`Trimmer` calls it
every few seconds from a thread of its own, a few milliseconds each time. The heaps
themselves are capped (:func:`limit_arenas`). On a C library without these calls (musl,
macOS) both do nothing.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Mapping

TRIM_EVERY_S = 5.0

ARENAS = 1
"""glibc's malloc heaps ("arenas") at most, where it makes up to eight per core, one for each
thread that allocates while the others hold theirs. Each keeps free space of its own between
trims. Draining the ingest bench's 100,000 uplinks (2 cores; runs alternating, peak RSS of the
service and its receiver child): 146.7-148.3 MB without a cap (4 runs), 143.0-146.8 MB with two
heaps (8 runs), 140.8-142.6 MB with one (8 runs); drain rates 16,500-19,200, 15,600-18,800 and
15,300-18,200 messages/s, the same within the machine's noise (one heap's mean 1.5 % below two
heaps'). The interpreter allocates under its global lock, so threads sharing one heap seldom
wait for it."""

ARENA_VARIABLE = "MALLOC_ARENA_MAX"
"""glibc's own setting of the same cap, read when a process starts; an operator's value wins."""

_M_ARENA_MAX = -8
"""``mallopt``'s parameter for the cap (glibc's malloc.h)."""


def _libc_function(name: str) -> Callable[..., int] | None:
    try:
        return getattr(ctypes.CDLL("libc.so.6"), name)  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def _malloc_trim() -> Callable[[], int] | None:
    trim = _libc_function("malloc_trim")
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]  # type: ignore[attr-defined]
    trim.restype = ctypes.c_int  # type: ignore[attr-defined]
    return lambda: int(trim(0))


MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Give the allocator's free pages back to the system; False when it cannot."""
    return MALLOC_TRIM is not None and MALLOC_TRIM() == 1


def limit_arenas(count: int = ARENAS) -> bool:
    """Cap the allocator's heaps at ``count``; False when it cannot, or when the operator set
    :data:`ARENA_VARIABLE`, which then stands. glibc settles how many heaps it may make when a
    second thread first allocates, so this must come before any thread starts: the service
    calls it first thing, and importing the command line starts none (a test says so)."""
    if os.environ.get(ARENA_VARIABLE):
        return False
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]  # type: ignore[attr-defined]
    mallopt.restype = ctypes.c_int  # type: ignore[attr-defined]
    return int(mallopt(_M_ARENA_MAX, count)) == 1


def child_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process of the service: ``env`` (default: this process's)
    with the same cap on the allocator's heaps, unless the operator set one."""
    out = dict(os.environ if env is None else env)
    out.setdefault(ARENA_VARIABLE, str(ARENAS))
    return out


class Trimmer:
    """Calls :func:`release_free_memory` every ``every_s`` seconds until stopped."""

    def __init__(self, every_s: float = TRIM_EVERY_S) -> None:
        self.every_s = every_s
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-trim", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            release_free_memory()
            self.runs += 1

    def start(self) -> None:
        if MALLOC_TRIM is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

"""Handing memory the service freed back to the system, so its resident size tracks its data.

Python frees the objects of every batch, but glibc's allocator keeps the freed pages of its
heaps (one per thread that allocates: the bridge, the store writer, the receiver's reader)
for reuse: after a drain of 100,000 uplinks a third of the service's resident memory was
such free space (bench/memory.py). ``malloc_trim(0)`` returns it; :class:`Trimmer` calls it
every few seconds from a thread of its own, a few milliseconds each time. On a C library
without it (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable

TRIM_EVERY_S = 5.0


def _malloc_trim() -> Callable[[], int] | None:
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Give the allocator's free pages back to the system; False when it cannot."""
    return MALLOC_TRIM is not None and MALLOC_TRIM() == 1


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

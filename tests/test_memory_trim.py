"""Freed memory goes back to the system: the service's resident size follows its data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lorawatch.core.memory import MALLOC_TRIM, Trimmer, release_free_memory

pytestmark = pytest.mark.skipif(MALLOC_TRIM is None, reason="needs glibc's malloc_trim")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_freed_pages_held_by_the_allocator_are_given_back() -> None:
    # 1 KiB blocks come from glibc, not Python's own allocator; the last one kept pins the
    # top of the heap, so only a trim can give back the pages below it.
    blocks = [bytes(1024) + bytes([i % 256]) for i in range(150_000)]
    kept = blocks[-1]
    del blocks
    before = rss_mb()
    assert release_free_memory()
    assert before - rss_mb() > 50, "about 150 MB were freed"
    assert kept


def test_the_trimmer_runs_until_stopped() -> None:
    trimmer = Trimmer(every_s=0.01)
    trimmer.start()
    deadline = time.monotonic() + 10
    while trimmer.runs < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    trimmer.stop()
    assert trimmer.runs >= 3
    assert not trimmer._thread.is_alive(), "stopped"

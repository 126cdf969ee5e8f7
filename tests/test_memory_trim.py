"""Freed memory goes back to the system, and the allocator keeps few heaps: the service's
resident size follows its data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lorawatch.core.memory import (
    ARENA_VARIABLE,
    ARENAS,
    MALLOC_TRIM,
    Trimmer,
    child_environment,
    limit_arenas,
    release_free_memory,
)

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


# Four threads hold glibc blocks (1 KiB, beyond Python's own allocator) at the same time;
# malloc_stats() prints a line per heap ("Arena N:") on stderr.
THREADS_ALLOCATING = """
import ctypes, sys, threading
from lorawatch.core.memory import limit_arenas
if sys.argv[1] == "capped":
    assert limit_arenas(1)
together = threading.Barrier(4)
kept = []
def work():
    together.wait()
    kept.append([bytes(1024) + bytes([i % 256]) for i in range(5_000)])
    together.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL("libc.so.6").malloc_stats()
"""


def heaps(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != ARENA_VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", THREADS_ALLOCATING, mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_the_allocator_keeps_one_heap_when_capped_and_more_without() -> None:
    assert heaps("free") > 1, "threads allocating together get heaps of their own"
    assert heaps("capped") == 1


def test_children_get_the_cap_unless_the_operator_set_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert child_environment({"PATH": "/bin"}) == {"PATH": "/bin", ARENA_VARIABLE: str(ARENAS)}
    assert child_environment({ARENA_VARIABLE: "8"}) == {ARENA_VARIABLE: "8"}
    monkeypatch.setenv(ARENA_VARIABLE, "8")
    assert not limit_arenas(), "the operator's setting stands"


def test_importing_the_command_line_starts_no_thread() -> None:
    """The service caps the heaps when it is built; a thread started before, by an import
    (a codec engine's pool, say), would have settled their number already."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import threading, lorawatch.app.cli.main; print(threading.active_count())",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.split() == ["1"], done.stdout

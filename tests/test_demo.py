"""`lorawatch demo` as a new user runs it: readings within 15 s, clean stop on SIGINT and SIGTERM."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def run_demo_until_readings(workdir: Path) -> tuple[subprocess.Popen[bytes], bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lorawatch",
            "--log-format",
            "json",
            "demo",
            "--workdir",
            str(workdir),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + 15
    while b" readings)" not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            pytest.fail(f"no readings within 15 s:\n{seen.decode(errors='replace')[-3000:]}")
        if selector.select(timeout=left):
            seen += os.read(proc.stdout.fileno(), 65536)
    return proc, seen


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_shows_readings_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc, _ = run_demo_until_readings(tmp_path)
    proc.send_signal(sig)
    started = time.monotonic()
    try:
        code = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - started < 5, "the demo must stop within 5 s"
    assert code == 0
    assert proc.stdout is not None
    with proc.stdout:
        rest = proc.stdout.read().decode(errors="replace")
    assert "demo stopped" in rest and "Traceback" not in rest
    assert (tmp_path / "lorawatch.sqlite").exists()

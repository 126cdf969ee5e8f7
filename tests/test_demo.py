"""`lorawatch demo` as a new user runs it: readings within 15 s, clean stop on SIGINT and SIGTERM."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
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


STORY = {
    "stuck_flush": ("water.continuous_flow", "water.night_flow"),
    "heating_left_on": ("energy.baseline",),
    "leak": ("water.leak",),
    "bin_full": ("waste.fill",),
    "lamp_out": ("lighting.failure",),
}
"""Each anomaly of the demo and the alerts that may tell it. A stuck flush is told by the
first of its two rules to hold: the night of flow (judged at 05:00) or the day without a dry
hour (24 h after its onset); the other is then suppressed on the same meter, so which one
tells it depends on the hour the demo starts."""


def told(seen: bytes, rules: tuple[str, ...]) -> bool:
    return any(f" {rule} (".encode() in seen for rule in rules)


def test_the_demo_tells_its_whole_story(tmp_path: Path) -> None:
    """Four weeks of history, then live: each anomaly raises its alert, and the occupant
    screen compares today with a typical day and this week with the last."""
    from lorawatch.app.runner import DEMO_SCHEDULE

    assert set(STORY) == set(DEMO_SCHEDULE)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lorawatch",
            "--log-level",
            "warning",
            "demo",
            "--workdir",
            str(tmp_path),
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
    deadline = time.monotonic() + 600  # a minute on a quiet machine; test machines are busy
    try:
        while not all(told(seen, rules) for rules in STORY.values()):
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                pytest.fail(f"not every alert:\n{seen.decode(errors='replace')[-3000:]}")
            if selector.select(timeout=left):
                seen += os.read(proc.stdout.fileno(), 65536)
        port = re.search(rb"http://127\.0\.0\.1:(\d+)/", seen)
        assert port is not None
        with urllib.request.urlopen(
            f"http://127.0.0.1:{int(port[1])}/screens/ecole?lang=fr"
        ) as page:
            screen = page.read().decode()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
    assert proc.returncode == 0
    assert "history 28 days of 28 days" in seen.decode(errors="replace")
    flush = re.search(rb" water\.(?:continuous|night)_flow \([^\n]*", seen)
    assert flush is not None and b"ecole-eau" in flush[0], "the stuck flush is the school's"
    assert "apprentissage" not in screen, "the typical day must be known after four weeks"
    assert "un jour type" in screen and "la semaine dernière" in screen

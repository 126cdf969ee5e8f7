"""Traceable figures: every bench says which code ran, where, when, and what exactly it measured.

A figure without its commit, machine and settings cannot be checked or compared; one copied by
hand into the README drifts from what the bench measures. So each bench hands its figures to
:func:`write`, which prints them and stores them as JSON (``bench/results/<bench>.json`` by
default, ``--json-out`` elsewhere) with the run's context, and the README table is generated
from those files by ``python -m bench readme`` (:mod:`bench.readme`): no row without its run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEPLOYED_HTTP = {"listen": "127.0.0.1:0"}
"""A service role's ``[http]``: the pages, /metrics and /healthz served as ``lorawatch run``
serves them (on a free port), so its memory and CPU are the deployed command's."""
AS_RUN = "served, as lorawatch run"
"""What a role with :data:`DEPLOYED_HTTP` and :func:`load_as_run` records as its ``http``."""


def load_as_run() -> None:
    """Load what ``lorawatch run`` has loaded before it builds the service (its command line):
    a role that started the service bare measured 20 MB less than the command users run."""
    import lorawatch.app.cli.main  # noqa: F401  (a role's imports, see the docstring)


ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BROKER_OPTIONS = {"autosave_interval": "1800"}
"""The benches' Mosquitto saves its queue as a deployed one does (Debian's default, every 30
minutes), not every second as the fault tests' does: a 1,000,000-message queue rewritten
every second keeps the broker busy writing it, and the bench would measure that."""


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    # rstrip: a porcelain status line starts with a space that is part of its columns.
    return done.stdout.rstrip() if done.returncode == 0 else ""


def commit() -> dict[str, Any]:
    """The commit measured, and whether code outside the results differed from it."""
    # Two status letters, a space, the path; _git strips the output, and with it the first
    # line's leading blank (" M path" -> "M path").
    paths = [
        line[2:].lstrip()
        for line in _git("status", "--porcelain", "--untracked-files=no").splitlines()
    ]
    changed = [p for p in paths if not p.startswith("bench/results/") and p != "README.md"]
    # The subject and date find the commit again after a rebase gave it another sha.
    return {
        "sha": _git("rev-parse", "HEAD") or "unknown",
        "subject": _git("log", "-1", "--format=%s"),
        "date": _git("log", "-1", "--format=%cI"),
        "uncommitted_changes": changed,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """Cores, CPU model and the load when the run started (the machine may be shared)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    memory_mb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_model": cpu_model(),
        "memory_mb": memory_mb,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def context() -> dict[str, Any]:
    """What to record before measuring (the load average is the one at the start)."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        "command": " ".join(["python -m", _module(), *sys.argv[1:]]),
    }


def _module() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's own peak resident memory (VmHWM: unlike ru_maxrss, not inherited by fork)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children of all its threads, recursively)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def tree_peak_rss_mb(
    pid: int | None = None, exclude: Iterable[int | None] = ()
) -> dict[str, float]:
    """Peak RSS of a process and each live descendant, by pid, and their sum ("total").

    ``exclude``: processes that are not the system measured (a broker a bench started), with
    their descendants. The sum of the peaks is an upper bound of what the processes held
    together at any instant.
    """
    root = os.getpid() if pid is None else pid
    left_out = {p for p in exclude if p is not None}
    left_out |= {d for p in list(left_out) for d in descendants(p)}
    peaks = {str(p): peak_rss_mb(p) for p in [root, *descendants(root)] if p not in left_out}
    return {**peaks, "total": round(sum(peaks.values()), 1)}


def add_json_out(parser: argparse.ArgumentParser, bench: str) -> None:
    parser.add_argument(
        "--json-out",
        type=Path,
        default=RESULTS / f"{bench}.json",
        help=f"where to write the run's figures as JSON (default: bench/results/{bench}.json)",
    )


def write(
    path: Path,
    bench: str,
    ctx: dict[str, Any],
    settings: dict[str, Any],
    measured: dict[str, Any],
    rows: list[dict[str, str]],
) -> None:
    """Store one run: its context, the settings as applied, the raw figures, and the README
    rows it stands for (benchmark, figure, baseline, ratio), then print where it went.

    The run's name is ``<bench> <date> <commit>``; every README row names it.
    """
    sha = ctx["commit"]["sha"][:10]
    run = f"{bench} {ctx['date'][:10]} {sha}" + (
        "+" if ctx["commit"]["uncommitted_changes"] else ""
    )
    document = {
        "bench": bench,
        "run": run,
        **ctx,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings,
        "measured": measured,
        "readme_rows": rows,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    m = ctx["machine"]
    print(
        f"run {run}: {m['cores']} cores ({m['cpu_model']}), load {m['load_average_at_start']} at"
        f" start; settings {json.dumps(settings, ensure_ascii=False)}; written to {path}"
    )


class TreeRss:
    """Peak RSS of this process and its descendants, sampled while a bench runs, so children
    that end before the figures are taken (a backfill's producer) are counted too.

    Use as a context manager; ``peaks`` maps each pid seen to its last read VmHWM.
    """

    def __init__(self, every_s: float = 0.2, exclude: Iterable[int | None] = ()) -> None:
        self.every_s = every_s
        self.exclude = list(exclude)
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        for pid, peak in tree_peak_rss_mb(exclude=self.exclude).items():
            if pid != "total" and peak:
                self.peaks[pid] = max(peak, self.peaks.get(pid, 0.0))

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def __enter__(self) -> TreeRss:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def result(self) -> dict[str, float]:
        return {**self.peaks, "total": round(sum(self.peaks.values()), 1)}

"""Running the service until a signal, and the self-contained demo.

SIGINT and SIGTERM both stop cleanly: the current batch is finished and acknowledged, the
MQTT session is closed, the stores flushed, and the process exits 0 within seconds.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from rich.console import Console

from lorawatch.config import Settings

log = structlog.get_logger(__name__)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()

    def handler(signum: int, _: object) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run_until_signal(settings: Settings) -> None:
    from lorawatch.service import Service

    service = Service(settings)
    with stop_on_signals() as stop:
        service.start()
        try:
            stop.wait()
        finally:
            service.stop()


def run_demo(
    workdir: Path, *, seconds: float, speed: float, http_port: int, console: Console
) -> None:
    """Embedded broker + simulated Saint-Sulpice + the real service on a SQLite store."""
    from lorawatch.config import load
    from lorawatch.gateway_bridge.embedded_broker import EmbeddedBroker, free_port
    from lorawatch.service import Service
    from lorawatch.simulators import scenario as scenarios
    from lorawatch.simulators.scenario import Simulation, live

    workdir.mkdir(parents=True, exist_ok=True)
    path = scenarios.builtin("saint-sulpice")
    scene = scenarios.load(path)
    broker = EmbeddedBroker()
    broker.start()
    port = http_port or free_port()
    settings = load(
        None,
        {
            "inventory": {"path": str(path)},
            "mqtt": {"url": broker.url, "protocol": "3.1.1", "client_id": "lorawatch-demo"},
            "store": {
                "sqlite": {"path": str(workdir / "lorawatch.sqlite")},
                "batch_interval_ms": 200,
            },
            "http": {"listen": f"127.0.0.1:{port}"},
        },
    )
    service = Service(settings, inventory=scene.inventory)
    sim = Simulation(scene, seed=1)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with stop_on_signals() as stop:
        service.start()
        console.print(
            f"lorawatch demo: {len(scene.inventory.devices)} devices of {path.stem}, "
            f"simulated x{speed:g}; metrics on http://127.0.0.1:{service.http_port}/metrics. "
            "Ctrl-C stops."
        )
        publisher = threading.Thread(
            target=live,
            args=(sim, broker.url, speed, stop),
            kwargs={"start": start},
            name="simulator",
        )
        publisher.start()
        deadline = time.monotonic() + seconds if seconds else None
        seen = 0
        try:
            while not stop.wait(1.0):
                seen = _report(service, console, seen)
                if deadline is not None and time.monotonic() >= deadline:
                    stop.set()
        finally:
            stop.set()
            publisher.join(timeout=3)
            service.stop()
            broker.stop()
    console.print(f"demo stopped: {seen} readings stored in {settings.store.sqlite.path}")


def _report(service: object, console: Console, seen: int) -> int:
    from lorawatch.service import Service

    assert isinstance(service, Service)
    with service.sqlite.transaction() as db:
        count = db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
        if count == seen:
            return seen
        rows = db.execute(
            "SELECT building, device, name, value FROM readings"
            " WHERE name IN ('energy_kwh','volume_m3','fill_pct','leak','lamp_on','dim_pct')"
            " ORDER BY time_us DESC LIMIT 4"
        ).fetchall()
    latest = ", ".join(f"{b or d} {n}={v:g}" for b, d, n, v in rows)
    console.print(
        f"[green]{count - seen:>5} new readings[/green] (total {count}) latest: {latest}",
        highlight=False,
    )
    return int(count)

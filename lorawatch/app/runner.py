"""Running the service until a signal, and the self-contained demo.

SIGINT and SIGTERM both stop cleanly: the current batch is finished and acknowledged, the
MQTT session is closed, the stores flushed, and the process exits 0 within seconds.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from rich.console import Console
from rich.table import Table

from lorawatch.app.config import Settings
from lorawatch.core.timeutil import from_us, us

if TYPE_CHECKING:
    # lazy: FastAPI, paho and the stores load only when the service starts
    from lorawatch.app.service import Service
    from lorawatch.simulators.scenario import Scenario

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
    # lazy: FastAPI, paho and the stores load only when the service starts
    from lorawatch.app.service import Service

    service = Service(settings)
    with stop_on_signals() as stop:
        service.start()
        try:
            stop.wait()
        finally:
            service.stop()


# The demo's story: the anomalies of the scenario, moved to the first simulated minutes.
DEMO_SCHEDULE = {"stuck_flush": 1, "leak": 3, "bin_full": 5, "lamp_out": 7, "heating_left_on": 9}


def demo_scenario(scene: Scenario, start: datetime) -> Scenario:
    """The scenario with its anomalies re-timed to unfold within the demo's first minutes."""
    moved = []
    for anomaly in scene.anomalies:
        minutes = DEMO_SCHEDULE.get(anomaly.type)
        if minutes is None:
            continue
        onset = start + timedelta(minutes=minutes)
        end = (
            None
            if anomaly.end is None
            else onset + min(anomaly.end - anomaly.onset, timedelta(hours=3))
        )
        moved.append(replace(anomaly, onset=onset, end=end))
    return replace(scene, anomalies=tuple(moved))


def run_demo(
    workdir: Path,
    *,
    seconds: float,
    speed: float,
    http_port: int,
    console: Console,
    history_days: float = 1.0,
) -> None:
    """Embedded broker + simulated Saint-Sulpice + the real service on a SQLite store.

    First ``history_days`` of history go through the pipeline in process (a backfill), then
    the village runs live on the embedded MQTT broker, ``speed`` times faster than real time,
    with its anomalies (a stuck flush, a leak, a full bin, a lamp out) in the first minutes.
    """
    # lazy: the demo's embedded broker and simulator load only for `demo`
    from lorawatch.app.config import load

    # lazy: FastAPI, paho and the stores load only when the service starts
    from lorawatch.app.service import Service
    from lorawatch.gateway_bridge.embedded_broker import EmbeddedBroker, free_port
    from lorawatch.simulators import scenario as scenarios
    from lorawatch.simulators.run import backfill, live
    from lorawatch.simulators.simulation import Simulation
    from lorawatch.web.security import hash_password

    workdir.mkdir(parents=True, exist_ok=True)
    store_path = workdir / "lorawatch.sqlite"
    for stale in workdir.glob("lorawatch.sqlite*"):
        stale.unlink()  # each demo tells its story from the start
    path = scenarios.builtin("saint-sulpice")
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    scene = demo_scenario(scenarios.load(path), start)
    broker = EmbeddedBroker()
    broker.start()
    port = http_port or free_port()
    # A one-off operator for the demo's pages: a fresh password each run, shown on this
    # console only (never logged), and only its hash in the settings, as in production.
    password = secrets.token_urlsafe(12)
    settings = load(
        None,
        {
            "inventory": {"path": str(path)},
            "mqtt": {"url": broker.url, "protocol": "3.1.1", "client_id": "lorawatch-demo"},
            "store": {"sqlite": {"path": str(store_path)}, "batch_interval_ms": 200},
            "http": {
                "listen": f"127.0.0.1:{port}",
                "users": [
                    {
                        "name": "demo",
                        # A lighter scrypt: a random one-off password, and the demo races a
                        # 15 s start-up budget on small machines.
                        "password_hash": hash_password(password, log_n=14),
                        "role": "operator",
                    }
                ],
            },
        },
    )
    service = Service(settings, inventory=scene.inventory)
    clock = SimClock(start, speed)
    service.clock = clock
    sim = Simulation(scene, seed=1)
    with stop_on_signals() as stop:
        service.start()
        url = f"http://127.0.0.1:{service.http_port}"
        screen = next(iter(scene.inventory.buildings), "")
        console.print(
            f"[bold]lorawatch demo[/bold]: {scene.name}, {len(scene.inventory.devices)} devices; "
            f"overview {url}/ (user demo, password {password}), occupant screen "
            f"{url}/screens/{screen}, metrics {url}/metrics. Ctrl-C stops.",
            highlight=False,
        )
        status = DemoStatus(service, scene, console)
        try:
            if history_days > 0:
                backfill(
                    sim,
                    start - timedelta(days=history_days),
                    start,
                    service.bridge.process,
                    progress=False,
                )
                status.show(start, f"{history_days:g} days of history ingested")
            publisher = threading.Thread(
                target=live,
                args=(sim, broker.url, speed, stop),
                kwargs={"start": start},
                name="simulator",
            )
            publisher.start()
            began = clock.run()
            deadline = began + seconds if seconds else None
            while not stop.wait(2.0):
                status.show(
                    start + timedelta(seconds=(time.monotonic() - began) * speed),
                    f"live x{speed:g}",
                )
                if deadline is not None and time.monotonic() >= deadline:
                    stop.set()
            publisher.join(timeout=3)
        finally:
            stop.set()
            service.stop()
            broker.stop()
    console.print(f"demo stopped: {status.readings} readings stored in {store_path}")


class SimClock:
    """The demo's simulated time for the pages: ``start`` until the live run begins, then
    ``speed`` times faster than the wall clock, like the simulator that publishes."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start = start
        self.speed = speed
        self.began: float | None = None

    def run(self) -> float:
        self.began = time.monotonic()
        return self.began

    def __call__(self) -> datetime:
        if self.began is None:
            return self.start
        return self.start + timedelta(seconds=(time.monotonic() - self.began) * self.speed)


class DemoStatus:
    """A compact view of the village for the demo: buildings, bins, lights, and what happened."""

    def __init__(self, service: Service, scene: Scenario, console: Console) -> None:
        self.service = service
        self.scene = scene
        self.console = console
        self.readings = 0
        self._flag_state: dict[tuple[str, str], float] = {}
        self._flags_until = 0

    def show(self, sim_now: datetime, phase: str) -> None:
        db = self.service.sqlite
        zone = self.scene.zone
        local = sim_now.astimezone(zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        total = db.fetch("SELECT COUNT(*) FROM readings")[0][0]
        new = total - self.readings
        self.readings = total
        since = us(midnight)
        rows = db.fetch(
            "SELECT building, name, SUM(value) FROM consumption WHERE end_us >= ? AND building != ''"
            " GROUP BY building, name ORDER BY building",
            (since,),
        )
        today: dict[str, dict[str, float]] = {}
        for building, name, value in rows:
            today.setdefault(building, {})[name] = value
        table = Table(
            title=f"{self.scene.name} — {local:%a %d %b %H:%M} ({phase}, +{new} readings)"
        )
        table.add_column("building")
        table.add_column("kWh today", justify="right")
        table.add_column("m³ today", justify="right")
        for building, values in today.items():
            table.add_row(
                building,
                f"{values.get('energy_delta_kwh', 0):.1f}",
                f"{values.get('volume_delta_m3', 0):.2f}",
            )
        self.console.print(table)
        bins = db.fetch(
            "SELECT device, value FROM readings r WHERE name = 'fill_pct' AND time_us ="
            " (SELECT MAX(time_us) FROM readings WHERE dev_eui = r.dev_eui AND name = 'fill_pct')"
            " ORDER BY value DESC LIMIT 4"
        )
        lamps = db.fetch(
            "SELECT SUM(value), COUNT(*) FROM readings r WHERE name = 'lamp_on' AND time_us ="
            " (SELECT MAX(time_us) FROM readings WHERE dev_eui = r.dev_eui AND name = 'lamp_on' AND channel = r.channel)"
        )
        if bins:
            self.console.print("fullest bins: " + ", ".join(f"{d} {v:.0f} %" for d, v in bins))
        if lamps and lamps[0][1]:
            self.console.print(f"streetlights lit: {int(lamps[0][0] or 0)}/{lamps[0][1]}")
        self._events(since)

    def _events(self, since: int) -> None:
        """Print each flag when it changes (a leak detected, then cleared), not every report."""
        flags = self.service.sqlite.fetch(
            "SELECT device, name, time_us, value FROM readings WHERE time_us > ?"
            " AND name IN ('leak', 'lamp_failure', 'tilted') ORDER BY time_us",
            (self._flags_until or since,),
        )
        for device, name, time_us, value in flags:
            self._flags_until = max(self._flags_until, time_us)
            key = (device, name)
            if self._flag_state.get(key, 0.0) == value:
                continue
            self._flag_state[key] = value
            when = from_us(time_us).astimezone(self.scene.zone)
            text = (
                f"[bold red]{name.upper()}[/bold red]"
                if value
                else f"[green]{name} cleared[/green]"
            )
            self.console.print(f"{when:%H:%M} {text} {device}", highlight=False)

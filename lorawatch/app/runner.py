"""Running the service until a signal, and the self-contained demo.

SIGINT and SIGTERM both stop cleanly: the current batch is finished and acknowledged, the
MQTT session is closed, the stores flushed, and the process exits 0 within seconds.
"""

from __future__ import annotations

import fcntl
import os
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
from rich.markup import escape
from rich.table import Table

from lorawatch.app.cli import say
from lorawatch.app.config import Settings
from lorawatch.core import catalogue, i18n
from lorawatch.core.errors import BusyError, ConfigError
from lorawatch.core.timeutil import from_us, us

if TYPE_CHECKING:
    # lazy: FastAPI, paho and the stores load only when the service starts
    from lorawatch.app.service import Service
    from lorawatch.gateway_bridge.source import Message
    from lorawatch.simulators.scenario import Scenario
    from lorawatch.simulators.simulation import Simulation

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


DEMO_SCHEDULE: dict[str, tuple[timedelta, timedelta]] = {
    "stuck_flush": (timedelta(hours=-27), timedelta(hours=30)),
    "heating_left_on": (timedelta(hours=-20), timedelta(hours=23)),
    "leak": (timedelta(minutes=3), timedelta(hours=3)),
    "bin_full": (timedelta(minutes=5), timedelta(hours=3)),
    "lamp_out": (timedelta(minutes=7), timedelta(hours=3)),
}
"""The demo's story: each anomaly of the scenario re-timed (onset from the start of the live
run, longest duration). A stuck flush is only told from a night of flow or a day without a
dry hour, and heating left on from hours of a closed building above its usual closed level:
they start in the history, so their alerts are there when the live run begins. A leak, a
full bin and a lamp out show at once: they happen in the first live seconds."""

DEMO_HISTORY_DAYS = 28.0
"""The buildings' history: four weeks, what the baselines, "jour type" and comparisons need."""

DEMO_RECENT_DAYS = 3.0
"""The other devices' history (bins, streetlights): their rules need days, not weeks."""

BUILDING_KINDS = frozenset({"electricity", "water", "gas", "heat", "leak"})


def demo_scenario(scene: Scenario, start: datetime) -> Scenario:
    """The scenario with its anomalies re-timed to tell the demo's story (DEMO_SCHEDULE)."""
    moved = []
    for anomaly in scene.anomalies:
        timing = DEMO_SCHEDULE.get(anomaly.type)
        if timing is None:
            continue
        offset, longest = timing
        onset = start + offset
        end = None if anomaly.end is None else onset + min(anomaly.end - anomaly.onset, longest)
        moved.append(replace(anomaly, onset=onset, end=end))
    return replace(scene, anomalies=tuple(moved))


def run_demo(
    workdir: Path,
    *,
    seconds: float,
    speed: float,
    http_port: int,
    console: Console,
    history_days: float = DEMO_HISTORY_DAYS,
    log: dict[str, str] | None = None,
) -> None:
    """Embedded broker + simulated Saint-Sulpice + the real service on a SQLite store.

    First ``history_days`` of the buildings' history (three days of the other devices') go
    through the pipeline in process (a backfill), with a stuck flush and heating left on in
    its last day; then the village runs live on the embedded MQTT broker, ``speed`` times
    faster than real time, with a leak, a full bin and a lamp out in its first minutes.
    """
    # lazy: the embedded broker and the web server load only for `demo`
    from lorawatch.gateway_bridge.embedded_broker import free_port
    from lorawatch.web.server import bind

    with demo_workdir(workdir) as store_path:
        port = http_port or free_port()
        # Probed before anything starts: a busy port stops the demo here, with nothing changed.
        bind(f"127.0.0.1:{port}", key="--port").close()
        for stale in workdir.glob("lorawatch.sqlite*"):
            stale.unlink()  # this demo's own store, from its last run: the story starts afresh
        _run_demo(store_path, port, seconds, speed, console, history_days, log or {})


DEMO_MARK = ".lorawatch-demo"
"""A file the demo leaves in its working directory: the store there is the demo's own."""


@contextmanager
def demo_workdir(workdir: Path) -> Iterator[Path]:
    """Hold the demo's working directory: create it, lock it, and refuse a store the demo did
    not make. A second demo on the same directory fails here, before deleting anything."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        lock = (workdir / ".lock").open("a+", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [
                (
                    "--workdir",
                    say.t("demo.cannot_use", workdir=workdir, why=exc.strerror or exc),
                )
            ]
        ) from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise BusyError(
                f"another lorawatch demo (pid {holder}) is running in {workdir}: stop it "
                "first, or give this one another --workdir",
                "busy.demo",
                pid=holder,
                workdir=workdir,
            ) from None
        store = workdir / "lorawatch.sqlite"
        mark = workdir / DEMO_MARK
        if store.exists() and not mark.exists():
            raise ConfigError(
                [
                    (
                        "--workdir",
                        say.t("demo.not_ours", store=store),
                    )
                ]
            )
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        mark.touch()
        yield store


def _run_demo(
    store_path: Path,
    port: int,
    seconds: float,
    speed: float,
    console: Console,
    history_days: float,
    log: dict[str, str],
) -> None:
    # lazy: the demo's embedded broker and simulator load only for `demo`
    from lorawatch.app.config import load

    # lazy: FastAPI, paho and the stores load only when the service starts
    from lorawatch.app.service import Service
    from lorawatch.gateway_bridge.embedded_broker import EmbeddedBroker
    from lorawatch.simulators import scenario as scenarios
    from lorawatch.simulators.run import live
    from lorawatch.simulators.simulation import Simulation
    from lorawatch.web.security import hash_password

    path = scenarios.builtin("saint-sulpice")
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    scene = demo_scenario(scenarios.load(path), start)
    broker = EmbeddedBroker()
    broker.start()
    # A one-off operator for the demo's pages: a fresh password each run, shown on this
    # console only (never logged), and only its hash in the settings, as in production.
    password = secrets.token_urlsafe(12)
    settings = load(
        None,
        {
            "inventory": {"path": str(path)},
            "mqtt": {"url": broker.url, "protocol": "3.1.1", "client_id": "lorawatch-demo"},
            "store": {"sqlite": {"path": str(store_path)}, "batch_interval_ms": 200},
            # Simulated time runs ahead of the wall clock (xN): trust the events' own times.
            "bridge": {"max_clock_ahead_s": 0},
            # One language for the console, the alerts it prints and the pages it serves.
            "site": {"language": say.language()},
            "log": log,  # the command line's --log-level/--log-format, for the receiver too
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
        text = say.t(
            "demo.started",
            name=scene.name,
            n=len(scene.inventory.devices),
            url=url,
            password=password,
            screen=screen,
        )
        console.print(f"[bold]lorawatch demo[/bold]: {escape(text)}", highlight=False)
        status = DemoStatus(service, scene, console)
        try:
            history(sim, scene, start, history_days, service, status, stop)
            if not stop.is_set():  # Ctrl-C during the history: no live run
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
                        say.t("demo.live", speed=f"{speed:g}"),
                    )
                    if deadline is not None and time.monotonic() >= deadline:
                        stop.set()
                publisher.join(timeout=3)
        finally:
            stop.set()
            service.stop()
            broker.stop()
    console.print(
        say.t("demo.stopped", n=status.readings, store=store_path), highlight=False, markup=False
    )


def history(
    sim: Simulation,
    scene: Scenario,
    start: datetime,
    days: float,
    service: Service,
    status: DemoStatus,
    stop: threading.Event,
) -> None:
    """Backfill the demo's history: the buildings' ``days``, then every device's last
    DEMO_RECENT_DAYS; a status after each step, so the console moves while it loads."""
    # lazy: the simulator loads only for `demo`
    from lorawatch.simulators.run import backfill

    if days <= 0:
        return
    recent = min(days, DEMO_RECENT_DAYS)
    buildings = [d.dev_eui for d in scene.inventory.devices.values() if d.kind in BUILDING_KINDS]
    steps: list[tuple[datetime, datetime, list[str] | None]] = []
    cursor = start - timedelta(days=days)
    step = timedelta(hours=6)  # the first status comes quickly, then a week at a time
    while cursor < start - timedelta(days=recent):
        end = min(cursor + step, start - timedelta(days=recent))
        steps.append((cursor, end, buildings))
        cursor, step = end, timedelta(days=7)
    steps.append((start - timedelta(days=recent), start, None))
    began = time.monotonic()

    def sink(messages: list[Message]) -> None:
        if stop.is_set():
            raise _Stopped  # Ctrl-C during the history: stop within a batch
        service.bridge.process(messages)

    for begin, end, devices in steps:
        try:
            backfill(sim, begin, end, sink, batch=500, progress=False, dev_euis=devices)
        except _Stopped:
            return
        loaded = (end - (start - timedelta(days=days))).total_seconds() / 86400
        status.show(end, say.t("demo.history", loaded=_days(loaded), days=_days(days)))
    log.info("demo history ingested", days=days, seconds=round(time.monotonic() - began, 1))


class _Stopped(Exception):
    pass


def _days(n: float) -> str:
    shown, french = f"{n:.3g}", say.language() == "fr"
    one = n < 2 if french else n == 1  # « 1,5 jour », "1.5 days"
    return say.t("demo.day" if one else "demo.days", n=shown.replace(".", ",") if french else shown)


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
        self._alerts_after = 0

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
        lang = say.language()
        stamp = f"{i18n.short_day(local.date(), lang)} {i18n.clock(local, lang)}"
        table = Table(
            title=escape(say.t("demo.title", name=self.scene.name, at=stamp, phase=phase, n=new))
        )
        table.add_column(say.t("demo.building"))
        table.add_column(say.t("demo.kwh_today"), justify="right")
        table.add_column(say.t("demo.m3_today"), justify="right")
        for building, values in today.items():
            table.add_row(
                building,
                i18n.number(values.get("energy_delta_kwh", 0), lang, 1),
                i18n.number(values.get("volume_delta_m3", 0), lang, 2),
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
            fullest = ", ".join(f"{d} {v:.0f} %" for d, v in bins)
            self.console.print(say.t("demo.bins", bins=fullest), highlight=False, markup=False)
        if lamps and lamps[0][1]:
            lit = say.t("demo.lamps", lit=int(lamps[0][0] or 0), n=lamps[0][1])
            self.console.print(lit, highlight=False, markup=False)
        self._events(since)
        self._alerts()

    def _alerts(self) -> None:
        """Print each alert once, when it opens: the story the anomalies tell."""
        if self.service.alerts is None:
            return
        rows = self.service.sqlite.fetch(
            "SELECT id, rule, severity, title FROM alerts WHERE id > ? ORDER BY id",
            (self._alerts_after,),
        )
        for id_, rule, severity, title in rows:
            self._alerts_after = max(self._alerts_after, id_)
            shown = catalogue.text(say.language(), f"severity.{severity}")
            self.console.print(
                f"[bold magenta]{say.t('demo.alert')}[/bold magenta] "
                + escape(say.t("demo.alert_line", id=id_, rule=rule, severity=shown, title=title)),
                highlight=False,
            )

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
                f"[bold red]{say.t(f'demo.flag.{name}').upper()}[/bold red]"
                if value
                else f"[green]{say.t('demo.cleared', flag=say.t(f'demo.flag.{name}'))}[/green]"
            )
            self.console.print(f"{when:%H:%M} {text} {device}", highlight=False)

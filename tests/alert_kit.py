"""Builders for the alert tests: records of the reference village, an engine, notifiers.

Records are built the way the pipeline builds them (readings and consumption deltas tagged
with the device's place from the Saint-Sulpice inventory), so the rules are tested on what
they will see, without a decoder or a broker in the way.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from lorawatch import inventory as inventory_mod
from lorawatch.alerts.config import AlertsConfig
from lorawatch.alerts.engine import AlertEngine
from lorawatch.alerts.notify import Delivery
from lorawatch.pipeline.ingest import place_of
from lorawatch.pipeline.records import (
    Batch,
    Consumption,
    DeadLetter,
    DeviceEvent,
    Place,
    RawUplink,
    StoredReading,
)
from lorawatch.simulators.scenario import builtin
from lorawatch.stores.sqlite import SqliteStore

PARIS = ZoneInfo("Europe/Paris")
INVENTORY = inventory_mod.load(builtin("saint-sulpice"))
EUI = {d.name: d.dev_eui for d in INVENTORY.devices.values()}


def local(*args: int) -> datetime:
    """A wall-clock time in Saint-Sulpice."""
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def place(name: str) -> Place:
    return place_of(INVENTORY.devices[EUI[name]])


def reading(name: str, reading_name: str, value: float | bool, t: datetime) -> StoredReading:
    return StoredReading(EUI[name], reading_name, "", t, value, place(name))


def delta(
    name: str, reading_name: str, start: datetime, end: datetime, value: float
) -> Consumption:
    return Consumption(EUI[name], reading_name, "", start, end, value, False, place(name))


def uplink(name: str, t: datetime, f_cnt: int | None = None) -> RawUplink:
    return RawUplink(
        EUI[name],
        t,
        f_cnt,
        85,
        b"\x01",
        f"{name}-{t.isoformat()}",
        t,
        "v4-json",
        -90,
        7,
        1,
        place(name),
    )


def decode_error(name: str, t: datetime) -> DeadLetter:
    return DeadLetter(
        t, "application/x/device/y/event/up", b"\xff", "decode_error", "bad frame", EUI[name]
    )


def event(name: str, t: datetime, kind: str, code: str = "", detail: str = "") -> DeviceEvent:
    return DeviceEvent(EUI[name], t, kind, code, detail, place(name))


AT_ONCE: dict[str, Any] = {
    "waste": {"fill_confirm_readings": 1, "tilt_confirm_readings": 1},
    "fleet": {"battery_confirm_readings": 1},
}
"""Rules that act on one frame, for tests about notifications and storage rather than debounce."""


def config(**overrides: Any) -> AlertsConfig:
    """Defaults, without quiet hours (tests say when they want them)."""
    raw: dict[str, Any] = {"quiet_hours": {"start": ""}, "language": "en"}  # tests read English
    raw.update(overrides)
    return AlertsConfig.model_validate(raw)


class Recorder:
    """A notifier that keeps what it is given, for tests that look at routing and counts."""

    digest = False

    def __init__(self, name: str = "rec") -> None:
        self.name = name
        self.deliveries: list[Delivery] = []
        self.arrived = threading.Event()

    def send(self, deliveries: list[Delivery]) -> None:
        self.deliveries.extend(deliveries)
        self.arrived.set()

    def close(self) -> None:
        return None

    @property
    def events(self) -> list[tuple[str, str, int]]:
        return [(d.event, d.alert.rule, d.alert.id) for d in self.deliveries]


def recorded_config(**overrides: Any) -> AlertsConfig:
    raw: dict[str, Any] = {
        "notifiers": [{"name": "rec", "type": "webhook", "url": "http://unused/"}]
    }
    raw.update(overrides)
    return config(**raw)


@dataclass
class Kit:
    """An engine on a fresh SQLite file; ``feed`` is what the bridge does for each batch."""

    path: Path
    cfg: AlertsConfig = field(default_factory=config)
    recorder: Recorder = field(default_factory=Recorder)
    engine: AlertEngine = field(init=False)
    store: SqliteStore = field(init=False)

    def __post_init__(self) -> None:
        self.open()

    def open(self) -> None:
        self.store = SqliteStore(self.path / "lorawatch.sqlite")
        self.engine = AlertEngine(self.store, INVENTORY, self.cfg, notifiers={"rec": self.recorder})

    def restart(self) -> None:
        """Stop as the service does (state saved), and start a new engine on the same file."""
        self.engine.stop()
        self.store.close()
        self.open()

    def feed(self, now: datetime | None = None, **records: Any) -> None:
        batch = Batch(**records)
        times = [r.time for r in batch.readings] + [c.end for c in batch.consumption]
        times += [u.time for u in batch.uplinks] + [e.time for e in batch.events]
        self.engine.on_batch(batch, now or (max(times) if times else None))

    def alerts(self, rule: str = "", state: str = "all") -> list[Any]:
        found = self.engine.api.list(state, limit=1000)  # type: ignore[arg-type]
        return [a for a in reversed(found) if not rule or a.rule == rule]

    def outbox(self) -> list[tuple[Any, ...]]:
        return self.store.fetch(
            "SELECT n.notifier, e.kind, a.rule, n.state FROM notifications n"
            " JOIN alert_events e ON e.id = n.event_id JOIN alerts a ON a.id = n.alert_id ORDER BY n.id"
        )


def quarter_hours(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    t = start
    while t < end:
        yield t, t + timedelta(minutes=15)
        t += timedelta(minutes=15)


def water_deltas(
    name: str, start: datetime, end: datetime, flow_l_h: Callable[[datetime], float]
) -> Iterator[list[Consumption]]:
    """Quarter-hour ``volume_delta_m3`` deltas of a meter, one hour of them at a time."""
    hour: list[Consumption] = []
    for a, b in quarter_hours(start, end):
        hour.append(delta(name, "volume_delta_m3", a, b, flow_l_h(a) / 4 / 1000))
        if len(hour) == 4:
            yield hour
            hour = []
    if hour:
        yield hour


class Receiver:
    """A local HTTP server standing in for a webhook receiver; answers with ``statuses`` in
    turn (the last one repeats), records every body, and signals each request."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [200])
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self.got = threading.Condition()
        kit = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with kit.got:
                    status = kit.statuses[min(kit.requests, len(kit.statuses) - 1)]
                    kit.requests += 1
                    if 200 <= status < 300:
                        kit.bodies.append(body)
                    kit.got.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        with self.got:
            return self.got.wait_for(predicate, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

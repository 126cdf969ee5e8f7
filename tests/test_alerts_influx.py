"""Alert events in InfluxDB: the built-in notifier, its points (tags, escaping, data time),
its routing (every event, no quiet hours, from the CLI too) and the real InfluxDB 1.6 reading
them back as Grafana's tables do."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from lorawatch.alerts import influx as alert_influx
from lorawatch.alerts.api import AlertsApi
from lorawatch.alerts.config import AlertsConfig, Severity
from lorawatch.alerts.engine import AlertEngine
from lorawatch.alerts.model import Alert, AlertState
from lorawatch.alerts.notify import Delivery, NotifyError
from lorawatch.core.errors import StoreUnavailable
from lorawatch.core.timeutil import ns
from lorawatch.dashboards import influxql
from lorawatch.pipeline.records import Batch
from lorawatch.stores.influx import InfluxStore
from lorawatch.stores.settings import InfluxConfig
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import AT_ONCE, INVENTORY, config, local, reading
from tests.servers import InfluxDB

GLASS = "pav-salle-glass"
T0 = local(2026, 5, 15, 17, 30)
WALL = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
"""The engine's clock: months after the data, as in a backfill, and within quiet hours."""


class Lines:
    """A sink keeping what it is given, or failing as a full spool does."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.full = False

    def write_lines(self, lines: Sequence[str]) -> None:
        if self.full:
            raise StoreUnavailable("influxdb spool full")
        self.lines.extend(lines)


def alert(**changes: Any) -> Alert:
    base: dict[str, Any] = {
        "id": 7,
        "rule": "waste.fill",
        "kind": "waste",
        "subject": "a840418875440004",
        "severity": Severity.WARNING,
        "state": AlertState.OPEN,
        "commune": "saint-sulpice-la-foret",
        "building": "",
        "device": "pav salle,glass=1",
        "title": 'Bin "full" at C:\\bins\nnow',
        "message": "",
        "opened_at": T0,
        "created_at": WALL,
        "last_seen_at": T0,
        "count": 1,
        "acked_at": None,
        "acked_by": "",
        "resolved_at": None,
        "resolved_by": "",
        "resolution": "",
        "evidence": [],
        "values": {},
    }
    return Alert(**(base | changes))


def delivery(event: str, at: datetime, a: Alert, severity: Severity = Severity.WARNING) -> Delivery:
    return Delivery(1, 1, event, WALL, "lorawatch", "", severity, 0, a, at)


def test_a_point_has_one_series_per_alert_escaped_tags_and_string_fields() -> None:
    line = alert_influx.point(delivery("opened", T0 + timedelta(seconds=1), alert()))
    assert line == (
        "alert,alert_id=7,commune=saint-sulpice-la-foret,device=pav\\ salle\\,glass\\=1,"
        'kind=waste,rule=waste.fill state="open",active=true,severity="warning",'
        'title="Bin \\"full\\" at C:\\\\bins now",event="opened",'
        f"opened_ms={ns(T0) // 1_000_000}i {ns(T0) + 1_000_000_000}"
    )


def test_the_state_of_a_point_is_the_one_right_after_its_event() -> None:
    acked = alert(acked_at=WALL - timedelta(minutes=5), state=AlertState.ACKNOWLEDGED)
    assert alert_influx.state_at(delivery("escalated", T0, acked)) is AlertState.ACKNOWLEDGED
    late_ack = alert(acked_at=WALL + timedelta(minutes=5), state=AlertState.ACKNOWLEDGED)
    assert alert_influx.state_at(delivery("escalated", T0, late_ack)) is AlertState.OPEN
    assert alert_influx.state_at(delivery("opened", T0, late_ack)) is AlertState.OPEN
    resolved = alert_influx.point(delivery("resolved", T0, alert()))
    assert 'state="resolved",active=false' in resolved


def test_a_full_spool_is_a_failed_delivery_retried_later(tmp_path: Path) -> None:
    sink = Lines()
    sink.full = True
    with pytest.raises(NotifyError, match="spool full"):
        alert_influx.InfluxNotifier(sink).send([delivery("opened", T0, alert())])
    now = [WALL]
    e = engine(tmp_path, sink, lambda: now[0])
    e.on_batch(Batch(readings=[reading(GLASS, "fill_pct", 99.0, T0)]), WALL)
    (worker,) = e.outbox.workers
    retry_in = worker.run_once()
    assert 0 < retry_in <= 2 * alert_influx.INFLUX_CONFIG.backoff_initial_s
    assert e.db.fetch("SELECT state, attempts FROM notifications") == [("pending", 1)]
    sink.full = False
    now[0] += timedelta(seconds=retry_in)
    worker.run_once()
    assert e.db.fetch("SELECT state FROM notifications") == [("sent",)]
    assert len(sink.lines) == 1


def engine(
    tmp_path: Path,
    sink: alert_influx.LineSink,
    clock: Callable[[], datetime] = lambda: WALL,
    **cfg: Any,
) -> AlertEngine:
    return AlertEngine(
        SqliteStore(tmp_path / "lorawatch.sqlite"),
        INVENTORY,
        config(**{"rules": AT_ONCE, **cfg}),
        clock=clock,
        influx=sink,
    )


def test_every_event_is_written_at_once_at_its_data_time(tmp_path: Path) -> None:
    """Opened, escalated, acknowledged and resolved, whatever the routes and quiet hours of
    the other notifiers; stamped at the data's time, never before the previous event."""
    sink = Lines()
    now = [WALL]
    e = engine(
        tmp_path,
        sink,
        lambda: now[0],
        notifiers=[{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/"}],
        routes=[{"notifiers": ["ops"], "events": ["opened"]}],
        quiet_hours={"start": "22:00", "end": "07:00", "timezone": "UTC"},
    )
    times = [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=20)]
    e.on_batch(Batch(readings=[reading(GLASS, "fill_pct", 90.0, times[0])]), WALL)
    e.on_batch(Batch(readings=[reading(GLASS, "fill_pct", 99.0, times[1])]), WALL)
    (a,) = e.api.list()
    now[0] = acked = WALL + timedelta(minutes=1)
    e.api.ack(a.id, "camille", now=acked)
    e.on_batch(Batch(readings=[reading(GLASS, "fill_pct", 5.0, times[2])]), acked)
    assert e.db.fetch("SELECT notifier, held FROM notifications ORDER BY id") == [
        ("ops", "quiet_hours"),
        *[("influxdb", "")] * 4,
    ]
    influx_worker = next(w for w in e.outbox.workers if w.config.name == "influxdb")
    assert influx_worker.run_once() == 0.0
    events = [line.split(" ")[1] for line in sink.lines]
    assert [f.split(",")[0] for f in events] == [
        'state="open"',
        'state="open"',
        'state="acknowledged"',
        'state="resolved"',
    ]
    assert ['severity="critical"' in f for f in events] == [False, True, True, True]
    stamps = [int(line.rsplit(" ", 1)[1]) for line in sink.lines]
    # The acknowledgement is a person's act, at the wall clock; the bin emptied earlier in
    # data time still resolves the alert after it, so its last point is the resolution.
    assert stamps == [ns(times[0]), ns(times[1]), ns(acked), ns(acked) + 1000]
    assert (
        e.db.fetch("SELECT state FROM notifications WHERE notifier = 'influxdb'") == [("sent",)] * 4
    )


def test_the_cli_sends_acknowledgements_to_influxdb_when_the_service_writes_there(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "lorawatch.sqlite")
    e = engine(tmp_path, Lines())
    e.on_batch(Batch(readings=[reading(GLASS, "fill_pct", 99.0, T0)]), WALL)
    cli = AlertsApi(store, config(), builtin=alert_influx.builtin(["influxdb", "sqlite"]))
    assert alert_influx.builtin(["sqlite"]) == ()
    cli.ack(1, "camille", now=WALL)
    assert store.fetch(
        "SELECT e.kind, n.notifier FROM notifications n JOIN alert_events e ON e.id = n.event_id"
    ) == [("opened", "influxdb"), ("acknowledged", "influxdb")]


def test_the_name_influxdb_is_reserved_for_the_built_in_notifier() -> None:
    for notifier in (
        {"name": "influxdb", "type": "webhook", "url": "http://x/"},
        {"name": "mine", "type": "influxdb"},
    ):
        with pytest.raises(ValidationError, match="built in"):
            AlertsConfig.model_validate({"notifiers": [notifier]})


def test_events_of_an_older_file_get_a_data_time_column(tmp_path: Path) -> None:
    path = tmp_path / "lorawatch.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE alert_events (id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER"
            " NOT NULL, time_us INTEGER NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,"
            " severity TEXT NOT NULL, detail TEXT NOT NULL)"
        )
        conn.execute("INSERT INTO alert_events VALUES (1, 1, 5, 'opened', 'lorawatch', 'info', '')")
    store = SqliteStore(path)
    AlertsApi(store)
    assert store.fetch("SELECT time_us, at_us FROM alert_events") == [(5, None)]


def open_alerts(influxdb: InfluxDB, db: str, commune: str) -> list[dict[str, Any]]:
    """The overview's open-alerts query, on the day before and after T0."""
    window = f"time >= '{(T0 - timedelta(days=1)).isoformat()}'"
    query = influxql.open_alerts(influxql.Scope(commune=commune)).replace("$timeFilter", window)
    body = httpx.get(f"{influxdb.url}/query", params={"db": db, "q": query, "epoch": "ms"}).json()
    series: list[dict[str, Any]] = body["results"][0].get("series", [])
    return series


@pytest.mark.servers
def test_influxdb_reads_the_points_back_as_the_open_alerts_table_does(
    tmp_path: Path, influxdb: InfluxDB, influx_db: str
) -> None:
    """Escaped tags and strings come back intact from a real InfluxDB 1.6, and the
    dashboards' query sees the last state of each alert: the emptied bin is resolved, the
    full one is open."""
    sink = InfluxStore(
        InfluxConfig(url=influxdb.url, database=influx_db, spool_dir=tmp_path / "spool")
    )
    try:
        odd = alert(commune="l'île")
        sink.write_lines([alert_influx.point(delivery("opened", T0, odd))])
        (series,) = open_alerts(influxdb, influx_db, "l'île")
        assert series["tags"]["device"] == odd.device
        assert series["values"][0][1:] == [odd.title.replace("\n", " "), "warning", ns(T0) // 10**6]

        e = engine(tmp_path, sink)
        household = "pav-eglise-household"
        e.on_batch(Batch(readings=[reading(household, "fill_pct", 99.0, T0)]), WALL)
        e.on_batch(Batch(readings=[reading(GLASS, "fill_pct", 99.0, T0)]), WALL)
        emptied = T0 + timedelta(hours=2)
        e.on_batch(Batch(readings=[reading(household, "fill_pct", 3.0, emptied)]), WALL)
        (worker,) = e.outbox.workers
        worker.run_once()
        (series,) = open_alerts(influxdb, influx_db, "saint-sulpice-la-foret")
        assert series["tags"]["device"] == GLASS
        (glass,) = [a for a in e.api.list() if a.device == GLASS]
        assert series["values"][0][1:] == [glass.title, "critical", ns(T0) // 10**6]
    finally:
        sink.close()

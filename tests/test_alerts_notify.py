"""Notifications: a notifier that is down is retried with backoff, reported, and never slows
ingestion; quiet hours hold non-urgent alerts; rate limits; routing; Apprise digests; JSON
alert events on MQTT (private Mosquitto)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lorawatch.alerts.engine import AlertEngine
from lorawatch.pipeline.records import Batch
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import AT_ONCE, INVENTORY, Receiver, config, local, reading
from tests.servers import Mosquitto, free_port


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def engine(tmp_path: Path, clock: Clock | None = None, **cfg: Any) -> AlertEngine:
    kwargs: dict[str, Any] = {"clock": clock} if clock else {}
    return AlertEngine(
        SqliteStore(tmp_path / "lorawatch.sqlite"),
        INVENTORY,
        config(**{"rules": AT_ONCE, **cfg}),
        **kwargs,
    )


def hook(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "url": url, "backoff_initial_s": 0.05, **extra}


def wet(i: int, device: str = "ecole-fuite-sanitaires") -> Batch:
    return Batch(
        readings=[reading(device, "leak", True, local(2026, 1, 19, 7, 0) + timedelta(minutes=i))]
    )


def states(e: AlertEngine) -> list[tuple[str, int, str]]:
    return [
        (str(s), int(a), str(h))
        for s, a, h in e.db.fetch("SELECT state, attempts, held FROM notifications ORDER BY id")
    ]


def test_a_webhook_failing_with_500_is_retried_until_it_takes_it(tmp_path: Path) -> None:
    receiver = Receiver([500, 500, 200])
    e = engine(tmp_path, notifiers=[hook("ops", receiver.url)])
    e.start()
    try:
        started = time.perf_counter()
        e.on_batch(wet(0), datetime.now(UTC))
        assert time.perf_counter() - started < 0.5
        assert receiver.wait(lambda: len(receiver.bodies) == 1)
        body = receiver.bodies[0]
        assert body["event"] == "opened" and body["alert"]["rule"] == "water.leak"
        assert body["alert"]["building"] == "ecole" and body["id"].startswith(
            "lorawatch-alert-event-"
        )
        assert receiver.requests == 3
    finally:
        e.stop()  # joins the worker: what it wrote is final
        receiver.close()
    assert e.db.fetch("SELECT state, attempts FROM notifications") == [("sent", 3)]
    assert e.metrics.failures.labels("ops")._value.get() == 2


def test_a_hanging_notifier_does_not_slow_on_batch(tmp_path: Path) -> None:
    release = threading.Event()
    receiver = Receiver([200])
    original = receiver.server.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

    def slow(handler: Any) -> None:
        release.wait(20)
        original(handler)

    receiver.server.RequestHandlerClass.do_POST = slow  # type: ignore[attr-defined]
    e = engine(tmp_path, notifiers=[hook("ops", receiver.url, timeout_s=30)])
    e.start()
    try:
        durations = []
        for i in range(5):  # five leaks in five buildings' worth of sensors: five alerts
            batch = Batch(
                readings=[
                    reading(d, "leak", True, local(2026, 1, 19, 7, i))
                    for d in ("ecole-fuite-sanitaires", "mairie-eau")
                ]
            )
            started = time.perf_counter()
            e.on_batch(batch, datetime.now(UTC))
            durations.append(time.perf_counter() - started)
        assert max(durations) < 0.2, durations
        assert len(e.lifecycle.open) == 2
        release.set()
        assert receiver.wait(lambda: len(receiver.bodies) == 2)
    finally:
        release.set()
        e.stop()
        receiver.close()


def test_a_refused_connection_backs_off_is_reported_and_given_up(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 1, 19, 10, tzinfo=UTC))
    port = free_port()  # nothing listens there
    e = engine(
        tmp_path,
        clock,
        notifiers=[hook("ops", f"http://127.0.0.1:{port}/", max_attempts=4, backoff_initial_s=10)],
    )
    worker = e.outbox.workers[0]
    e.on_batch(wet(0), clock())
    delays = []
    for _ in range(4):
        delay = worker.run_once()
        delays.append(delay)
        clock.now += timedelta(seconds=delay + 0.001)
    assert states(e) == [("failed", 4, "")]
    assert 8 <= delays[0] <= 12 and 16 <= delays[1] <= 24 and 32 <= delays[2] <= 48  # doubling
    assert worker.run_once() == pytest.approx(5.0)  # nothing left but polling
    health = e.health()["notifiers"]["ops"]
    assert health["failing"] is True and "ConnectError" in health["last_error"]
    assert e.metrics.given_up.labels("ops")._value.get() == 1
    assert e.health()["outbox_failed"] == 1


def test_quiet_hours_hold_the_non_urgent_and_let_the_urgent_through(tmp_path: Path) -> None:
    receiver = Receiver([200])
    clock = Clock(local(2026, 4, 18, 23, 30).astimezone(UTC))
    e = engine(
        tmp_path,
        clock,
        notifiers=[hook("ops", receiver.url)],
        quiet_hours={"start": "22:00", "end": "07:00"},
    )
    try:
        e.on_batch(
            Batch(readings=[reading("pav-foret-paper", "battery_pct", 9.0, clock())]), clock()
        )
        e.on_batch(wet(0), clock())
        worker = e.outbox.workers[0]
        worker.run_once()
        assert [b["alert"]["rule"] for b in receiver.bodies] == ["water.leak"]
        assert states(e) == [("pending", 0, "quiet_hours"), ("sent", 1, "")]
        wait = worker.run_once()
        assert local(2026, 4, 19, 7, 0) == clock() + timedelta(seconds=wait)
        clock.now = local(2026, 4, 19, 7, 0, 1).astimezone(UTC)
        worker.run_once()
        assert [b["alert"]["rule"] for b in receiver.bodies] == ["water.leak", "fleet.battery"]
    finally:
        receiver.close()


def test_rate_limit_holds_the_excess_for_the_hour(tmp_path: Path) -> None:
    receiver = Receiver([200])
    clock = Clock(datetime(2026, 1, 19, 10, tzinfo=UTC))
    e = engine(tmp_path, clock, notifiers=[hook("ops", receiver.url, rate_limit_per_hour=2)])
    try:
        worker = e.outbox.workers[0]
        for device in ("ecole-fuite-sanitaires", "mairie-eau", "ecole-eau"):
            e.on_batch(wet(0, device), clock())
            worker.run_once()
            clock.now += timedelta(minutes=1)
        assert len(receiver.bodies) == 2
        assert states(e)[2] == ("pending", 0, "rate_limit")
        clock.now = datetime(2026, 1, 19, 11, 0, 1, tzinfo=UTC)
        worker.run_once()
        assert len(receiver.bodies) == 3
    finally:
        receiver.close()


def test_apprise_sends_held_events_as_one_digest(tmp_path: Path) -> None:
    receiver = Receiver([200])
    clock = Clock(local(2026, 4, 18, 23, 30).astimezone(UTC))
    url = receiver.url.replace("http://", "json://")
    e = engine(
        tmp_path,
        clock,
        notifiers=[{"name": "mail", "type": "apprise", "url": url}],
        quiet_hours={"start": "22:00", "end": "07:00"},
    )
    try:
        for i, device in enumerate(("pav-foret-paper", "pav-salle-glass")):
            e.on_batch(
                Batch(
                    readings=[reading(device, "battery_pct", 9.0, clock() + timedelta(minutes=i))]
                ),
                clock(),
            )
        worker = e.outbox.workers[0]
        worker.run_once()
        assert receiver.requests == 0
        clock.now = local(2026, 4, 19, 7, 5).astimezone(UTC)
        worker.run_once()
        assert receiver.requests == 1
        [message] = receiver.bodies
        assert message["title"] == "lorawatch: 2 alert events"
        assert "pav-foret-paper" in message["message"] and "pav-salle-glass" in message["message"]
        assert [s[0] for s in states(e)] == ["sent", "sent"]
    finally:
        receiver.close()


def test_routes_by_kind_building_and_severity(tmp_path: Path) -> None:
    e = engine(
        tmp_path,
        notifiers=[hook(n, "http://127.0.0.1:9/") for n in ("oncall", "collect", "mairie")],
        routes=[
            {"name": "urgent", "min_severity": "critical", "notifiers": ["oncall"]},
            {"kinds": ["waste"], "notifiers": ["collect"]},
            {"buildings": ["mairie"], "kinds": ["water", "energy"], "notifiers": ["mairie"]},
        ],
    )
    t = local(2026, 5, 15, 18, 0)
    e.on_batch(Batch(readings=[reading("pav-salle-glass", "fill_pct", 99.0, t)]), t)
    e.on_batch(Batch(readings=[reading("mairie-eau", "leak", True, t)]), t)
    e.on_batch(Batch(readings=[reading("mairie-eau", "battery_v", 2.9, t)]), t)
    rows = e.db.fetch(
        "SELECT a.rule, n.notifier FROM notifications n JOIN alerts a ON a.id = n.alert_id ORDER BY n.id"
    )
    assert rows == [
        ("waste.fill", "oncall"),
        ("waste.fill", "collect"),
        ("water.leak", "oncall"),
        ("water.leak", "mairie"),
    ]


@pytest.mark.servers
def test_alert_events_are_published_as_json_on_mqtt(tmp_path: Path, mosquitto: Mosquitto) -> None:
    got: list[tuple[str, dict[str, Any]]] = []
    arrived = threading.Condition()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="alerts-listener")

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with arrived:
            got.append((msg.topic, json.loads(msg.payload)))
            arrived.notify_all()

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    client.subscribe("lorawatch/alerts/#", qos=1)
    assert subscribed.wait(10)
    e = engine(
        tmp_path,
        notifiers=[{"name": "bus", "type": "mqtt", "url": mosquitto.url}],
        routes=[{"notifiers": ["bus"], "events": ["opened", "acknowledged", "resolved"]}],
    )
    e.start()
    try:
        e.on_batch(wet(0), datetime.now(UTC))
        with arrived:
            assert arrived.wait_for(lambda: len(got) == 1, 10)
        topic, body = got[0]
        assert topic == "lorawatch/alerts/saint-sulpice-la-foret/ecole/water.leak"
        assert body["event"] == "opened" and body["alert"]["severity"] == "critical"
        assert body["alert"]["evidence"][0]["name"] == "leak"
        e.api.ack(body["alert"]["id"], "camille")
        with arrived:
            assert arrived.wait_for(lambda: len(got) == 2, 10)
        assert got[1][1]["event"] == "acknowledged" and got[1][1]["actor"] == "camille"
    finally:
        e.stop()
        client.disconnect()
        client.loop_stop()


def test_the_service_runs_the_rules_on_each_stored_batch(tmp_path: Path) -> None:
    from lorawatch.app import config as config_mod
    from lorawatch.app.service import Service
    from lorawatch.gateway_bridge.source import NullSource
    from lorawatch.simulators.scenario import builtin, load
    from lorawatch.simulators.simulation import Simulation

    scene = load(builtin("saint-sulpice"))
    receiver = Receiver([200])
    settings = config_mod.load(
        None,
        {
            "inventory": {"path": str(builtin("saint-sulpice"))},
            "store": {"sqlite": {"path": str(tmp_path / "lw.sqlite")}, "batch_interval_ms": 5000},
        },
    )
    service = Service(
        settings,
        inventory=scene.inventory,
        source=NullSource(),
        alerts=config(notifiers=[hook("ops", receiver.url)]),
    )
    assert service.alerts is not None
    assert service.bridge.batch_interval_s == 0.3, "capped by alerts.max_delay_ms"
    sim = Simulation(scene, 1)
    frames = [
        u.message()
        for u in sim.uplinks(
            local(2026, 1, 19, 6, 0), local(2026, 1, 19, 7, 0), ["24e124710b420001"]
        )
    ]
    service.alerts.start()
    try:
        service.bridge.process(frames)
        assert receiver.wait(lambda: len(receiver.bodies) == 1)
        alert = receiver.bodies[0]["alert"]
        assert alert["rule"] == "water.leak" and alert["device"] == "ecole-fuite-sanitaires"
        stored = service.sqlite.fetch(
            "SELECT COUNT(*) FROM readings WHERE name = 'leak' AND value = 1"
        )
        assert stored[0][0] >= 1, "the alert rests on a stored reading"
        assert alert["count"] == stored[0][0], "one alert for every wet report"
    finally:
        service.stop()
        receiver.close()

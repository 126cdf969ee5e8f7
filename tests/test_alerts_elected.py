"""The elected evaluator against a private PostgreSQL: one leader, a bounded takeover, one alert.

Two evaluators contend for the advisory lock; the leader is killed (its connection closed by
the server, or its process SIGKILLed) and the standby takes over within a bound measured
here. Then the building rules themselves: an evaluator opens an energy alert from what the
store holds, dies, and the one that takes over refreshes and resolves that same alert.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from lorawatch.alerts.engine import AlertEngine
from lorawatch.alerts.evaluator import LOCK_KEY, BuildingEvaluator, Election
from lorawatch.alerts.model import Alert
from lorawatch.alerts.pgsql import PgAlertsDb
from lorawatch.core.errors import StoreUnavailable
from lorawatch.pipeline.records import Batch
from lorawatch.stores.postgres import PostgresStore
from lorawatch.stores.settings import StateConfig
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import INVENTORY, config, local
from tests.servers import wait_until
from tests.test_alerts_rules import hall_hours, usual

RETRY_S = 0.2
TAKEOVER_BOUND_S = 3.0
"""A standby tries every RETRY_S: it must lead well within this after the leader is gone."""


def takeover(standby: Election, deadline_s: float = 10.0) -> float:
    """Step ``standby`` until it leads; seconds it took."""
    started = time.monotonic()
    wait_until(lambda: standby.step(), deadline_s, "the standby to take the lock")
    return time.monotonic() - started


def test_one_leads_and_the_other_takes_over_when_its_connection_ends(pg_dsn: str) -> None:
    a, b = Election(pg_dsn, RETRY_S), Election(pg_dsn, RETRY_S)
    assert a.step() and not b.step()
    assert a.step() and not b.step(), "the leader keeps the lock, the standby keeps waiting"
    assert a._conn is not None
    pid = a._conn.info.backend_pid
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert not a.step(), "a leader whose session ended knows it no longer leads"
    assert takeover(b) < TAKEOVER_BOUND_S
    assert not a.step(), "the former leader, reconnected, is now the standby"
    b.release()
    assert takeover(a) < TAKEOVER_BOUND_S, "a clean stop hands the lock over at once"
    a.release()


HOLDER = """
import sys
from lorawatch.alerts.evaluator import Election
from lorawatch.core import logs
logs.setup("warning")
e = Election(sys.argv[1], 0.2)
assert e.step()
print("leader", flush=True)
sys.stdin.read()
"""


def test_a_sigkilled_leader_is_replaced_within_the_bound(pg_dsn: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, pg_dsn],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "leader"
        standby = Election(pg_dsn, RETRY_S)
        assert not standby.step()
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            held = admin.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND (objid::bigint | (classid::bigint << 32)) = %s",
                (LOCK_KEY & 0xFFFFFFFFFFFFFFFF,),
            ).fetchone()
        assert held == (1,), "the lock is a session advisory lock held by the child"
        os.kill(holder.pid, signal.SIGKILL)
        killed = time.monotonic()
        holder.wait(10)
        wait_until(lambda: standby.step(), 10, "the standby to take the lock")
        seconds = time.monotonic() - killed
        assert seconds < TAKEOVER_BOUND_S
        standby.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()


# -- the building rules through a takeover ---------------------------------------------------

ONSET = local(2025, 12, 22, 8, 0)  # the hall's closure starts on the 22nd; heating left on
BACK = local(2025, 12, 25, 8, 0)  # the heating is turned down again


def draw(t: datetime, occupied: bool) -> float:
    return 9.5 if ONSET <= t < BACK else usual(t, occupied)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def shared(dsn: str) -> PostgresStore:
    return PostgresStore(StateConfig.model_validate({"backend": "postgresql", "dsn": dsn}))


@pytest.fixture
def worker_pair(
    pg_dsn: str, tmp_path: Path
) -> Iterator[tuple[SqliteStore, Clock, list[BuildingEvaluator]]]:
    """The readings store every worker writes to, a clock, and two elected evaluators, each
    with its own connections to the shared PostgreSQL holding the alert tables."""
    store = SqliteStore(tmp_path / "readings.sqlite")
    clock = Clock(local(2025, 12, 22, 20, 0))
    cfg = config(
        evaluator="elected",
        evaluator_retry_s=RETRY_S,
        evaluator_interval_s=RETRY_S,
        rules={"disabled": ["energy.baseline"]},
    )
    evaluators = []
    states = [shared(pg_dsn) for _ in range(2)]
    for state in states:
        engine = AlertEngine(PgAlertsDb(state), INVENTORY, cfg, clock=clock)
        evaluators.append(BuildingEvaluator(engine, store, Election(pg_dsn, RETRY_S)))
    yield store, clock, evaluators
    for e in evaluators:
        e.stop()
        e.engine.stop()
    for state in states:
        state.close()
    store.close()


def alerts(engine: AlertEngine) -> list[Alert]:
    return list(engine.api.list("all", limit=100))  # type: ignore[arg-type]


def test_an_alert_opened_by_one_leader_is_resolved_by_the_next(
    worker_pair: tuple[SqliteStore, Clock, list[BuildingEvaluator]],
) -> None:
    store, clock, (a, b) = worker_pair
    store.write(Batch(consumption=hall_hours(local(2025, 12, 1), clock.now, draw)))
    # The batches a worker stores feed no building rule in elected mode (in local mode these
    # open the alert: tests/test_alerts_rules.py).
    hours = hall_hours(local(2025, 12, 1), clock.now, draw)
    for i in range(0, len(hours), 3):
        a.engine.on_batch(Batch(consumption=hours[i : i + 3]), hours[i].end)
    assert alerts(a.engine) == []

    a.start()
    wait_until(lambda: a.evaluations >= 1, 60, "the first evaluation of a")
    b.start()
    wait_until(lambda: b.election._conn is not None, 10, "b standing by")
    [opened] = alerts(a.engine)
    assert (opened.rule, opened.subject) == ("energy.unoccupied", "salle-polyvalente")
    assert str(opened.state) == "open"
    assert opened.opened_at == ONSET + timedelta(hours=6), "as the local evaluation does"
    assert a.election.leader and not b.election.leader and not b.engine.leading
    assert b.evaluations == 0

    # a dies: its thread stops where it is, and meanwhile the heating stays on two more days
    # then goes back to normal; a's session ends (what a SIGKILL does).
    a._stop.set()
    assert a._thread is not None
    a._thread.join(10)
    clock.now = local(2025, 12, 26, 0, 0)
    store.write(Batch(consumption=hall_hours(local(2025, 12, 22, 20, 0), clock.now, draw)))
    assert a.election._conn is not None
    a.election._conn.close()
    killed = time.monotonic()
    wait_until(lambda: b.engine.leading, 10, "b to take over")
    assert time.monotonic() - killed < TAKEOVER_BOUND_S

    # b refreshes the alert a opened, and resolves it; nobody opens a second one.
    wait_until(lambda: b.evaluations >= 1, 60, "b's first evaluation as the leader")
    assert [str(x.state) for x in alerts(b.engine)] == ["resolved"]
    [resolved] = alerts(b.engine)
    assert resolved.id == opened.id
    assert resolved.count > opened.count, "b refreshed the alert a opened"
    events = b.engine.db.fetch("SELECT kind FROM alert_events ORDER BY id")
    assert [e for (e,) in events] == ["opened", "resolved"]
    assert b.errors == 0 and a.errors == 0


def test_a_leader_that_lost_its_session_stops_evaluating(
    worker_pair: tuple[SqliteStore, Clock, list[BuildingEvaluator]],
) -> None:
    store, clock, (a, b) = worker_pair
    store.write(Batch(consumption=hall_hours(local(2025, 12, 20), clock.now, draw)))
    assert a.step() and a.engine.leading and a.evaluations == 1
    energy = a.engine._building()[0]
    assert energy.dump("salle-polyvalente")["evaluated"] > 0
    assert a.election._conn is not None
    a.election._conn.close()
    wait_until(lambda: b.step(), 10, "b to take the lock")
    assert not a.step()
    assert not a.engine.leading, "a former leader drops its building state"
    with pytest.raises(KeyError):
        a.engine._building()[0].dump("salle-polyvalente")
    assert a.evaluations == 1, "and evaluates no more"


def test_two_workers_share_one_alert_lifecycle_in_postgresql(pg_dsn: str) -> None:
    """Device rules in two workers on the shared tables: a leak found by one worker is
    one alert, refreshed by the other, acknowledged through either, resolved by the one
    that sees the flag drop; the outbox holds the opening and the resolution once each."""
    from tests.alert_kit import reading, recorded_config

    cfg = recorded_config(lifecycle={"resolve_after_min": 0})
    states = [shared(pg_dsn) for _ in range(2)]
    a, b = (AlertEngine(PgAlertsDb(s), INVENTORY, cfg) for s in states)
    try:
        t = local(2026, 3, 10, 8, 0)
        a.on_batch(Batch(readings=[reading("ecole-fuite-sanitaires", "leak", True, t)]), t)
        b.lifecycle.load()  # b took the device's partition over (what a handover reloads)
        later = t + timedelta(minutes=10)
        b.on_batch(Batch(readings=[reading("ecole-fuite-sanitaires", "leak", True, later)]), later)
        [alert] = alerts(b)
        assert (alert.rule, str(alert.state), alert.count) == ("water.leak", "open", 2)
        columns = (
            "rule, kind, subject, severity, state, commune, building, device, title, message,"
            " opened_us, created_us, last_seen_us, count, evidence, vals"
        )
        unique = pytest.raises(StoreUnavailable, match="alerts_one_unresolved")
        with unique, states[1].transaction() as conn:
            conn.execute(f"INSERT INTO alerts ({columns}) SELECT {columns} FROM alerts")
        a.api.ack(alert.id, "agent")  # type: ignore[attr-defined]
        end = t + timedelta(minutes=20)
        b.on_batch(Batch(readings=[reading("ecole-fuite-sanitaires", "leak", False, end)]), end)
        [alert] = alerts(a)
        assert str(alert.state) == "resolved" and alert.count == 2
        kinds = states[0].fetch("SELECT kind FROM alert_events ORDER BY id")
        assert [k for (k,) in kinds] == ["opened", "acknowledged", "resolved"]
        outbox = states[0].fetch(
            "SELECT e.kind, n.notifier FROM notifications n JOIN alert_events e"
            " ON e.id = n.event_id ORDER BY n.id"
        )
        assert outbox == [("opened", "rec"), ("resolved", "rec")]
    finally:
        for engine in (a, b):
            engine.stop()
        for s in states:
            s.close()


def test_two_service_workers_elect_one_evaluator(pg_dsn: str, tmp_path: Path) -> None:
    """The wiring: with the shared state and alerts.evaluator = "elected", each worker's
    service has an evaluator; one leads, /healthz says which, a clean stop hands over."""
    from lorawatch.alerts.evaluator import leader
    from lorawatch.app import config as app_config
    from lorawatch.app.service import Service
    from lorawatch.gateway_bridge.source import NullSource

    def worker(name: str) -> Service:
        settings = app_config.load(
            None,
            {
                "inventory": {"path": str(tmp_path / "inventory.toml")},
                "store": {"sqlite": {"path": str(tmp_path / f"{name}.sqlite")}},
                "state": {"backend": "postgresql", "dsn": pg_dsn, "worker": name},
                "alerts": {"evaluator": "elected", "evaluator_retry_s": RETRY_S},
            },
        )
        return Service(settings, INVENTORY, source=NullSource())

    (tmp_path / "inventory.toml").write_text("")
    a, b = worker("worker-a"), worker("worker-b")
    try:
        a.start(http=False)
        assert a.evaluator is not None and b.evaluator is not None
        wait_until(lambda: a.evaluator is not None and a.evaluator.election.leader, 10, "a")
        b.start(http=False)
        wait_until(lambda: b.evaluator is not None and b.evaluator.election._conn, 10, "b")
        assert a.health()["evaluator"]["leader"] and not b.health()["evaluator"]["leader"]
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            assert leader(admin) == "worker-a"
            a.stop()
            stopped = time.monotonic()
            wait_until(lambda: b.health()["evaluator"]["leader"], 10, "b to lead")
            assert time.monotonic() - stopped < TAKEOVER_BOUND_S
            assert leader(admin) == "worker-b"
        b.stop()
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            assert leader(admin) is None
    finally:
        for service in (a, b):
            if not service._stop.is_set():
                service.stop()


def test_only_the_elected_worker_delivers_the_shared_outbox(pg_dsn: str) -> None:
    """Two workers write notifications into one outbox; the leader alone sends them (each
    once), whichever worker found the alert, and a new leader sends what is left."""
    from tests.alert_kit import Recorder, reading, recorded_config

    cfg = recorded_config(evaluator="elected", lifecycle={"resolve_after_min": 0})
    states = [shared(pg_dsn) for _ in range(2)]
    recorders = [Recorder(), Recorder()]
    a, b = (
        AlertEngine(PgAlertsDb(s), INVENTORY, cfg, notifiers={"rec": r})
        for s, r in zip(states, recorders, strict=True)
    )
    try:
        a.leading = True  # as BuildingEvaluator sets it when a wins the election
        a.start()
        b.start()
        t = local(2026, 3, 10, 8, 0)
        b.on_batch(Batch(readings=[reading("ecole-fuite-sanitaires", "leak", True, t)]), t)
        wait_until(lambda: recorders[0].events, 15, "the leader to deliver")
        assert [e[:2] for e in recorders[0].events] == [("opened", "water.leak")]
        a.leading = False
        b.leading = True
        end = t + timedelta(hours=1)
        a.lifecycle.load()
        a.on_batch(Batch(readings=[reading("ecole-fuite-sanitaires", "leak", False, end)]), end)
        wait_until(lambda: recorders[1].events, 15, "the new leader to deliver")
        assert [e[:2] for e in recorders[1].events] == [("resolved", "water.leak")]
        assert len(recorders[0].events) == 1, "the former leader sent nothing more"
        wait_until(
            lambda: (
                states[0].fetch("SELECT state FROM notifications ORDER BY id")
                == [("sent",), ("sent",)]
            ),
            15,
            "both notifications marked sent",
        )
    finally:
        for engine in (a, b):
            engine.stop()
        for s in states:
            s.close()


def test_a_worker_taking_devices_over_continues_their_rules_state(pg_dsn: str) -> None:
    """fleet.battery needs 3 low readings in a row: two seen by worker a, saved; worker b
    takes the device over (``recall``) and the third opens the alert there, as one worker
    would have. Without the recall, b would start the count again."""
    from tests.alert_kit import EUI, reading

    cfg = config()
    states = [shared(pg_dsn) for _ in range(2)]
    a, b, fresh = (AlertEngine(PgAlertsDb(s), INVENTORY, cfg) for s in (*states, states[1]))
    device = "ecole-fuite-sanitaires"
    try:
        t = local(2026, 3, 10, 8, 0)
        for i in range(2):
            at = t + timedelta(hours=i)
            a.on_batch(Batch(readings=[reading(device, "battery_v", 2.9, at)]), at)
        a.flush_state()
        assert b.recall({EUI[device]}) >= 1
        assert fresh.recall(set()) == 0
        third = t + timedelta(hours=2)
        for engine in (b, fresh):
            engine.on_batch(Batch(readings=[reading(device, "battery_v", 2.9, third)]), third)
        [alert] = alerts(b)
        assert (alert.rule, alert.subject, alert.count) == ("fleet.battery", EUI[device], 1)
        assert b.lifecycle.is_open("fleet.battery", EUI[device])

        def low_readings(engine: AlertEngine) -> int:
            fleet = next(d for d in engine.domains if d.name == "fleet")
            return int(fleet.dump(EUI[device])["low"]["battery_v"][2])

        assert low_readings(b) == 3
        assert low_readings(fresh) == 1, "without the recall, the count starts again"
    finally:
        for engine in (a, b, fresh):
            engine.stop()
        for s in states:
            s.close()

"""Two services on one PostgreSQL state handing a partition back and forth, in process: each
continues from what the other committed, never from its own stale memory; a batch prepared by
a worker whose partition was taken meanwhile is not committed and goes back to the broker;
a meter command is applied by the partition's owner, once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lorawatch.app import config
from lorawatch.app.service import Service
from lorawatch.gateway_bridge.source import Message
from lorawatch.pipeline.meters import MeterKey
from lorawatch.web.figures import state_fetch
from tests import fleet
from tests.servers import PostgreSQL, wait_until

DEVICES = 3


class Source:
    """A broker queue in a list: what the bridge acks and what it hands back."""

    def __init__(self) -> None:
        self.acked: list[Message] = []
        self.requeued: list[Message] = []

    def start(self) -> None: ...

    def get_batch(self, max_messages: int, max_wait_s: float) -> list[Message]:
        return []

    def ack(self, messages: list[Message]) -> None:
        self.acked += messages

    def requeue(self, messages: list[Message]) -> None:
        self.requeued += messages

    def stop(self) -> None: ...

    def health(self) -> dict[str, object]:
        return {"connected": True}


def worker(tmp: Path, dsn: str, name: str, alerts: bool = False) -> Service:
    settings = config.load(
        None,
        {
            "inventory": {"path": str(fleet.inventory(tmp / "inventory.toml", DEVICES))},
            # Readings are checked in the batches themselves: no InfluxDB needed here.
            "store": {"outputs": ["sqlite"], "sqlite": {"path": str(tmp / f"{name}.sqlite")}},
            "state": {"backend": "postgresql", "dsn": dsn, "worker": name},
            "alerts": {"enabled": alerts},
        },
    )
    return Service(settings, source=Source())


def uplinks(first: int, last: int, copy: bool = False) -> list[Message]:
    out = []
    for n in range(first, last + 1):
        for d in range(DEVICES):
            payload = fleet.event(d, n)
            if copy:  # a retransmission: a new deduplicationId and a later time, same frame
                event = json.loads(payload)
                event["deduplicationId"] = event["deduplicationId"].replace("-8000-", "-9999-")
                event["time"] = (fleet.T0 + timedelta(minutes=15 * n, seconds=20)).isoformat()
                payload = json.dumps(event).encode()
            out.append(Message(fleet.topic(d), payload, datetime.now(UTC), partition="q0"))
    return out


def deltas(svc: Service, messages: list[Message]) -> dict[str, list[float]]:
    batch = svc.bridge.process(messages)
    out: dict[str, list[float]] = {}
    for c in batch.consumption:
        out.setdefault(c.dev_eui, []).append(round(c.value, 6))
    return out


@pytest.fixture
def pair(tmp_path: Path, pg_dsn: str) -> tuple[Service, Service]:
    a, b = worker(tmp_path, pg_dsn, "a"), worker(tmp_path, pg_dsn, "b")
    yield a, b
    for svc in (a, b):
        for store in svc.stores:
            store.close()
        svc.sqlite.close()


def test_each_worker_continues_from_what_the_other_committed(
    pair: tuple[Service, Service],
) -> None:
    a, b = pair
    first = deltas(a, uplinks(0, 4))
    assert all(v == [0.1] * 4 for v in first.values()), first
    # b takes the partition: without a's meter states it would have no base (an interval lost)
    assert deltas(b, uplinks(5, 7)) == {fleet.eui(d): [0.1] * 3 for d in range(DEVICES)}
    # a gets it back: its memory (index at n=4, fCnt 4) is stale; the stored state is not
    assert deltas(a, uplinks(7, 7, copy=True)) == {}, "a retransmission b stored counts once"
    assert deltas(a, uplinks(8, 9)) == {fleet.eui(d): [0.1] * 2 for d in range(DEVICES)}
    assert a.bridge.takeovers == 2 and b.bridge.takeovers == 1
    handovers = a.state.fetch("SELECT previous, owner FROM partition_handovers ORDER BY epoch")
    assert handovers == [("", "a"), ("a", "b"), ("b", "a")]
    stored = a.state.fetch("SELECT count(*), count(DISTINCT uid) FROM uplinks")
    assert stored == [(10 * DEVICES, 10 * DEVICES)]


def test_a_batch_of_a_partition_taken_meanwhile_is_given_back(
    pair: tuple[Service, Service],
) -> None:
    a, b = pair
    deltas(a, uplinks(0, 2))
    late = uplinks(3, 4)
    prepared = a.bridge.prepare(late)  # a still owns q0 here...
    deltas(b, uplinks(3, 3))  # ...b takes it (a's connection ended, say) and goes on
    assert a.bridge._commit(prepared.batch, None) is False
    assert a.bridge._finish(prepared, False) is True
    source = a.source
    assert isinstance(source, Source)
    assert source.requeued == late and not any(m in source.acked for m in late)
    f_cnts = a.state.fetch("SELECT f_cnt, worker FROM uplinks WHERE f_cnt >= 3 ORDER BY 1")
    assert f_cnts == [(3, "b")] * DEVICES, "nothing of a's lost batch was committed"
    # Redelivered to a later: it reloads b's state and counts n=4 from b's n=3.
    assert deltas(a, uplinks(4, 4)) == {fleet.eui(d): [0.1] for d in range(DEVICES)}


def test_a_meter_command_is_applied_by_the_partition_owner_once(
    pair: tuple[Service, Service],
) -> None:
    a, b = pair
    deltas(a, uplinks(0, 2))
    assert b.state is not None and a.state is not None
    key = MeterKey(fleet.eui(0), "energy_kwh", "")
    at = fleet.T0.replace(hour=0, minute=40)
    b.state.record_command(key, "replace", at, 0.0)
    assert b.state.pending_commands() == [], "b owns no partition: not its command"
    a.ingestor._commands_checked = 0.0  # the next batch looks, as it would 2 s later
    batch = a.bridge.process(uplinks(3, 3))
    replaced = [c for c in batch.consumption if c.dev_eui == key.dev_eui]
    # The new meter counted from 0 at 00:40: 0.3 kWh by 00:45 (not the old meter's 0.1 step).
    assert [round(c.value, 6) for c in replaced] == [0.3]
    rows = a.state.fetch("SELECT applied_by FROM meter_commands")
    assert rows == [("a",)]
    assert a.state.pending_commands() == []


def test_a_postgresql_restart_mid_stream_loses_and_doubles_nothing(
    pair: tuple[Service, Service], postgresql: PostgreSQL
) -> None:
    a, _ = pair
    assert a.state is not None
    deltas(a, uplinks(0, 2))
    postgresql.stop()
    done: list[dict[str, list[float]]] = []
    writer = threading.Thread(target=lambda: done.append(deltas(a, uplinks(3, 4))), daemon=True)
    writer.start()  # retries while the database is down: nothing acked, nothing lost
    try:
        wait_until(lambda: "Connection refused" in a.state.last_error, 30, "the outage noticed")
        assert not done
    finally:
        postgresql.start()
    writer.join(60)
    assert done == [{fleet.eui(d): [0.1, 0.1] for d in range(DEVICES)}]
    assert a.state.fetch("SELECT count(*), count(DISTINCT uid) FROM uplinks") == [
        (5 * DEVICES, 5 * DEVICES)
    ]
    source = a.source
    assert isinstance(source, Source) and len(source.acked) == 5 * DEVICES


def test_the_alert_rules_reload_the_devices_a_worker_takes_over(
    tmp_path: Path, pg_dsn: str
) -> None:
    a, b = worker(tmp_path, pg_dsn, "a", alerts=True), worker(tmp_path, pg_dsn, "b", alerts=True)
    try:
        assert b.alerts is not None and b.bridge.on_takeover is not None
        recalled: list[set[str]] = []
        reload = b.bridge.on_takeover
        b.bridge.on_takeover = lambda devices: (recalled.append(devices), reload(devices))
        a.bridge.process(uplinks(0, 2))
        assert a.state is not None
        saved = a.state.fetch("SELECT count(*) FROM alert_state WHERE rule <> '_evaluator'")
        assert saved[0][0] > 0, "the rules' state commits with the batch, on the shared state"
        b.bridge.process(uplinks(3, 4))
        assert recalled == [{fleet.eui(d) for d in range(DEVICES)}]
        b.bridge.process(uplinks(5, 5))
        assert len(recalled) == 1, "a partition b already owns is no takeover"
    finally:
        for svc in (a, b):
            if svc.alerts is not None:
                svc.alerts.stop()
            for store in svc.stores:
                store.close()
            svc.sqlite.close()


def test_the_web_reads_uplinks_and_dead_letters_where_the_state_is(
    pair: tuple[Service, Service],
) -> None:
    """With the shared state, raw uplinks and dead letters are in PostgreSQL, not in the
    worker's local SQLite file: the pages' device list and dead letters read them there."""
    a, _ = pair
    bad = Message(fleet.topic(0), b"{not json", datetime.now(UTC), partition="q0")
    a.bridge.process([*uplinks(0, 1), bad])
    fetch = state_fetch(a)
    eui = fleet.eui(0)
    assert fetch("SELECT COUNT(*) FROM uplinks WHERE dev_eui = ?", (eui,)) == [(2,)]
    assert fetch("SELECT COUNT(*) FROM dead_letters WHERE received_us >= ?", (0,)) == [(1,)]
    assert a.sqlite.fetch("SELECT COUNT(*) FROM uplinks") == [(0,)]

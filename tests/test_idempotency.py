"""Nothing lost, nothing twice, across restarts: identities where the data lands, meter state
stored with each batch. In process (a restart is a new Service on the same files), real SQLite
and a real InfluxDB; the crash tests with processes are in tests/test_faults.py."""

from __future__ import annotations

import json
import sqlite3
import tracemalloc
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from lorawatch.app import config
from lorawatch.app.service import Service
from lorawatch.core.readings import Reading
from lorawatch.gateway_bridge.dedup import Deduplicator, identity
from lorawatch.gateway_bridge.events import UplinkEvent
from lorawatch.gateway_bridge.source import Message, NullSource
from lorawatch.pipeline.meters import MeterEngine, MeterKey
from lorawatch.stores.sqlite import SqliteStore
from lorawatch.stores.sqlite_schema import SCHEMA_VERSION
from tests.conftest import DATA
from tests.servers import InfluxDB
from tests.test_bridge import EUI, T0, count, up


def service(tmp_path: Path, outputs: list[str] | None = None, influx: str = "") -> Service:
    store: dict[str, object] = {"sqlite": {"path": str(tmp_path / "lw.sqlite")}}
    if outputs:
        store["outputs"] = outputs
    if influx:
        store["influxdb"] = {
            "url": influx.split("#")[0],
            "database": influx.split("#")[1],
            "spool_dir": str(tmp_path / "spool"),
        }
    settings = config.load(
        None, {"inventory": {"path": str(DATA / "inventory.toml")}, "store": store}
    )
    return Service(settings, source=NullSource())


def restarted(old: Service, tmp_path: Path, **kwargs: object) -> Service:
    for store in old.stores:
        store.close()
    return service(tmp_path, **kwargs)  # type: ignore[arg-type]


def retransmitted(message: Message, later: timedelta = timedelta(minutes=3)) -> Message:
    """The same frame forwarded again: a new deduplicationId and a later time."""
    event = json.loads(message.payload)
    event["deduplicationId"] = "ffffffff" + event["deduplicationId"][8:]
    event["time"] = (
        (T0 + timedelta(minutes=event["fCnt"])) + later
    ).isoformat()  # minute == fCnt in up()
    return Message(message.topic, json.dumps(event).encode(), message.received + later, 9, 1)


def per_identity(svc: Service, sql: str) -> list[tuple[object, ...]]:
    """Rows grouped by identity with more than one copy: must be empty."""
    return svc.sqlite.fetch(sql)


def test_a_retransmission_after_a_restart_is_stored_once(tmp_path: Path) -> None:
    first = [up(1000 + 100 * i, 15 * i) for i in range(6)]
    svc = service(tmp_path)
    svc.bridge.process(first[:4])
    svc = restarted(svc, tmp_path)
    # After the restart: copies of what was stored, with new ids and later times, mixed in.
    svc.bridge.process([retransmitted(m) for m in first[:4]] + first[4:])
    svc = restarted(svc, tmp_path)
    svc.bridge.process([retransmitted(m, timedelta(hours=2)) for m in first])
    assert count(svc, "SELECT COUNT(*) FROM uplinks") == 6
    assert count(svc, "SELECT COUNT(DISTINCT uid) FROM uplinks") == 6
    assert count(svc, "SELECT COUNT(*) FROM readings WHERE name = 'pulse_count'") == 6
    assert count(svc, "SELECT COUNT(*) FROM consumption") == 5
    assert count(svc, "SELECT ROUND(SUM(value) * 1000) FROM consumption") == 500
    assert svc.metrics.registry.get_sample_value("lorawatch_duplicates_total") == 6


def test_dead_letters_redelivered_after_a_crash_are_kept_once(tmp_path: Path) -> None:
    bad = [
        Message(up(1, 0).topic, b"{not json", T0, 1, 1),
        Message(up(1, 0).topic, b"\x00\x01garbage", T0, 2, 1),
        Message(up(1, 0).topic.replace("/up", "/foo"), up(1, 0).payload, T0, 3, 1),
    ]
    svc = service(tmp_path)
    svc.bridge.process([*bad, up(1000, 0)])
    svc = restarted(svc, tmp_path)
    later = [Message(m.topic, m.payload, T0 + timedelta(minutes=5), m.mid, 1) for m in bad]
    svc.bridge.process([*later, up(1000, 0), up(1100, 15)])
    assert count(svc, "SELECT COUNT(*) FROM dead_letters") == 3
    assert count(svc, "SELECT COUNT(DISTINCT key) FROM dead_letters") == 3
    assert count(svc, "SELECT COUNT(*) FROM uplinks") == 2


def test_a_far_future_uplink_does_not_flush_the_memory(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.bridge.dedup.persisted = None  # the in-memory fast path alone
    normal = [up(1000 + 100 * i, 15 * i) for i in range(4)]
    event = json.loads(up(5000, 60).payload)
    event["time"] = (T0 + timedelta(days=3650)).isoformat()
    arrival = T0 + timedelta(minutes=15, seconds=1)  # between normal[1] and normal[2]
    future = Message(up(1, 0).topic, json.dumps(event).encode(), arrival, 99, 1)
    svc.bridge.process([*normal[:2], future, *normal[2:]])
    svc.bridge.process([retransmitted(m) for m in normal] + normal)
    assert len(svc.bridge.dedup) == 5
    assert count(svc, "SELECT COUNT(*) FROM uplinks") == 5
    assert count(svc, "SELECT COUNT(*) FROM readings WHERE name = 'pulse_count'") == 5


def test_the_memory_window_is_wall_clock_and_bounded() -> None:
    now = [0.0]
    dedup = Deduplicator(window_s=60, capacity=100, clock=lambda: now[0])
    events = [
        UplinkEvent("up", "aa", T0 + timedelta(days=3650 * (i % 2)), f_cnt=i, payload=b"x")
        for i in range(1000)
    ]
    for e in events:
        uid = dedup.claim(e)
        assert uid is not None
        dedup.commit([uid])
        assert len(dedup) <= 100
    assert dedup.claim(events[-1]) is None, "the newest are remembered"
    now[0] = 61.0
    dedup.commit([])
    assert len(dedup) == 0, "forgotten after the window of wall-clock time"


def test_the_memory_holds_many_identities_compactly_and_finds_each() -> None:
    """200,000 identities in the fast path: each found again with its event time, in far
    less than the ~250 bytes a dict entry with its int objects and tuple takes."""
    now = [0.0]
    dedup = Deduplicator(window_s=3600, capacity=200_000, clock=lambda: now[0])
    events = [
        UplinkEvent("up", f"{d:016x}", T0 + timedelta(minutes=15 * k), f_cnt=k, payload=b"x")
        for k in range(1000)
        for d in range(200)
    ]
    tracemalloc.start()
    held = tracemalloc.get_traced_memory()[0]
    for start in range(0, len(events), 1000):
        uids = [dedup.claim(e) for e in events[start : start + 1000]]
        dedup.commit([uid for uid in uids if uid is not None])
    held = tracemalloc.get_traced_memory()[0] - held
    tracemalloc.stop()
    assert len(dedup) == 200_000
    assert held / len(dedup) < 40, f"{held / len(dedup):.0f} bytes per identity"
    for e in events[::997]:
        uid, known = dedup.resolve(e)
        assert known == int(e.time.timestamp()) * 1_000_000, "found, with its event time"
    again = UplinkEvent("up", "00000000000000aa", T0, f_cnt=5, payload=b"y")
    assert dedup.resolve(again)[1] is None, "an unknown frame is new"
    newer = [replace(e, f_cnt=e.f_cnt + 1000) for e in events[-1000:] if e.f_cnt is not None]
    dedup.commit([uid for e in newer if (uid := dedup.claim(e)) is not None])
    assert len(dedup) <= 200_000, "the capacity holds"
    assert dedup.resolve(newer[-1])[1] is not None, "the newest are remembered"
    assert dedup.resolve(events[0])[1] is None, "the oldest made room"


def test_a_restarted_frame_counter_is_a_new_frame(tmp_path: Path) -> None:
    """Same fCnt and payload two days later (a rejoin restarted the counter): a new frame;
    its own retransmission is still a copy."""
    svc = service(tmp_path)
    svc.bridge.process([up(1000, 0, f_cnt=1), up(1100, 15, f_cnt=2)])
    again = up(1000, 2 * 24 * 60, f_cnt=1, dedup="aaaaaaaa-0000-4000-8000-000000000001")
    svc = restarted(svc, tmp_path)
    svc.bridge.process([again, retransmitted(again)])
    assert count(svc, "SELECT COUNT(*) FROM uplinks") == 3
    assert count(svc, "SELECT COUNT(DISTINCT uid) FROM uplinks") == 3


def test_a_replayed_dead_letter_is_not_taken_for_a_copy(tmp_path: Path) -> None:
    stranger = "0011223344556677"
    svc = service(tmp_path)
    message = up(1000, 0, eui=stranger)
    svc.bridge.process([message])
    assert count(svc, "SELECT COUNT(*) FROM uplinks") == 1
    batch = svc.bridge.records(message)
    assert len(batch.uplinks) == 1 and batch.uplinks[0].time == T0


def test_influxdb_only_restart_mid_meter_loses_no_interval(
    tmp_path: Path, influxdb: InfluxDB, influx_db: str
) -> None:
    """The reproduction of issue 14: 1.5 kWh were stored instead of 2.0 across one restart,
    because meters were recovered from SQLite readings, which InfluxDB-only setups lack."""
    target = f"{influxdb.url}#{influx_db}"
    svc = service(tmp_path, ["influxdb"], target)
    svc.bridge.process([up(1000, 0), up(1500, 15)])
    svc = restarted(svc, tmp_path, outputs=["influxdb"], influx=target)
    svc.bridge.process([up(2000, 30), up(2500, 45), up(3000, 60)])
    svc = restarted(svc, tmp_path, outputs=["influxdb"], influx=target)
    svc.bridge.process([retransmitted(up(3000, 60)), up(3000, 60)])
    r = influxdb.query(
        'SELECT SUM("energy_delta_kwh"), COUNT("energy_delta_kwh") FROM consumption', influx_db
    )
    _, total, deltas = r["results"][0]["series"][0]["values"][0]
    assert (round(total * 1000), deltas) == (2000, 4)
    r = influxdb.query('SELECT COUNT("pulse_count") FROM reading', influx_db)
    assert r["results"][0]["series"][0]["values"][0][1] == 5
    assert count(svc, "SELECT COUNT(*) FROM readings") == 0, "the state file holds no readings"
    assert count(svc, "SELECT COUNT(*) FROM meter_state") == 1
    for store in svc.stores:
        store.close()


def test_meter_state_continues_exactly() -> None:
    key = MeterKey(EUI, "energy_kwh", "")
    engine = MeterEngine()
    readings = [Reading("energy_kwh", 100.0 + i, T0 + timedelta(minutes=15 * i)) for i in range(5)]
    for r in readings[:3]:
        engine.update(EUI, r)
    engine.replace(key, T0 + timedelta(minutes=35), 0.0)
    taken, chunks, _ = engine.take_state()
    states = [state for _, state in taken]
    assert engine.take_state() == ([], [], []), "taken once"
    again = MeterEngine()
    assert again.load_states(states, {key: [(seq, t, data)] for key, seq, t, data in chunks}) == 1
    assert again.update(EUI, readings[2]) == ([], []), "the last reading is not counted twice"
    deltas, _ = again.update(EUI, Reading("energy_kwh", 5.0, T0 + timedelta(minutes=45)))
    assert [d.value for d in deltas] == [5.0], "the pending replacement survived"


def test_an_older_file_gets_identities_and_loses_its_copies(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    svc = service(tmp_path)
    svc.bridge.process([up(1000, 0), up(1100, 15)])
    rows = svc.sqlite.fetch("SELECT * FROM uplinks")
    for store in svc.stores:
        store.close()
    with sqlite3.connect(path) as db:  # the schema before identities, with a stored copy
        db.execute(
            "CREATE TABLE uplinks (dev_eui TEXT NOT NULL, time_us INTEGER NOT NULL,"
            " f_cnt INTEGER NOT NULL, f_port INTEGER NOT NULL, payload BLOB NOT NULL,"
            " dedup_id TEXT NOT NULL, received_us INTEGER NOT NULL, format TEXT NOT NULL,"
            " rssi REAL, snr REAL, gateways INTEGER NOT NULL,"
            " PRIMARY KEY (dev_eui, time_us, f_cnt)) WITHOUT ROWID"
        )
        db.execute(
            "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " received_us INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL,"
            " reason TEXT NOT NULL, detail TEXT NOT NULL, dev_eui TEXT NOT NULL,"
            " replayed_us INTEGER)"
        )
        copy = (*rows[0][:1], rows[0][1] + 180_000_000, *rows[0][2:11])
        db.executemany(
            "INSERT INTO uplinks VALUES (?,?,?,?,?,?,?,?,?,?,?)", [r[:11] for r in rows] + [copy]
        )
        for _ in range(2):
            db.execute(
                "INSERT INTO dead_letters (received_us, topic, payload, reason, detail, dev_eui)"
                " VALUES (1, 't', x'00', 'malformed_json', 'd', '')"
            )
        db.execute("PRAGMA user_version = 1")
    store = SqliteStore(path)
    assert store.fetch("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert store.fetch("SELECT COUNT(*), COUNT(DISTINCT uid) FROM uplinks") == [(2, 2)]
    assert store.fetch("SELECT COUNT(*) FROM dead_letters") == [(1,)]
    assert sorted(u for (u,) in store.fetch("SELECT uid FROM uplinks")) == sorted(
        u for (*_, u) in rows
    ), "the identities the live path gives"
    with store.transaction() as db:
        assert (
            db.execute(
                "INSERT OR IGNORE INTO dead_letters (received_us, topic, payload, reason, detail,"
                " dev_eui, key) SELECT 2, topic, payload, reason, detail, dev_eui, key FROM dead_letters"
            ).rowcount
            == 0
        )
    store.close()


def test_identity_ignores_what_a_retransmission_changes() -> None:
    a = UplinkEvent("up", EUI, T0, dedup_id="one", f_cnt=7, f_port=85, payload=b"\x01\x02")
    b = UplinkEvent(
        "up", EUI, T0 + timedelta(hours=1), dedup_id="two", f_cnt=7, f_port=85, payload=b"\x01\x02"
    )
    assert identity(a) == identity(b)
    assert identity(a) != identity(a, generation=1)
    c = UplinkEvent("up", EUI, T0, dedup_id="one", f_cnt=7, f_port=85, payload=b"\x01\x03")
    assert identity(a) != identity(c)


def test_a_frame_without_fcnt_redelivered_after_a_restart_is_stored_once(tmp_path: Path) -> None:
    """No frame counter (a v4.0 event leaves out a zero, a proxy may drop it): the identity is
    made of the deduplicationId, stored under fCnt -1, and a restart still finds it there."""

    def no_fcnt(message: Message) -> Message:
        event = json.loads(message.payload)
        del event["fCnt"]
        return Message(message.topic, json.dumps(event).encode(), message.received, 7, 1)

    frames = [no_fcnt(up(1000 + 100 * i, 15 * i)) for i in range(3)]
    svc = service(tmp_path)
    svc.bridge.process(frames[:2])
    svc = restarted(svc, tmp_path)
    svc.bridge.process(frames)  # the broker redelivers what was not acked, then the new one
    assert count(svc, "SELECT COUNT(*) FROM uplinks") == 3
    assert count(svc, "SELECT COUNT(*) FROM uplinks WHERE f_cnt = -1") == 3
    assert svc.metrics.registry.get_sample_value("lorawatch_duplicates_total") == 2
    assert svc.bridge.dedup.lookups >= 2, "the copies were found in the file, not in memory"

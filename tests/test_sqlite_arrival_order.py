"""Schema 5 of the SQLite store: raw uplinks in time order, window chunks in sequence order,
and ``devices`` answering what was asked of the uplinks by device. Whatever the batches
bring (late frames, copies under the same identity, several frames at one time), ``devices``
holds what the uplinks themselves answer; a version-4 file is moved to it in place."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lorawatch.alerts import store as alert_tables
from lorawatch.core.timeutil import us
from lorawatch.gateway_bridge.dedup import frame_identity
from lorawatch.pipeline.records import Batch, RawUplink
from lorawatch.stores.sqlite import SqliteStore
from lorawatch.stores.sqlite_schema import RECENT, SCHEMA_VERSION

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DEVICES = ["a0a0a0a0a0a0a0a0", "b1b1b1b1b1b1b1b1", "c2c2c2c2c2c2c2c2"]

V4_DDL = """
CREATE TABLE uplinks (
    dev_eui TEXT NOT NULL, time_us INTEGER NOT NULL, f_cnt INTEGER NOT NULL, f_port INTEGER NOT NULL,
    payload BLOB NOT NULL, dedup_id TEXT NOT NULL, received_us INTEGER NOT NULL,
    format TEXT NOT NULL, rssi REAL, snr REAL, gateways INTEGER NOT NULL, uid INTEGER,
    PRIMARY KEY (dev_eui, time_us, f_cnt)
) WITHOUT ROWID;
CREATE UNIQUE INDEX uplinks_uid ON uplinks (uid);
CREATE TABLE meter_window (
    key TEXT NOT NULL, seq INTEGER NOT NULL, latest_us INTEGER NOT NULL, readings TEXT NOT NULL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;
"""
"""The two tables whose layout version 5 changed, as version 4 made them."""


def frame(dev: str, minutes: int, f_cnt: int, payload: bytes = b"\x01") -> RawUplink:
    at = T0 + timedelta(minutes=minutes)
    return RawUplink(dev, at, f_cnt, 85, payload, f"id-{minutes}", at, "json", -90.0, 7.5, 1)


def by_device(store: SqliteStore) -> dict[str, tuple[int, list[int]]]:
    """(last frame counter, latest times) of each device, from the uplinks themselves."""
    out = {}
    for (dev,) in store.fetch("SELECT DISTINCT dev_eui FROM uplinks"):
        rows = store.fetch(
            "SELECT time_us, f_cnt FROM uplinks WHERE dev_eui = ?"
            " ORDER BY time_us DESC, f_cnt DESC",
            (dev,),
        )
        out[dev] = (rows[0][1], [t for t, _ in rows[:RECENT]])
    return out


def remembered(store: SqliteStore) -> dict[str, tuple[int, list[int]]]:
    out = {}
    for dev in DEVICES:
        last = store.last_f_cnt(dev)
        if last is not None:
            out[dev] = (last, store.uplink_times(dev))
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(DEVICES),
                st.integers(0, 60),
                st.integers(0, 8),
                st.booleans(),
            ),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_devices_answer_what_the_uplinks_answer(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[tuple[str, int, int, bool]]]
) -> None:
    """Late frames, retransmissions (same identity, later time: ignored), several frames at
    one time: the device's last counter and latest times are the stored uplinks' own."""
    path = tmp_path_factory.mktemp("db") / "lw.sqlite"
    store = SqliteStore(path)
    for batch in batches:
        uplinks = []
        for dev, minutes, f_cnt, copy in batch:
            uplinks.append(frame(dev, minutes, f_cnt))
            if copy:  # the same frame again, later: one identity, stored once
                uplinks.append(frame(dev, minutes + 3, f_cnt))
        store.write(Batch(uplinks=uplinks))
    assert remembered(store) == by_device(store)
    identities = store.fetch("SELECT COUNT(*), COUNT(DISTINCT uid) FROM uplinks")[0]
    assert identities[0] == identities[1]
    store.close()


def test_a_rolled_back_batch_leaves_devices_as_they_were(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "lw.sqlite")
    store.write(Batch(uplinks=[frame(DEVICES[0], 0, 1)]))

    class Fails:
        def in_transaction(self, db: sqlite3.Connection, batch: Batch) -> None:
            raise RuntimeError("disk full")

        def committed(self) -> None: ...

        def rolled_back(self) -> None: ...

    store.hooks.append(Fails())
    with contextlib.suppress(RuntimeError):
        store.write(Batch(uplinks=[frame(DEVICES[0], 15, 2)]))
    assert store.last_f_cnt(DEVICES[0]) == 1
    assert store.uplink_times(DEVICES[0]) == [us(T0)]
    store.hooks.clear()
    store.write(Batch(uplinks=[frame(DEVICES[0], 30, 3)]))
    assert store.uplink_times(DEVICES[0]) == [us(T0 + timedelta(minutes=30)), us(T0)], (
        "the next batch does not build on what was rolled back"
    )
    store.close()


def test_a_version_4_file_is_put_in_arrival_order_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v4.sqlite"
    rng = random.Random(4)
    rows = []
    for dev in DEVICES:
        for k in range(20):
            at = us(T0 + timedelta(minutes=15 * k + rng.randrange(5)))
            payload = bytes([k])
            uid = frame_identity(dev, k, 85, payload, "")
            rows.append((dev, at, k, 85, payload, "", at, "json", -80.0, 9.0, 1, uid))
    chunks = [(f"{dev}\tenergy_kwh\t", seq, seq * 1000, "[]") for seq, dev in enumerate(DEVICES)]
    db = sqlite3.connect(path)
    db.executescript(V4_DDL)
    db.executemany("INSERT INTO uplinks VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.executemany("INSERT INTO meter_window VALUES (?,?,?,?)", chunks)
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()

    store = SqliteStore(path)
    assert store.fetch("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert ("uplinks_frame", 1) in [(r[1], r[2]) for r in store.fetch("PRAGMA index_list(uplinks)")]
    assert [r[1] for r in store.fetch("PRAGMA table_info(uplinks)") if r[5]] == [
        "dev_eui",
        "time_us",
        "f_cnt",
    ]
    assert sorted((r[5], r[1]) for r in store.fetch("PRAGMA table_info(uplinks)") if r[5]) == [
        (1, "time_us"),
        (2, "dev_eui"),
        (3, "f_cnt"),
    ]
    assert store.fetch("SELECT * FROM uplinks") == sorted(rows, key=lambda r: (r[1], r[0], r[2]))
    assert store.fetch("SELECT * FROM uplinks ORDER BY dev_eui, time_us") == sorted(rows)
    assert remembered(store) == by_device(store)
    assert store.fetch("SELECT key, seq FROM meter_window") == [(c[0], c[1]) for c in chunks]
    assert store.meter_windows() == {c[0]: [(c[1], c[2], c[3])] for c in chunks}
    store.write(Batch(uplinks=[frame(DEVICES[0], 7, 0, b"\x00")]))  # uplink 0, later
    assert store.fetch("SELECT COUNT(*) FROM uplinks") == [(len(rows),)], "a copy stays out"
    store.close()
    again = SqliteStore(path)
    assert again.fetch("SELECT COUNT(*) FROM uplinks") == [(len(rows),)], "moved once"
    again.close()


def test_alert_chunks_keyed_by_subject_are_moved_to_sequence_order(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE alert_series (rule TEXT NOT NULL, subject TEXT NOT NULL,"
        " seq INTEGER NOT NULL, latest REAL NOT NULL, deltas TEXT NOT NULL,"
        " PRIMARY KEY (rule, subject, seq)) WITHOUT ROWID"
    )
    rows = [("water", f"m{k % 3}", k, float(k), f"[{k}]") for k in range(1, 10)]
    db.executemany("INSERT INTO alert_series VALUES (?,?,?,?,?)", rows)
    db.commit()
    db.close()
    store = SqliteStore(path)
    alert_tables.create(store)
    assert store.fetch("SELECT * FROM alert_series") == rows, "read back in sequence order"
    assert [
        r[1]
        for r in sorted(store.fetch("PRAGMA table_info(alert_series)"), key=lambda r: r[5])
        if r[5]
    ] == [
        "seq",
        "rule",
        "subject",
    ]
    alert_tables.create(store)  # opened again: nothing to move
    assert store.fetch("SELECT COUNT(*) FROM alert_series") == [(len(rows),)]
    store.close()


def test_a_damaged_devices_row_is_written_again_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "lw.sqlite"
    store = SqliteStore(path)
    store.write(Batch(uplinks=[frame(DEVICES[0], 0, 1)]))
    store.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE devices SET recent = 'garbage ' || recent")
    db.commit()
    db.close()
    store = SqliteStore(path)
    assert store.uplink_times(DEVICES[0]) == [us(T0)], "the readable items still answer"
    store.write(Batch(uplinks=[frame(DEVICES[0], 15, 2)]))
    assert remembered(store) == by_device(store)
    assert "garbage" not in store.fetch("SELECT recent FROM devices")[0][0]
    store.close()


def test_a_version_5_file_keys_its_identities_under_their_frame(tmp_path: Path) -> None:
    """Version 6 replaces the index of the identities alone by one under (devEui, fCnt): the
    same rows, still unique, and the de-duplicator's look-up is a search of it, not a scan."""
    path = tmp_path / "v5.sqlite"
    store = SqliteStore(path)
    store.write(Batch(uplinks=[frame(dev, 15 * k, k) for dev in DEVICES for k in range(10)]))
    store.close()
    db = sqlite3.connect(path)
    db.execute("DROP INDEX uplinks_frame")
    db.execute("CREATE UNIQUE INDEX uplinks_uid ON uplinks (uid)")
    db.execute("PRAGMA user_version = 5")
    db.commit()
    db.close()

    store = SqliteStore(path)
    assert store.fetch("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    indexes = {r[1]: r[2] for r in store.fetch("PRAGMA index_list(uplinks)")}
    assert indexes.get("uplinks_frame") == 1 and "uplinks_uid" not in indexes
    dev_eui, f_cnt, uid, time_us = store.fetch(
        "SELECT dev_eui, f_cnt, uid, time_us FROM uplinks WHERE f_cnt = 4 LIMIT 1"
    )[0]
    assert store.uplink_time(dev_eui, f_cnt, uid) == time_us
    assert store.uplink_time(dev_eui, f_cnt + 1, uid) is None
    plan = " ".join(
        str(r[3])
        for r in store.fetch(
            "EXPLAIN QUERY PLAN SELECT time_us FROM uplinks"
            " WHERE dev_eui = ? AND f_cnt = ? AND uid = ?",
            (dev_eui, f_cnt, uid),
        )
    )
    assert "USING COVERING INDEX uplinks_frame" in plan or "USING INDEX uplinks_frame" in plan
    store.write(Batch(uplinks=[frame(DEVICES[1], 60 + 3, 4)]))  # frame 4 again, a copy
    assert store.fetch("SELECT COUNT(*) FROM uplinks") == [(30,)], "a copy stays out"
    store.close()

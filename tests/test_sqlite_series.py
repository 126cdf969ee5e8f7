"""The series layout of the SQLite store: what it answers is what the wide rows answered, a
device that changes place keeps one value per time, and files of the older layout are moved
to it in place, in one transaction (the old-layout fixture is made here from its DDL)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.wide import WIDE_DDL
from lorawatch.core.timeutil import from_us
from lorawatch.pipeline.records import Batch, Consumption, Place, StoredReading
from lorawatch.stores import sqlite_schema
from lorawatch.stores.retention import purge
from lorawatch.stores.sqlite import SqliteStore
from lorawatch.stores.sqlite_schema import SCHEMA_VERSION

T0 = datetime(2026, 1, 5, 23, tzinfo=UTC)
Q = timedelta(minutes=15)
MAIRIE = Place("saint-sulpice", "mairie", "compteur-mairie", "electricity")
ECOLE = Place("saint-sulpice", "ecole", "compteur-ecole", "electricity")
SALLE = Place("saint-sulpice", "salle", "capteur-salle", "ambient")

OLD_DDL = (
    WIDE_DDL.replace("PRAGMA user_version = 2;\n", "")
    + """
CREATE TABLE uplinks (
    dev_eui TEXT NOT NULL, time_us INTEGER NOT NULL, f_cnt INTEGER NOT NULL, f_port INTEGER NOT NULL,
    payload BLOB NOT NULL, dedup_id TEXT NOT NULL, received_us INTEGER NOT NULL,
    format TEXT NOT NULL, rssi REAL, snr REAL, gateways INTEGER NOT NULL, uid INTEGER,
    PRIMARY KEY (dev_eui, time_us, f_cnt)
) WITHOUT ROWID;
CREATE UNIQUE INDEX uplinks_uid ON uplinks (uid);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_us INTEGER NOT NULL, topic TEXT NOT NULL,
    payload BLOB NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, dev_eui TEXT NOT NULL,
    replayed_us INTEGER, key INTEGER
);
CREATE INDEX dead_letters_open ON dead_letters (replayed_us, id);
CREATE UNIQUE INDEX dead_letters_key ON dead_letters (key);
CREATE TABLE device_events (
    dev_eui TEXT NOT NULL, time_us INTEGER NOT NULL, kind TEXT NOT NULL, code TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (dev_eui, time_us, kind, code)
) WITHOUT ROWID;
CREATE TABLE meter_state (
    key TEXT PRIMARY KEY, state TEXT NOT NULL
);
"""
)
"""The store's tables at schema version 2, the last with one wide row per reading (its
readings part is the bench's baseline layout, :data:`bench.wide.WIDE_DDL`)."""

READINGS = "SELECT * FROM readings ORDER BY dev_eui, name, channel, time_us"
CONSUMPTION = "SELECT * FROM consumption ORDER BY dev_eui, name, channel, end_us"
QUARTERS = "SELECT * FROM consumption_quarters ORDER BY name, quarter, building, commune"


def history(days: int = 2) -> Batch:
    """Two meters (index and delta every quarter hour) and an ambient sensor, odd times."""
    batch = Batch()
    for k in range(days * 96):
        end = T0 + (k + 1) * Q + timedelta(microseconds=k % 7)
        for i, (eui, place) in enumerate(
            (("00000000000000a1", MAIRIE), ("00000000000000a2", ECOLE))
        ):
            d = ((k * 5 + i * 3) % 11) / 64
            batch.readings.append(StoredReading(eui, "energy_kwh", "", end, 100 + k * d, place))
            batch.consumption.append(
                Consumption(eui, "energy_delta_kwh", "", end - Q, end, d, k % 50 == 7, place)
            )
        if k % 2 == 0:
            for channel, value in (("1", 19.5 + k % 9 / 10), ("2", 20.0)):
                batch.readings.append(
                    StoredReading("00000000000000b1", "temperature_c", channel, end, value, SALLE)
                )
            batch.readings.append(
                StoredReading("00000000000000b1", "leak", "", end, k % 3 == 0, SALLE)
            )
    return batch


def answers(store: SqliteStore) -> dict[str, Any]:
    span = (T0 - timedelta(days=1), T0 + timedelta(days=3))
    return {
        "readings": store.fetch(READINGS),
        "consumption": store.fetch(CONSUMPTION),
        "quarters": store.fetch(QUARTERS),
        "days": store.consumption("energy_delta_kwh", *span, "day", "Europe/Paris"),
        "hours": store.consumption(
            "energy_delta_kwh",
            T0 + timedelta(minutes=7, seconds=3),
            T0 + timedelta(hours=20, microseconds=5),
            "hour",
            "Europe/Paris",
            group_by="commune",
        ),
    }


def old_file(path: Path, version: int, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """A file as version ``version`` wrote it (without the rollup table below version 1)."""
    db = sqlite3.connect(path)
    db.executescript(OLD_DDL)
    if version < 1:
        db.execute("DROP TABLE consumption_quarters")
    for table, table_rows in rows.items():
        if table_rows:
            marks = ",".join("?" * len(table_rows[0]))
            db.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()


def kinds(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path)
    try:
        return dict(
            db.execute("SELECT name, type FROM sqlite_schema WHERE name NOT LIKE 'sqlite%'")
        )
    finally:
        db.close()


@pytest.fixture
def written(tmp_path: Path) -> tuple[Batch, dict[str, Any]]:
    """A history written by the store itself, and what it answers about it."""
    store = SqliteStore(tmp_path / "new.sqlite")
    batch = history()
    store.write(batch)
    got = answers(store)
    store.close()
    assert len(got["readings"]) == 2 * 192 + 3 * 96
    assert len(got["consumption"]) == 2 * 192
    return batch, got


def test_the_views_answer_what_the_wide_tables_held(
    tmp_path: Path, written: tuple[Batch, dict[str, Any]]
) -> None:
    """The same rows through the old DDL and through the views: equal, value for value."""
    _, got = written
    path = tmp_path / "wide.sqlite"
    old_file(
        path,
        2,
        {
            "readings": got["readings"],
            "consumption": got["consumption"],
            "consumption_quarters": got["quarters"],
        },
    )
    db = sqlite3.connect(path)
    assert db.execute(READINGS).fetchall() == got["readings"]
    assert db.execute(CONSUMPTION).fetchall() == got["consumption"]
    assert db.execute(QUARTERS).fetchall() == got["quarters"]
    db.close()
    leak = [row for row in got["readings"] if row[1] == "leak"]
    assert {row[4] for row in leak} == {0.0, 1.0}, "booleans stored as numbers, as before"
    assert all(type(row[4]) is float for row in got["readings"])
    assert any(row[6] == 1 for row in got["consumption"]), "the gap flag"


def test_an_old_file_is_moved_in_place_and_answers_the_same(
    tmp_path: Path, written: tuple[Batch, dict[str, Any]]
) -> None:
    batch, got = written
    path = tmp_path / "old.sqlite"
    # A quarter whose deltas retention already deleted: the rollup keeps it for good.
    kept = ("energy_delta_kwh", 1, "mairie", "saint-sulpice", 4.5)
    old_file(
        path,
        2,
        {
            "readings": got["readings"],
            "consumption": got["consumption"],
            "consumption_quarters": [*got["quarters"], kept],
            "meter_state": [("m", "{}")],
        },
    )
    before = path.stat().st_size
    store = SqliteStore(path)
    assert store.fetch("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert kinds(path)["readings"] == "view"
    assert kinds(path)["consumption_quarters"] == "view"
    assert "consumption_by_time" not in kinds(path)
    assert store.fetch(READINGS) == got["readings"]
    assert store.fetch(CONSUMPTION) == got["consumption"]
    assert store.fetch(QUARTERS) == [kept, *got["quarters"]]
    again = answers(store)
    assert again["days"] == got["days"]
    assert again["hours"] == got["hours"]
    assert store.fetch("SELECT * FROM meter_state") == [("m", "{}")]
    assert store.fetch("PRAGMA freelist_count") == [(0,)], "compacted after the move"
    assert path.stat().st_size < before
    store.write(batch)  # a replay after the move changes nothing
    assert store.fetch(READINGS) == got["readings"]
    assert store.fetch(CONSUMPTION) == got["consumption"]
    assert store.fetch(QUARTERS) == [kept, *got["quarters"]]
    store.close()


def test_a_file_older_than_the_rollup_gets_it_summed(
    tmp_path: Path, written: tuple[Batch, dict[str, Any]]
) -> None:
    _, got = written
    path = tmp_path / "v0.sqlite"
    old_file(path, 0, {"readings": got["readings"], "consumption": got["consumption"]})
    store = SqliteStore(path)
    assert store.fetch(QUARTERS) == got["quarters"]
    assert answers(store) == got
    store.close()


def test_a_failed_move_leaves_the_old_file_as_it_was(
    tmp_path: Path, written: tuple[Batch, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, got = written
    path = tmp_path / "old.sqlite"
    old_file(
        path,
        2,
        {
            "readings": got["readings"],
            "consumption": got["consumption"],
            "consumption_quarters": got["quarters"],
        },
    )
    real = sqlite_schema.to_series

    def dies_at_the_end(db: sqlite3.Connection, version: int) -> bool:
        real(db, version)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_schema, "to_series", dies_at_the_end)
    with pytest.raises(Exception, match="disk I/O error"):
        SqliteStore(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (2,)
    assert db.execute(READINGS).fetchall() == got["readings"]
    assert db.execute("SELECT COUNT(*) FROM series").fetchone() == (0,)
    db.close()
    assert kinds(path)["readings"] == "table"
    monkeypatch.setattr(sqlite_schema, "to_series", real)
    store = SqliteStore(path)
    assert store.fetch(READINGS) == got["readings"]
    store.close()


def test_a_device_that_changes_place_keeps_one_value_per_time(tmp_path: Path) -> None:
    """The place used to be part of every row under a key without it: a reading written again
    with another place replaced the first, and its delta left the old building's sums."""
    store = SqliteStore(tmp_path / "lw.sqlite")
    eui = "00000000000000a1"
    ends = [T0 + (k + 1) * Q for k in range(4)]

    def batch(place: Place, values: list[float]) -> Batch:
        return Batch(
            readings=[
                StoredReading(eui, "energy_kwh", "", e, 10 + v, place)
                for e, v in zip(ends, values, strict=False)
            ],
            consumption=[
                Consumption(eui, "energy_delta_kwh", "", e - Q, e, v, False, place)
                for e, v in zip(ends, values, strict=False)
            ],
        )

    store.write(batch(MAIRIE, [1.0, 1.0, 1.0, 1.0]))
    store.write(batch(ECOLE, [2.0, 2.0]))  # the first two quarters again, elsewhere
    assert store.fetch("SELECT building, time_us, value FROM readings ORDER BY time_us") == [
        ("ecole", ends[0].timestamp() * 1_000_000, 12.0),
        ("ecole", ends[1].timestamp() * 1_000_000, 12.0),
        ("mairie", ends[2].timestamp() * 1_000_000, 11.0),
        ("mairie", ends[3].timestamp() * 1_000_000, 11.0),
    ]
    month = store.consumption("energy_delta_kwh", T0, T0 + timedelta(days=1), "month", "UTC")
    assert [(b.group, b.value) for b in month] == [("ecole", 4.0), ("mairie", 2.0)]
    assert store.fetch("SELECT building, SUM(value) FROM consumption_quarters GROUP BY 1") == [
        ("ecole", 4.0),
        ("mairie", 2.0),
    ]
    store.write(batch(MAIRIE, [1.0, 1.0, 1.0, 1.0]))  # and back
    assert store.fetch("SELECT DISTINCT building FROM readings") == [("mairie",)]
    assert store.fetch("SELECT building, SUM(value) FROM consumption_quarters GROUP BY 1") == [
        ("mairie", 4.0),
    ]
    store.close()


def test_rows_go_in_key_order_and_the_later_of_two_copies_in_a_batch_wins(
    tmp_path: Path,
) -> None:
    """The store sorts a batch's samples and deltas by their key before writing them (fewer
    pages for each statement's journal): a stable sort, so the later copy still replaces."""
    store = SqliteStore(tmp_path / "lw.sqlite")
    euis = [f"00000000000000b{i}" for i in range(3)]
    ends = [T0 + (k + 1) * Q for k in range(300)]
    readings = [
        StoredReading(e, "energy_kwh", "", t, float(k), MAIRIE)
        for k, t in enumerate(ends)
        for e in euis
    ]
    deltas = [
        Consumption(e, "energy_delta_kwh", "", t - Q, t, 1.0, False, MAIRIE)
        for t in ends
        for e in euis
    ]
    readings.append(StoredReading(euis[0], "energy_kwh", "", ends[5], -1.0, MAIRIE))
    deltas.append(
        Consumption(euis[0], "energy_delta_kwh", "", ends[5] - Q, ends[5], 7.0, False, MAIRIE)
    )
    store.write(Batch(readings=readings, consumption=deltas))
    rows = store.fetch("SELECT dev_eui, time_us, value FROM readings ORDER BY dev_eui, time_us")
    assert len(rows) == 900
    at = int(ends[5].timestamp() * 1_000_000)
    assert [r[2] for r in rows if r[1] == at] == [-1.0, 5.0, 5.0]
    month = store.consumption("energy_delta_kwh", T0, T0 + timedelta(days=30), "month", "UTC")
    assert [(b.group, b.value) for b in month] == [("mairie", 900.0 - 1.0 + 7.0)]
    store.close()


def test_a_series_added_by_a_rolled_back_batch_is_not_reused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "lw.sqlite")
    one = StoredReading("00000000000000c1", "battery_pct", "", T0, 90.0, SALLE)
    with pytest.raises(RuntimeError), store.transaction() as db:
        store.write_in(db, Batch(readings=[one]))
        raise RuntimeError("the batch's other writes failed")
    other = StoredReading("00000000000000c2", "battery_pct", "", T0, 80.0, SALLE)
    store.write(Batch(readings=[other]))
    assert store.fetch("SELECT dev_eui, value FROM readings") == [("00000000000000c2", 80.0)]
    store.write(Batch(readings=[one]))
    assert store.fetch("SELECT dev_eui, value FROM readings ORDER BY 1") == [
        ("00000000000000c1", 90.0),
        ("00000000000000c2", 80.0),
    ]
    store.close()


def test_a_second_writer_on_the_same_file_sees_the_other_ones_series(tmp_path: Path) -> None:
    a, b = SqliteStore(tmp_path / "lw.sqlite"), SqliteStore(tmp_path / "lw.sqlite")
    first = StoredReading("00000000000000c1", "battery_pct", "", T0, 90.0, SALLE)
    second = StoredReading("00000000000000c2", "battery_pct", "", T0, 80.0, SALLE)
    a.write(Batch(readings=[first]))
    b.write(Batch(readings=[second]))
    a.write(Batch(readings=[second, first]))
    assert a.fetch("SELECT dev_eui, value FROM readings ORDER BY 1") == [
        ("00000000000000c1", 90.0),
        ("00000000000000c2", 80.0),
    ]
    assert a.fetch("SELECT COUNT(*) FROM series") == [(2,)]
    a.close()
    b.close()


def test_retention_deletes_old_rows_of_every_series_and_keeps_the_rollup(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "lw.sqlite")
    batch = history()
    store.write(batch)
    quarters = store.fetch(QUARTERS)
    cutoff = T0 + timedelta(days=1)
    deleted = purge(store, keep_days=1, now=cutoff + timedelta(days=1))
    assert deleted["readings"] == sum(r.time < cutoff for r in batch.readings) > 0
    assert deleted["consumption"] == sum(c.end < cutoff for c in batch.consumption) > 0
    left = sorted((r.dev_eui, r.channel, r.time) for r in batch.readings if r.time >= cutoff)
    assert [
        (eui, channel, from_us(t))
        for eui, channel, t in store.fetch(
            "SELECT dev_eui, channel, time_us FROM readings ORDER BY 1, 2, 3"
        )
    ] == left
    assert store.fetch(QUARTERS) == quarters
    store.close()


def test_a_reading_costs_under_forty_bytes(tmp_path: Path) -> None:
    """The row of a reading, its key included: a regression guard on the layout."""
    store = SqliteStore(tmp_path / "lw.sqlite")
    batch = history(days=14)
    store.write(batch)
    size = dict(store.fetch("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
    store.close()
    per_reading = size["samples"] / len(batch.readings)
    assert per_reading < 30, per_reading
    assert size["deltas"] / len(batch.consumption) < 40

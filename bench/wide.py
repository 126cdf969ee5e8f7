"""The SQLite layout before the series table (schema version 2), kept as a baseline.

One wide row per reading and per delta, each repeating device, reading, channel and the four
place columns, an index on (name, end_us) for the deltas, and the quarter-hour rollup keyed by
(name, quarter, building, commune); written and read as :class:`SqliteStore` did then (same
connection settings, upserts, rollup recomputed per batch, the same split of a query into
whole quarters and edges). The benches measure the series layout against it in the same run,
and time the move of its file to the series layout (what ``SqliteStore`` does to such a file).

Also :func:`sizes`: what each table and index of a file takes, from SQLite's ``dbstat``.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Literal

from lorawatch.core import timeutil
from lorawatch.core.timeutil import us
from lorawatch.pipeline.records import Batch, Consumption, StoredReading
from lorawatch.pipeline.store import Bucket, Interval
from lorawatch.stores.sqlite_schema import QUARTER_US

WIDE_DDL = """
CREATE TABLE readings (
    dev_eui TEXT NOT NULL, name TEXT NOT NULL, channel TEXT NOT NULL, time_us INTEGER NOT NULL,
    value REAL NOT NULL, commune TEXT NOT NULL, building TEXT NOT NULL, device TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (dev_eui, name, channel, time_us)
) WITHOUT ROWID;
CREATE TABLE consumption (
    dev_eui TEXT NOT NULL, name TEXT NOT NULL, channel TEXT NOT NULL, end_us INTEGER NOT NULL,
    start_us INTEGER NOT NULL, value REAL NOT NULL, gap INTEGER NOT NULL,
    commune TEXT NOT NULL, building TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (dev_eui, name, channel, end_us)
) WITHOUT ROWID;
CREATE INDEX consumption_by_time ON consumption (name, end_us);
CREATE TABLE consumption_quarters (
    name TEXT NOT NULL, quarter INTEGER NOT NULL, building TEXT NOT NULL, commune TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (name, quarter, building, commune)
) WITHOUT ROWID;
PRAGMA user_version = 2;
"""

READINGS_PART = {
    "samples",
    "deltas",
    "quarter_sums",
    "series",
    "series_key",
    "series_by_name",
    "sum_groups",
    "readings",
    "consumption",
    "consumption_by_time",
    "consumption_quarters",
}
"""The tables and indexes that hold readings, deltas and their rollup (either layout)."""
RAW_PART = {"uplinks", "uplinks_frame", "uplinks_uid"}
"""Raw frames: kept ``store.raw_retention_days``, whatever the number of readings."""


def sizes(path: Path) -> dict[str, int]:
    """Bytes of the pages of each table and index (an automatic index counts for its table)."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        owners = dict(
            db.execute("SELECT name, tbl_name FROM sqlite_schema WHERE name LIKE 'sqlite_auto%'")
        )
    finally:
        db.close()
    out: dict[str, int] = defaultdict(int)
    for name, size in rows:
        out[owners.get(name, name)] += int(size)
    return dict(out)


def parts(path: Path) -> dict[str, int]:
    """The file's bytes in three parts: readings (with deltas, rollup, series and their
    indexes), raw uplinks, and the rest (alerts, meter state, dead letters, schema)."""
    by_name = sizes(path)
    readings = sum(v for k, v in by_name.items() if k in READINGS_PART)
    raw = sum(v for k, v in by_name.items() if k in RAW_PART)
    return {
        "readings": readings,
        "raw_uplinks": raw,
        "other": sum(by_name.values()) - readings - raw,
    }


class WideStore:
    """Readings and deltas as version 2 of the store wrote and read them."""

    name = "sqlite-wide"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "busy_timeout=30000",
            "cache_size=-65536",
            "wal_autocheckpoint=10000",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(WIDE_DDL)

    def write(self, batch: Batch) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT OR REPLACE INTO readings VALUES (?,?,?,?,?,?,?,?,?)",
            reading_rows(batch.readings),
        )
        rows = consumption_rows(batch.consumption)
        db.executemany("INSERT OR REPLACE INTO consumption VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        self._roll_up({(row[1], row[3] // QUARTER_US) for row in rows})
        db.execute("COMMIT")

    def _roll_up(self, touched: set[tuple[str, int]]) -> None:
        by_name: dict[str, list[int]] = defaultdict(list)
        for name, quarter in touched:
            by_name[name].append(quarter)
        runs: list[tuple[str, int, int]] = []
        for name, quarters in by_name.items():
            quarters.sort()
            first = last = quarters[0]
            for q in quarters[1:]:
                if q != last + 1:
                    runs.append((name, first, last + 1))
                    first = q
                last = q
            runs.append((name, first, last + 1))
        self.db.executemany(
            "DELETE FROM consumption_quarters WHERE name = ? AND quarter >= ? AND quarter < ?",
            runs,
        )
        self.db.executemany(
            "INSERT INTO consumption_quarters"
            f" SELECT name, end_us / {QUARTER_US}, building, commune, SUM(value) FROM consumption"
            " WHERE name = ?1 AND end_us >= ?2 * ?4 AND end_us < ?3 * ?4 GROUP BY 1, 2, 3, 4",
            [(name, first, end, QUARTER_US) for name, first, end in runs],
        )

    def consumption(
        self,
        name: str,
        start: datetime,
        end: datetime,
        interval: Interval,
        tz: str,
        group_by: Literal["building", "commune"] = "building",
    ) -> list[Bucket]:
        column = "building" if group_by == "building" else "commune"
        lo, hi = us(start), us(end)
        q_lo, q_hi = -(-lo // QUARTER_US), hi // QUARTER_US
        raw = (
            f"SELECT {column}, end_us / {QUARTER_US}, SUM(value) FROM consumption"
            " WHERE name = ? AND end_us >= ? AND end_us < ? GROUP BY 1, 2"
        )
        db = self.db
        db.execute("BEGIN")
        rows = db.execute(raw, (name, lo, q_lo * QUARTER_US)).fetchall()
        rows += db.execute(
            f"SELECT {column}, quarter, SUM(value) FROM consumption_quarters"
            " WHERE name = ? AND quarter >= ? AND quarter < ? GROUP BY 1, 2",
            (name, q_lo, q_hi),
        ).fetchall()
        rows += db.execute(raw, (name, q_hi * QUARTER_US, hi)).fetchall()
        db.execute("COMMIT")
        return timeutil.sum_by_period(
            ((group, quarter * QUARTER_US, value) for group, quarter, value in rows),
            start,
            end,
            interval,
            tz,
        )

    def close(self) -> None:
        self.db.close()


Row = tuple[object, ...]


def reading_rows(readings: list[StoredReading]) -> list[Row]:
    """One wide row per reading, every column repeated."""
    return [
        (
            r.dev_eui,
            r.name,
            r.channel,
            us(r.time),
            float(r.value),
            r.place.commune,
            r.place.building,
            r.place.device,
            r.place.kind,
        )
        for r in readings
    ]


def consumption_rows(consumption: list[Consumption]) -> list[Row]:
    """One wide row per delta, every column repeated."""
    return [
        (
            c.dev_eui,
            c.name,
            c.channel,
            us(c.end),
            us(c.start),
            c.value,
            int(c.gap),
            c.place.commune,
            c.place.building,
            c.place.device,
            c.place.kind,
        )
        for c in consumption
    ]


def wide_copy(src: Path, dst: Path) -> None:
    """The readings, deltas and rollup of a series-layout file, as schema 2 held them.

    Rows go in time order, as live batches wrote them (a key-ordered copy would pack the pages
    fuller than writing ever did), so the copy's size is what the old store's file had.
    """
    db = sqlite3.connect(dst, isolation_level=None)
    try:
        db.executescript(WIDE_DDL)
        db.execute("ATTACH ? AS src", (str(src),))
        db.execute("BEGIN")
        db.execute("INSERT INTO main.readings SELECT * FROM src.readings ORDER BY time_us")
        db.execute("INSERT INTO main.consumption SELECT * FROM src.consumption ORDER BY end_us")
        db.execute(
            "INSERT INTO main.consumption_quarters SELECT * FROM src.consumption_quarters"
            " ORDER BY quarter"
        )
        db.execute("COMMIT")
    finally:
        db.close()

"""The embedded store: one SQLite file in WAL mode, crash-safe, readable while it is written.

It always holds what only it keeps (raw uplinks, dead letters, device events, meter state,
alerts) and, when ``sqlite`` is among ``store.outputs``, the readings and consumption deltas.
Natural primary keys make every write an upsert, so replaying a batch changes nothing.
Each thread gets its own connection (sqlite3 connections are not shared across threads).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from lorawatch.errors import StoreUnavailable
from lorawatch.pipeline import calendar
from lorawatch.pipeline.records import Batch, DeadLetter
from lorawatch.pipeline.store import Bucket, Interval

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    dev_eui TEXT NOT NULL, name TEXT NOT NULL, channel TEXT NOT NULL, time_us INTEGER NOT NULL,
    value REAL NOT NULL, commune TEXT NOT NULL, building TEXT NOT NULL, device TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (dev_eui, name, channel, time_us)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumption (
    dev_eui TEXT NOT NULL, name TEXT NOT NULL, channel TEXT NOT NULL, end_us INTEGER NOT NULL,
    start_us INTEGER NOT NULL, value REAL NOT NULL, gap INTEGER NOT NULL,
    commune TEXT NOT NULL, building TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
    PRIMARY KEY (dev_eui, name, channel, end_us)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS consumption_by_time ON consumption (name, end_us);
CREATE TABLE IF NOT EXISTS uplinks (
    dev_eui TEXT NOT NULL, time_us INTEGER NOT NULL, f_cnt INTEGER NOT NULL, f_port INTEGER NOT NULL,
    payload BLOB NOT NULL, dedup_id TEXT NOT NULL, received_us INTEGER NOT NULL,
    format TEXT NOT NULL, rssi REAL, snr REAL, gateways INTEGER NOT NULL,
    PRIMARY KEY (dev_eui, time_us, f_cnt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_us INTEGER NOT NULL, topic TEXT NOT NULL,
    payload BLOB NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, dev_eui TEXT NOT NULL,
    replayed_us INTEGER
);
CREATE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (replayed_us, id);
CREATE TABLE IF NOT EXISTS device_events (
    dev_eui TEXT NOT NULL, time_us INTEGER NOT NULL, kind TEXT NOT NULL, code TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (dev_eui, time_us, kind, code)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meter_state (
    key TEXT PRIMARY KEY, state TEXT NOT NULL
);
"""

QUARTER_US = 900 * 1_000_000


def us(t: datetime) -> int:
    """Microseconds since the epoch: exact, and what both stores key on."""
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // _US


_US = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)


def from_us(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + value * _US


class SqliteStore:
    name = "sqlite"

    def __init__(self, path: Path, readings: bool = True) -> None:
        self.path = path
        self.keeps_readings = readings
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._connection() as db:
            db.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock, self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def write(self, batch: Batch) -> None:
        with self.transaction() as db:
            self.write_in(db, batch)

    def write_in(self, db: sqlite3.Connection, batch: Batch) -> None:
        """Write a batch inside the caller's transaction (to commit other changes with it)."""
        db.executemany(
            "INSERT OR REPLACE INTO uplinks VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    u.dev_eui,
                    us(u.time),
                    -1 if u.f_cnt is None else u.f_cnt,
                    u.f_port,
                    u.payload,
                    u.dedup_id,
                    us(u.received),
                    u.format,
                    u.rssi,
                    u.snr,
                    u.gateways,
                )
                for u in batch.uplinks
            ],
        )
        if self.keeps_readings:
            db.executemany(
                "INSERT OR REPLACE INTO readings VALUES (?,?,?,?,?,?,?,?,?)",
                [
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
                    for r in batch.readings
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO consumption VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
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
                    for c in batch.consumption
                ],
            )
        self._dead_letters(db, batch.dead_letters)
        db.executemany(
            "INSERT OR REPLACE INTO device_events VALUES (?,?,?,?,?)",
            [(e.dev_eui, us(e.time), e.kind, e.code, e.detail) for e in batch.events],
        )

    @staticmethod
    def _dead_letters(db: sqlite3.Connection, letters: list[DeadLetter]) -> None:
        db.executemany(
            "INSERT INTO dead_letters (received_us, topic, payload, reason, detail, dev_eui)"
            " VALUES (?,?,?,?,?,?)",
            [(us(d.received), d.topic, d.payload, d.reason, d.detail, d.dev_eui) for d in letters],
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
        with self._connection() as db:
            rows = db.execute(
                f"SELECT {column}, end_us / {QUARTER_US}, SUM(value) FROM consumption"
                " WHERE name = ? AND end_us >= ? AND end_us < ? GROUP BY 1, 2",
                (name, us(start), us(end)),
            ).fetchall()
        sums: dict[tuple[str, datetime], float] = defaultdict(float)
        for group, quarter, value in rows:
            sums[(group, calendar.period_start(from_us(quarter * QUARTER_US), interval, tz))] += (
                value
            )
        return [Bucket(g, s, v) for (g, s), v in sorted(sums.items())]

    def fetch(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Read rows on this thread's connection, without taking the writers' lock (WAL)."""
        with self._connection() as db:
            return db.execute(sql, args).fetchall()

    def health(self) -> dict[str, object]:
        return {"path": str(self.path)}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

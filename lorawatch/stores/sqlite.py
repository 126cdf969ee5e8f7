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
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import structlog

from lorawatch.core import timeutil
from lorawatch.core.errors import StoreUnavailable
from lorawatch.core.timeutil import us
from lorawatch.gateway_bridge.dedup import MAX_GENERATIONS, frame_identity, letter_key
from lorawatch.pipeline.records import Batch, Consumption, DeadLetter, Place, StoredReading
from lorawatch.pipeline.store import Bucket, Delta, HourStats, Interval

log = structlog.get_logger(__name__)

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
CREATE TABLE IF NOT EXISTS consumption_quarters (
    name TEXT NOT NULL, quarter INTEGER NOT NULL, building TEXT NOT NULL, commune TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (name, quarter, building, commune)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uplinks (
    dev_eui TEXT NOT NULL, time_us INTEGER NOT NULL, f_cnt INTEGER NOT NULL, f_port INTEGER NOT NULL,
    payload BLOB NOT NULL, dedup_id TEXT NOT NULL, received_us INTEGER NOT NULL,
    format TEXT NOT NULL, rssi REAL, snr REAL, gateways INTEGER NOT NULL, uid INTEGER,
    PRIMARY KEY (dev_eui, time_us, f_cnt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_us INTEGER NOT NULL, topic TEXT NOT NULL,
    payload BLOB NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, dev_eui TEXT NOT NULL,
    replayed_us INTEGER, key INTEGER
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
CREATE TABLE IF NOT EXISTS meter_window (
    key TEXT NOT NULL, seq INTEGER NOT NULL, latest_us INTEGER NOT NULL, readings TEXT NOT NULL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;
"""

QUARTER_US = 900 * 1_000_000
HOUR_US = 3600 * 1_000_000
SCHEMA_VERSION = 3
"""``PRAGMA user_version``: 1 added ``consumption_quarters`` (rebuilt from ``consumption``);
2 added the identities (``uplinks.uid``, ``dead_letters.key``, each under a unique index);
3 the identity of ChirpStack's other events (``device_events.uid``, unique when set)."""


Row = tuple[Any, ...]


class WriteHook(Protocol):
    """State that must commit with each batch: written in its transaction, or not at all.

    The alert engine is one: its rules' state and the alerts a batch opens are durable
    exactly when the batch is, so a crash between the commit and the acknowledgement (the
    redelivered copies are then recognised and dropped before the rules) loses nothing.
    """

    def in_transaction(self, db: sqlite3.Connection, batch: Batch) -> None:
        """Write what ``batch`` changes, on ``db``; must not commit or roll back."""

    def committed(self) -> None:
        """The transaction committed (wake whoever waits for what was written)."""

    def rolled_back(self) -> None:
        """The transaction did not commit: forget what ``in_transaction`` believed written."""


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _add_identities(db: sqlite3.Connection, horizon_us: int = 86_400 * 1_000_000) -> None:
    """Give the rows of an older file their identity, then make identities unique.

    Copies stored before identities existed (a retransmission stored twice across a restart)
    are found on the way: the later copy of a frame within ``horizon_us`` of the first is
    deleted from ``uplinks``, the later copy of a dead letter too; both are logged.
    """
    if "uid" not in _columns(db, "uplinks"):
        db.execute("ALTER TABLE uplinks ADD COLUMN uid INTEGER")
    if "key" not in _columns(db, "dead_letters"):
        db.execute("ALTER TABLE dead_letters ADD COLUMN key INTEGER")
    first: dict[int, int] = {}
    updates: list[tuple[int, str, int, int]] = []
    copies: list[tuple[str, int, int]] = []
    rows = db.execute(
        "SELECT dev_eui, time_us, f_cnt, f_port, payload, dedup_id FROM uplinks"
        " WHERE uid IS NULL ORDER BY time_us"
    )
    for dev_eui, time_us, f_cnt, f_port, payload, dedup_id in rows:
        for generation in range(MAX_GENERATIONS):
            uid = frame_identity(dev_eui, f_cnt, f_port, bytes(payload), dedup_id, generation)
            known = first.get(uid)
            if known is None or abs(known - time_us) <= horizon_us:
                break
        if known is not None and abs(known - time_us) <= horizon_us:
            copies.append((dev_eui, time_us, f_cnt))
            continue
        first[uid] = time_us
        updates.append((uid, dev_eui, time_us, f_cnt))
    db.executemany("DELETE FROM uplinks WHERE dev_eui = ? AND time_us = ? AND f_cnt = ?", copies)
    db.executemany(
        "UPDATE uplinks SET uid = ? WHERE dev_eui = ? AND time_us = ? AND f_cnt = ?", updates
    )
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS uplinks_uid ON uplinks (uid)")
    keys: set[int] = set()
    letters: list[tuple[int, int]] = []
    doubled: list[tuple[int]] = []
    for id_, topic, payload in db.execute(
        "SELECT id, topic, payload FROM dead_letters WHERE key IS NULL ORDER BY id"
    ):
        key = letter_key(topic, bytes(payload))
        if key in keys:
            doubled.append((id_,))
        else:
            keys.add(key)
            letters.append((key, id_))
    db.executemany("DELETE FROM dead_letters WHERE id = ?", doubled)
    db.executemany("UPDATE dead_letters SET key = ? WHERE id = ?", letters)
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_key ON dead_letters (key)")
    if copies or doubled:
        log.warning(
            "copies stored before identities existed were removed",
            uplinks=len(copies),
            dead_letters=len(doubled),
        )


def reading_rows(readings: list[StoredReading]) -> list[Row]:
    """Rows of the ``readings`` table, in its column order."""
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
    """Rows of the ``consumption`` table, in its column order."""
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


CACHE_KIB = 16_384
"""SQLite's page cache of the connection that writes the batches, in KiB."""
READ_CACHE_KIB = 2_000
"""SQLite's page cache of the other connections, in KiB (SQLite's default)."""


class SqliteStore:
    name = "sqlite"

    def __init__(self, path: Path, readings: bool = True) -> None:
        self.path = path
        self.keeps_readings = readings
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self.hooks: list[WriteHook] = []
        """Called inside :meth:`write`'s transaction, in order (the alert engine)."""
        with self._connection() as db:
            db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older file up to :data:`SCHEMA_VERSION` (the tables exist by now)."""
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version < 1:
                # Files written before the rollup existed: sum what they hold, once.
                db.execute("DELETE FROM consumption_quarters")
                db.execute(
                    "INSERT INTO consumption_quarters"
                    f" SELECT name, end_us / {QUARTER_US}, building, commune, SUM(value)"
                    " FROM consumption GROUP BY 1, 2, 3, 4"
                )
            if version < 2:
                _add_identities(db)
            if version < 3:
                if "uid" not in _columns(db, "device_events"):
                    db.execute("ALTER TABLE device_events ADD COLUMN uid INTEGER")
                db.execute(
                    "CREATE UNIQUE INDEX IF NOT EXISTS device_events_uid ON device_events (uid)"
                    " WHERE uid IS NOT NULL"
                )
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            # The cache is per connection (per thread: the store writer, the bridge, the
            # alerts' ticks, retention...) and fills up to its size as the file grows.
            # Readers keep SQLite's default; the batches' connection gets more (write).
            conn.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")
            conn.execute("PRAGMA wal_autocheckpoint=10000")
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
        """Write the batch, and what the :attr:`hooks` derive from it, in one transaction."""
        if not getattr(self._local, "batches", False):
            # A batch dirties a few MB spread over every meter's key range: with SQLite's
            # default cache each commit re-reads most of it. 64 MB (and a checkpoint every
            # 10,000 WAL pages) made a year of 200 meters ingest ~1.5x faster than the
            # defaults (bench/store.py) but, on every connection, made the service's memory
            # grow with the backlog it drained; 16 MB on this one alone stays within a few
            # % of 64 MB's CPU per uplink in a backfill (bench/backfill.py, bench/memory.py).
            with self._connection() as db:
                db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._local.batches = True
        try:
            with self.transaction() as db:
                self.write_in(db, batch)
                for hook in self.hooks:
                    hook.in_transaction(db, batch)
        except BaseException:
            for hook in self.hooks:
                hook.rolled_back()
            raise
        for hook in self.hooks:
            hook.committed()

    def write_in(self, db: sqlite3.Connection, batch: Batch) -> None:
        """Write a batch inside the caller's transaction (to commit other changes with it)."""
        # OR IGNORE: a frame already stored (same identity) keeps its first copy.
        db.executemany(
            "INSERT OR IGNORE INTO uplinks (dev_eui, time_us, f_cnt, f_port, payload, dedup_id,"
            " received_us, format, rssi, snr, gateways, uid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    u.uid or frame_identity(u.dev_eui, u.f_cnt, u.f_port, u.payload, u.dedup_id),
                )
                for u in batch.uplinks
            ],
        )
        if self.keeps_readings:
            db.executemany(
                "INSERT OR REPLACE INTO readings VALUES (?,?,?,?,?,?,?,?,?)",
                reading_rows(batch.readings),
            )
            rows = consumption_rows(batch.consumption)
            db.executemany(
                "INSERT OR REPLACE INTO consumption VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows
            )
            self._roll_up(db, {(row[1], row[3] // QUARTER_US) for row in rows})
        self._dead_letters(db, batch.dead_letters)
        # ChirpStack's events: a copy (same identity) keeps the first row. Quality events
        # have no identity: the same (time, code) again replaces its detail.
        events = batch.events
        if events:
            db.executemany(
                "INSERT OR IGNORE INTO device_events (dev_eui, time_us, kind, code, detail, uid)"
                " VALUES (?,?,?,?,?,?)",
                [
                    (e.dev_eui, us(e.time), e.kind, e.code, e.detail, e.uid)
                    for e in events
                    if e.uid is not None
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO device_events (dev_eui, time_us, kind, code, detail)"
                " VALUES (?,?,?,?,?)",
                [
                    (e.dev_eui, us(e.time), e.kind, e.code, e.detail)
                    for e in events
                    if e.uid is None
                ],
            )
        if batch.meter_state:
            db.executemany("INSERT OR REPLACE INTO meter_state VALUES (?,?)", batch.meter_state)
        if batch.meter_window:
            db.executemany(
                "INSERT OR REPLACE INTO meter_window VALUES (?,?,?,?)", batch.meter_window
            )
        if batch.meter_window_drop:
            db.executemany(
                "DELETE FROM meter_window WHERE key = ? AND seq = ?", batch.meter_window_drop
            )

    @staticmethod
    def _dead_letters(db: sqlite3.Connection, letters: list[DeadLetter]) -> None:
        # OR IGNORE: a redelivered bad message (same topic and bytes) is one letter.
        db.executemany(
            "INSERT OR IGNORE INTO dead_letters"
            " (received_us, topic, payload, reason, detail, dev_eui, key) VALUES (?,?,?,?,?,?,?)",
            [
                (
                    us(d.received),
                    d.topic,
                    d.payload,
                    d.reason,
                    d.detail,
                    d.dev_eui,
                    letter_key(d.topic, d.payload),
                )
                for d in letters
            ],
        )

    @staticmethod
    def _roll_up(db: sqlite3.Connection, touched: set[tuple[str, int]]) -> None:
        """Recompute the quarter-hour sums a batch touched, from the deltas themselves.

        Recomputing (not adding the batch's values) keeps the rollup exact whatever the batch
        holds: a replay rewrites the same deltas and the same sums, a late reading that changed
        a delta replaces its old value, a device moved to another building leaves its old
        group. Consecutive quarters are done in one statement: a batch is mostly one run.
        """
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
        db.executemany(
            "DELETE FROM consumption_quarters WHERE name = ? AND quarter >= ? AND quarter < ?",
            runs,
        )
        db.executemany(
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
        """Sums per quarter hour in SQL (the rollup), then per local period in Python.

        Whole quarters inside [start, end) come from ``consumption_quarters``; the partial
        quarters at either edge from the deltas, so the answer is exactly InfluxDB's: every
        delta whose end time is in [start, end), in the period that contains that end time.
        """
        column = "building" if group_by == "building" else "commune"
        lo, hi = us(start), us(end)
        if hi <= lo:
            return []
        q_lo, q_hi = -(-lo // QUARTER_US), hi // QUARTER_US  # whole quarters: [q_lo, q_hi)
        raw = (
            f"SELECT {column}, end_us / {QUARTER_US}, SUM(value) FROM consumption"
            " WHERE name = ? AND end_us >= ? AND end_us < ? GROUP BY 1, 2"
        )
        with self._connection() as db:
            if q_lo >= q_hi:
                rows = db.execute(raw, (name, lo, hi)).fetchall()
            else:
                # One read transaction: the three parts see the same committed batches.
                own = not db.in_transaction
                if own:
                    db.execute("BEGIN")
                try:
                    rows = db.execute(raw, (name, lo, q_lo * QUARTER_US)).fetchall()
                    rows += db.execute(
                        f"SELECT {column}, quarter, SUM(value) FROM consumption_quarters"
                        " WHERE name = ? AND quarter >= ? AND quarter < ? GROUP BY 1, 2",
                        (name, q_lo, q_hi),
                    ).fetchall()
                    rows += db.execute(raw, (name, q_hi * QUARTER_US, hi)).fetchall()
                finally:
                    if own:
                        db.execute("COMMIT")
        return timeutil.sum_by_period(
            ((group, quarter * QUARTER_US, value) for group, quarter, value in rows),
            start,
            end,
            interval,
            tz,
        )

    def deltas(self, name: str, building: str, start: datetime, end: datetime) -> list[Delta]:
        rows = self.fetch(
            "SELECT start_us, end_us, value, gap, kind FROM consumption WHERE name = ?"
            " AND building = ? AND end_us >= ? AND end_us < ? ORDER BY end_us",
            (name, building, us(start), us(end)),
        )
        return [Delta(a / 1e6, b / 1e6, float(v), bool(g), k) for a, b, v, g, k in rows]

    def reading_hours(
        self, name: str, commune: str, start: datetime, end: datetime
    ) -> list[HourStats]:
        rows = self.fetch(
            f"SELECT time_us / {HOUR_US}, AVG(value), MIN(value), MAX(value) FROM readings"
            " WHERE name = ? AND commune = ? AND time_us >= ? AND time_us < ? GROUP BY 1"
            " ORDER BY 1",
            (name, commune, us(start), us(end)),
        )
        return [HourStats(int(h) * 3600, float(m), float(lo), float(hi)) for h, m, lo, hi in rows]

    def deltas_between(self, name: str, start: datetime, end: datetime) -> list[Consumption]:
        rows = self.fetch(
            "SELECT dev_eui, channel, start_us, end_us, value, gap, commune, building, device,"
            " kind FROM consumption WHERE name = ? AND end_us >= ? AND end_us < ?"
            " ORDER BY end_us, dev_eui, channel",
            (name, us(start), us(end)),
        )
        return [
            Consumption(
                dev,
                name,
                channel,
                timeutil.from_us(a),
                timeutil.from_us(b),
                value,
                bool(gap),
                Place(commune, building, device, kind),
            )
            for dev, channel, a, b, value, gap, commune, building, device, kind in rows
        ]

    def readings_between(self, name: str, start: datetime, end: datetime) -> list[StoredReading]:
        rows = self.fetch(
            "SELECT dev_eui, channel, time_us, value, commune, building, device, kind"
            " FROM readings WHERE name = ? AND time_us >= ? AND time_us < ?"
            " ORDER BY time_us, dev_eui, channel",
            (name, us(start), us(end)),
        )
        return [
            StoredReading(
                dev,
                name,
                channel,
                timeutil.from_us(t),
                value,
                Place(commune, building, device, kind),
            )
            for dev, channel, t, value, commune, building, device, kind in rows
        ]

    def uplink_time(self, uid: int) -> int | None:
        """Event time (µs) of the stored uplink with this identity (the de-duplicator's
        authority, :class:`lorawatch.gateway_bridge.dedup.Persisted`)."""
        with self._connection() as db:
            row = db.execute("SELECT time_us FROM uplinks WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else int(row[0])

    def event_time(self, uid: int) -> int | None:
        """Event time (µs) of the stored ChirpStack event with this identity (the
        de-duplicator's authority for status, join, txack... events)."""
        with self._connection() as db:
            row = db.execute("SELECT time_us FROM device_events WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else int(row[0])

    def last_f_cnt(self, dev_eui: str) -> int | None:
        """The frame counter of the device's latest stored uplink."""
        with self._connection() as db:
            row = db.execute(
                "SELECT f_cnt FROM uplinks WHERE dev_eui = ? ORDER BY time_us DESC LIMIT 1",
                (dev_eui,),
            ).fetchone()
        return None if row is None else int(row[0])

    def meter_states(self) -> list[str]:
        """Every meter's last state, written with the batches (see ``Batch.meter_state``)."""
        with self._connection() as db:
            return [state for (state,) in db.execute("SELECT state FROM meter_state")]

    def meter_windows(self) -> dict[str, list[tuple[int, int, str]]]:
        """Each meter's chunks of window readings, in order (see ``Batch.meter_window``)."""
        out: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        with self._connection() as db:
            for key, seq, latest, readings in db.execute(
                "SELECT key, seq, latest_us, readings FROM meter_window ORDER BY key, seq"
            ):
                out[key].append((seq, latest, readings))
        return dict(out)

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

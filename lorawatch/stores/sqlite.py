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
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, Protocol

import structlog

from lorawatch.core import timeutil
from lorawatch.core.errors import StoreUnavailable
from lorawatch.core.timeutil import us
from lorawatch.gateway_bridge.dedup import frame_identity, letter_key
from lorawatch.pipeline.records import Batch, Consumption, DeadLetter, Place, StoredReading
from lorawatch.pipeline.store import Bucket, Delta, HourStats, Interval
from lorawatch.stores import sqlite_rows
from lorawatch.stores.sqlite_schema import (
    HOUR_US,
    QUARTER_US,
    RECENT,
    SCHEMA,
    SERIES_COLUMNS,
    SeriesKey,
    frames,
    migrate,
)

log = structlog.get_logger(__name__)


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


_SERIES_TIME = itemgetter(0, 1)
"""A sample's or a delta's key: its series and time."""


class _Devices:
    """``devices`` as this store last wrote it, so that a batch reads no row of it back.

    Each batch folds its stored uplinks into each device's row: its last frame counter (the
    de-duplicator's fast path) and its :data:`RECENT` latest frames. Read from the file once
    per device, then kept; forgotten when a transaction rolls back.
    """

    def __init__(self) -> None:
        self.recent: dict[str, list[tuple[int, int]]] = {}

    def remember(self, db: sqlite3.Connection, rows: list[tuple[Any, ...]], stored: int) -> None:
        """``rows`` are the uplink rows the batch inserted with ``OR IGNORE``, ``stored`` how
        many went in: when a copy was ignored, only the rows that are the stored ones count."""
        if stored < len(rows):
            rows = [
                r
                for r in rows
                if db.execute(
                    "SELECT time_us FROM uplinks WHERE dev_eui = ? AND f_cnt = ? AND uid = ?",
                    (r[0], r[2], r[11]),
                ).fetchone()
                == (r[1],)
            ]
        by_device: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for r in rows:
            by_device[r[0]].append((r[1], r[2]))
        updates = []
        for dev_eui, new in by_device.items():
            old = self.recent.get(dev_eui)
            if old is None:
                row = db.execute(
                    "SELECT recent FROM devices WHERE dev_eui = ?", (dev_eui,)
                ).fetchone()
                old = [] if row is None else frames(row[0])
                if row is not None and len(old) < len(row[0].split()):
                    log.warning("devices row partly unreadable, written again", dev_eui=dev_eui)
            if len(new) > 1:
                new = sorted(set(new), reverse=True)
            if old and new[-1] <= old[0]:  # a late or repeated frame: merged in its place
                recent = sorted({*new, *old}, reverse=True)[:RECENT]
            else:  # newer than every frame kept, as frames mostly come
                recent = (new + old)[:RECENT]
            self.recent[dev_eui] = recent
            updates.append((dev_eui, *recent[0], " ".join(f"{t}/{f}" for t, f in recent)))
        sqlite_rows.insert(db, "INSERT OR REPLACE INTO devices", updates)

    def forget(self) -> None:
        self.recent.clear()


def _rowid(cursor: sqlite3.Cursor) -> int:
    if cursor.lastrowid is None:
        raise StoreUnavailable("sqlite: an insert gave no row id")
    return cursor.lastrowid


class _Series:
    """The file's series and rollup groups by key, known to the writer without a query.

    Only the writer (under the write lock, in its transaction) adds rows, and series are never
    deleted; :meth:`sync` re-reads everything when the file holds another largest id than the
    one known (another process wrote a series, or a transaction that added some rolled back).
    ``moved`` maps a series to the other series of the same device, reading and channel (a
    device that changed place): a reading keeps one value per time whatever its place.
    """

    def __init__(self) -> None:
        self.ids: dict[SeriesKey, int] = {}
        self.groups: dict[tuple[str, str, str], int] = {}
        self.moved: dict[int, tuple[int, ...]] = {}
        self.top = -1

    def sync(self, db: sqlite3.Connection) -> None:
        top = db.execute("SELECT IFNULL(MAX(id), 0) FROM series").fetchone()[0]
        if top == self.top:
            return
        self.ids = {
            (row[1], row[2], row[3], row[4], row[5], row[6], row[7]): row[0]
            for row in db.execute(f"SELECT id, {SERIES_COLUMNS} FROM series")
        }
        self.groups = {
            (name, building, commune): id_
            for id_, name, building, commune in db.execute(
                "SELECT id, name, building, commune FROM sum_groups"
            )
        }
        self._find_moves()
        self.top = top

    def _find_moves(self) -> None:
        by_reading: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for key, id_ in self.ids.items():
            by_reading[key[:3]].append(id_)
        self.moved = {
            id_: tuple(other for other in ids if other != id_)
            for ids in by_reading.values()
            if len(ids) > 1
            for id_ in ids
        }

    def add(self, db: sqlite3.Connection, key: SeriesKey) -> int:
        group = (key[1], key[4], key[3])
        sums = self.groups.get(group)
        if sums is None:
            sums = _rowid(
                db.execute("INSERT INTO sum_groups (name, building, commune) VALUES (?,?,?)", group)
            )
            self.groups[group] = sums
        id_ = _rowid(
            db.execute(
                f"INSERT INTO series ({SERIES_COLUMNS}, sums) VALUES (?,?,?,?,?,?,?,?)",
                (*key, sums),
            )
        )
        self.ids[key] = id_
        self.top = max(self.top, id_)
        if any(other[:3] == key[:3] for other in self.ids if other != key):
            self._find_moves()
        return id_

    def forget(self) -> None:
        """After a rollback: the series it added may not exist."""
        self.top = -1


CACHE_KIB = 8_192
"""SQLite's page cache of the connection that writes the batches, in KiB. 150,000 uplinks of
200 meters through the pipeline in process (as ``python -m bench.memory``), two runs each:
8 MB took 96-100 µs of CPU per uplink, 16 MB 102-105 µs and 8 MB more memory, 4 MB 108-113."""
STATE_CACHE_KIB = 2_048
"""The same cache when the file holds no readings (``store.outputs`` without ``sqlite``): its
batches append (schema 5), so a small cache does: over 200,000 uplinks of the ingest bench's
backlog, 2 MB cost the state-file write ~2 µs of CPU per uplink more than 4 MB (most of it
SQLite's own work and system time, outside the interpreter lock) and kept 2 MB less, which
pays for the bridge's batch ahead (:func:`lorawatch.pipeline.bridge.window`); with the
readings in the file, 4 MB doubled its writes and system time, so that case keeps
:data:`CACHE_KIB`."""
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
        self._series = _Series()
        self._devices = _Devices()
        with self._connection() as db:
            db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older file up to :data:`SCHEMA_VERSION` (the tables exist by now), in one
        transaction; then give the space of the tables it dropped back to the disk."""
        with self.transaction() as db:
            moved = migrate(db)
        if moved:
            try:
                with self._write_lock, self._connection() as db:
                    db.execute("VACUUM")
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file shrinks now
            except StoreUnavailable as exc:  # another process reads the file: space reused later
                log.warning("file not compacted after its migration", error=str(exc))

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
                self._series.forget()
                self._devices.forget()
                raise
            db.execute("COMMIT")

    def write(self, batch: Batch) -> None:
        """Write the batch, and what the :attr:`hooks` derive from it, in one transaction."""
        if not getattr(self._local, "batches", False):
            # A batch dirties a few MB spread over every meter's key range: with SQLite's
            # default cache each commit re-reads most of it. 64 MB (and a checkpoint every
            # 10,000 WAL pages) made a year of 200 meters ingest ~1.5x faster than the
            # defaults (bench/store.py) but, on every connection, made the service's memory
            # grow with the backlog it drained; a few MB on this one alone stay within a few
            # % of 64 MB's CPU per uplink (CACHE_KIB; bench/backfill.py, bench/memory.py).
            with self._connection() as db:
                kib = CACHE_KIB if self.keeps_readings else STATE_CACHE_KIB
                db.execute(f"PRAGMA cache_size=-{kib}")
                # The batches' statement journals in memory, not in temporary files
                # (lorawatch/stores/sqlite_rows.py); no VACUUM runs on this connection.
                db.execute("PRAGMA temp_store=MEMORY")
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
        rows = [
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
        ]
        stored = sqlite_rows.insert(
            db,
            "INSERT OR IGNORE INTO uplinks (dev_eui, time_us, f_cnt, f_port, payload, dedup_id,"
            " received_us, format, rssi, snr, gateways, uid)",
            rows,
        )
        if rows:
            self._devices.remember(db, rows, stored)
        if self.keeps_readings and (batch.readings or batch.consumption):
            self._write_series(db, batch)
        self._dead_letters(db, batch.dead_letters)
        # ChirpStack's events: a copy (same identity) keeps the first row. Quality events
        # have no identity: the same (time, code) again replaces its detail.
        events = batch.events
        if events:
            sqlite_rows.insert(
                db,
                "INSERT OR IGNORE INTO device_events (dev_eui, time_us, kind, code, detail, uid)",
                [
                    (e.dev_eui, us(e.time), e.kind, e.code, e.detail, e.uid)
                    for e in events
                    if e.uid is not None
                ],
            )
            sqlite_rows.insert(
                db,
                "INSERT OR REPLACE INTO device_events (dev_eui, time_us, kind, code, detail)",
                [
                    (e.dev_eui, us(e.time), e.kind, e.code, e.detail)
                    for e in events
                    if e.uid is None
                ],
            )
        sqlite_rows.insert(db, "INSERT OR REPLACE INTO meter_state", batch.meter_state)
        sqlite_rows.insert(db, "INSERT OR REPLACE INTO meter_window", batch.meter_window)
        sqlite_rows.delete(
            db,
            "DELETE FROM meter_window WHERE (seq, key)",
            [(seq, key) for key, seq in batch.meter_window_drop],
        )

    def _write_series(self, db: sqlite3.Connection, batch: Batch) -> None:
        """Readings and deltas, each a row of its series (added on first sight)."""
        series = self._series
        series.sync(db)
        ids, add = series.ids, series.add
        samples: list[tuple[int, int, float]] = []
        for r in batch.readings:
            p = r.place
            key = (r.dev_eui, r.name, r.channel, p.commune, p.building, p.device, p.kind)
            samples.append((ids.get(key) or add(db, key), us(r.time), float(r.value)))
        deltas: list[tuple[int, int, int, float, int]] = []
        touched: set[tuple[str, int]] = set()
        for c in batch.consumption:
            p = c.place
            key = (c.dev_eui, c.name, c.channel, p.commune, p.building, p.device, p.kind)
            end = us(c.end)
            deltas.append((ids.get(key) or add(db, key), end, end - us(c.start), c.value, c.gap))
            touched.add((c.name, end // QUARTER_US))
        if series.moved:
            # The same reading at the same time under the device's other place: replaced,
            # as it was when the place was part of each row.
            moved = series.moved
            for table, column, rows in (
                ("samples", "time_us", samples),
                ("deltas", "end_us", deltas),
            ):
                db.executemany(
                    f"DELETE FROM {table} WHERE series = ? AND {column} = ?",
                    [(other, row[1]) for row in rows for other in moved.get(row[0], ())],
                )
        # In key order (stable: of two copies the later still wins), so that each statement
        # changes a few pages, which its statement journal copies (sqlite_rows says why).
        samples.sort(key=_SERIES_TIME)
        deltas.sort(key=_SERIES_TIME)
        sqlite_rows.insert(db, "INSERT OR REPLACE INTO samples", samples)
        sqlite_rows.insert(db, "INSERT OR REPLACE INTO deltas", deltas)
        self._roll_up(db, touched)

    @staticmethod
    def _dead_letters(db: sqlite3.Connection, letters: list[DeadLetter]) -> None:
        # OR IGNORE: a redelivered bad message (same topic and bytes) is one letter.
        sqlite_rows.insert(
            db,
            "INSERT OR IGNORE INTO dead_letters"
            " (received_us, topic, payload, reason, detail, dev_eui, key)",
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
            "DELETE FROM quarter_sums WHERE grp IN (SELECT id FROM sum_groups WHERE name = ?)"
            " AND quarter >= ? AND quarter < ?",
            runs,
        )
        db.executemany(
            f"INSERT INTO quarter_sums SELECT s.sums, d.end_us / {QUARTER_US}, SUM(d.value)"
            " FROM series s JOIN deltas d ON d.series = s.id"
            " WHERE s.name = ?1 AND d.end_us >= ?2 * ?4 AND d.end_us < ?3 * ?4 GROUP BY 1, 2",
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
            f"SELECT s.{column}, d.end_us / {QUARTER_US}, SUM(d.value)"
            " FROM series s JOIN deltas d ON d.series = s.id"
            " WHERE s.name = ? AND d.end_us >= ? AND d.end_us < ? GROUP BY 1, 2"
        )
        # A sum group is one building of one commune: per building, its quarters are already
        # the sums (summing them again in SQL costs more than the rows it saves).
        quarters = (
            (
                "SELECT g.building, q.quarter, q.value"
                if group_by == "building"
                else "SELECT g.commune, q.quarter, SUM(q.value)"
            )
            + (
                " FROM sum_groups g JOIN quarter_sums q ON q.grp = g.id"
                " WHERE g.name = ? AND q.quarter >= ? AND q.quarter < ?"
            )
            + ("" if group_by == "building" else " GROUP BY 1, 2")
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
                    rows += db.execute(quarters, (name, q_lo, q_hi)).fetchall()
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

    def uplink_time(self, dev_eui: str, f_cnt: int, uid: int) -> int | None:
        """Event time (µs) of the stored uplink with this identity (the de-duplicator's
        authority, :class:`lorawatch.gateway_bridge.dedup.Persisted`)."""
        with self._connection() as db:
            row = db.execute(
                "SELECT time_us FROM uplinks WHERE dev_eui = ? AND f_cnt = ? AND uid = ?",
                (dev_eui, f_cnt, uid),
            ).fetchone()
        return None if row is None else int(row[0])

    def event_time(self, uid: int) -> int | None:
        """Event time (µs) of the stored ChirpStack event with this identity (the
        de-duplicator's authority for status, join, txack... events)."""
        with self._connection() as db:
            row = db.execute("SELECT time_us FROM device_events WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else int(row[0])

    def last_f_cnt(self, dev_eui: str) -> int | None:
        """The frame counter of the device's latest stored uplink (kept when retention has
        deleted the uplink itself)."""
        with self._connection() as db:
            row = db.execute(
                "SELECT last_f_cnt FROM devices WHERE dev_eui = ?", (dev_eui,)
            ).fetchone()
        return None if row is None else int(row[0])

    def uplink_times(self, dev_eui: str) -> list[int]:
        """Event times (µs) of the device's :data:`RECENT` latest stored uplinks, newest first."""
        with self._connection() as db:
            row = db.execute("SELECT recent FROM devices WHERE dev_eui = ?", (dev_eui,)).fetchone()
        return [] if row is None else [t for t, _ in frames(row[0])]

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

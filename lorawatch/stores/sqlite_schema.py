"""The SQLite store's tables, and the moves that bring a file of an older version to them.

Kept apart from :mod:`lorawatch.stores.sqlite` (what the service writes and reads each
batch): this is what runs once per file, in the transaction :func:`migrate` is given.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict

import structlog

from lorawatch.gateway_bridge.dedup import MAX_GENERATIONS, frame_identity, letter_key

log = structlog.get_logger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sum_groups (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, building TEXT NOT NULL, commune TEXT NOT NULL,
    UNIQUE (name, building, commune)
);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, dev_eui TEXT NOT NULL, name TEXT NOT NULL, channel TEXT NOT NULL,
    commune TEXT NOT NULL, building TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL,
    sums INTEGER NOT NULL REFERENCES sum_groups (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS series_key
    ON series (dev_eui, name, channel, commune, building, device, kind);
CREATE INDEX IF NOT EXISTS series_by_name ON series (name);
CREATE TABLE IF NOT EXISTS samples (
    series INTEGER NOT NULL, time_us INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (series, time_us)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deltas (
    series INTEGER NOT NULL, end_us INTEGER NOT NULL, span_us INTEGER NOT NULL,
    value REAL NOT NULL, gap INTEGER NOT NULL,
    PRIMARY KEY (series, end_us)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarter_sums (
    grp INTEGER NOT NULL, quarter INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (grp, quarter)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uplinks (
    dev_eui TEXT NOT NULL, time_us INTEGER NOT NULL, f_cnt INTEGER NOT NULL, f_port INTEGER NOT NULL,
    payload BLOB NOT NULL, dedup_id TEXT NOT NULL, received_us INTEGER NOT NULL,
    format TEXT NOT NULL, rssi REAL, snr REAL, gateways INTEGER NOT NULL, uid INTEGER,
    PRIMARY KEY (time_us, dev_eui, f_cnt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devices (
    dev_eui TEXT PRIMARY KEY, last_us INTEGER NOT NULL, last_f_cnt INTEGER NOT NULL,
    recent TEXT NOT NULL
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
    PRIMARY KEY (seq, key)
) WITHOUT ROWID;
"""
"""The tables. A reading is ``(series, time_us, value)``: what a row used to repeat (device,
reading name, channel and the four place columns) is said once in ``series``; a delta is
``(series, end_us, span_us, value, gap)``; the quarter-hour rollup is keyed by a
``sum_groups`` row (reading name, building, commune). Times stay integer microseconds, the
key ChirpStack's times and InfluxDB's points have, so no two readings can collide.

What every batch appends is kept in the order it comes: raw uplinks by time, the meters'
window chunks by sequence. Keyed by device or meter, as up to version 4, a batch of 1,000
uplinks of 200 meters rewrote a page per meter in each table, about 8 KB written per uplink
at 100,000 stored; in arrival order it rewrites the last few pages: 3.8 KB per uplink, and
the writing thread's CPU from ~42 µs an uplink to ~25 (the ingest bench's backlog, three runs
each; the unique index on identities is most of what is left).
What was asked of uplinks by device (its last frame counter, its last times) is kept in
``devices``, one row a device, updated with each batch (``SqliteStore.write``)."""

VIEWS = (
    "CREATE VIEW IF NOT EXISTS readings AS SELECT s.dev_eui, s.name, s.channel, r.time_us,"
    " r.value, s.commune, s.building, s.device, s.kind FROM series s JOIN samples r"
    " ON r.series = s.id",
    "CREATE VIEW IF NOT EXISTS consumption AS SELECT s.dev_eui, s.name, s.channel, d.end_us,"
    " d.end_us - d.span_us AS start_us, d.value, d.gap, s.commune, s.building, s.device, s.kind"
    " FROM series s JOIN deltas d ON d.series = s.id",
    "CREATE VIEW IF NOT EXISTS consumption_quarters AS SELECT g.name, q.quarter, g.building,"
    " g.commune, q.value FROM sum_groups g JOIN quarter_sums q ON q.grp = g.id",
)
"""Read-only views with the columns of the tables they replaced (schema version 2), so every
query written against ``readings``, ``consumption`` and ``consumption_quarters`` reads the
same answers; writes go to the tables through :class:`SqliteStore`."""

QUARTER_US = 900 * 1_000_000
HOUR_US = 3600 * 1_000_000
SCHEMA_VERSION = 6
"""``PRAGMA user_version``: 1 added ``consumption_quarters`` (rebuilt from ``consumption``);
2 added the identities (``uplinks.uid``, ``dead_letters.key``, each under a unique index);
3 the identity of ChirpStack's other events (``device_events.uid``, unique when set);
4 moved readings, deltas and the rollup to the series layout (:func:`to_series`);
5 put uplinks in time order and window chunks in sequence order, with ``devices``
(:func:`to_arrival_order`); 6 keyed the uplinks' identities under their frame
(:data:`FRAME_INDEX`)."""
FRAME_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS uplinks_frame ON uplinks (dev_eui, f_cnt, uid)"
"""The uplinks' unique identities, under the device and frame counter they were made of. Under
the identity alone (``uplinks_uid``, versions 2-5) each batch wrote into pages spread over the
whole index, more of them the longer the file: at the end of a 300,000-uplink backlog 7.7 KB
written and 10.9 KB read per uplink, against 3.7 and 0.9 under the frame. A device's frame
counter grows, so each batch appends at one place per device. The same rows are unique: an
identity is made of its devEui and fCnt."""
RECENT = 5
"""Latest uplinks of each device kept in ``devices.recent`` as ``time_us/f_cnt`` items,
newest first (the device list tells a silent device by its usual interval between them)."""

SERIES_COLUMNS = "dev_eui, name, channel, commune, building, device, kind"
SeriesKey = tuple[str, str, str, str, str, str, str]
"""(dev_eui, name, channel, commune, building, device, kind): what makes a series."""


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def add_identities(db: sqlite3.Connection, horizon_us: int = 86_400 * 1_000_000) -> None:
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
    db.execute(FRAME_INDEX)
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


def to_series(db: sqlite3.Connection, version: int) -> bool:
    """Move the rows of a version-2 file (or older) into the series layout; True if it did.

    One row of ``series`` per (device, reading, channel, place) found in ``readings`` or
    ``consumption``, and a ``sum_groups`` row per (reading, building, commune); the readings,
    deltas and rollup are then copied through them, and the old tables dropped. The rollup is
    copied, not recomputed: it keeps the quarters whose deltas retention already deleted. A
    file older than the rollup (version 0) gets it summed from its deltas, as before.
    """
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_schema WHERE type='table'")}
    if "readings" not in tables:
        return False
    old = sorted(tables & {"readings", "consumption", "consumption_quarters"})
    rollup = version >= 1 and "consumption_quarters" in tables
    log.info("moving readings to the series layout, once", tables=old)
    db.execute(
        "INSERT OR IGNORE INTO sum_groups (name, building, commune)"
        " SELECT DISTINCT name, building, commune FROM readings"
        " UNION SELECT DISTINCT name, building, commune FROM consumption"
        + (" UNION SELECT name, building, commune FROM consumption_quarters" if rollup else "")
    )
    db.execute(
        f"INSERT OR IGNORE INTO series ({SERIES_COLUMNS}, sums)"
        f" SELECT k.*, g.id FROM (SELECT DISTINCT {SERIES_COLUMNS} FROM readings"
        f" UNION SELECT DISTINCT {SERIES_COLUMNS} FROM consumption ORDER BY 1, 2, 3) k"
        " JOIN sum_groups g USING (name, building, commune)"
    )
    db.execute(
        "INSERT INTO samples SELECT s.id, r.time_us, r.value FROM readings r"
        f" JOIN series s USING ({SERIES_COLUMNS})"
    )
    db.execute(
        "INSERT INTO deltas SELECT s.id, c.end_us, c.end_us - c.start_us, c.value, c.gap"
        f" FROM consumption c JOIN series s USING ({SERIES_COLUMNS})"
    )
    if rollup:
        db.execute(
            "INSERT INTO quarter_sums SELECT g.id, q.quarter, q.value FROM consumption_quarters q"
            " JOIN sum_groups g USING (name, building, commune)"
        )
    else:  # files written before the rollup existed: sum what they hold, once
        db.execute(
            f"INSERT INTO quarter_sums SELECT s.sums, d.end_us / {QUARTER_US}, SUM(d.value)"
            " FROM series s JOIN deltas d ON d.series = s.id GROUP BY 1, 2"
        )
    for table in old:
        db.execute(f"DROP TABLE {table}")
    return True


def _key_columns(db: sqlite3.Connection, table: str) -> list[str]:
    """The table's primary key columns, in key order."""
    pk = {row[1]: row[5] for row in db.execute(f"PRAGMA table_info({table})") if row[5]}
    return sorted(pk, key=pk.__getitem__)


def rekey(db: sqlite3.Connection, schema: str, table: str, key: list[str]) -> bool:
    """Copy ``table`` into the layout ``schema`` (a script of ``CREATE TABLE IF NOT EXISTS``)
    gives it now, another primary key, in key order, and drop the old one; False if it has
    that layout already. Indexes on the old table go with it: the caller makes them again."""
    if _key_columns(db, table) == key:
        return False
    ddl = next(part for part in schema.split(";") if f"EXISTS {table} (" in part)
    db.execute(ddl.replace(f"EXISTS {table} (", f"EXISTS {table}_new ("))
    columns = ", ".join(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
    db.execute(
        f"INSERT INTO {table}_new ({columns}) SELECT {columns} FROM {table}"
        f" ORDER BY {', '.join(key)}"
    )
    db.execute(f"DROP TABLE {table}")
    db.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
    return True


def to_arrival_order(db: sqlite3.Connection) -> bool:
    """Give a version-4 file (or older) the layout of version 5; True if it moved rows.

    ``devices`` is filled from the uplinks first, while they are still by device; then the
    uplinks are copied in time order (under their unique identities again) and the window
    chunks in sequence order.
    """
    if _key_columns(db, "uplinks") == ["time_us", "dev_eui", "f_cnt"]:
        return rekey(db, SCHEMA, "meter_window", ["seq", "key"])
    log.info("putting raw uplinks in time order, once")
    latest: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for dev_eui, time_us, f_cnt in db.execute(
        "SELECT dev_eui, time_us, f_cnt FROM (SELECT dev_eui, time_us, f_cnt, ROW_NUMBER()"
        " OVER (PARTITION BY dev_eui ORDER BY time_us DESC, f_cnt DESC) AS k FROM uplinks)"
        f" WHERE k <= {RECENT} ORDER BY dev_eui, k"
    ):
        latest[dev_eui].append((time_us, f_cnt))
    db.executemany(
        "INSERT OR REPLACE INTO devices VALUES (?,?,?,?)",
        [
            (dev, *frames[0], " ".join(f"{t}/{f}" for t, f in frames))
            for dev, frames in latest.items()
        ],
    )
    rekey(db, SCHEMA, "uplinks", ["time_us", "dev_eui", "f_cnt"])
    db.execute(FRAME_INDEX)
    rekey(db, SCHEMA, "meter_window", ["seq", "key"])
    return True


def frames(recent: str) -> list[tuple[int, int]]:
    """``devices.recent``: (time µs, frame counter) of the latest frames, newest first. An item
    that does not read (a row edited by hand) is left out: the next batch writes the row
    again from what it holds, rather than every batch failing on it."""
    out = []
    for item in recent.split():
        t, _, f = item.partition("/")
        if t.lstrip("-").isdigit() and f.lstrip("-").isdigit():
            out.append((int(t), int(f)))
    return out


def migrate(db: sqlite3.Connection) -> bool:
    """Bring the file up to :data:`SCHEMA_VERSION` (its tables exist by now) inside the
    caller's transaction; True if rows moved (the caller then gives the space back)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version < 2:
        add_identities(db)
    if version < 3:
        if "uid" not in _columns(db, "device_events"):
            db.execute("ALTER TABLE device_events ADD COLUMN uid INTEGER")
        db.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS device_events_uid ON device_events (uid)"
            " WHERE uid IS NOT NULL"
        )
    moved = version < 4 and to_series(db, version)
    if version < 5:
        moved = to_arrival_order(db) or moved
    if version < 6:
        db.execute("DROP INDEX IF EXISTS uplinks_uid")
        db.execute(FRAME_INDEX)
    for view in VIEWS:
        db.execute(view)
    if version < SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return moved

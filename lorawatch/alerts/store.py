"""The alert tables, in the service's SQLite file, beside what they are about.

- ``alerts``: one row per alert; a partial unique index keeps one unresolved alert per
  (rule, subject), so even two processes cannot open the same alert twice.
- ``alert_events``: the lifecycle of each alert (opened, escalated, acknowledged, resolved),
  each notified event has an id that receivers can de-duplicate on. ``time_us`` is when the
  event was recorded (wall clock), ``at_us`` the data time it is about (the finding's time;
  an acknowledgement's own time), never earlier than the alert's previous event, so the
  alert's points in InfluxDB follow its lifecycle even in a backfill of old data.
- ``notifications``: the durable outbox; a row per (event, notifier), written in the same
  transaction as the event, so an alert is never notified twice nor lost across a restart.
- ``alert_state``: the rules' working state (baselines, hourly series), the subjects a batch
  changed saved in the batch's own transaction.
- ``alert_series``: what a subject keeps for weeks, in chunks (one per subject and batch:
  what it added or corrected, JSON), so a batch writes what it added, not the whole history:
  the consumption deltas behind the hourly series, and each building's judged hours and
  reference values for the energy rules (subject ``log|<building>``); a chunk whose every
  entry is past the subject's horizon is deleted.

Times are microseconds since the epoch (UTC), as in the rest of the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from lorawatch.alerts.config import Severity
from lorawatch.alerts.model import Alert, AlertState
from lorawatch.core.timeutil import from_us
from lorawatch.stores.sqlite_schema import rekey

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    severity TEXT NOT NULL, state TEXT NOT NULL,
    commune TEXT NOT NULL, building TEXT NOT NULL, device TEXT NOT NULL,
    title TEXT NOT NULL, message TEXT NOT NULL,
    opened_us INTEGER NOT NULL, created_us INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL, count INTEGER NOT NULL,
    clearing_since_us INTEGER,
    acked_us INTEGER, acked_by TEXT NOT NULL DEFAULT '',
    resolved_us INTEGER, resolved_by TEXT NOT NULL DEFAULT '', resolution TEXT NOT NULL DEFAULT '',
    rearmed INTEGER NOT NULL DEFAULT 1,
    evidence TEXT NOT NULL, vals TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_unresolved ON alerts (rule, subject)
    WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_by_state ON alerts (state, id);
CREATE TABLE IF NOT EXISTS alert_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER NOT NULL, time_us INTEGER NOT NULL,
    kind TEXT NOT NULL, actor TEXT NOT NULL, severity TEXT NOT NULL, detail TEXT NOT NULL,
    at_us INTEGER
);
CREATE INDEX IF NOT EXISTS alert_events_by_alert ON alert_events (alert_id, id);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_id INTEGER NOT NULL, alert_id INTEGER NOT NULL,
    notifier TEXT NOT NULL, route TEXT NOT NULL, created_us INTEGER NOT NULL,
    not_before_us INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    held TEXT NOT NULL DEFAULT '', last_error TEXT NOT NULL DEFAULT '', sent_us INTEGER,
    UNIQUE (event_id, notifier)
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (notifier, state, not_before_us);
CREATE TABLE IF NOT EXISTS alert_state (
    rule TEXT NOT NULL, subject TEXT NOT NULL, state TEXT NOT NULL, updated_us INTEGER NOT NULL,
    PRIMARY KEY (rule, subject)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_series (
    rule TEXT NOT NULL, subject TEXT NOT NULL, seq INTEGER NOT NULL, latest REAL NOT NULL,
    deltas TEXT NOT NULL,
    PRIMARY KEY (seq, rule, subject)
) WITHOUT ROWID;
"""
"""``alert_series`` is keyed by sequence first: each batch appends its chunks (one per subject
it changed) instead of rewriting a page per subject, and the engine reads them back in that
order. A file whose chunks are keyed by subject first is moved once (:func:`create`)."""

ALERT_COLUMNS = (
    "id, rule, kind, subject, severity, state, commune, building, device, title, message, "
    "opened_us, created_us, last_seen_us, count, acked_us, acked_by, resolved_us, resolved_by, "
    "resolution, evidence, vals"
)


class Database(Protocol):
    """What the alerts need of :class:`~lorawatch.stores.sqlite.SqliteStore`."""

    def transaction(self) -> Any:
        """A context manager yielding a connection inside BEGIN IMMEDIATE ... COMMIT."""

    def fetch(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]: ...


def create(db: Database) -> None:
    """Create the tables in the service's SQLite file; a shared PostgreSQL has them from its
    migrations (``0002_alerts``, :mod:`lorawatch.alerts.pgsql`)."""
    if getattr(db, "dialect", "sqlite") != "sqlite":
        return
    with _tx(db) as conn:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        rekey(conn, SCHEMA, "alert_series", ["seq", "rule", "subject"])
        columns = {row[1] for row in conn.execute("PRAGMA table_info(alert_events)")}
        if "at_us" not in columns:  # a file from before at_us: its events read time_us
            conn.execute("ALTER TABLE alert_events ADD COLUMN at_us INTEGER")


@contextmanager
def _tx(db: Database) -> Iterator[sqlite3.Connection]:
    with db.transaction() as conn:
        yield conn


def alert_from_row(row: tuple[Any, ...]) -> Alert:
    (
        id_,
        rule,
        kind,
        subject,
        severity,
        state,
        commune,
        building,
        device,
        title,
        message,
        opened_us,
        created_us,
        last_seen_us,
        count,
        acked_us,
        acked_by,
        resolved_us,
        resolved_by,
        resolution,
        evidence,
        vals,
    ) = row
    return Alert(
        id=id_,
        rule=rule,
        kind=kind,
        subject=subject,
        severity=Severity(severity),
        state=AlertState(state),
        commune=commune,
        building=building,
        device=device,
        title=title,
        message=message,
        opened_at=from_us(opened_us),
        created_at=from_us(created_us),
        last_seen_at=from_us(last_seen_us),
        count=count,
        acked_at=from_us(acked_us) if acked_us is not None else None,
        acked_by=acked_by,
        resolved_at=from_us(resolved_us) if resolved_us is not None else None,
        resolved_by=resolved_by,
        resolution=resolution,
        evidence=json.loads(evidence),
        values=json.loads(vals),
    )


def get_alert(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    row = conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return alert_from_row(row) if row else None


def add_event(
    conn: sqlite3.Connection,
    alert_id: int,
    time_us: int,
    kind: str,
    actor: str,
    severity: Severity,
    detail: str,
    at_us: int | None = None,
) -> int:
    """Record one lifecycle event; ``at_us`` (default ``time_us``) is moved just after the
    alert's previous event when it would fall before it (a late reading clearing an alert
    acknowledged meanwhile), so the alert's last event is also its latest."""
    at = time_us if at_us is None else at_us
    (previous,) = conn.execute(
        "SELECT MAX(at_us) FROM alert_events WHERE alert_id = ?", (alert_id,)
    ).fetchone()
    if previous is not None and at <= previous:
        at = previous + 1
    cur = conn.execute(
        "INSERT INTO alert_events (alert_id, time_us, kind, actor, severity, detail, at_us)"
        " VALUES (?,?,?,?,?,?,?)",
        (alert_id, time_us, kind, actor, str(severity), detail, at),
    )
    return int(cur.lastrowid or 0)

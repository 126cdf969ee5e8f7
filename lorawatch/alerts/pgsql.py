"""The alert tables in PostgreSQL: the shared state's database, seen as the alerts' Database.

With ``state.backend = "postgresql"`` the alerts, their events, the outbox and the rules'
state live in the database every worker shares (migration ``0002_alerts``), so an alert
opened by one worker is refreshed, acknowledged and resolved by any other, and the partial
unique index keeps one unresolved alert per (rule, subject) whichever worker finds it.

The alert modules (:mod:`.lifecycle`, :mod:`.notify`, :mod:`.api`, :mod:`.routing`) write
portable SQL with SQLite's ``?`` placeholders; the few SQLite-only forms they use are
translated here, one statement at a time, rather than forking every query:

- ``?`` -> ``%s``; the two-argument scalar ``MAX(a, b)`` -> ``GREATEST(a, b)``;
- ``INSERT OR IGNORE`` -> ``ON CONFLICT DO NOTHING``; ``INSERT OR REPLACE INTO alert_state``
  -> an upsert on its key;
- ``lastrowid`` of an insert into ``alerts`` or ``alert_events``: ``RETURNING id``;
- a unique violation (another worker opened the alert meanwhile) surfaces as
  :class:`sqlite3.IntegrityError`, as the lifecycle expects, after rolling back to a
  savepoint so the rest of the transaction stands (PostgreSQL aborts a transaction on error).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import psycopg

_MAX2 = re.compile(r"\bMAX\(([a-z_]+), \?\)")
_RETURNING = ("INSERT INTO alerts ", "INSERT INTO alerts(", "INSERT INTO alert_events ")
_UPSERTS = {
    "INSERT OR REPLACE INTO alert_state": (
        "INSERT INTO alert_state",
        " ON CONFLICT (rule, subject) DO UPDATE SET state = EXCLUDED.state,"
        " updated_us = EXCLUDED.updated_us",
    ),
}


def translate(sql: str) -> str:
    """One alert statement from SQLite's dialect to PostgreSQL's."""
    out = _MAX2.sub(r"GREATEST(\1, ?)", sql)
    for sqlite_form, (head, tail) in _UPSERTS.items():
        if out.startswith(sqlite_form):
            out = head + out[len(sqlite_form) :] + tail
    if out.startswith("INSERT OR IGNORE INTO"):
        out = "INSERT INTO" + out[len("INSERT OR IGNORE INTO") :] + " ON CONFLICT DO NOTHING"
    if out.startswith(_RETURNING):
        out += " RETURNING id"
    return out.replace("?", "%s")


class SharedState(Protocol):
    """What the alerts need of :class:`~lorawatch.stores.postgres.PostgresStore`."""

    def transaction(self) -> Any: ...

    def connection(self) -> Any: ...


class _Cursor:
    def __init__(self, cur: psycopg.Cursor[Any], lastrowid: int | None) -> None:
        self._cur = cur
        self.lastrowid = lastrowid
        self.rowcount = cur.rowcount

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()


class _Connection:
    """A psycopg connection in a transaction, answering like the sqlite3 one the alerts use."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[object] = ()) -> _Cursor:
        # Here, not at the top: psycopg (~9 MB) loads only with the PostgreSQL state.
        import psycopg

        statement = translate(sql)
        if not statement.endswith("RETURNING id"):
            return _Cursor(self._conn.execute(statement.encode(), args), None)
        try:
            with self._conn.transaction():  # a savepoint: a conflict leaves the rest standing
                cur = self._conn.execute(statement.encode(), args)
                row = cur.fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise sqlite3.IntegrityError(str(exc).splitlines()[0]) from exc
        return _Cursor(cur, int(row[0]) if row else None)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(translate(sql).encode(), rows)


class PgAlertsDb:
    """The alerts' :class:`~lorawatch.alerts.store.Database` on the shared PostgreSQL."""

    dialect = "postgresql"

    def __init__(self, state: SharedState) -> None:
        self.state = state

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        with self.state.transaction() as conn:
            yield _Connection(conn)

    @staticmethod
    def adopt(conn: psycopg.Connection[Any]) -> _Connection:
        """A connection in someone else's transaction (the batch's), answering like ours."""
        return _Connection(conn)

    def fetch(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        with self.state.connection() as conn:
            rows: list[tuple[Any, ...]] = conn.execute(translate(sql).encode(), args).fetchall()
            return rows

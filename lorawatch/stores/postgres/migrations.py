"""Versioned schema migrations: numbered SQL files shipped in the package, applied once each.

``migrations/NNNN_name.sql`` are applied in number order, all in one transaction under a
transaction-level advisory lock, and each recorded in ``schema_migrations``. Two workers
starting together serialise on the lock: the second finds everything applied and does
nothing. A failed migration rolls back entirely (PostgreSQL's DDL is transactional), so a
database is always at a version a release knows. ``lorawatch state migrate`` runs them; every
worker also runs them at start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import structlog

from lorawatch.core.errors import StoreRejected
from lorawatch.core.timeutil import us

log = structlog.get_logger(__name__)

DIRECTORY = Path(__file__).resolve().parent / "migrations"
LOCK_KEY = 0x6C6F7261_0001
"""The advisory lock migrations hold ("lora" and 1): any number, the same in every worker."""

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available(directory: Path = DIRECTORY) -> list[Migration]:
    """The package's migrations, in order; a gap or a duplicate number is a packaging bug."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise ValueError(f"migration {expected:04d} missing before {migration.version:04d}")
    return found


def applied(conn: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    """Versions recorded in the database ([] before the first migration)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    return [
        int(str(v)) for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")
    ]


def migrate(
    conn: psycopg.Connection[tuple[object, ...]], migrations: list[Migration] | None = None
) -> list[int]:
    """Apply what is missing, in one transaction under the advisory lock; returns the
    versions applied now ([] when the database was up to date).

    Raises :class:`StoreRejected` when the database is newer than this release (a worker of
    an older version must not write to it)."""
    todo = available() if migrations is None else migrations
    newest = todo[-1].version if todo else 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL, applied_us BIGINT NOT NULL)"
        )
        done = set(applied(conn))
        if done and max(done) > newest:
            raise StoreRejected(
                f"the PostgreSQL state is at schema version {max(done)}, newer than this "
                f"lorawatch knows ({newest}): upgrade lorawatch on this worker"
            )
        now: list[int] = []
        for migration in todo:
            if migration.version in done:
                continue
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                (migration.version, migration.name, us(datetime.now(UTC))),
            )
            now.append(migration.version)
    if now:
        log.info("state schema migrated", applied=now, version=newest)
    return now

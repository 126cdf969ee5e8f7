"""Meter commands: a replacement or a recalibration, recorded by an operator, applied by the service.

``lorawatch meters reset|calibrate`` writes the command to the SQLite store; the running
service picks it up within seconds (and a restarted one at start), applies it to the meter
engine, and writes the deltas it changes. Each command is applied once (``applied_us``), and
re-issuing the same command is idempotent in the engine.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from lorawatch.core.timeutil import from_us, us
from lorawatch.pipeline.meters import Emitted, MeterEngine, MeterKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS meter_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT, dev_eui TEXT NOT NULL, name TEXT NOT NULL,
    channel TEXT NOT NULL, kind TEXT NOT NULL, at_us INTEGER NOT NULL, amount REAL NOT NULL,
    note TEXT NOT NULL, issued_us INTEGER NOT NULL, applied_us INTEGER
);
"""

Kind = Literal["replace", "calibrate"]


class CommandDatabase(Protocol):
    """Where commands are kept: the SQLite store (:class:`lorawatch.stores.sqlite.SqliteStore`)
    or any database with its ``transaction``/``fetch`` pair. A protocol, so the pipeline does
    not import the stores that sit above it."""

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def fetch(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...


class CommandQueue(Protocol):
    """What the ingestor needs of the commands, wherever they are kept: :class:`SqlCommands`
    (SQLite) or the shared PostgreSQL state, which marks them applied in the batch's own
    transaction (``Batch.commands_applied``) and only hands a worker the commands of the
    meters whose partitions it owns."""

    def pending_commands(self) -> list[MeterCommand]: ...

    def mark_commands_applied(self, ids: list[int]) -> None:
        """After the batch that applied them is durable (a no-op where the batch did it)."""


@dataclass(frozen=True, slots=True)
class MeterCommand:
    id: int
    key: MeterKey
    kind: Kind
    at: datetime
    amount: float
    note: str


def ensure_schema(store: CommandDatabase) -> None:
    with store.transaction() as db:
        db.execute(SCHEMA.strip().rstrip(";"))


def record(
    store: CommandDatabase, key: MeterKey, kind: Kind, at: datetime, amount: float, note: str = ""
) -> int:
    """Store a command for the service to apply; returns its id."""
    ensure_schema(store)
    with store.transaction() as db:
        cursor = db.execute(
            "INSERT INTO meter_commands (dev_eui, name, channel, kind, at_us, amount, note, issued_us)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (key.dev_eui, key.name, key.channel, kind, us(at), amount, note, us(datetime.now(UTC))),
        )
        return int(cursor.lastrowid or 0)


def pending(store: CommandDatabase) -> list[MeterCommand]:
    rows = store.fetch(
        "SELECT id, dev_eui, name, channel, kind, at_us, amount, note FROM meter_commands"
        " WHERE applied_us IS NULL ORDER BY at_us, id"
    )
    return [
        MeterCommand(r[0], MeterKey(r[1], r[2], r[3]), r[4], from_us(r[5]), r[6], r[7])
        for r in rows
    ]


def apply(engine: MeterEngine, command: MeterCommand) -> Emitted:
    if command.kind == "replace":
        return engine.replace(command.key, command.at, command.amount)
    return engine.calibrate(command.key, command.at, command.amount)


def mark_applied(db: sqlite3.Connection, ids: list[int]) -> None:
    db.executemany(
        "UPDATE meter_commands SET applied_us = ? WHERE id = ?",
        [(us(datetime.now(UTC)), i) for i in ids],
    )


class SqlCommands:
    """The commands of an SQLite store as a :class:`CommandQueue`."""

    def __init__(self, store: CommandDatabase) -> None:
        self.store = store
        ensure_schema(store)

    def pending_commands(self) -> list[MeterCommand]:
        return pending(self.store)

    def mark_commands_applied(self, ids: list[int]) -> None:
        with self.store.transaction() as db:
            mark_applied(db, ids)

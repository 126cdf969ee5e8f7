"""Many rows in one statement (lorawatch.stores.sqlite_rows): the same rows as one by one, in
few statements."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from lorawatch.stores import sqlite_rows


def _db() -> tuple[sqlite3.Connection, list[str]]:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(
        "CREATE TABLE t (k TEXT NOT NULL, n INTEGER NOT NULL, b BLOB, x REAL,"
        " PRIMARY KEY (n, k)) WITHOUT ROWID"
    )
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    return db, statements


def _rows(count: int, start: int = 0) -> list[tuple[Any, ...]]:
    return [
        (f"k{i % 7}", i, bytes([i % 256]) * 3, None if i % 5 else i / 3)
        for i in range(start, start + count)
    ]


@pytest.mark.parametrize("count", [1, 3, 4, 5, 63, 64, 65, 255, 256, 257, 700])
def test_insert_writes_every_row_and_only_them_in_few_statements(count: int) -> None:
    db, statements = _db()
    rows = _rows(count)
    assert sqlite_rows.insert(db, "INSERT INTO t", rows) == count
    assert len(statements) == -(-count // sqlite_rows.SHAPES[-1])
    assert db.execute("SELECT k, n, b, x FROM t ORDER BY n").fetchall() == rows


def test_insert_of_nothing_runs_no_statement() -> None:
    db, statements = _db()
    assert sqlite_rows.insert(db, "INSERT INTO t", []) == 0
    assert statements == []


def test_or_ignore_keeps_the_first_copy_and_counts_only_what_went_in() -> None:
    db, _ = _db()
    sqlite_rows.insert(db, "INSERT INTO t", _rows(10))
    again = [("k0", 0, b"new", 1.0), ("new", 0, b"n", 2.0), ("k3", 3, b"new", 3.0)]
    assert sqlite_rows.insert(db, "INSERT OR IGNORE INTO t", again) == 1
    assert db.execute("SELECT b FROM t WHERE n = 0 AND k = 'k0'").fetchone() == (b"\x00" * 3,)
    assert db.execute("SELECT b FROM t WHERE n = 3").fetchone() == (b"\x03" * 3,)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (11,)


def test_or_replace_keeps_the_last_copy_of_a_batch() -> None:
    db, _ = _db()
    rows = [("a", 1, b"first", 1.0), ("a", 1, b"second", 2.0)]
    sqlite_rows.insert(db, "INSERT OR REPLACE INTO t", rows)
    assert db.execute("SELECT b, x FROM t").fetchall() == [(b"second", 2.0)]


def test_a_column_list_in_the_head() -> None:
    db, _ = _db()
    assert sqlite_rows.insert(db, "INSERT INTO t (n, k)", [(1, "a"), (2, "b")]) == 2
    assert db.execute("SELECT k, n, b FROM t ORDER BY n").fetchall() == [
        ("a", 1, None),
        ("b", 2, None),
    ]


def test_max_bytes_takes_the_rows_as_needed() -> None:
    db, statements = _db()
    ran_before: list[int] = []

    def rows() -> Iterator[tuple[Any, ...]]:
        for i in range(10):
            ran_before.append(len(statements))
            yield ("k", i, b"x" * 100, 0.0)

    assert sqlite_rows.insert(db, "INSERT INTO t", rows(), max_bytes=250) == 10
    # Rows of 101 bytes: three reach 250, so statements of 3, 3, 3 and 1 rows, each run
    # before the rows of the next are taken.
    assert ran_before == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert len(statements) == 4
    assert db.execute("SELECT count(*) FROM t").fetchone() == (10,)


def test_delete_removes_the_keys_given_by_the_primary_key() -> None:
    db, statements = _db()
    sqlite_rows.insert(db, "INSERT INTO t", _rows(300))
    statements.clear()
    keys = [(n, f"k{n % 7}") for n in range(0, 300, 3)] + [(1, "no such key")]
    sqlite_rows.delete(db, "DELETE FROM t WHERE (n, k)", keys)
    assert len(statements) == 1
    left = [n for (n,) in db.execute("SELECT n FROM t ORDER BY n")]
    assert left == [n for n in range(300) if n % 3]
    plan = " ".join(
        str(row) for row in db.execute(f"EXPLAIN QUERY PLAN {statements[0]}").fetchall()
    )
    assert "PRIMARY KEY" in plan, plan


class _Other:
    """A connection of another database (the alerts' PostgreSQL adapter): executemany only."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def executemany(self, sql: str, rows: Any, /) -> None:
        self.calls.append((sql, list(rows)))


def test_another_database_gets_the_rows_one_by_one() -> None:
    other = _Other()
    rows = [("a", 1), ("b", 2)]
    assert sqlite_rows.insert(other, "INSERT OR REPLACE INTO s", iter(rows)) == 2
    sqlite_rows.delete(other, "DELETE FROM s WHERE (n, k)", [(1, "a")])
    sqlite_rows.insert(other, "INSERT INTO s", [])
    assert other.calls == [
        ("INSERT OR REPLACE INTO s VALUES (?,?)", rows),
        ("DELETE FROM s WHERE (n, k) = (?,?)", [(1, "a")]),
    ]

"""Many rows in one SQLite statement, for the threads that write beside the bridge.

Python's :mod:`sqlite3` lets go of the interpreter lock for each step of a statement, and
``executemany`` steps once per row. A thread that lets go of the lock gets it back only when
the thread holding it lets go too, which a bridge busy preparing the next batch does only when
it is made to, every :func:`sys.getswitchinterval` (5 ms): the convoy effect. Measured beside a
thread spinning in Python, 1,000 rows into a WAL file and their commit took 1.8 s by
``executemany`` (4.7 ms with nothing beside it), 80 ms in ten statements of 100 rows and 15 ms
in one statement (2.0 ms alone).

The state file's writer stepped ~1,850 times for each 1,000-uplink batch of the ingest bench (a
row each of uplinks, devices, meter states, window chunks and alert states); in these
statements it steps ~12 times. In that bench's drains (InfluxDB output, three runs each) the
writer was busy 91-92 % of the drain before, 84-88 % after, and the bridge waited for the
writers 38-41 % of it before, 35-37 % after. The work is the same: the state file's writes took
137,300 instructions an uplink before, 137,600 after (callgrind, 5,000 uplinks).

A statement of many rows that may fail half-way (a NOT NULL column under ``OR REPLACE``) keeps
a statement journal inside the transaction: a copy of each page it changes, to undo it alone.
SQLite keeps it in a temporary file beyond 64 KB, which made the readings' rows (a batch's
10,000 in time order, each statement changing a page per series) cost twice the time of one
row a statement (bench/store.py: 100,000 readings/s against 159,000). So the connection that
writes the batches keeps its temporary data in memory (``PRAGMA temp_store=MEMORY``: 950
devices of 11,705 a batch, in arrival order, 3.4-3.5 ms a statement as one row at a time,
5.1-5.3 ms with the file), and the readings go in key order, so that each statement changes a
few pages (bench/store.py: 132,000-144,000 readings/s, as many as one row a statement).

A statement is compiled for a few shapes only (:data:`SHAPES` rows), the rows padded up to the
shape with rows of NULLs that the statement leaves out, so that the connection's statement
cache holds a few of them whatever the batches' sizes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any, Protocol

SHAPES = (1, 4, 16, 64, 256)
"""The row counts a statement is compiled for; more rows take several statements. A prepared
statement of 256 rows of 12 columns (the uplinks') holds ~0.7 MB, one of 1,024 rows ~2.8 MB:
1,024 rows raised the peak memory of a 300,000-uplink drain by 3.4 MB, 256 rows by 2.4 (one
run each), and no faster in three drains each, where the memory is close to its bound
(150 MB)."""

Row = Sequence[Any]
_SIZED = (str, bytes)


class _ManyRows(Protocol):
    """A connection that is not SQLite's (the alerts' PostgreSQL adapter): rows one by one."""

    def executemany(self, sql: str, rows: Iterable[Row], /) -> Any: ...


def insert(
    db: sqlite3.Connection | _ManyRows,
    head: str,
    rows: Iterable[Row],
    max_bytes: int | None = None,
) -> int:
    """Run ``head`` (``INSERT [OR ...] INTO table [(columns)]``) for each row, in as few
    statements as the shapes allow; return how many rows it wrote (``OR IGNORE``: without
    those ignored). A row's first value is never None: the padding is told apart by it.

    ``max_bytes`` bounds the text and bytes of one statement's rows (states of kilobytes
    each), so that a large batch is not held twice over in memory; the rows are taken from
    ``rows`` as they are needed.
    """
    if not isinstance(db, sqlite3.Connection):
        rows = list(rows)
        if rows:
            db.executemany(f"{head} VALUES ({','.join('?' * len(rows[0]))})", rows)
        return len(rows)
    written = 0
    for part in _parts(rows, max_bytes):
        width, shape, values = _padded(part)
        written += db.execute(_insert(head, width, shape), values).rowcount
    return written


def delete(db: sqlite3.Connection | _ManyRows, head: str, keys: Sequence[Row]) -> None:
    """Run ``head`` (``DELETE FROM table WHERE (a, b)``, the columns in the order of the
    table's key, which finds the rows) for the rows whose columns are one of ``keys``, in as
    few statements as the shapes allow (a key of NULLs matches no row)."""
    if not isinstance(db, sqlite3.Connection):
        if keys:
            db.executemany(f"{head} = ({','.join('?' * len(keys[0]))})", keys)
        return
    for part in _parts(keys, None):
        width, shape, values = _padded(part)
        db.execute(_delete(head, width, shape), values)


def _parts(rows: Iterable[Row], max_bytes: int | None) -> Iterator[list[Row]]:
    part: list[Row] = []
    size = 0
    for row in rows:
        part.append(row)
        if max_bytes is not None:
            size += sum(len(v) for v in row if isinstance(v, _SIZED))
        if len(part) == SHAPES[-1] or (max_bytes is not None and size >= max_bytes):
            yield part
            part, size = [], 0
    if part:
        yield part


def _padded(part: list[Row]) -> tuple[int, int, list[Any]]:
    """The rows' width, their statement's shape, and their values padded with NULLs to it."""
    width = len(part[0])
    shape = next(shape for shape in SHAPES if shape >= len(part))
    values = [value for row in part for value in row]
    values += [None] * (width * (shape - len(part)))
    return width, shape, values


def _values(width: int, shape: int) -> str:
    row = f"({','.join('?' * width)})"
    return ",".join([row] * shape)


@lru_cache(maxsize=64)
def _insert(head: str, width: int, shape: int) -> str:
    return f"{head} SELECT * FROM (VALUES {_values(width, shape)}) WHERE column1 IS NOT NULL"


@lru_cache(maxsize=16)
def _delete(head: str, width: int, shape: int) -> str:
    # IN (VALUES ...) alone would scan the table; from a subquery the key's index is used.
    return f"{head} IN (SELECT * FROM (VALUES {_values(width, shape)}))"

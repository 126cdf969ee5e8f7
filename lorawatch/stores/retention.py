"""Retention: raw data for a configured period, aggregates for good.

Raw readings, raw uplinks and the per-reading consumption deltas older than
``store.raw_retention_days`` are deleted from SQLite, once at start and then daily; the
quarter-hour consumption rollup (``quarter_sums``), from which every daily, weekly and
monthly figure is computed, is kept indefinitely, as are dead letters still open. With
InfluxDB, give the database a retention policy of the same length and keep the aggregates in a
second one (docs/deployment.md).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import structlog

from lorawatch.core.timeutil import us
from lorawatch.stores.sqlite import SqliteStore

log = structlog.get_logger(__name__)


def purge(store: SqliteStore, keep_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete raw rows older than ``keep_days``; return how many rows each table lost."""
    cutoff = us((now or datetime.now(UTC)) - timedelta(days=keep_days))
    deleted: dict[str, int] = {}
    with store.transaction() as db:
        # Per series (the key's first column), each one's old rows are a range of its key.
        for name, table, column, where in (
            ("readings", "samples", "time_us", "series IN (SELECT id FROM series) AND "),
            ("uplinks", "uplinks", "time_us", ""),
            ("consumption", "deltas", "end_us", "series IN (SELECT id FROM series) AND "),
        ):
            deleted[name] = db.execute(
                f"DELETE FROM {table} WHERE {where}{column} < ?", (cutoff,)
            ).rowcount
        deleted["dead_letters"] = db.execute(
            "DELETE FROM dead_letters WHERE replayed_us IS NOT NULL AND received_us < ?", (cutoff,)
        ).rowcount
    if any(deleted.values()):
        log.info("retention purge", keep_days=keep_days, **deleted)
    return deleted


class RetentionJob:
    """Purges at start, then every ``every_s`` seconds, on its own thread."""

    def __init__(self, store: SqliteStore, keep_days: int, every_s: float = 86400.0) -> None:
        self.store = store
        self.keep_days = keep_days
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                purge(self.store, self.keep_days)
            except Exception as exc:  # noqa: BLE001 - retention must never stop the service
                log.error("retention purge failed", error=str(exc))
            if self._stop.wait(self.every_s):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

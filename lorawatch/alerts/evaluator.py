"""The elected evaluator: one worker of several runs the building rules, and another takes over.

With several workers (docs/scaling.md) each one sees the uplinks of its partitions only, so a
building's meters are spread over workers, and a rule about the building as a whole
(``energy.baseline``, ``energy.unoccupied``, ``energy.drift``, ``energy.daily_budget``) can
run in none of them. It runs in one elected worker instead, which reads the building's deltas
from the store (the one every worker writes to) on a schedule, rather than from the batches it
happens to consume. The device rules (leak, flow, bins, lamps, silence) stay in the worker that
consumes the device.

Why a PostgreSQL session advisory lock: the shared state already lives in PostgreSQL, and a
session lock is tied to one connection: a worker that dies, or whose connection breaks, loses
it at once, with no lease to tune and no clock to trust. The lock is held on a connection of
its own (a pooled connection would hand it to unrelated work); standbys try to take it every
``alerts.evaluator_retry_s``, so a takeover takes at most about that long, and the leader
checks the same way that its session is still alive (a leader cut from PostgreSQL stops
evaluating at its next check; PostgreSQL frees the lock once it notices the lost client, at
once for a closed socket, after TCP keepalives for a vanished host).

The new leader reloads the unresolved alerts and the building rules' state its predecessor
saved after each evaluation (:meth:`~lorawatch.alerts.engine.AlertEngine.lead`): the hours
already judged are in that state, the store holds every delta, and the alert lifecycle keeps
one unresolved alert per (rule, subject), so an alert opened by one leader is refreshed and
resolved by the next, never opened twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog
from psycopg import conninfo

from lorawatch.alerts.engine import AlertEngine
from lorawatch.core.readings import OUTDOOR
from lorawatch.pipeline.records import Batch
from lorawatch.pipeline.store import History
from lorawatch.stores.postgres import StateUnreachable, connect

log = structlog.get_logger(__name__)

LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"lorawatch building evaluator").digest()[:8], "big", signed=True
)
"""The advisory lock's key (a bigint). Advisory locks are per database, so two deployments
sharing a PostgreSQL server but not a database do not elect each other."""
APPLICATION = "lorawatch evaluator"
ENERGY = "energy_delta_kwh"
CHUNK = timedelta(hours=24)
"""Windows are read and judged a day at a time: the energy rules judge the hours of at most
the last 48 hours of what they are given, and a day of a large fleet fits in memory."""


def leader(conn: psycopg.Connection[Any]) -> str | None:
    """The worker holding the evaluator's lock (``lorawatch status``): its name as its
    session's application name, "" for an unnamed one, None when nobody holds it."""
    row = conn.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.database = ("
        "SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
        (LOCK_KEY & 0xFFFFFFFFFFFFFFFF,),
    ).fetchone()
    if row is None:
        return None
    return str(row[0]).removeprefix(APPLICATION).strip()


class Election:
    """Leadership held as a PostgreSQL session advisory lock on a dedicated connection."""

    def __init__(
        self,
        dsn: str,
        retry_s: float = 5.0,
        key: int = LOCK_KEY,
        on_change: Callable[[bool], None] = lambda leader: None,
        name: str = "",
    ) -> None:
        """``dsn``: libpq connection string (the shared state's); ``name``: this worker's,
        shown as the session's application name, which :func:`leader` reports."""
        self.dsn = dsn
        self.name = name
        self.retry_s = retry_s
        self.key = key
        self.on_change = on_change
        self.leader = False
        self.last_error = ""
        self._conn: psycopg.Connection[Any] | None = None

    def step(self) -> bool:
        """Take the lock if free, or check that this session still holds it; never raises."""
        was = self.leader
        try:
            if self._conn is None or self._conn.closed:
                self.leader = False
                params = conninfo.make_conninfo(
                    self.dsn,
                    connect_timeout=max(2, int(self.retry_s)),
                    application_name=f"{APPLICATION} {self.name}".strip()[:63],
                    keepalives=1,
                    keepalives_idle=max(1, int(self.retry_s)),
                    keepalives_interval=1,
                    keepalives_count=3,
                )
                self._conn = connect(params, autocommit=True)
            if self.leader:
                # A session lock lasts as long as its session: a live session still holds it.
                self._conn.execute("SELECT 1")
            else:
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                self.leader = bool(row and row[0])
            self.last_error = ""
        except (psycopg.Error, StateUnreachable) as exc:
            self.last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            self._drop()
        if self.leader != was:
            log.info("evaluator election", leader=self.leader, error=self.last_error or None)
            self.on_change(self.leader)
        return self.leader

    def _drop(self) -> None:
        self.leader = False
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        """Give the lock up (a clean stop): a standby takes it at its next try."""
        was = self.leader
        if self._conn is not None and not self._conn.closed and self.leader:
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self._drop()
        if was:
            self.on_change(False)


class BuildingEvaluator:
    """Runs the building rules of ``engine`` while this worker holds the election.

    Every ``alerts.evaluator_retry_s`` it takes part in the election; while it leads, every
    ``alerts.evaluator_interval_s`` it reads the electricity deltas and outdoor temperatures
    whose time is in the last ``alerts.evaluator_lookback_h`` hours and hands them to
    :meth:`AlertEngine.evaluate`, a day at a time. A new leader starts from where the last
    saved evaluation stopped (the cursor saved with the rules' state), or, when no leader ever
    saved one, from ``alerts.evaluator_history_days`` ago, so the rules learn the buildings
    from the store's history instead of from scratch. The rules are idempotent (a delta seen
    again changes nothing; an hour is judged once every meter still reporting has passed its
    end), so overlapping windows are safe, and a meter's deltas written late, by a worker
    catching up a backlog, are judged if they arrive within the lookback.
    """

    def __init__(
        self,
        engine: AlertEngine,
        store: History,
        election: Election,
        *,
        interval_s: float | None = None,
        lookback: timedelta | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        cfg = engine.config
        self.engine = engine
        self.store = store
        self.election = election
        self.interval_s = cfg.evaluator_interval_s if interval_s is None else interval_s
        self.lookback = lookback or timedelta(hours=cfg.evaluator_lookback_h)
        self.history = timedelta(days=cfg.evaluator_history_days)
        self.clock = clock or engine.clock
        self.evaluations = 0
        self.errors = 0
        self.leader_since: datetime | None = None
        self._cursor: datetime | None = None
        self._due = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> bool:
        """One round: the election, then an evaluation when one is due. Never raises."""
        leader = self.election.step()
        try:
            if leader and not self.engine.leading:
                self._cursor = self.engine.lead()
                self.leader_since = datetime.now(UTC)
                self._due = 0.0
            elif not leader and self.engine.leading:
                self.engine.step_down()
                self.leader_since = None
            if leader and time.monotonic() >= self._due:
                self.evaluate()
                self._due = time.monotonic() + self.interval_s
        except Exception:
            self.errors += 1
            self.engine.metrics.errors.inc()
            log.exception("building rules failed; retried at the next step")
        return leader

    def evaluate(self) -> int:
        """Read the window from the store, a day at a time, and run the building rules on it;
        return the findings."""
        now = self.clock()
        end = now + timedelta(minutes=5)  # a meter whose clock runs a little ahead
        start = now - self.history if self._cursor is None else self._cursor - self.lookback
        start = max(start, now - self.history)
        found = 0
        while start < end:
            stop = min(start + CHUNK, end)
            batch = Batch(
                readings=self.store.readings_between(OUTDOOR, start, stop),
                consumption=self.store.deltas_between(ENERGY, start, stop),
            )
            # Checked again after each read: a leader cut off meanwhile must not write.
            if not self.election.step():
                self.engine.step_down()
                self.leader_since = None
                return found
            found += self.engine.evaluate(batch, now, cursor=stop)
            self._cursor = stop
            start = stop
        self.evaluations += 1
        return found

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alerts-evaluator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.election.retry_s)

    def stop(self) -> None:
        """Stop, and hand the lock over at once rather than when the connection times out."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.election.release()
        if self.engine.leading:
            self.engine.step_down()

    def health(self) -> dict[str, object]:
        return {
            "leader": self.election.leader,
            "leader_since": self.leader_since.isoformat() if self.leader_since else None,
            "evaluations": self.evaluations,
            "errors": self.errors,
            "last_error": self.election.last_error,
        }

"""The shared state in PostgreSQL: what several workers must agree on, one transaction a batch.

With ``[state] backend = "postgresql"``, each ``lorawatch run`` worker writes here, in the
batch's own transaction, everything another worker needs to continue its partitions: the
uplinks' identities and frames, the dead letters (one per key), device events, each meter's
state, the devices' last frame counters, and the partitions' owner and epoch. Readings and
consumption deltas go to InfluxDB, which the workers share too.

A partition changes hands when its worker dies: :meth:`PostgresStore.acquire` (called before
a batch is prepared) takes it at the next epoch and returns the stored state of its meters
and devices, which the new owner loads over whatever it remembered. The batch transaction
then checks, row-locked, that this worker still owns each partition at the epoch it
acquired: a worker that lost one meanwhile (its broker connection ended, another took over)
gets :class:`~lorawatch.core.errors.PartitionLost` and commits nothing.

Each thread has its own connection (psycopg connections serialise their users; the writer
and the bridge's look-ups must not wait for each other). A broken connection is dropped and
re-opened at the next call.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import psycopg
import structlog

from lorawatch.core.errors import PartitionLost, StoreRejected, StoreUnavailable
from lorawatch.core.timeutil import Bucket, Interval, from_us, us
from lorawatch.gateway_bridge.dedup import frame_identity, letter_key
from lorawatch.pipeline.commands import Kind, MeterCommand
from lorawatch.pipeline.meters import MeterKey
from lorawatch.pipeline.partitions import Handover
from lorawatch.pipeline.records import Batch
from lorawatch.pipeline.store import Delta, HourStats
from lorawatch.stores.postgres import migrations
from lorawatch.stores.postgres.connection import (
    StateUnreachable,
    connect,
    conninfo_of,
    describe,
)
from lorawatch.stores.settings import StateConfig

log = structlog.get_logger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]


def now_us() -> int:
    return us(datetime.now(UTC))


def default_worker() -> str:
    return f"{socket.gethostname()}.{os.getpid()}"


class WriteHook(Protocol):
    """State that must commit with each batch on the shared database (the alert engine), as
    :class:`lorawatch.stores.sqlite.WriteHook` on the embedded one."""

    def in_transaction(self, db: Any, batch: Batch) -> None:
        """Write what ``batch`` changes, on ``db`` (a psycopg connection in the batch's
        transaction); must not commit or roll back."""

    def committed(self) -> None: ...

    def rolled_back(self) -> None: ...


class PostgresStore:
    """The :class:`~lorawatch.pipeline.store.Store` of the shared state, and its look-ups."""

    name = "postgresql"
    keeps_readings = False

    def __init__(self, cfg: StateConfig, *, migrate: bool = True, worker: str = "") -> None:
        self.dsn = conninfo_of(cfg)
        self.target = describe(self.dsn)
        self.worker = worker or cfg.worker or default_worker()
        self.heartbeat_s = cfg.heartbeat_s
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._guard = threading.Lock()
        self._owned: dict[str, int] = {}
        """Partition -> the epoch this worker acquired it at (its fencing token)."""
        self.hooks: list[WriteHook] = []
        """Called inside :meth:`write`'s transaction, in order (the alert engine)."""
        self._heart: threading.Thread | None = None
        self._stopping = threading.Event()
        self.last_error = ""
        if migrate:
            try:
                self.migrate()
            except BaseException:
                self.close()
                raise

    # -- connections -------------------------------------------------------------------------

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = connect(self.dsn, autocommit=True)
            self._local.conn = conn
            with self._guard:
                self._connections.append(conn)
        return conn

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """This thread's connection (autocommit); a broken one becomes StateUnreachable."""
        try:
            conn = self._conn()
        except StateUnreachable as exc:
            self.last_error = str(exc)
            raise
        try:
            yield conn
        except psycopg.OperationalError as exc:
            self._drop(conn)
            self.last_error = " ".join(str(exc).split())[:300]
            raise StateUnreachable(
                f"PostgreSQL {self.target}: {self.last_error} (retrying)"
            ) from None
        except psycopg.Error as exc:
            # A deadlock or serialisation failure, or a bug: the transaction rolled back, the
            # batch is retried (never a crash of the writer).
            self.last_error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            raise StoreUnavailable(f"PostgreSQL {self.target}: {self.last_error}") from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.connection() as conn, conn.transaction():
            yield conn

    def _drop(self, conn: Connection) -> None:
        self._local.conn = None
        with self._guard:
            if conn in self._connections:
                self._connections.remove(conn)
        with suppress(psycopg.Error):
            conn.close()

    def migrate(self) -> list[int]:
        """Apply the schema migrations this release ships (see :mod:`.migrations`)."""
        with self.connection() as conn:
            return migrations.migrate(conn)

    def fetch(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Rows of one statement (autocommit). A connection found broken (the server restarted
        since this thread last used it) is replaced and the statement tried once more."""
        for attempt in (1, 2):
            try:
                with self.connection() as conn:
                    return conn.execute(sql.encode(), args).fetchall()
            except StateUnreachable:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- the batch ---------------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """The batch's state, and what the :attr:`hooks` derive from it, in one transaction."""
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

    def write_in(self, db: Connection, batch: Batch) -> None:
        """The batch's state in the caller's transaction; fenced by the partitions it touches."""
        at = now_us()
        self._fence(db, batch, at)
        partition_of = batch.partition_of
        with db.cursor() as cur:
            if batch.uplinks:
                # One statement a table, the rows as binary arrays (%b): text arrays cost their
                # escaping, executemany a round of parsing per row.
                cols: list[list[Any]] = [[] for _ in range(12)]
                latest: dict[str, tuple[int, int]] = {}
                for u in batch.uplinks:
                    t = us(u.time)
                    f_cnt = -1 if u.f_cnt is None else u.f_cnt
                    row = (
                        u.uid
                        or frame_identity(u.dev_eui, u.f_cnt, u.f_port, u.payload, u.dedup_id),
                        u.dev_eui,
                        t,
                        f_cnt,
                        u.f_port,
                        u.payload,
                        u.dedup_id,
                        us(u.received),
                        u.format,
                        u.rssi,
                        u.snr,
                        u.gateways,
                    )
                    for column, value in zip(cols, row, strict=True):
                        column.append(value)
                    if u.dev_eui not in latest or t >= latest[u.dev_eui][1]:
                        latest[u.dev_eui] = (f_cnt, t)
                cur.execute(
                    "INSERT INTO uplinks (uid, dev_eui, time_us, f_cnt, f_port, payload, dedup_id,"
                    " received_us, format, rssi, snr, gateways, worker)"
                    " SELECT *, %s FROM unnest(%b::bigint[], %b::text[], %b::bigint[],"
                    " %b::int[], %b::int[], %b::bytea[], %b::text[], %b::bigint[], %b::text[],"
                    " %b::float8[], %b::float8[], %b::int[]) ON CONFLICT DO NOTHING",
                    (self.worker, *cols),
                )
                devices = sorted(latest)
                cur.execute(
                    "INSERT INTO devices AS d SELECT * FROM unnest(%b::text[], %b::text[],"
                    " %b::int[], %b::bigint[]) ON CONFLICT (dev_eui) DO"
                    " UPDATE SET last_f_cnt = excluded.last_f_cnt,"
                    " last_time_us = excluded.last_time_us, partition = excluded.partition"
                    " WHERE excluded.last_time_us >= d.last_time_us",
                    (
                        devices,
                        [partition_of.get(d, "") for d in devices],
                        [latest[d][0] for d in devices],
                        [latest[d][1] for d in devices],
                    ),
                )
            if batch.dead_letters:
                cur.executemany(
                    "INSERT INTO dead_letters (key, received_us, topic, payload, reason, detail,"
                    " dev_eui, worker) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                    [
                        (
                            letter_key(d.topic, d.payload),
                            us(d.received),
                            d.topic,
                            d.payload,
                            d.reason,
                            d.detail,
                            d.dev_eui,
                            self.worker,
                        )
                        for d in batch.dead_letters
                    ],
                )
            quality = [e for e in batch.events if e.uid is None]
            chirpstack = [e for e in batch.events if e.uid is not None]
            if quality:
                cur.executemany(
                    "INSERT INTO device_events VALUES (%s,%s,%s,%s,%s) ON CONFLICT"
                    " (dev_eui, time_us, kind, code) DO UPDATE SET detail = excluded.detail",
                    [(e.dev_eui, us(e.time), e.kind, e.code, e.detail) for e in quality],
                )
            if chirpstack:
                # A copy (same identity) or a same-instant report is one row.
                cur.executemany(
                    "INSERT INTO device_events (dev_eui, time_us, kind, code, detail, uid)"
                    " VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                    [(e.dev_eui, us(e.time), e.kind, e.code, e.detail, e.uid) for e in chirpstack],
                )
            if batch.meter_state:
                states = dict(batch.meter_state)  # one state a meter (the last)
                keys = sorted(states)
                devs = [k.split("\t", 1)[0] for k in keys]
                cur.execute(
                    "INSERT INTO meter_state AS m SELECT k, d, p, s, %s FROM unnest(%b::text[],"
                    " %b::text[], %b::text[], %b::text[]) AS r(k, d, p, s) ON CONFLICT (key) DO"
                    " UPDATE SET state = excluded.state, updated_us = excluded.updated_us,"
                    " partition = CASE WHEN excluded.partition = '' THEN m.partition"
                    " ELSE excluded.partition END",
                    (
                        at,
                        keys,
                        devs,
                        [partition_of.get(d, "") for d in devs],
                        [states[k] for k in keys],
                    ),
                )
            if batch.meter_window:
                cur.executemany(
                    "INSERT INTO meter_window VALUES (%s,%s,%s,%s) ON CONFLICT (key, seq)"
                    " DO UPDATE SET latest_us = excluded.latest_us, readings = excluded.readings",
                    batch.meter_window,
                )
            if batch.meter_window_drop:
                cur.executemany(
                    "DELETE FROM meter_window WHERE key = %s AND seq = %s",
                    batch.meter_window_drop,
                )
            if batch.commands_applied:
                cur.executemany(
                    "UPDATE meter_commands SET applied_us = %s, applied_by = %s"
                    " WHERE id = %s AND applied_us IS NULL",
                    [(at, self.worker, i) for i in batch.commands_applied],
                )

    def _fence(self, db: Connection, batch: Batch, at: int) -> None:
        """Check, row-locked, that this worker still owns the batch's partitions at the epoch
        it acquired them, and record the batch on them; else :class:`PartitionLost`."""
        touched = sorted(batch.partitions)
        if not touched:
            return
        held = [(p, self._owned[p]) for p in touched if p in self._owned]
        if not held:
            raise PartitionLost(touched, f"partitions not acquired by this worker: {touched}")
        # Locked in name order, as acquire() locks them: two workers never wait on each other.
        db.execute(
            "SELECT 1 FROM partitions WHERE partition = ANY(%s) ORDER BY partition FOR UPDATE",
            ([p for p, _ in held],),
        )
        kept = {
            str(p)
            for (p,) in db.execute(
                "UPDATE partitions SET last_batch_us = %s, batches = batches + 1"
                " FROM unnest(%b::text[], %b::bigint[]) AS o(p, e)"
                " WHERE partition = o.p AND epoch = o.e AND owner = %s RETURNING partition",
                (at, [p for p, _ in held], [e for _, e in held], self.worker),
            ).fetchall()
        }
        lost = [p for p in touched if p not in kept]
        if not lost:
            db.execute("UPDATE workers SET batches = batches + 1 WHERE worker = %s", (self.worker,))
            db.execute(
                "UPDATE partition_handovers SET first_batch_us = %s"
                " FROM unnest(%b::text[], %b::bigint[]) AS o(p, e)"
                " WHERE partition = o.p AND epoch = o.e AND first_batch_us IS NULL",
                (at, [p for p, _ in held], [e for _, e in held]),
            )
        if lost:
            raise PartitionLost(lost, f"partitions taken over by another worker: {lost}")

    # -- partitions --------------------------------------------------------------------------

    def acquire(self, partitions: set[str]) -> Handover | None:
        """Own ``partitions`` from this batch on; the stored state of those newly acquired.

        A partition this worker already holds at the epoch the database has costs one read
        of the ``partitions`` rows (one round trip for the batch). Any other is taken at the
        next epoch (waiting, row-locked, for a batch of the previous owner to commit or fail)
        and its meters' states and devices' frame counters come back to be loaded.
        """
        if not partitions:
            return None
        wanted = sorted(partitions)
        with self.connection() as db:
            rows = db.execute(
                "SELECT partition, owner, epoch FROM partitions WHERE partition = ANY(%s)",
                (wanted,),
            ).fetchall()
        current = {p: (owner, epoch) for p, owner, epoch in rows}
        stale = [p for p in wanted if current.get(p) != (self.worker, self._owned.get(p, -1))]
        if not stale:
            return None
        self._wait_for_drains(stale)
        at = now_us()
        with self.transaction() as db:
            for p in stale:
                row = db.execute(
                    "SELECT owner, epoch, last_batch_us FROM partitions WHERE partition = %s"
                    " FOR UPDATE",
                    (p,),
                ).fetchone()
                previous, epoch, last = ("", 0, 0) if row is None else row
                epoch += 1
                db.execute(
                    "INSERT INTO partitions VALUES (%s,%s,%s,%s,%s,0) ON CONFLICT (partition) DO"
                    " UPDATE SET owner = excluded.owner, epoch = excluded.epoch,"
                    " since_us = excluded.since_us, draining = false",
                    (p, self.worker, epoch, at, last),
                )
                db.execute(
                    "INSERT INTO partition_handovers VALUES (%s,%s,%s,%s,%s,%s,NULL)"
                    " ON CONFLICT DO NOTHING",
                    (p, epoch, previous, self.worker, at, last),
                )
                self._owned[p] = epoch
            states = db.execute(
                "SELECT state FROM meter_state WHERE partition = ANY(%s)", (stale,)
            ).fetchall()
            devices = db.execute(
                "SELECT dev_eui, last_f_cnt FROM devices WHERE partition = ANY(%s)", (stale,)
            ).fetchall()
            windows: dict[str, list[tuple[int, int, str]]] = {}
            for key, seq, latest, readings in db.execute(
                "SELECT w.key, w.seq, w.latest_us, w.readings FROM meter_window w"
                " JOIN meter_state m USING (key) WHERE m.partition = ANY(%s)"
                " ORDER BY w.key, w.seq",
                (stale,),
            ):
                windows.setdefault(key, []).append((int(seq), int(latest), readings))
        log.info(
            "partitions acquired",
            partitions=stale,
            worker=self.worker,
            meters=len(states),
            devices=len(devices),
        )
        return Handover(stale, [s for (s,) in states], {d: int(f) for d, f in devices}, windows)

    def _wait_for_drains(self, partitions: list[str], timeout_s: float = 30.0) -> None:
        """Wait while a live worker is still finishing its last batches of these partitions
        (it gave them up: :meth:`begin_drain`), so that this one starts from their state."""
        deadline = time.monotonic() + timeout_s
        silent_us = int(3 * self.heartbeat_s * 1_000_000)
        while True:
            rows = self.fetch(
                "SELECT p.partition FROM partitions p JOIN workers w ON w.worker = p.owner"
                " WHERE p.partition = ANY(%s) AND p.draining AND p.owner <> %s"
                " AND w.stopped_us IS NULL AND w.heartbeat_us > %s",
                (partitions, self.worker, now_us() - silent_us),
            )
            if not rows:
                return
            if time.monotonic() > deadline or self._stopping.is_set():
                log.warning("taking partitions still draining", partitions=[r[0] for r in rows])
                return
            time.sleep(0.02)  # polling the other worker's progress, bounded by the deadline

    def begin_drain(self, partition: str) -> bool:
        """Mark a partition this worker owns as being given up; False if it does not own it."""
        epoch = self._owned.get(partition)
        if epoch is None:
            return False
        rows = self.fetch(
            "UPDATE partitions SET draining = true WHERE partition = %s AND owner = %s"
            " AND epoch = %s RETURNING partition",
            (partition, self.worker, epoch),
        )
        return bool(rows)

    def end_drain(self, partition: str) -> None:
        """Its last batch here is committed and acked: the next owner may start."""
        self.fetch(
            "UPDATE partitions SET draining = false WHERE partition = %s AND owner = %s"
            " RETURNING partition",
            (partition, self.worker),
        )
        self._owned.pop(partition, None)

    def owned(self) -> list[str]:
        """The partitions this worker holds at the epoch the database has."""
        if not self._owned:
            return []
        rows = self.fetch(
            "SELECT partition, epoch FROM partitions WHERE partition = ANY(%s) AND owner = %s"
            " AND NOT draining",
            (sorted(self._owned), self.worker),
        )
        return sorted(str(p) for p, e in rows if self._owned.get(str(p)) == e)

    def alive_workers(self) -> int:
        silent_us = int(3 * self.heartbeat_s * 1_000_000)
        rows = self.fetch(
            "SELECT count(*) FROM workers WHERE stopped_us IS NULL AND heartbeat_us > %s",
            (now_us() - silent_us,),
        )
        return int(rows[0][0])

    def release(self, partitions: Sequence[str]) -> None:
        """Forget these partitions' epochs: the next batch of one acquires it afresh."""
        for p in partitions:
            self._owned.pop(p, None)

    # -- the de-duplicator's authority (gateway_bridge.dedup.Persisted) ----------------------

    def _patiently(self, sql: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        """A read the bridge needs in the middle of preparing a batch, where an exception
        would leave the meters half updated: retried until PostgreSQL answers (or close)."""
        delay = 0.1
        while True:
            try:
                return self.fetch(sql, args)
            except StoreUnavailable as exc:
                log.error("state look-up failed, retrying", error=str(exc))
                if self._stopping.wait(delay):
                    raise
                delay = min(delay * 2, 5.0)

    def uplink_time(self, dev_eui: str, f_cnt: int, uid: int) -> int | None:
        """The identity is this table's key: the frame it was made of is not needed here."""
        rows = self._patiently("SELECT time_us FROM uplinks WHERE uid = %s", (uid,))
        return int(rows[0][0]) if rows else None

    def event_time(self, uid: int) -> int | None:
        rows = self._patiently("SELECT time_us FROM device_events WHERE uid = %s", (uid,))
        return int(rows[0][0]) if rows else None

    def last_f_cnt(self, dev_eui: str) -> int | None:
        rows = self._patiently("SELECT last_f_cnt FROM devices WHERE dev_eui = %s", (dev_eui,))
        return int(rows[0][0]) if rows else None

    def uplink_times(self, dev_eui: str, n: int = 5) -> list[int]:
        """Event times (µs) of the device's ``n`` latest stored uplinks, newest first."""
        rows = self._patiently(
            "SELECT time_us FROM uplinks WHERE dev_eui = %s ORDER BY time_us DESC LIMIT %s",
            (dev_eui, n),
        )
        return [int(t) for (t,) in rows]

    # -- meter commands (pipeline.commands.CommandQueue) ------------------------------------

    def pending_commands(self) -> list[MeterCommand]:
        """The commands not applied yet of the meters whose partitions this worker owns (a
        meter never seen waits until its device has sent an uplink)."""
        owned = sorted(self._owned)
        if not owned:
            return []
        rows = self._patiently(
            "SELECT c.id, c.dev_eui, c.name, c.channel, c.kind, c.at_us, c.amount, c.note"
            " FROM meter_commands c JOIN devices d ON d.dev_eui = c.dev_eui"
            " WHERE c.applied_us IS NULL AND d.partition = ANY(%s) ORDER BY c.at_us, c.id",
            (owned,),
        )
        return [
            MeterCommand(r[0], MeterKey(r[1], r[2], r[3]), r[4], from_us(r[5]), r[6], r[7])
            for r in rows
        ]

    def mark_commands_applied(self, ids: list[int]) -> None:
        """Nothing to do: the batch that applied them marked them (``write_in``)."""

    def record_command(
        self, key: MeterKey, kind: Kind, at: datetime, amount: float, note: str = ""
    ) -> int:
        """Store a command for the owner of the meter's partition to apply; returns its id."""
        rows = self.fetch(
            "INSERT INTO meter_commands (dev_eui, name, channel, kind, at_us, amount, note,"
            " issued_us) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
            (key.dev_eui, key.name, key.channel, kind, us(at), amount, note, now_us()),
        )
        return int(rows[0][0])

    def meter_states(self) -> list[str]:
        """Every meter's stored state (a single worker continuing all of them)."""
        return [state for (state,) in self.fetch("SELECT state FROM meter_state")]

    # -- workers -----------------------------------------------------------------------------

    def register(self) -> None:
        """Record this worker as alive and keep its heartbeat until :meth:`close`."""
        at = now_us()
        host = socket.gethostname()
        with self.connection() as db:
            db.execute(
                "INSERT INTO workers VALUES (%s,%s,%s,%s,%s,NULL,0) ON CONFLICT (worker) DO"
                " UPDATE SET host = excluded.host, pid = excluded.pid,"
                " started_us = excluded.started_us, heartbeat_us = excluded.heartbeat_us,"
                " stopped_us = NULL",
                (self.worker, host, os.getpid(), at, at),
            )
        self._heart = threading.Thread(target=self._beat, name="state-heartbeat", daemon=True)
        self._heart.start()

    def _beat(self) -> None:
        while not self._stopping.wait(self.heartbeat_s):
            try:
                with self.connection() as db:
                    db.execute(
                        "UPDATE workers SET heartbeat_us = %s WHERE worker = %s",
                        (now_us(), self.worker),
                    )
            except StateUnreachable as exc:
                log.warning("worker heartbeat failed", error=str(exc))

    def status(self) -> dict[str, Any]:
        """Workers (alive, stopped or silent, from their heartbeats) and who owns which
        partition, as ``lorawatch status`` shows them."""
        at = now_us()
        silent_us = int(3 * self.heartbeat_s * 1_000_000)
        workers = []
        owned: dict[str, list[str]] = {}
        partitions = []
        for p, owner, epoch, since, last, batches in self.fetch(
            "SELECT partition, owner, epoch, since_us, last_batch_us, batches FROM partitions"
            " ORDER BY partition"
        ):
            owned.setdefault(owner, []).append(p)
            partitions.append(
                {
                    "partition": p,
                    "owner": owner,
                    "epoch": epoch,
                    "since_s": round((at - since) / 1e6, 1),
                    "last_batch_s": round((at - last) / 1e6, 1) if last else None,
                    "batches": batches,
                }
            )
        for worker, host, pid, beat, stopped, done in self.fetch(
            "SELECT worker, host, pid, heartbeat_us, stopped_us, batches FROM workers"
            " ORDER BY worker"
        ):
            state = "stopped" if stopped else "alive" if at - beat <= silent_us else "silent"
            workers.append(
                {
                    "worker": worker,
                    "host": host,
                    "pid": pid,
                    "state": state,
                    "heartbeat_s": round((at - beat) / 1e6, 1),
                    "batches": done,
                    "partitions": owned.get(worker, []),
                }
            )
        return {"workers": workers, "partitions": partitions}

    # -- the Store protocol ------------------------------------------------------------------

    def consumption(
        self,
        name: str,
        start: datetime,
        end: datetime,
        interval: Interval,
        tz: str,
        group_by: Literal["building", "commune"] = "building",
    ) -> list[Bucket]:
        raise self._not_here("consumption sums")

    def deltas(self, name: str, building: str, start: datetime, end: datetime) -> list[Delta]:
        raise self._not_here("consumption deltas")

    def reading_hours(
        self, name: str, commune: str, start: datetime, end: datetime
    ) -> list[HourStats]:
        raise self._not_here("readings")

    @staticmethod
    def _not_here(what: str) -> StoreRejected:
        return StoreRejected(
            f"{what} are not kept in the PostgreSQL state",
            'query InfluxDB (store.outputs = ["influxdb"])',
        )

    def health(self) -> dict[str, object]:
        return {
            "target": self.target,
            "worker": self.worker,
            "partitions": sorted(self._owned),
            "last_error": self.last_error,
        }

    def close(self) -> None:
        """Stop the heartbeat, mark the worker stopped, close every connection."""
        self._stopping.set()
        if self._heart is not None:
            self._heart.join(timeout=5)
            try:
                with self.connection() as db:
                    db.execute(
                        "UPDATE workers SET stopped_us = %s WHERE worker = %s",
                        (now_us(), self.worker),
                    )
            except StateUnreachable as exc:
                log.warning("could not record the worker's stop", error=str(exc))
        with self._guard:
            conns, self._connections = self._connections, []
        for conn in conns:
            with suppress(psycopg.Error):
                conn.close()

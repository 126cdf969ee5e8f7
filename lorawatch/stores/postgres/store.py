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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
import structlog

from lorawatch.core.errors import PartitionLost, StoreRejected
from lorawatch.core.timeutil import Bucket, Interval, us
from lorawatch.gateway_bridge.dedup import frame_identity, letter_key
from lorawatch.pipeline.partitions import Handover
from lorawatch.pipeline.records import Batch
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
        conn = self._conn()
        try:
            yield conn
        except psycopg.OperationalError as exc:
            self._drop(conn)
            self.last_error = " ".join(str(exc).split())[:300]
            raise StateUnreachable(
                f"PostgreSQL {self.target}: {self.last_error} (retrying)"
            ) from None

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
        with self.connection() as conn:
            return conn.execute(sql.encode(), args).fetchall()

    # -- the batch ---------------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        with self.transaction() as db:
            self.write_in(db, batch)

    def write_in(self, db: Connection, batch: Batch) -> None:
        """The batch's state in the caller's transaction; fenced by the partitions it touches."""
        at = now_us()
        self._fence(db, batch, at)
        partition_of = batch.partition_of
        with db.cursor() as cur:
            if batch.uplinks:
                cur.executemany(
                    "INSERT INTO uplinks (uid, dev_eui, time_us, f_cnt, f_port, payload, dedup_id,"
                    " received_us, format, rssi, snr, gateways, worker)"
                    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                    [
                        (
                            u.uid
                            or frame_identity(u.dev_eui, u.f_cnt, u.f_port, u.payload, u.dedup_id),
                            u.dev_eui,
                            us(u.time),
                            -1 if u.f_cnt is None else u.f_cnt,
                            u.f_port,
                            u.payload,
                            u.dedup_id,
                            us(u.received),
                            u.format,
                            u.rssi,
                            u.snr,
                            u.gateways,
                            self.worker,
                        )
                        for u in batch.uplinks
                    ],
                )
                latest: dict[str, tuple[int, int]] = {}
                for u in batch.uplinks:
                    t = us(u.time)
                    if u.dev_eui not in latest or t >= latest[u.dev_eui][1]:
                        latest[u.dev_eui] = (-1 if u.f_cnt is None else u.f_cnt, t)
                cur.executemany(
                    "INSERT INTO devices AS d VALUES (%s, %s, %s, %s) ON CONFLICT (dev_eui) DO"
                    " UPDATE SET last_f_cnt = excluded.last_f_cnt,"
                    " last_time_us = excluded.last_time_us, partition = excluded.partition"
                    " WHERE excluded.last_time_us >= d.last_time_us",
                    [
                        (dev, partition_of.get(dev, ""), f_cnt, t)
                        for dev, (f_cnt, t) in sorted(latest.items())
                    ],
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
            if batch.events:
                cur.executemany(
                    "INSERT INTO device_events VALUES (%s,%s,%s,%s,%s) ON CONFLICT"
                    " (dev_eui, time_us, kind, code) DO UPDATE SET detail = excluded.detail",
                    [(e.dev_eui, us(e.time), e.kind, e.code, e.detail) for e in batch.events],
                )
            if batch.meter_state:
                rows = []
                for key, state in sorted(batch.meter_state):
                    dev = key.split("\t", 1)[0]
                    rows.append((key, dev, partition_of.get(dev, ""), state, at))
                cur.executemany(
                    "INSERT INTO meter_state AS m VALUES (%s,%s,%s,%s,%s) ON CONFLICT (key) DO"
                    " UPDATE SET state = excluded.state, updated_us = excluded.updated_us,"
                    " partition = CASE WHEN excluded.partition = '' THEN m.partition"
                    " ELSE excluded.partition END",
                    rows,
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
        lost = []
        for partition in touched:
            epoch = self._owned.get(partition)
            row = (
                None
                if epoch is None
                else db.execute(
                    "UPDATE partitions SET last_batch_us = %s, batches = batches + 1"
                    " WHERE partition = %s AND owner = %s AND epoch = %s RETURNING epoch",
                    (at, partition, self.worker, epoch),
                ).fetchone()
            )
            if row is None:
                lost.append(partition)
                continue
            db.execute(
                "UPDATE partition_handovers SET first_batch_us = %s"
                " WHERE partition = %s AND epoch = %s AND first_batch_us IS NULL",
                (at, partition, epoch),
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
                    " since_us = excluded.since_us",
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
        log.info(
            "partitions acquired",
            partitions=stale,
            worker=self.worker,
            meters=len(states),
            devices=len(devices),
        )
        return Handover(stale, [s for (s,) in states], {d: int(f) for d, f in devices})

    def release(self, partitions: Sequence[str]) -> None:
        """Forget these partitions' epochs: the next batch of one acquires it afresh."""
        for p in partitions:
            self._owned.pop(p, None)

    # -- the de-duplicator's authority (gateway_bridge.dedup.Persisted) ----------------------

    def uplink_time(self, uid: int) -> int | None:
        with self.connection() as db:
            row = db.execute("SELECT time_us FROM uplinks WHERE uid = %s", (uid,)).fetchone()
        return None if row is None else int(row[0])

    def last_f_cnt(self, dev_eui: str) -> int | None:
        with self.connection() as db:
            row = db.execute(
                "SELECT last_f_cnt FROM devices WHERE dev_eui = %s", (dev_eui,)
            ).fetchone()
        return None if row is None else int(row[0])

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
        raise StoreRejected(
            "consumption is not kept in the PostgreSQL state",
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

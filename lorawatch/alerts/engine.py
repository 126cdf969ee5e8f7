"""The alert engine: rules on every stored batch, a periodic tick, lifecycle and outbox.

The rules run inside the transaction that stores each batch (the service registers the
engine as a :class:`~lorawatch.stores.sqlite.WriteHook` of its SQLite store): the alerts a
batch opens, their notifications and the rules' changed state commit with the batch or not
at all. So an alert never rests on a reading that could still be lost, and a crash right
after a commit restarts with the rules exactly where they were; the redelivered copies of
that batch are dropped as duplicates before they reach the rules, so nothing counts twice.
The rules work in memory; the I/O is the rows of the subjects a batch changed. A bug in a
rule is logged and counted (its writes rolled back to a savepoint), and ingestion goes on.

With ``alerts.evaluator = "elected"`` (workers sharing a PostgreSQL state) the batches feed
only the device rules, in a transaction of their own right after the batch's; the building
rules (scope ``building``) run in :meth:`AlertEngine.evaluate`, called by the elected
worker's :class:`~lorawatch.alerts.evaluator.BuildingEvaluator` with what the store holds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from prometheus_client import CollectorRegistry

from lorawatch.alerts.api import AlertsApi
from lorawatch.alerts.config import AlertsConfig
from lorawatch.alerts.influx import INFLUX_CONFIG, InfluxNotifier, LineSink
from lorawatch.alerts.lifecycle import Lifecycle
from lorawatch.alerts.model import Finding
from lorawatch.alerts.notify import Metrics, Notifier, Outbox
from lorawatch.alerts.pgsql import PgAlertsDb
from lorawatch.alerts.places import Places
from lorawatch.alerts.routing import Router
from lorawatch.alerts.rules.base import Domain, Services
from lorawatch.alerts.rules.energy import Energy
from lorawatch.alerts.rules.fleet import Fleet
from lorawatch.alerts.rules.lighting import Lighting
from lorawatch.alerts.rules.waste import Waste
from lorawatch.alerts.rules.water import Water
from lorawatch.alerts.store import Database, create
from lorawatch.core.timeutil import from_us, us
from lorawatch.gateway_bridge.settings import MqttConfig
from lorawatch.inventory import Inventory
from lorawatch.pipeline.records import Batch
from lorawatch.stores import sqlite_rows

log = structlog.get_logger(__name__)

STATE_BYTES = 1 << 20
"""The JSON of subjects' states (or chunks) written by one statement at most."""

CURSOR = ("_evaluator", "cursor")
"""(rule, subject) of the elected evaluator's position in ``alert_state``: no domain's name."""


def _json(state: Any) -> str:
    """A subject's state as JSON; orjson, as each batch saves the subjects it changed (an
    energy baseline's state is kilobytes, and the standard module is ~20x slower here).
    Integer keys become strings as with :func:`json.dumps`; a NaN becomes null."""
    return orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS).decode()


@dataclass(slots=True)
class _Unsaved:
    """What one subject's save wrote in the open transaction, to undo if it rolls back."""

    domain: Domain
    subject: str
    changes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    added: tuple[int, float] | None = None
    stale: list[tuple[int, float]] = field(default_factory=list)


class AlertEngine:
    def __init__(
        self,
        db: Database,
        inventory: Inventory,
        config: AlertsConfig | None = None,
        *,
        registry: CollectorRegistry | None = None,
        mqtt: MqttConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        notifiers: dict[str, Notifier] | None = None,
        influx: LineSink | None = None,
    ) -> None:
        """``db`` is the service's SqliteStore (the alert tables are created in it);
        ``mqtt`` is the ingestion broker, the default of MQTT notifiers; ``clock`` gives the
        wall time of lifecycle events and deliveries; ``notifiers`` replaces configured
        notifiers by name (tests); ``influx`` (the service's InfluxDB store) gets every
        alert event through the built-in ``influxdb`` notifier."""
        self.db = db
        self.config = config or AlertsConfig.model_validate({})
        self.clock = clock
        create(db)
        self.metrics = Metrics(registry)
        self.places = Places(inventory, self.config)
        builtin = [(INFLUX_CONFIG, InfluxNotifier(influx))] if influx is not None else []
        names = [c.name for c, _ in builtin]
        self.router = Router(self.config, names)
        self.elected = self.config.evaluator == "elected"
        """Building rules run in the elected worker (:meth:`evaluate`), not on batches; it is
        also the one worker delivering the shared outbox."""
        self.leading = False
        self.outbox = Outbox(
            db,
            self.config,
            self.metrics,
            mqtt,
            clock,
            notifiers,
            builtin,
            active=lambda: self.leading or not self.elected,
        )
        self.lifecycle = Lifecycle(
            db,
            self.config,
            self.router,
            on_enqueued=self.outbox.wake,
            on_opened=lambda rule: self.metrics.opened.labels(rule).inc(),
        )
        self.api = AlertsApi(
            db, self.config, self.lifecycle, on_enqueued=self.outbox.wake, builtin=names
        )
        services = Services(self.places, self.lifecycle.is_open, self.lifecycle.tracked)
        self._services = services
        self.domains: list[Domain] = [
            Water(services),
            Energy(services),
            Waste(services),
            Lighting(services),
            Fleet(services),
        ]
        self._lock = threading.RLock()
        self._enqueued = 0
        self._unsaved: list[_Unsaved] = []
        """What the open transaction saved: marked unsaved again if it does not commit."""
        self._seq = 0
        """The last chunk of an hourly series saved (``alert_series.seq``)."""
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.batches = 0
        self.errors = 0
        self._load_state()

    # -- state -------------------------------------------------------------------------------

    def _on_batches(self) -> list[Domain]:
        """The domains the batches and the tick feed: all, or the device ones when elected."""
        return [d for d in self.domains if not (self.elected and d.scope == "building")]

    def _building(self) -> list[Domain]:
        return [d for d in self.domains if d.scope == "building"]

    def _load_state(
        self, domains: list[Domain] | None = None, devices: set[str] | None = None
    ) -> int:
        """Load the saved state (and hourly series) of ``domains`` (default: those the
        batches feed), of every subject or only those of ``devices``; returns the subjects
        loaded. What is loaded is saved already: it is not marked changed."""
        by_name = {d.name: d for d in (self._on_batches() if domains is None else domains)}

        def wanted(rule: str, subject: str) -> Domain | None:
            if devices is not None and subject.split(":", 1)[0] not in devices:
                return None
            return by_name.get(rule)

        loaded = 0
        for rule, subject, state in self.db.fetch("SELECT rule, subject, state FROM alert_state"):
            domain = wanted(rule, subject)
            if domain is None:
                continue
            try:
                domain.load(subject, json.loads(state))
                if subject not in domain.resave:
                    domain.dirty.discard(subject)
                loaded += 1
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("alert state dropped", domain=rule, subject=subject, error=str(exc))
        for domain in by_name.values():
            domain.resave.clear()
        series: dict[tuple[str, str], list[tuple[int, float, list[list[Any]]]]] = {}
        for rule, subject, seq, latest, deltas in self.db.fetch(
            "SELECT rule, subject, seq, latest, deltas FROM alert_series ORDER BY seq"
        ):
            self._seq = max(self._seq, int(seq))
            if wanted(rule, subject) is not None:
                series.setdefault((rule, subject), []).append((seq, latest, json.loads(deltas)))
        for (rule, subject), chunks in series.items():
            domain = wanted(rule, subject)
            chunked = None if domain is None else domain.series(subject)
            if chunked is not None:
                chunked.restore(chunks)
        if loaded:
            log.info("alert rule state recovered", subjects=loaded, open=len(self.lifecycle.open))
        return loaded

    def flush_state(
        self, domains: list[Domain] | None = None, cursor: datetime | None = None
    ) -> int:
        """Save the rules' state of every subject changed since it was last saved (and the
        elected evaluator's ``cursor``, in the same transaction).

        Batches and ticks save what they change in their own transaction; this is for
        changes made outside them (a test feeding rules directly) and a last safety net at
        stop."""
        try:
            with self.db.transaction() as conn, self._lock:
                saved = self._save_state(conn, domains)
                if cursor is not None:
                    row = (*CURSOR, json.dumps(us(cursor)), us(self.clock()))
                    conn.executemany("INSERT OR REPLACE INTO alert_state VALUES (?,?,?,?)", [row])
        except BaseException:
            self.rolled_back()
            raise
        self.committed()
        return saved

    def _save_state(self, conn: sqlite3.Connection, domains: list[Domain] | None = None) -> int:
        """Write the changed subjects' state on ``conn`` (the caller's transaction): of the
        domains the batches feed, unless ``domains`` says which."""
        states: list[tuple[str, str, Any]] = []
        put: list[tuple[str, str, int, float, str]] = []
        drop: list[tuple[str, str, int]] = []
        stamp = us(self.clock())
        for d in self._on_batches() if domains is None else domains:
            if not d.dirty:
                continue
            for subject, state in d.take_dirty().items():
                states.append((d.name, subject, state))
                series = d.series(subject)
                if series is None:
                    self._unsaved.append(_Unsaved(d, subject))
                    continue
                changes = series.take_changes()
                added = None
                if changes:
                    self._seq += 1
                    added = (self._seq, max(e[1] for e in changes.values()))
                    series.add_chunk(added)
                    chunk = _json([[k, *e] for k, e in changes.items()])
                    put.append((d.name, subject, *added, chunk))
                stale = series.stale_chunks()
                drop += [(d.name, subject, seq) for seq, _ in stale]
                self._unsaved.append(_Unsaved(d, subject, changes, added, stale))
        # Each state's JSON made as its statement needs it, not all first: an energy state
        # with eight weeks of hours is ~250 KB, twenty of them at once a peak of 5 MB.
        sqlite_rows.insert(
            conn,
            "INSERT OR REPLACE INTO alert_state",
            ((rule, subject, _json(state), stamp) for rule, subject, state in states),
            max_bytes=STATE_BYTES,
        )
        sqlite_rows.delete(
            conn,
            "DELETE FROM alert_series WHERE (seq, rule, subject)",
            [(seq, rule, subject) for rule, subject, seq in drop],
        )
        sqlite_rows.insert(conn, "INSERT INTO alert_series", put, max_bytes=STATE_BYTES)
        return len(states)

    # -- evaluation --------------------------------------------------------------------------

    def in_transaction(self, db: Any, batch: Batch) -> None:
        """The store's write hook: evaluate the rules on ``batch`` inside its transaction
        (SQLite's, or the shared PostgreSQL's when the alerts live there)."""
        conn: Any = PgAlertsDb.adopt(db) if isinstance(self.db, PgAlertsDb) else db
        self._evaluate(conn, batch, self.clock())

    def committed(self) -> None:
        """The batch's transaction committed: what it wrote is saved; wake the notifiers."""
        with self._lock:
            self._unsaved.clear()
            enqueued, self._enqueued = self._enqueued, 0
        if enqueued:
            self.outbox.wake()

    def rolled_back(self) -> None:
        """The transaction did not commit: reload the alerts as stored and mark the state
        written in it as unsaved again (the rules are idempotent: the batch comes again)."""
        with self._lock:
            self._unsave(0)
            self._enqueued = 0
            self.lifecycle.load()

    def _unsave(self, since: int) -> None:
        """Mark what was saved since ``_unsaved[since]`` as changed again."""
        for u in reversed(self._unsaved[since:]):
            u.domain.dirty.add(u.subject)
            series = u.domain.series(u.subject)
            if series is None:
                continue
            series.changed = {**u.changes, **series.changed}
            if u.added in series.chunks:
                series.chunks.remove(u.added)
            series.set_chunks(sorted(series.chunks + u.stale))
        del self._unsaved[since:]

    def _evaluate(
        self,
        conn: sqlite3.Connection,
        batch: Batch | None,
        now: datetime,
    ) -> None:
        """Run the rules on a batch (or the tick's time rules when ``batch`` is None), apply
        the findings and save the changed state on ``conn``. Never raises: a failure rolls
        back to a savepoint, so the caller's batch is stored without the rules' writes."""
        if not self.config.enabled or (batch is not None and not len(batch)):
            return
        with self._lock:
            conn.execute("SAVEPOINT alert_rules")
            mark = len(self._unsaved)
            try:
                findings: list[Finding] = []
                for domain in self._on_batches():
                    findings += domain.batch(batch) if batch is not None else domain.tick(now)
                self._enqueued += self.lifecycle.apply_in(conn, findings, now)
                self._save_state(conn)
                if batch is not None:
                    self.batches += 1
                conn.execute("RELEASE alert_rules")
            except Exception:
                conn.execute("ROLLBACK TO alert_rules")
                conn.execute("RELEASE alert_rules")
                self._unsave(mark)
                self.lifecycle.load()
                self.errors += 1
                self.metrics.errors.inc()
                what = "a batch" if batch is not None else "a tick"
                log.exception(f"alert rules failed on {what}; ingestion goes on")

    def on_batch(self, batch: Batch, now: datetime | None = None) -> None:
        """Evaluate the rules on a batch stored without the hook (tests, replays), in a
        transaction of their own. Never raises."""
        self._run(batch, now or self.clock())

    def tick(self, now: datetime | None = None) -> None:
        """Evaluate the time-based rules (a silent device) at ``now``. Never raises."""
        self._run(None, now or self.clock())

    def _run(self, batch: Batch | None, now: datetime) -> None:
        if not self.config.enabled:
            return
        try:
            with self.db.transaction() as conn:
                self._evaluate(conn, batch, now)
        except Exception:
            self.rolled_back()
            self.errors += 1
            self.metrics.errors.inc()
            log.exception("alert rules not saved; ingestion goes on")
            return
        self.committed()

    def recall(self, devices: set[str]) -> int:
        """This worker took over ``devices`` (their partition moved to it): reload the
        unresolved alerts, and the device rules' state (and hourly series) of those devices
        as the previous owner last saved it, over what this worker remembered (it may have
        owned them before, or never). Returns the subjects loaded. A subject is a device
        (``dev_eui``) or one of its channels (``dev_eui:channel``)."""
        if not devices:
            return 0
        with self._lock:
            self.lifecycle.load()
            device_rules = [d for d in self._on_batches() if d.scope == "device"]
            return self._load_state(device_rules, devices)

    # -- the elected evaluator's side -------------------------------------------------------

    def lead(self) -> datetime | None:
        """This worker was elected: reload the unresolved alerts (the previous leader opened
        or resolved some) and the building rules' state it saved; return the end of the
        window its last saved evaluation read (None: no leader saved any yet).
        The rules then resume where the last saved evaluation stopped: the hours judged are
        in that state, so nothing is judged twice, and an alert still open is refreshed or
        resolved, never opened again."""
        with self._lock:
            self.lifecycle.load()
            self._reset_building()
            loaded = self._load_state(self._building())
            self.leading = True
            found = self.db.fetch(
                "SELECT state FROM alert_state WHERE rule = ? AND subject = ?", CURSOR
            )
            cursor = from_us(int(json.loads(found[0][0]))) if found and loaded else None
            log.info(
                "building rules taken over",
                open=len(self.lifecycle.open),
                subjects=loaded,
                cursor=cursor.isoformat() if cursor else None,
            )
            return cursor

    def step_down(self) -> None:
        """This worker lost the election: forget the building state (it will go stale)."""
        with self._lock:
            self._reset_building()
            self.leading = False

    def _reset_building(self) -> None:
        self.domains = [
            type(d)(self._services) if d.scope == "building" else d for d in self.domains
        ]

    def evaluate(
        self, batch: Batch, now: datetime | None = None, cursor: datetime | None = None
    ) -> int:
        """The elected worker's step: the building rules on ``batch`` (the deltas read from
        the store, :mod:`lorawatch.alerts.evaluator`), their findings through the lifecycle,
        and their state saved at once with ``cursor`` (the end of the window read), so a
        successor resumes from this step. Returns the number of findings; raises (the
        evaluator logs it and retries at its next step)."""
        now = now or self.clock()
        try:
            with self.db.transaction() as conn, self._lock:
                findings: list[Finding] = []
                for domain in self._building():
                    findings += domain.batch(batch)
                    findings += domain.tick(now)
                self._enqueued += self.lifecycle.apply_in(conn, findings, now)
                self._save_state(conn, self._building())
                if cursor is not None:
                    row = (*CURSOR, json.dumps(us(cursor)), us(self.clock()))
                    conn.executemany("INSERT OR REPLACE INTO alert_state VALUES (?,?,?,?)", [row])
        except BaseException:
            self.rolled_back()
            raise
        self.committed()
        return len(findings)

    # -- running -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the notifier workers and the tick timer."""
        self.outbox.start()
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="alerts-tick", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        try:
            while not self._stop.wait(self.config.tick_interval_s):
                self.tick()
        finally:
            close = getattr(self.db, "close", None)
            if callable(close):
                close()

    def stop(self) -> None:
        """Stop the timer and the workers, and save the rules' state."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self.outbox.stop()
        try:
            self.flush_state()
        except Exception:
            log.exception("alert state not saved at stop")

    def health(self) -> dict[str, Any]:
        pending = self.db.fetch("SELECT COUNT(*) FROM notifications WHERE state = 'pending'")[0][0]
        failed = self.db.fetch("SELECT COUNT(*) FROM notifications WHERE state = 'failed'")[0][0]
        return {
            "open": len(self.lifecycle.open),
            "batches": self.batches,
            "errors": self.errors,
            "outbox_pending": pending,
            "outbox_failed": failed,
            "notifiers": self.outbox.health(),
        }

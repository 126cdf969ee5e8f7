"""The alert engine: rules on every stored batch, a periodic tick, lifecycle and outbox.

The bridge calls :meth:`AlertEngine.on_batch` once a batch is durable and acknowledged, so an
alert never rests on a reading that could still be lost, and the rules see what the
dashboards see. ``on_batch`` is quick by construction: the rules work in memory, and the
only I/O is one small SQLite transaction when an alert changes (notifications are queued in
that same transaction and sent by the notifier threads). It never raises: a bug in a rule is
logged and counted, and ingestion goes on.

With ``alerts.evaluator = "elected"`` the batches feed only the device rules; the building
rules (scope ``building``) run in :meth:`AlertEngine.evaluate`, called by the elected
worker's :class:`~lorawatch.alerts.evaluator.BuildingEvaluator` with what the store holds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from lorawatch.alerts.api import AlertsApi
from lorawatch.alerts.config import AlertsConfig
from lorawatch.alerts.influx import INFLUX_CONFIG, InfluxNotifier, LineSink
from lorawatch.alerts.lifecycle import Lifecycle
from lorawatch.alerts.model import Finding
from lorawatch.alerts.notify import Metrics, Notifier, Outbox
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

log = structlog.get_logger(__name__)

CURSOR = ("_evaluator", "cursor")
"""(rule, subject) of the elected evaluator's position in ``alert_state``: no domain's name."""


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
        self._flushed = time.monotonic()
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

    def _load_state(self, domains: list[Domain] | None = None) -> int:
        by_name = {d.name: d for d in (self._on_batches() if domains is None else domains)}
        loaded = 0
        for rule, subject, state in self.db.fetch("SELECT rule, subject, state FROM alert_state"):
            domain = by_name.get(rule)
            if domain is None:
                continue
            try:
                domain.load(subject, json.loads(state))
                loaded += 1
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("alert state dropped", domain=rule, subject=subject, error=str(exc))
        if loaded:
            log.info("alert rule state recovered", subjects=loaded, open=len(self.lifecycle.open))
        return loaded

    def flush_state(
        self, domains: list[Domain] | None = None, cursor: datetime | None = None
    ) -> int:
        """Save the rules' state of every subject that changed since the last flush (and the
        elected evaluator's ``cursor``, in the same transaction)."""
        with self._lock:
            rows = [
                (d.name, subject, json.dumps(state), us(self.clock()))
                for d in (self._on_batches() if domains is None else domains)
                for subject, state in d.take_dirty().items()
            ]
            if cursor is not None:
                rows.append((*CURSOR, json.dumps(us(cursor)), us(self.clock())))
            if rows:
                with self.db.transaction() as conn:
                    conn.executemany("INSERT OR REPLACE INTO alert_state VALUES (?,?,?,?)", rows)
            self._flushed = time.monotonic()
            return len(rows)

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._flushed >= self.config.state_flush_s:
            self.flush_state()

    # -- evaluation --------------------------------------------------------------------------

    def on_batch(self, batch: Batch, now: datetime | None = None) -> None:
        """Evaluate the rules on a stored batch; queue what must be notified. Never raises."""
        if not self.config.enabled or not len(batch):
            return
        try:
            with self._lock:
                findings: list[Finding] = []
                for domain in self._on_batches():
                    findings += domain.batch(batch)
                self.lifecycle.apply(findings, now or self.clock())
                self.batches += 1
                self._maybe_flush()
        except Exception:
            self.errors += 1
            self.metrics.errors.inc()
            log.exception("alert rules failed on a batch; ingestion goes on")

    def tick(self, now: datetime | None = None) -> None:
        """Evaluate the time-based rules (a silent device) at ``now``. Never raises."""
        if not self.config.enabled:
            return
        now = now or self.clock()
        try:
            with self._lock:
                findings: list[Finding] = []
                for domain in self._on_batches():
                    findings += domain.tick(now)
                self.lifecycle.apply(findings, now)
                self._maybe_flush()
        except Exception:
            self.errors += 1
            self.metrics.errors.inc()
            log.exception("alert tick failed")

    def recall(self, devices: set[str]) -> int:
        """This worker took over ``devices`` (their partition moved to it): reload the
        unresolved alerts, and the device rules' state of those devices as the previous
        owner last saved it, over what this worker remembered (it may have owned them before,
        or never). Returns the subjects loaded. A subject is a device (``dev_eui``) or one of
        its channels (``dev_eui:channel``)."""
        if not devices:
            return 0
        with self._lock:
            self.lifecycle.load()
            by_name = {d.name: d for d in self._on_batches() if d.scope == "device"}
            loaded = 0
            for rule, subject, state in self.db.fetch(
                "SELECT rule, subject, state FROM alert_state"
            ):
                domain = by_name.get(rule)
                if domain is None or subject.split(":", 1)[0] not in devices:
                    continue
                try:
                    domain.load(subject, json.loads(state))
                    domain.dirty.discard(subject)
                    loaded += 1
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("alert state dropped", domain=rule, subject=subject, error=str(exc))
            return loaded

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
        with self._lock:
            findings: list[Finding] = []
            for domain in self._building():
                findings += domain.batch(batch)
                findings += domain.tick(now)
            self.lifecycle.apply(findings, now)
            self.flush_state(self._building(), cursor)
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

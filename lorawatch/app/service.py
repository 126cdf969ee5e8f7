"""The running service: stores, MQTT or AMQP source, bridge and HTTP endpoints wired from the config."""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import structlog

from lorawatch import inventory as inventory_mod
from lorawatch.alerts.config import AlertsConfig
from lorawatch.alerts.engine import AlertEngine
from lorawatch.alerts.pgsql import PgAlertsDb
from lorawatch.alerts.store import Database
from lorawatch.app.config import Settings
from lorawatch.core.errors import StoreError
from lorawatch.core.memory import Trimmer, limit_arenas
from lorawatch.core.metrics import Metrics
from lorawatch.core.readings import DELTA_OF
from lorawatch.core.timeutil import from_us
from lorawatch.gateway_bridge.mqtt import MqttSource
from lorawatch.gateway_bridge.receiver import ProcessSource
from lorawatch.gateway_bridge.source import MessageSource
from lorawatch.inventory import Inventory
from lorawatch.inventory.occupancy import calendar_warnings
from lorawatch.pipeline.bridge import Bridge, window
from lorawatch.pipeline.commands import CommandQueue, SqlCommands
from lorawatch.pipeline.ingest import Ingestor
from lorawatch.pipeline.meters import MeterEngine, MeterKey
from lorawatch.pipeline.store import History, Store
from lorawatch.stores.retention import RetentionJob
from lorawatch.stores.sqlite import SqliteStore

if TYPE_CHECKING:
    from lorawatch.alerts.evaluator import BuildingEvaluator
    from lorawatch.app.derived import DerivedJob
    from lorawatch.stores.influx import InfluxStore
    from lorawatch.stores.postgres import PostgresStore
    from lorawatch.web.server import WebServer

log = structlog.get_logger(__name__)

GC_THRESHOLDS = (50_000, 20, 100)

DRAIN_TIMEOUT_S = 30.0
"""A partition being given away that has not drained by then (the connection was lost
meanwhile: the broker requeued its messages) is released anyway."""


@runtime_checkable
class Draining(Protocol):
    """A source that can give one of its queues to the next consumer (the AMQP source)."""

    drained: set[str]

    def drain(self, queue: str) -> None: ...


def tune_gc() -> None:
    """Make the cyclic garbage collector fit a long-running ingestion process.

    The service keeps a large long-lived heap (meter windows, de-duplication keys, alert
    state) and allocates thousands of short-lived objects per batch, which reference counting
    frees. With the default thresholds (700, 10, 10) the collector rescans that heap over and
    over: about an eighth of the CPU of bench/ingest. What exists at start (modules, the
    inventory) is frozen out of collections; young objects are collected every 50,000
    allocations instead of 700.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _alerts_config(settings: Settings) -> AlertsConfig:
    """The ``[alerts]`` section, or the defaults while Settings does not mount one."""
    section = getattr(settings, "alerts", None)
    return section if isinstance(section, AlertsConfig) else AlertsConfig.model_validate({})


class Service:
    def __init__(
        self,
        settings: Settings,
        inventory: Inventory | None = None,
        source: MessageSource | None = None,
        alerts: AlertsConfig | None = None,
    ) -> None:
        """``alerts`` replaces the ``[alerts]`` section of the settings (tests, benches)."""
        limit_arenas()  # before any thread of the service allocates (a codec's runtime, say)
        self.settings = settings
        self.inventory = inventory or inventory_mod.load(settings.inventory.path)
        outputs = settings.store.outputs
        self.sqlite = SqliteStore(settings.store.sqlite.path, readings="sqlite" in outputs)
        self.influx: InfluxStore | None = None
        if "influxdb" in outputs:
            # lazy: httpx and the InfluxDB client load only when InfluxDB is an output
            from lorawatch.stores.influx import InfluxStore

            self.influx = InfluxStore(settings.store.influxdb)
        self.state: PostgresStore | None = None
        """The state shared with other workers (``[state] backend = "postgresql"``): it
        takes the SQLite store's place for identities, dead letters, meters and commands."""
        if settings.state.backend == "postgresql":
            # lazy: psycopg loads only when the PostgreSQL state is configured
            from lorawatch.stores.postgres import PostgresStore

            self.state = PostgresStore(settings.state)
        durable: Store = self.sqlite if self.state is None else self.state
        # The state last: it also holds the dead letters, written once the readings are safe.
        self.stores: list[Store] = [s for s in (self.influx, durable) if s is not None]
        self.metrics = Metrics()
        # With a shared state one thread writes every store (Bridge.run): one stage.
        full = window(settings.store.batch_size, len(self.stores) if self.state is None else 1)
        self.source = source or self._source(settings, full)
        configured = settings.mqtt.receive_maximum
        mqtt_v5 = settings.bridge.source == "mqtt" and settings.mqtt.protocol == "5"
        if source is None and mqtt_v5 and 0 < configured < full:
            # Acks follow the last write: with a smaller window the broker sends nothing
            # while the batches in hand are written, and the stages take turns waiting.
            log.warning(
                "mqtt.receive_maximum is below what the pipeline holds: set "
                f"mqtt.receive_maximum = {full} or 0 (sized from store.batch_size), or lower "
                "store.batch_size, so the next batch arrives while the others are written",
                receive_maximum=configured,
                batch_size=settings.store.batch_size,
            )
        commands: CommandQueue = self.state or SqlCommands(self.sqlite)
        self.ingestor = Ingestor(
            self.inventory, settings.bridge.use_chirpstack_object, commands=commands
        )
        if self.state is None:
            self._recover_meters()
        # else each partition's meters are loaded when this worker acquires it (bridge).
        alerts_config = alerts or _alerts_config(settings)
        self.alerts: AlertEngine | None = None
        self.evaluator: BuildingEvaluator | None = None
        batch_interval_ms = settings.store.batch_interval_ms
        if alerts_config.enabled:
            # With the shared state, alerts live there: any worker refreshes or resolves one.
            alerts_db: Database = self.sqlite if self.state is None else PgAlertsDb(self.state)
            self.alerts = AlertEngine(
                alerts_db,
                self.inventory,
                alerts_config,
                registry=self.metrics.registry,
                mqtt=settings.mqtt,
                influx=self.influx,
            )
            if alerts_config.evaluator == "elected" and self.state is not None:
                # lazy: psycopg loads only when the PostgreSQL state is configured
                from lorawatch.alerts.evaluator import BuildingEvaluator, Election

                election = Election(
                    self.state.dsn, alerts_config.evaluator_retry_s, name=self.state.worker
                )
                readings: History = self.influx if self.influx is not None else self.sqlite
                self.evaluator = BuildingEvaluator(self.alerts, readings, election)
            # The rules' state and the alerts commit with each batch (not after it): a crash
            # between commit and ack cannot leave them behind the stored state.
            if self.state is None:
                self.sqlite.hooks.append(self.alerts)
            else:
                self.state.hooks.append(self.alerts)
            # The bridge's wait for a fuller batch delays alerts too: cap it.
            batch_interval_ms = min(batch_interval_ms, alerts_config.max_delay_ms)
        b = settings.bridge
        self.bridge = Bridge(
            self.source,
            self.ingestor,
            self.stores,
            self.metrics,
            topic_template=b.event_topic,
            fmt=b.format,
            max_message_bytes=b.max_message_bytes,
            dedup_window_s=b.dedup_window_s,
            max_clock_ahead_s=b.max_clock_ahead_s,
            batch_size=settings.store.batch_size,
            batch_interval_s=batch_interval_ms / 1000,
            persisted=self.sqlite if self.state is None else self.state,
            partitions=self.state,
            on_takeover=self.alerts.recall if self.alerts and self.state else None,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: WebServer | None = None
        self._retention: RetentionJob | None = None
        self._rebalancer: threading.Thread | None = None
        self._trimmer = Trimmer()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """What "now" is for the pages and the API; the demo's simulated time runs faster."""
        self.derived: DerivedJob | None = None
        """Writes the typical days and the expected hours for Grafana (InfluxDB only)."""
        if self.influx is not None:
            # lazy: numpy and the derived series load only with InfluxDB (Grafana reads them)
            from lorawatch.app.derived import DerivedJob

            reads: Store = self.sqlite if self.sqlite.keeps_readings else self.influx
            self.derived = DerivedJob(reads, self.influx, self.inventory, lambda: self.clock())

    @staticmethod
    def _source(settings: Settings, full: int) -> MessageSource:
        """The configured source; ``full``: the messages the pipeline holds unacknowledged
        (:func:`~lorawatch.pipeline.bridge.window`), what a Receive Maximum of 0 is sized to.
        An AMQP prefetch of 0 stays two batches per partition queue: a worker consumes from
        several queues, and each holds its own."""
        if settings.bridge.source == "amqp":
            # Imported here: pika loads only when the AMQP source is configured.
            from lorawatch.gateway_bridge.amqp import AmqpSource

            batch = settings.store.batch_size
            prefetch = settings.amqp.prefetch or min(2 * batch, 65535)
            if prefetch < 2 * batch:
                # As MQTT's Receive Maximum: acks follow the write, so with one batch's worth
                # the broker sends nothing while a batch is written.
                log.warning(
                    f"amqp.prefetch is below twice store.batch_size: set amqp.prefetch = "
                    f"{min(2 * batch, 65535)} or 0 (sized from the batch)",
                    prefetch=prefetch,
                    batch_size=batch,
                )
            return AmqpSource(settings.amqp, prefetch)
        mqtt = settings.mqtt
        if not mqtt.receive_maximum:
            mqtt = mqtt.model_copy(update={"receive_maximum": full})
        if mqtt.receiver == "process":
            return ProcessSource(mqtt)
        return MqttSource(mqtt)

    def _recover_meters(self) -> None:
        """Continue each meter from the state stored with the last batch, whatever the outputs.

        Files written before meter states were stored: seed each meter with its last stored
        index instead (readings kept in SQLite only), so a restart does not lose a delta.
        """
        meters = self.ingestor.meters
        try:
            restored = meters.load_states(self.sqlite.meter_states(), self.sqlite.meter_windows())
        except ValueError as exc:
            log.error("meter states unreadable, seeding from the readings", error=str(exc))
            meters = self.ingestor.meters = MeterEngine(self.ingestor.limits)
            restored = 0
        if restored:
            log.info("meters restored from their stored state", meters=restored)
        if not self.sqlite.keeps_readings:
            return
        with self.sqlite.transaction() as db:
            rows = db.execute(
                "SELECT dev_eui, name, channel, MAX(time_us), value FROM readings"
                f" WHERE name IN ({','.join('?' * len(DELTA_OF))}) GROUP BY dev_eui, name, channel",
                list(DELTA_OF),
            ).fetchall()
        seeded = 0
        for dev_eui, name, channel, time_us, value in rows:
            key = MeterKey(dev_eui, name, channel)
            if not meters.has(key):
                seeded += meters.seed(key, from_us(time_us), value)
        if seeded:
            log.info("meters recovered from the stored readings", meters=seeded)

    def health(self) -> dict[str, Any]:
        stores = {s.name: s.health() for s in self.stores}
        source = self.source.health()
        ok = bool(source.get("connected")) and not any(h.get("blocked") for h in stores.values())
        return {
            "status": "ok" if ok else "degraded",
            "time": datetime.now(UTC).isoformat(),
            "source": source,
            "stores": stores,
            "batches": self.bridge.batches,
            "quality_events": dict(self.ingestor.quality),
            "chirpstack_logs": {
                code: {
                    "events": n,
                    "devices": sorted(self.ingestor.chirpstack_log_devices[code])[:20],
                }
                for code, n in self.ingestor.chirpstack_logs.items()
            },
            "alerts": self.alerts.health() if self.alerts else None,
            "evaluator": self.evaluator.health() if self.evaluator else None,
            "warnings": self.warnings(),
        }

    def warnings(self) -> list[dict[str, Any]]:
        """What needs a human soon without degrading the service: calendars ending within
        60 days or ended (stable ``key``), as ``lorawatch config check`` prints them."""
        today = self.clock().astimezone(ZoneInfo(self.settings.site.timezone)).date()
        return calendar_warnings(self.inventory, today)

    def start(self, http: bool = True) -> None:
        tune_gc()
        self._trimmer.start()
        if http:
            # Imported here: a backfill or a CLI command that never serves need not load it.
            from lorawatch.web import create_app
            from lorawatch.web.server import WebServer

            # Bound before anything starts: a busy port fails here, with nothing to undo.
            self._http = WebServer(create_app(self), self.settings.http.listen)
        if self.alerts is not None:
            self.alerts.start()
        if self.evaluator is not None:
            self.evaluator.start()
        self._retention = RetentionJob(self.sqlite, self.settings.store.raw_retention_days)
        self._retention.start()
        if self.derived is not None:
            self.derived.start()
        if self.state is not None:
            self.state.register()
            if isinstance(self.source, Draining):
                self._rebalancer = threading.Thread(
                    target=self._rebalance, args=(self.state, self.source), name="rebalance"
                )
                self._rebalancer.start()
        self.source.start()
        self._thread = threading.Thread(target=self.bridge.run, args=(self._stop,), name="bridge")
        self._thread.start()
        if self._http is not None:
            self._http.start()
        log.info(
            "lorawatch started",
            devices=len(self.inventory.devices),
            outputs=self.settings.store.outputs,
        )

    def _rebalance(self, state: PostgresStore, source: Draining) -> None:
        """Give partitions away while this worker owns more than its share of the live
        workers': one at a time, each drained first (its last batches committed and acked)
        while the next worker waits for it in the shared state, so every device's order holds.
        RabbitMQ makes a queue's first consumer active for as long as it lives: without this,
        workers started one after another leave all the work to the first."""
        every = max(0.5, 2 * self.settings.state.heartbeat_s)
        partitions = len(self.settings.amqp.queues())
        draining: tuple[str, float] | None = None
        while not self._stop.wait(every):
            try:
                if draining is not None:
                    queue, began = draining
                    if queue in source.drained or time.monotonic() - began > DRAIN_TIMEOUT_S:
                        source.drained.discard(queue)
                        state.end_drain(queue)
                        log.info("partition handed over", partition=queue)
                        draining = None
                    continue
                alive = state.alive_workers()
                mine = state.owned()
                if alive > 1 and len(mine) > math.ceil(partitions / alive):
                    queue = mine[-1]
                    if state.begin_drain(queue):
                        source.drain(queue)
                        draining = (queue, time.monotonic())
            except StoreError as exc:
                log.warning("rebalancing skipped", error=str(exc))

    @property
    def http_port(self) -> int:
        return self._http.port if self._http else 0

    def stop(self) -> None:
        self._stop.set()
        if self._rebalancer is not None:
            self._rebalancer.join(timeout=10)
        if self._retention is not None:
            self._retention.stop()
        if self.derived is not None:
            self.derived.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.source.stop()
        if self.evaluator is not None:
            self.evaluator.stop()  # hands the building rules over at once
        if self.alerts is not None:
            self.alerts.stop()
        if self._http is not None:
            self._http.stop()
        for store in self.stores:
            store.close()
        if self.state is not None:
            self.sqlite.close()  # not among the stores: it keeps the alerts only
        self._trimmer.stop()
        log.info("lorawatch stopped")

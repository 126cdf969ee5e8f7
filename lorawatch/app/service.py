"""The running service: stores, MQTT or AMQP source, bridge and HTTP endpoints wired from the config."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import structlog

from lorawatch import inventory as inventory_mod
from lorawatch.alerts.config import AlertsConfig
from lorawatch.alerts.engine import AlertEngine
from lorawatch.app.config import Settings
from lorawatch.app.derived import DerivedJob
from lorawatch.core.metrics import Metrics
from lorawatch.core.readings import DELTA_OF
from lorawatch.core.timeutil import from_us
from lorawatch.gateway_bridge.mqtt import MqttSource
from lorawatch.gateway_bridge.receiver import ProcessSource
from lorawatch.gateway_bridge.source import MessageSource
from lorawatch.inventory import Inventory
from lorawatch.inventory.occupancy import calendar_warnings
from lorawatch.pipeline.bridge import Bridge
from lorawatch.pipeline.ingest import Ingestor
from lorawatch.pipeline.meters import MeterEngine, MeterKey
from lorawatch.pipeline.store import Store
from lorawatch.stores.influx import InfluxStore
from lorawatch.stores.retention import RetentionJob
from lorawatch.stores.sqlite import SqliteStore

if TYPE_CHECKING:
    from lorawatch.web.server import WebServer

log = structlog.get_logger(__name__)

GC_THRESHOLDS = (50_000, 20, 100)


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
        self.settings = settings
        self.inventory = inventory or inventory_mod.load(settings.inventory.path)
        outputs = settings.store.outputs
        self.sqlite = SqliteStore(settings.store.sqlite.path, readings="sqlite" in outputs)
        self.influx = InfluxStore(settings.store.influxdb) if "influxdb" in outputs else None
        # SQLite last: it also holds the dead letters, written once the readings are safe.
        self.stores: list[Store] = [s for s in (self.influx, self.sqlite) if s is not None]
        self.metrics = Metrics()
        self.source = source or self._source(settings)
        window, batch = settings.mqtt.receive_maximum, settings.store.batch_size
        mqtt_v5 = settings.bridge.source == "mqtt" and settings.mqtt.protocol == "5"
        if source is None and mqtt_v5 and window < 2 * batch:
            # Acks follow the write: with a window of one batch, the broker sends nothing
            # while a batch is written, and ingestion runs at half speed or less.
            log.warning(
                "mqtt.receive_maximum is below twice store.batch_size: set "
                f"mqtt.receive_maximum = {min(2 * batch, 65535)} (or lower store.batch_size) so "
                "the next batch arrives while one is written",
                receive_maximum=window,
                batch_size=batch,
            )
        self.ingestor = Ingestor(
            self.inventory, settings.bridge.use_chirpstack_object, commands=self.sqlite
        )
        self._recover_meters()
        alerts_config = alerts or _alerts_config(settings)
        self.alerts: AlertEngine | None = None
        batch_interval_ms = settings.store.batch_interval_ms
        if alerts_config.enabled:
            self.alerts = AlertEngine(
                self.sqlite,
                self.inventory,
                alerts_config,
                registry=self.metrics.registry,
                mqtt=settings.mqtt,
                influx=self.influx,
            )
            # The rules' state and the alerts commit with each batch (not after it): a crash
            # between commit and ack cannot leave them behind the stored readings.
            self.sqlite.hooks.append(self.alerts)
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
            persisted=self.sqlite,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: WebServer | None = None
        self._retention: RetentionJob | None = None
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """What "now" is for the pages and the API; the demo's simulated time runs faster."""
        self.derived: DerivedJob | None = None
        """Writes the typical days and the expected hours for Grafana (InfluxDB only)."""
        if self.influx is not None:
            reads: Store = self.sqlite if self.sqlite.keeps_readings else self.influx
            self.derived = DerivedJob(reads, self.influx, self.inventory, lambda: self.clock())

    @staticmethod
    def _source(settings: Settings) -> MessageSource:
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
        if settings.mqtt.receiver == "process":
            return ProcessSource(settings.mqtt, settings.log.level, settings.log.format)
        return MqttSource(settings.mqtt)

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
            "warnings": self.warnings(),
        }

    def warnings(self) -> list[dict[str, Any]]:
        """What needs a human soon without degrading the service: calendars ending within
        60 days or ended (stable ``key``), as ``lorawatch config check`` prints them."""
        today = self.clock().astimezone(ZoneInfo(self.settings.site.timezone)).date()
        return calendar_warnings(self.inventory, today)

    def start(self, http: bool = True) -> None:
        tune_gc()
        if http:
            # Imported here: a backfill or a CLI command that never serves need not load it.
            from lorawatch.web import create_app
            from lorawatch.web.server import WebServer

            # Bound before anything starts: a busy port fails here, with nothing to undo.
            self._http = WebServer(create_app(self), self.settings.http.listen)
        if self.alerts is not None:
            self.alerts.start()
        self._retention = RetentionJob(self.sqlite, self.settings.store.raw_retention_days)
        self._retention.start()
        if self.derived is not None:
            self.derived.start()
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

    @property
    def http_port(self) -> int:
        return self._http.port if self._http else 0

    def stop(self) -> None:
        self._stop.set()
        if self._retention is not None:
            self._retention.stop()
        if self.derived is not None:
            self.derived.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.source.stop()
        if self.alerts is not None:
            self.alerts.stop()
        if self._http is not None:
            self._http.stop()
        for store in self.stores:
            store.close()
        log.info("lorawatch stopped")

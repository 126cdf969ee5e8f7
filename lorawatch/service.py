"""The running service: stores, MQTT source, bridge and HTTP endpoints wired from the config."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import make_wsgi_app

from lorawatch import inventory as inventory_mod
from lorawatch.config import Settings
from lorawatch.gateway_bridge.bridge import Bridge
from lorawatch.gateway_bridge.mqtt import MqttSource
from lorawatch.gateway_bridge.source import MessageSource
from lorawatch.inventory import Inventory
from lorawatch.metrics import Metrics
from lorawatch.pipeline.influx_store import InfluxStore
from lorawatch.pipeline.ingest import Ingestor
from lorawatch.pipeline.meters import MeterKey
from lorawatch.pipeline.sqlite_store import SqliteStore, from_us
from lorawatch.pipeline.store import Store
from lorawatch.readings import DELTA_OF

log = structlog.get_logger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class Service:
    def __init__(
        self,
        settings: Settings,
        inventory: Inventory | None = None,
        source: MessageSource | None = None,
    ) -> None:
        self.settings = settings
        self.inventory = inventory or inventory_mod.load(settings.inventory.path)
        outputs = settings.store.outputs
        self.sqlite = SqliteStore(settings.store.sqlite.path, readings="sqlite" in outputs)
        self.influx = InfluxStore(settings.store.influxdb) if "influxdb" in outputs else None
        # SQLite last: it also holds the dead letters, written once the readings are safe.
        self.stores: list[Store] = [s for s in (self.influx, self.sqlite) if s is not None]
        self.metrics = Metrics()
        self.source = source or MqttSource(settings.mqtt)
        self.ingestor = Ingestor(
            self.inventory, settings.bridge.use_chirpstack_object, commands=self.sqlite
        )
        self._recover_meters()
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
            batch_size=settings.store.batch_size,
            batch_interval_s=settings.store.batch_interval_ms / 1000,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: WSGIServer | None = None
        self._http_thread: threading.Thread | None = None

    def _recover_meters(self) -> None:
        """Seed each meter with its last stored index, so a restart does not lose a delta."""
        with self.sqlite.transaction() as db:
            rows = db.execute(
                "SELECT dev_eui, name, channel, MAX(time_us), value FROM readings"
                f" WHERE name IN ({','.join('?' * len(DELTA_OF))}) GROUP BY dev_eui, name, channel",
                list(DELTA_OF),
            ).fetchall()
        for dev_eui, name, channel, time_us, value in rows:
            self.ingestor.meters.seed(MeterKey(dev_eui, name, channel), from_us(time_us), value)
        if rows:
            log.info("meters recovered from the store", meters=len(rows))

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
        }

    def _wsgi(self) -> Callable[..., Iterable[bytes]]:
        metrics_app = make_wsgi_app(self.metrics.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                return metrics_app(environ, start_response)  # type: ignore[no-any-return]
            if path == "/healthz":
                health = self.health()
                code = "200 OK" if health["status"] == "ok" else "503 Service Unavailable"
                start_response(code, [("Content-Type", "application/json")])
                return [json.dumps(health).encode()]
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]

        return app

    def start(self, http: bool = True) -> None:
        self.source.start()
        self._thread = threading.Thread(target=self.bridge.run, args=(self._stop,), name="bridge")
        self._thread.start()
        if http:
            host, _, port = self.settings.http.listen.rpartition(":")
            self._http = make_server(
                host or "127.0.0.1", int(port), self._wsgi(), handler_class=_QuietHandler
            )
            self._http_thread = threading.Thread(
                target=self._http.serve_forever, name="http", daemon=True
            )
            self._http_thread.start()
        log.info(
            "lorawatch started",
            devices=len(self.inventory.devices),
            outputs=self.settings.store.outputs,
        )

    @property
    def http_port(self) -> int:
        return self._http.server_port if self._http else 0

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.source.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for store in self.stores:
            store.close()
        log.info("lorawatch stopped")

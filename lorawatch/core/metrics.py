"""Prometheus metrics of one running service, in a registry of its own (tests run several)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("lorawatch_messages_received", "MQTT messages received", registry=r)
        self.uplinks = Counter(
            "lorawatch_uplinks_decoded", "Uplinks decoded into readings", registry=r
        )
        self.readings = Counter(
            "lorawatch_readings_stored", "Canonical readings stored", registry=r
        )
        self.dead_letters = Counter(
            "lorawatch_dead_letters", "Messages dead-lettered, by reason", ["reason"], registry=r
        )
        self.duplicates = Counter("lorawatch_duplicates", "Duplicate uplinks ignored", registry=r)
        self.events = Counter("lorawatch_events", "ChirpStack events by kind", ["kind"], registry=r)
        self.acks_pending = Gauge(
            "lorawatch_acks_pending", "Messages received, not yet acked", registry=r
        )
        self.store_latency = Histogram(
            "lorawatch_store_write_seconds", "Time to make one batch durable", ["store"], registry=r
        )
        self.store_errors = Counter(
            "lorawatch_store_errors", "Failed batch writes, by store", ["store"], registry=r
        )
        self.quality = Counter(
            "lorawatch_meter_quality_events", "Meter data-quality events", ["kind"], registry=r
        )
        self.last_uplink = Gauge(
            "lorawatch_last_uplink_timestamp_seconds",
            "Unix time of the last stored uplink",
            registry=r,
        )
        self.last_uplink_age = Gauge(
            "lorawatch_last_uplink_age_seconds", "Seconds since the last stored uplink", registry=r
        )
        self._last_uplink_at = 0.0
        self.last_uplink_age.set_function(self._age)

    def _age(self) -> float:
        return time.time() - self._last_uplink_at if self._last_uplink_at else -1.0

    def uplink_stored(self) -> None:
        self._last_uplink_at = time.time()
        self.last_uplink.set(self._last_uplink_at)

"""The job that writes the series Grafana cannot compute (:mod:`lorawatch.analytics.derived`).

Runs only with InfluxDB among ``store.outputs``: at start, then every ``every_s`` seconds
(ten minutes), on its own thread, reading the store the web reads (SQLite when it keeps the
readings, else InfluxDB) and writing ``typical_day`` and ``expected`` points to InfluxDB.
A failure is logged and tried again next time: dashboards then show the previous points.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import structlog

from lorawatch.analytics import derived
from lorawatch.inventory import Inventory
from lorawatch.pipeline import line_protocol
from lorawatch.pipeline.store import Store
from lorawatch.stores.influx import InfluxStore

log = structlog.get_logger(__name__)

EVERY_S = 600.0


class DerivedJob:
    def __init__(
        self,
        source: Store,
        influx: InfluxStore,
        inventory: Inventory,
        clock: Callable[[], datetime],
        every_s: float = EVERY_S,
    ) -> None:
        self.source = source
        self.influx = influx
        self.inventory = inventory
        self.clock = clock
        self.every_s = every_s
        self.expected = derived.ExpectedDays()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="derived", daemon=True)

    def run_once(self, now: datetime | None = None) -> int:
        """Compute and write the points of ``now`` (the service's clock); how many."""
        at = now or self.clock()
        points = derived.typical_days(self.source, self.inventory, at)
        points += self.expected.points(self.source, self.inventory, at)
        lines = [
            line_protocol.point(
                p.measurement, {"building": p.building, "commune": p.commune}, p.fields, p.time
            )
            for p in points
        ]
        if lines:
            self.influx.write_lines(lines)
        return len(lines)

    def _run(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - a figure for Grafana must never stop the service
                log.error("derived series not written", error=str(exc))
            if self._stop.wait(self.every_s):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

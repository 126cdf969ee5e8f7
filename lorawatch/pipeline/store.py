"""The store protocol: every store takes the same batches and answers the same aggregates.

``write`` returns only once the batch is durable (SQLite committed, InfluxDB answered 2xx, or
the batch is in the disk spool): the bridge acknowledges MQTT messages after it returns, and
never before. It raises :class:`~lorawatch.core.errors.StoreUnavailable` for a transient failure
and :class:`~lorawatch.core.errors.StoreRejected` when a human must fix something.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NamedTuple, Protocol

from lorawatch.core.timeutil import Bucket, Interval
from lorawatch.pipeline.records import Batch, Consumption, StoredReading

__all__ = ["Bucket", "Delta", "History", "HourStats", "Interval", "Store"]


class Delta(NamedTuple):
    """One consumption delta as stored: what a meter counted between two readings."""

    start_s: float
    """Epoch seconds of the earlier reading."""
    end_s: float
    value: float
    gap: bool
    """The delta spans an outage: its total is known, not how it was spread."""
    kind: str
    """The meter's kind (electricity, gas, heat, water...)."""


class HourStats(NamedTuple):
    """A reading's mean, lowest and highest value over one UTC hour."""

    hour_s: int
    """Epoch seconds of the hour's start."""
    mean: float
    low: float
    high: float


class Store(Protocol):
    name: str

    def write(self, batch: Batch) -> None:
        """Make the batch durable or raise StoreError."""

    def consumption(
        self,
        name: str,
        start: datetime,
        end: datetime,
        interval: Interval,
        tz: str,
        group_by: Literal["building", "commune"] = "building",
    ) -> list[Bucket]:
        """Sum of a consumption delta (energy_delta_kwh, volume_delta_m3) per group and period.

        Every delta whose end time is in [start, end) counts in the local period (``tz``) that
        contains its end time; buckets with no delta are absent (no data is not zero). Sorted
        by group then instant; an autumn DST day has 25 hourly buckets, two of them at 02:00
        (told apart by ``fold`` and offset). Both stores answer identically
        (tests/test_aggregates.py); ``lorawatch.analytics.aggregates`` builds on this alone.
        """

    def deltas(self, name: str, building: str, start: datetime, end: datetime) -> list[Delta]:
        """Every delta of ``name`` of a building whose end time is in [start, end), oldest
        first: what hourly models (savings, the décret tertiaire) need beyond sums, the gap
        flag and the meter's kind. Both stores answer identically."""

    def reading_hours(
        self, name: str, commune: str, start: datetime, end: datetime
    ) -> list[HourStats]:
        """Mean, min and max per UTC hour of a commune's reading (the outdoor temperature)
        over [start, end); hours without a reading are absent. Sorted by hour."""

    def health(self) -> dict[str, object]:
        """State for /healthz: spool depth, last error, and the fix when a human is needed."""

    def close(self) -> None: ...


class History(Protocol):
    """The records a store can give back (SQLite with readings, InfluxDB): what the elected
    evaluator judges buildings on (:mod:`lorawatch.alerts.evaluator`), since no single
    worker sees all their meters. Both stores answer identically (tests/test_aggregates.py).
    """

    def deltas_between(self, name: str, start: datetime, end: datetime) -> list[Consumption]:
        """The deltas of ``name`` whose end time is in [start, end), each with its device and
        place, sorted by end time then device."""

    def readings_between(self, name: str, start: datetime, end: datetime) -> list[StoredReading]:
        """The readings of ``name`` timed in [start, end), sorted by time then device (the
        evaluator's outdoor temperatures)."""

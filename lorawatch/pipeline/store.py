"""The store protocol: every store takes the same batches and answers the same aggregates.

``write`` returns only once the batch is durable (SQLite committed, InfluxDB answered 2xx, or
the batch is in the disk spool): the bridge acknowledges MQTT messages after it returns, and
never before. It raises :class:`~lorawatch.core.errors.StoreUnavailable` for a transient failure
and :class:`~lorawatch.core.errors.StoreRejected` when a human must fix something.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from lorawatch.core.timeutil import Bucket, Interval
from lorawatch.pipeline.records import Batch

__all__ = ["Bucket", "Interval", "Store"]


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

    def health(self) -> dict[str, object]:
        """State for /healthz: spool depth, last error, and the fix when a human is needed."""

    def close(self) -> None: ...

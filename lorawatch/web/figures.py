"""The figures behind the API, the overview and the occupant screens, computed in one place.

Every figure starts from hourly sums of the consumption deltas of one building (a delta belongs
to the hour containing its end, the rule of :mod:`lorawatch.pipeline.calendar`, so they add up
to what ``Store.consumption`` answers) and is then cut into local days, weeks and months.

SEAM (aggregates): the *baseline* here is a simple time-of-week profile: an hour is expected to
cost the mean of the same local hour on the same weekday over the four previous weeks, or, when
those weeks have no data yet (a new installation), the mean of the same hour on the previous
days of the same kind (weekday or weekend). ``lorawatch.pipeline.aggregates`` (being written
alongside) computes the commune's reference baselines; when it exposes a baseline per hour this
module should take it from there: :func:`typical_hour` is the one place to change.

A zero is a measurement, ``None`` is "no data": a period with no delta at all has no value, and
a baseline is only given when at least half of the span has a typical value to compare with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import fmean
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from lorawatch.inventory import Building
from lorawatch.pipeline import calendar
from lorawatch.pipeline.sqlite_store import from_us, us
from lorawatch.pipeline.store import Interval
from lorawatch.web.models import (
    UNITS,
    BuildingSummary,
    CampaignProgress,
    Compared,
    DeviceOut,
    Quantity,
    QuantitySummary,
    ReadingOut,
    Series,
    SeriesPoint,
    ratio,
)

if TYPE_CHECKING:
    from lorawatch.service import Service

HOUR_US = 3_600_000_000
READING_OF: dict[str, str] = {"energy": "energy_delta_kwh", "water": "volume_delta_m3"}
BASELINE_WEEKS = 4
LOW_BATTERY_PCT = 20.0
SILENT_MIN_S = 3600.0
"""A device is silent after three of its own intervals, and never sooner than this."""

Hours = dict[int, float]
"""Consumption per UTC hour: key ``end_us // HOUR_US`` of the deltas, value their sum."""

K = TypeVar("K")
V = TypeVar("V")


def hour_key(t: datetime) -> int:
    return us(t) // HOUR_US


def hour_start(key: int) -> datetime:
    return from_us(key * HOUR_US)


def _local_hour_key(naive: datetime, zone: ZoneInfo) -> int:
    return hour_key(naive.replace(tzinfo=zone))


def typical_hour(hours: Mapping[int, float], key: int, zone: ZoneInfo) -> float | None:
    """What hour ``key`` usually costs, from the hours before it only; None when unknown.

    The seam for :mod:`lorawatch.pipeline.aggregates` (see the module docstring).
    """
    local = hour_start(key).astimezone(zone).replace(tzinfo=None)
    weekly = [
        v
        for k in range(1, BASELINE_WEEKS + 1)
        if (v := hours.get(_local_hour_key(local - timedelta(days=7 * k), zone))) is not None
    ]
    if weekly:
        return fmean(weekly)
    weekend = local.weekday() >= 5
    similar = [
        v
        for d in range(1, 8)
        if ((local - timedelta(days=d)).weekday() >= 5) == weekend
        and (v := hours.get(_local_hour_key(local - timedelta(days=d), zone))) is not None
    ]
    return fmean(similar) if similar else None


def _hour_spans(start: datetime, end: datetime) -> list[tuple[int, float]]:
    """The hours overlapping [start, end), each with the fraction of it inside."""
    out: list[tuple[int, float]] = []
    if end <= start:
        return out
    first, last = hour_key(start), (us(end) - 1) // HOUR_US
    for key in range(first, last + 1):
        a = max(us(start), key * HOUR_US)
        b = min(us(end), (key + 1) * HOUR_US)
        out.append((key, (b - a) / HOUR_US))
    return out


def actual(hours: Mapping[int, float], start: datetime, end: datetime) -> float | None:
    """Consumed in [start, end): the hours starting in it; None when none has data."""
    found = [hours[k] for k in range(hour_key(start), hour_key(end - timedelta(microseconds=1)) + 1) if k in hours] if end > start else []
    return sum(found) if found else None


def baseline(
    hours: Mapping[int, float], start: datetime, end: datetime, zone: ZoneInfo
) -> float | None:
    """What a typical [start, end) costs (a partial hour counts pro rata); None when under
    half of the span has a typical value."""
    total = known_weight = all_weight = 0.0
    for key, weight in _hour_spans(start, end):
        all_weight += weight
        typical = typical_hour(hours, key, zone)
        if typical is not None:
            total += typical * weight
            known_weight += weight
    if all_weight == 0 or known_weight < all_weight / 2:
        return None
    return total * all_weight / known_weight


def year_before(t: datetime, interval: Interval, zone: ZoneInfo) -> datetime:
    """The same moment a year earlier: same date for months, 52 weeks (same weekday) else."""
    naive = t.astimezone(zone).replace(tzinfo=None)
    if interval == "month":
        day = min(naive.day, 28) if naive.month == 2 else naive.day
        shifted = naive.replace(year=naive.year - 1, day=day)
    else:
        shifted = naive - timedelta(days=364)
    return shifted.replace(tzinfo=zone)


def _wall_shift(t: datetime, days: int, zone: ZoneInfo) -> datetime:
    """``t`` moved by whole local days, keeping the wall-clock time across DST changes."""
    naive = t.astimezone(zone).replace(tzinfo=None) + timedelta(days=days)
    return naive.replace(tzinfo=zone)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def compared(value: float | None, reference: float | None) -> Compared:
    return Compared(value=_round(value), reference=_round(reference), ratio=_round(ratio(value, reference), 4))


@dataclass(slots=True)
class _Cached[V]:
    at: float
    value: V


class TtlCache:
    """Results kept ``ttl_s`` seconds: many screens refreshing every minute cost one query."""

    def __init__(self, ttl_s: float, size: int = 512) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._items: dict[object, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: object, compute: Callable[[], V]) -> V:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[key] = (now, value)
        return value

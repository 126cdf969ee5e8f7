"""Local-time periods: hours, days, weeks (Monday) and months in the site's time zone.

Daily totals are bucketed in local time, so a DST day has 23 or 25 hours (field notes,
"InfluxDB"). A consumption delta belongs to the period that contains its end time, the same
rule InfluxQL's ``GROUP BY time(...) tz(...)`` applies, so both stores agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from lorawatch.pipeline.store import Interval


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def period_start(t: datetime, interval: Interval, tz: str) -> datetime:
    """Start (aware, local) of the period containing instant ``t``."""
    local = t.astimezone(zone(tz))
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if interval == "week":
        day -= timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    return day.replace(tzinfo=zone(tz))


def next_period(start: datetime, interval: Interval, tz: str) -> datetime:
    """Start of the following period, in wall-clock terms (a DST day is 23 or 25 h long)."""
    if interval == "hour":
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(zone(tz))
    naive = start.replace(tzinfo=None)
    if interval == "day":
        naive += timedelta(days=1)
    elif interval == "week":
        naive += timedelta(days=7)
    else:
        naive = (naive.replace(day=28) + timedelta(days=4)).replace(day=1)
    return naive.replace(tzinfo=zone(tz))


def periods(start: datetime, end: datetime, interval: Interval, tz: str) -> list[datetime]:
    """Every period start from the one containing ``start`` up to before ``end``."""
    out = []
    current = period_start(start, interval, tz)
    while current < end:
        out.append(current)
        current = next_period(current, interval, tz)
    return out

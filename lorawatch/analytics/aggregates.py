"""What the dashboards, the hall screens, the reports and the alert rules ask of the stores.

Energy (``energy_delta_kwh``) and water (``volume_delta_m3``) per building or commune and per
local hour, day, week or month, and the comparisons the product brief names: against a
typical week (baseline by time of week), inside vs outside the occupancy schedule, the night
baseload, kWh per m² and the same period last year.

Everything goes through :meth:`Store.consumption` (hourly or coarser sums per group), so every
figure is the same on SQLite and InfluxDB and each store keeps its fast pre-aggregation; the
comparisons are a little arithmetic on a few thousand buckets. Periods are local (Europe/Paris
by default): a DST day has 23 or 25 hourly buckets, and a delta counts in the period that
contains its end time. Comparisons work on whole periods: ``start`` is moved back to the start
of its period and ``end`` forward to the end of its own, so a partial day is never compared
with a full one.

Buckets with no delta at all mean "no data", not zero (a meter that reports sends a 0.0
delta): results say ``None`` there, and baselines count how many weeks actually had data.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal, get_args

from lorawatch.core import timeutil
from lorawatch.inventory import Inventory, occupancy
from lorawatch.pipeline.store import Bucket, Interval, Store

Quantity = Literal["energy_delta_kwh", "volume_delta_m3"]
GroupBy = Literal["building", "commune"]
Statistic = Literal["median", "mean"]
Occupied = Callable[[datetime], bool]
"""Whether a building is occupied at an (aware) instant: ``occupancy.Schedule.is_occupied``."""

QUANTITIES: Final[tuple[str, ...]] = get_args(Quantity)
DEFAULT_TZ: Final = "Europe/Paris"
_QUARTER: Final = timedelta(minutes=15)
_WEEK_DAYS: Final = 7
LOOKBACK_WEEKS: Final = 12
"""How far :func:`baseline` looks back for days of the same kind (a summer holiday is 8 weeks)."""
_YEAR_DAYS: Final = 364  # 52 weeks: the same weekday a year before


@dataclass(frozen=True, slots=True)
class BaselinePoint:
    """A period's consumption beside the typical value of the same time of week."""

    group: str
    start: datetime
    value: float | None
    """Consumption in the period; None when no delta ended in it (yet)."""
    typical: float | None
    """Median (or mean) of the same local period in the previous weeks that had data."""
    samples: int
    """How many previous weeks had data (0 to ``weeks``)."""

    @property
    def ratio(self) -> float | None:
        """value / typical, for alert rules ("twice the usual at night"); None if unknown."""
        if self.value is None or not self.typical:
            return None
        return self.value / self.typical


@dataclass(frozen=True, slots=True)
class OccupancySplit:
    """A building's consumption in a period, inside and outside its occupancy schedule."""

    group: str
    start: datetime
    occupied: float
    unoccupied: float

    @property
    def total(self) -> float:
        return self.occupied + self.unoccupied

    @property
    def unoccupied_share(self) -> float | None:
        """The share consumed while nobody was there: the first waste a commune looks for."""
        return self.unoccupied / self.total if self.total > 0 else None


@dataclass(frozen=True, slots=True)
class NightBaseload:
    """A building's night baseload: the mean hourly consumption of the night window."""

    group: str
    day: date
    """The local date of the night window (01:00-05:00 of this day, by default)."""
    per_hour: float
    hours: int
    """Hourly buckets with data in the window (4 by default; 3 or 5 on DST nights)."""
    day_total: float
    day_hours: int
    """Length of the local day: 23, 24 or 25 hours."""

    @property
    def share(self) -> float | None:
        """Part of the day's consumption that the baseload alone explains (per_hour x day
        length / day total): what a building uses doing nothing, the standby to hunt."""
        return self.per_hour * self.day_hours / self.day_total if self.day_total > 0 else None


@dataclass(frozen=True, slots=True)
class Intensity:
    """Consumption per m² of a building over a span, ranked: 1 is the most intensive."""

    rank: int
    group: str
    total: float
    surface_m2: float
    per_m2: float


@dataclass(frozen=True, slots=True)
class YearOnYear:
    """A period's consumption beside the same period a year before."""

    group: str
    start: datetime
    value: float | None
    previous_start: datetime
    previous: float | None

    @property
    def change(self) -> float | None:
        """Relative change, (value - previous) / previous; None when either is unknown."""
        if self.value is None or not self.previous:
            return None
        return (self.value - self.previous) / self.previous


def totals(
    store: Store,
    quantity: Quantity,
    start: datetime,
    end: datetime,
    interval: Interval,
    *,
    tz: str = DEFAULT_TZ,
    group_by: GroupBy = "building",
) -> list[Bucket]:
    """Consumption per group and local period, of every delta ending in [start, end)."""
    _check(quantity, start, end, tz)
    return store.consumption(quantity, start, end, interval, tz, group_by)


def baseline(
    store: Store,
    quantity: Quantity,
    start: datetime,
    end: datetime,
    *,
    interval: Literal["hour", "day"] = "hour",
    weeks: int = 4,
    statistic: Statistic = "median",
    tz: str = DEFAULT_TZ,
    group_by: GroupBy = "building",
    open_days: Mapping[str, Callable[[date], bool]] | None = None,
    lookback_weeks: int = LOOKBACK_WEEKS,
) -> list[BaselinePoint]:
    """Each period of [start, end) beside the same local period of the ``weeks`` weeks before.

    "Same period" is the same weekday and wall-clock hour: buildings follow weekly timetables,
    in local time. The median by default, so that one week with a holiday or a leak does not
    move the typical value. Every group with data is given every period, so a screen can draw
    today's hours still to come against their typical values.

    With ``open_days`` (per group, whether its building opens on a local date: see
    :func:`open_days`), like is compared with like: an open day with the same weekday of the
    last ``weeks`` open weeks, a closed one (holidays, closures, weekends) with closed days,
    looking back up to ``lookback_weeks``. Otherwise three weeks after the autumn holidays
    half of a school's "typical" Monday would be holiday Mondays, and the school would look
    far over its usual; and a holiday would look like a saving.
    """
    _check(quantity, start, end, tz)
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    first, stop = _whole_periods(start, end, interval, tz)
    targets = timeutil.periods(first, stop, interval, tz)
    depth = max(weeks, lookback_weeks) if open_days else weeks
    history_start = _shift(first, timedelta(days=_WEEK_DAYS * depth), tz)
    index = _index(store.consumption(quantity, history_start, stop, interval, tz, group_by))
    summarise = statistics.median if statistic == "median" else statistics.fmean
    out = []
    for group in sorted({g for g, _, _ in index}):
        is_open = open_days.get(group) if open_days else None
        for p in targets:
            wall = p.replace(tzinfo=None)
            if is_open is None:
                samples = [
                    v
                    for k in range(1, weeks + 1)
                    if (v := _lookup(index, group, wall - timedelta(days=_WEEK_DAYS * k), p.fold))
                    is not None
                ]
            else:
                samples = _alike(index, group, wall, p.fold, is_open, weeks, depth)
            out.append(
                BaselinePoint(
                    group,
                    p,
                    index.get((group, wall, p.fold)),
                    summarise(samples) if samples else None,
                    len(samples),
                )
            )
    return out


def _alike(
    index: _Index,
    group: str,
    wall: datetime,
    fold: int,
    is_open: Callable[[date], bool],
    weeks: int,
    depth: int,
) -> list[float]:
    """Up to ``weeks`` values of the same wall-clock hour on earlier days of the same kind
    (open or closed) as ``wall``'s, most recent first. An open day takes the same weekday of
    earlier open weeks. A closed day takes the closed days of the last four weeks, the same
    weekday first, then the others (a holiday Monday is like a Sunday: no one there), rather
    than months-old ones, whose weather differs."""
    kind = is_open(wall.date())
    if kind:
        candidates = [wall - timedelta(days=_WEEK_DAYS * k) for k in range(1, depth + 1)]
    else:
        recent = range(1, 4 * _WEEK_DAYS + 1)
        candidates = [wall - timedelta(days=k) for k in recent if k % _WEEK_DAYS == 0]
        candidates += [wall - timedelta(days=k) for k in recent if k % _WEEK_DAYS]
        candidates += [wall - timedelta(days=_WEEK_DAYS * k) for k in range(5, depth + 1)]
    samples: list[float] = []
    for then in candidates:
        if is_open(then.date()) == kind and (v := _lookup(index, group, then, fold)) is not None:
            samples.append(v)
            if len(samples) == weeks:
                break
    return samples


def open_days(inventory: Inventory) -> dict[str, Callable[[date], bool]]:
    """Whether each building with opening hours opens on a local date (its hours that
    weekday, its calendars and closures): the kind of day :func:`baseline` compares alike."""
    out: dict[str, Callable[[date], bool]] = {}
    for b in inventory.buildings.values():
        if b.opening_hours:
            zone = inventory.communes[b.commune].timezone
            out[b.id] = occupancy.Schedule.of(b, zone, inventory).opens
    return out


def occupancy_split(
    store: Store,
    quantity: Quantity,
    start: datetime,
    end: datetime,
    occupied: Mapping[str, Occupied],
    *,
    interval: Interval = "day",
    tz: str = DEFAULT_TZ,
) -> list[OccupancySplit]:
    """Per building in ``occupied`` and period: consumption inside vs outside its schedule.

    Hourly buckets are the finest both stores give, so an hour is split by the share of its
    four quarter hours (sampled at their middle) that the schedule says are occupied: an
    opening at 08:30 puts half of the 08:00 hour on each side. Buildings without a schedule
    are left out rather than counted as always closed (see :func:`schedules`).
    """
    _check(quantity, start, end, tz)
    first, stop = _whole_periods(start, end, interval, tz)
    sums: dict[tuple[str, datetime], list[float]] = {}
    for b in store.consumption(quantity, first, stop, "hour", tz, "building"):
        is_occupied = occupied.get(b.group)
        if is_occupied is None:
            continue
        hour = b.start.astimezone(UTC)
        inside = sum(is_occupied(hour + (2 * q + 1) * _QUARTER / 2) for q in range(4)) / 4
        period = timeutil.period_start(b.start, interval, tz)
        acc = sums.setdefault((b.group, period.astimezone(UTC)), [0.0, 0.0])
        acc[0] += b.value * inside
        acc[1] += b.value * (1 - inside)
    return [
        OccupancySplit(g, at.astimezone(timeutil.zone(tz)), inside, outside)
        for (g, at), (inside, outside) in sorted(sums.items())
    ]


def night_baseload(
    store: Store,
    quantity: Quantity,
    start: datetime,
    end: datetime,
    *,
    night: tuple[int, int] = (1, 5),
    tz: str = DEFAULT_TZ,
) -> list[NightBaseload]:
    """Per building and local day: mean hourly consumption from ``night[0]`` to ``night[1]``
    o'clock (local; 01:00-05:00 by default, when nobody should use anything), and that
    day's total. Days with no data in the night window are left out."""
    _check(quantity, start, end, tz)
    if not 0 <= night[0] < night[1] <= 24:
        raise ValueError("night must be (first hour, last hour) with 0 <= first < last <= 24")
    first, stop = _whole_periods(start, end, "day", tz)
    window: dict[tuple[str, date], list[float]] = defaultdict(list)
    day_totals: dict[tuple[str, date], float] = defaultdict(float)
    for b in store.consumption(quantity, first, stop, "hour", tz, "building"):
        key = (b.group, b.start.date())
        day_totals[key] += b.value
        if night[0] <= b.start.hour < night[1]:
            window[key].append(b.value)
    return [
        NightBaseload(
            group,
            day,
            statistics.fmean(values),
            len(values),
            day_totals[(group, day)],
            _day_hours(day, tz),
        )
        for (group, day), values in sorted(window.items())
    ]


def intensity(
    store: Store,
    quantity: Quantity,
    start: datetime,
    end: datetime,
    surfaces: Mapping[str, float],
    *,
    tz: str = DEFAULT_TZ,
) -> list[Intensity]:
    """Consumption per m² over [start, end) of each building with a known surface and data,
    most intensive first: a fair ranking between a mairie and a sports hall."""
    _check(quantity, start, end, tz)
    by_building: dict[str, float] = defaultdict(float)
    for b in store.consumption(quantity, start, end, "month", tz, "building"):
        by_building[b.group] += b.value
    rows = [
        (total / surfaces[g], g, total)
        for g, total in by_building.items()
        if surfaces.get(g, 0) > 0
    ]
    rows.sort(key=lambda r: (-r[0], r[1]))
    return [
        Intensity(rank, g, total, surfaces[g], per_m2)
        for rank, (per_m2, g, total) in enumerate(rows, 1)
    ]


def vs_last_year(
    store: Store,
    quantity: Quantity,
    start: datetime,
    end: datetime,
    interval: Interval,
    *,
    tz: str = DEFAULT_TZ,
    group_by: GroupBy = "building",
) -> list[YearOnYear]:
    """Each period of [start, end) beside the same period a year before.

    A month is compared with the same calendar month; an hour, a day or a week with the one
    52 weeks (364 days) before, which falls on the same weekday: a school Monday is compared
    with a school Monday, not with whatever day that date was last year.
    """
    _check(quantity, start, end, tz)
    first, stop = _whole_periods(start, end, interval, tz)
    targets = timeutil.periods(first, stop, interval, tz)
    zone = timeutil.zone(tz)
    current = _index(store.consumption(quantity, first, stop, interval, tz, group_by))
    previous = _index(
        store.consumption(
            quantity,
            _year_before(first, interval).replace(tzinfo=zone),
            _year_before(stop, interval).replace(tzinfo=zone),
            interval,
            tz,
            group_by,
        )
    )
    out = []
    for group in sorted({g for g, _, _ in current} | {g for g, _, _ in previous}):
        for p in targets:
            before = _year_before(p, interval)
            out.append(
                YearOnYear(
                    group,
                    p,
                    current.get((group, p.replace(tzinfo=None), p.fold)),
                    # normalised: an hour in last year's spring DST gap shows as 03:00
                    before.replace(tzinfo=zone, fold=p.fold).astimezone(UTC).astimezone(zone),
                    _lookup(previous, group, before, p.fold),
                )
            )
    return out


def surfaces(inventory: Inventory) -> dict[str, float]:
    """Surface (m²) of each building of the inventory that declares one."""
    return {b.id: b.surface_m2 for b in inventory.buildings.values() if b.surface_m2}


def schedules(inventory: Inventory) -> dict[str, Occupied]:
    """Occupancy of each building that declares opening hours, in its commune's time zone.

    A building without opening hours has an unknown schedule, not an always-closed one, so it
    is left out (and :func:`occupancy_split` leaves it out too).
    """
    out: dict[str, Occupied] = {}
    for b in inventory.buildings.values():
        if b.opening_hours:
            zone = inventory.communes[b.commune].timezone
            out[b.id] = occupancy.Schedule.of(b, zone, inventory).is_occupied
    return out


# --- helpers ---------------------------------------------------------------------------------


def _check(quantity: str, start: datetime, end: datetime, tz: str) -> None:
    """Refuse what would give a silently wrong answer, or reach InfluxQL unvetted."""
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r} (known: {', '.join(QUANTITIES)})")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    if end <= start:
        raise ValueError("end must be after start")
    timeutil.zone(tz)  # ZoneInfoNotFoundError for a name that is not a time zone


def _whole_periods(
    start: datetime, end: datetime, interval: Interval, tz: str
) -> tuple[datetime, datetime]:
    """[start of start's period, end of end's period): whole periods only."""
    first = timeutil.period_start(start, interval, tz)
    last = timeutil.period_start(end, interval, tz)
    return first, last if last == end else timeutil.next_period(last, interval, tz)


def _shift(p: datetime, back: timedelta, tz: str) -> datetime:
    """The same wall-clock time ``back`` earlier (days and weeks are wall-clock lengths)."""
    return (p.replace(tzinfo=None) - back).replace(tzinfo=timeutil.zone(tz), fold=p.fold)


def _year_before(p: datetime, interval: Interval) -> datetime:
    """Wall-clock start of the same period a year before (naive)."""
    wall = p.replace(tzinfo=None)
    if interval == "month":
        return wall.replace(year=wall.year - 1)
    return wall - timedelta(days=_YEAR_DAYS)


_Index = dict[tuple[str, datetime, int], float]


def _index(buckets: Iterable[Bucket]) -> _Index:
    """Buckets by (group, local wall-clock start, fold): how periods of other weeks and years
    are found. ``fold`` tells the two 02:00 hours of the autumn DST day apart."""
    return {(b.group, b.start.replace(tzinfo=None), b.start.fold): b.value for b in buckets}


def _lookup(index: _Index, group: str, wall: datetime, fold: int) -> float | None:
    """The value of the period starting at local wall-clock time ``wall``, if it has data.

    A period that does not exist (02:00 on the spring DST day) has no data; the second 02:00
    of an autumn DST day (fold 1) is compared with the only 02:00 of an ordinary day.
    """
    found = index.get((group, wall, fold))
    if found is None and fold:
        found = index.get((group, wall, 0))
    return found


def _day_hours(day: date, tz: str) -> int:
    zone = timeutil.zone(tz)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = timeutil.next_period(midnight, "day", tz)
    return round((following.astimezone(UTC) - midnight.astimezone(UTC)) / timedelta(hours=1))

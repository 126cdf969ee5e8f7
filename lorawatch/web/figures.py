"""The figures behind the API, the overview and the occupant screens, computed in one place.

Every figure starts from hourly sums of the consumption deltas of one building (a delta belongs
to the hour containing its end, the rule of :mod:`lorawatch.core.timeutil`, so they add up
to what ``Store.consumption`` answers) and is then cut into local days, weeks and months.

The *baseline* is :func:`lorawatch.analytics.aggregates.baseline`: an hour is expected to cost
the median of the same local hour of the same weekday over the four previous weeks of the same
kind of day (open, or closed: holidays, closures, weekends), so a school day is compared with
school days and a holiday with closed days. A span's baseline is the sum of its
hours' typical values, so "today so far" is compared with a typical day to the same minute.

A zero is a measurement, ``None`` is "no data": a period with no delta at all has no value, and
a baseline is only given when at least half of the span has a typical value to compare with.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from statistics import median
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo

from lorawatch.alerts.pgsql import translate
from lorawatch.analytics import aggregates, savings
from lorawatch.core import timeutil
from lorawatch.core.timeutil import from_us, us
from lorawatch.inventory import Building
from lorawatch.inventory.occupancy import Schedule
from lorawatch.pipeline.store import Interval, Store
from lorawatch.stores.sqlite_schema import QUARTER_US
from lorawatch.web.models import (
    UNITS,
    BuildingSummary,
    CampaignProgress,
    Compared,
    DeviceOut,
    Occupancy,
    Quantity,
    QuantitySummary,
    ReadingOut,
    Series,
    SeriesPoint,
    ratio,
)

if TYPE_CHECKING:
    from lorawatch.app.service import Service

HOUR_US = 3_600_000_000
READING_OF: dict[str, str] = {"energy": "energy_delta_kwh", "water": "volume_delta_m3"}
BASELINE_WEEKS = 4
REFERENCE_COVERAGE = 0.8
LOW_BATTERY_PCT = 20.0
SILENT_MIN_S = 3600.0
"""A device is silent after three of its own intervals, and never sooner than this."""

Hours = dict[int, float]
"""Consumption per UTC hour: key ``end_us // HOUR_US`` of the deltas, value their sum."""

V = TypeVar("V")


def hour_key(t: datetime) -> int:
    return us(t) // HOUR_US


def hour_start(key: int) -> datetime:
    return from_us(key * HOUR_US)


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


def actual(
    hours: Mapping[int, float], start: datetime, end: datetime, *, prorate: bool = False
) -> float | None:
    """Consumed in [start, end): the hours starting in it, None when none has data.

    ``prorate`` is for a reference span (last week to this time) compared with a span that
    ends now: a last partial hour counts by its fraction, as the current hour is only partly
    measured, and a reference with data for under :data:`REFERENCE_COVERAGE` of its hours
    is None: half a week of data is no "last week".
    """
    total, covered, span = 0.0, 0.0, 0.0
    for key, weight in _hour_spans(start, end):
        span += weight
        value = hours.get(key)
        if value is not None:
            total += value * (weight if prorate else 1.0)
            covered += weight
    if covered == 0 or (prorate and covered < REFERENCE_COVERAGE * span):
        return None
    return total


def baseline(typicals: Mapping[int, float], start: datetime, end: datetime) -> float | None:
    """What a typical [start, end) costs, from the typical value of each hour (a partial hour
    counts pro rata); None when under half of the span has a typical value."""
    total = known_weight = all_weight = 0.0
    for key, weight in _hour_spans(start, end):
        all_weight += weight
        typical = typicals.get(key)
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


def _open_days(
    is_open: Callable[[date], bool], start: datetime, end: datetime, zone: ZoneInfo
) -> int:
    """How many local days of [start, end] the building opens (the day of ``end`` included)."""
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    return sum(is_open(first + timedelta(days=n)) for n in range((last - first).days + 1))


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


NOISE_FLOOR = 0.02
"""A band never narrower than ±2 %: meters and the hour split of deltas round that much."""
NOISE_CEILING = 0.25


def noise_band(samples: Sequence[float]) -> float | None:
    """The relative spread of ``samples`` (the same weekday to the same minute, one per past
    week): a robust standard deviation (1.4826 × the median absolute deviation) over their
    median, kept within [:data:`NOISE_FLOOR`, :data:`NOISE_CEILING`]; None with under three
    samples or a median of zero. A fixed ±3 % turned ordinary day-to-day variation red on a
    building whose days vary by 10 %, and hid real changes on a steady one."""
    if len(samples) < 3:
        return None
    ordered = sorted(samples)
    mid = median(ordered)
    if mid <= 0:
        return None
    mad = median([abs(x - mid) for x in ordered])
    return min(NOISE_CEILING, max(NOISE_FLOOR, 1.4826 * mad / mid))


def compared(value: float | None, reference: float | None) -> Compared:
    return Compared(
        value=_round(value), reference=_round(reference), ratio=_round(ratio(value, reference), 4)
    )


def state_fetch(service: Any) -> Callable[..., list[tuple[Any, ...]]]:
    """Rows from where the service keeps its state: the local SQLite file, or the PostgreSQL
    database the workers share (``[state] backend = "postgresql"``), statements written in
    SQLite's dialect and translated (raw uplinks and dead letters live there then)."""
    state = getattr(service, "state", None)
    if state is None:
        return cast(Callable[..., list[tuple[Any, ...]]], service.sqlite.fetch)

    def fetch(sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return cast(list[tuple[Any, ...]], state.fetch(translate(sql), args))

    return fetch


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


@dataclass(frozen=True, slots=True)
class HourOfDay:
    """One hour of today's curve on a screen: measured so far, and what is typical."""

    start: datetime
    value: float | None
    typical: float | None


@dataclass(frozen=True, slots=True)
class WeatherLine:
    """Energy against a weather-aware model of a baseline year, for a screen's one line."""

    against: Literal["campaign", "last_year"]
    """The year before the campaign (since it began), or the year before the last four
    weeks (those weeks)."""
    change: float | None
    """measured / expected - 1; None when refused."""
    significant: bool
    """Outside the model's uncertainty (FSU at 90 % below 50 %)."""
    refused: str = ""
    """Why there is no figure (a ``savings.REASONS`` key): not enough history, or a model
    too poor (Guideline 14)."""


WEATHER_WEEKS = 4
"""Without a campaign, the screen's weather-adjusted line covers the last four whole weeks."""
WEATHER_MAX_DAYS = 365
"""A campaign's reporting period is cut to its last year (the fit reads all of it)."""


@dataclass(slots=True)
class ScreenFigures:
    """Everything an occupant screen shows: building totals only."""

    summary: BuildingSummary
    today: list[HourOfDay]
    campaign: CampaignProgress | None
    occupied_now: bool | None = None
    notes: list[str] = field(default_factory=list)
    last_week_day: Compared | None = None
    """Today so far against the same weekday last week to the same minute."""
    weather: WeatherLine | None = None
    """This period against a weather-aware model of a year before (None: no energy)."""
    noise: float | None = None
    """How far, relatively, the same weekday to the same minute usually strays from its median
    over the baseline's weeks: a gap within it is "as usual" (see :func:`noise_band`)."""


class Figures:
    """Reads the store for one service and answers in the API's models, with short caches."""

    def __init__(
        self,
        service: Service,
        open_alerts: Callable[[str], int | None] | None = None,
    ) -> None:
        self.service = service
        self.inventory = service.inventory
        self.open_alerts = open_alerts or (lambda _building: None)
        self._summaries = TtlCache(20.0)
        self._campaigns = TtlCache(300.0)
        self._devices = TtlCache(20.0)
        self._typicals = TtlCache(60.0, size=64)
        self.open_days = aggregates.open_days(self.inventory)
        """Open or closed, per building and local day: typical days compare like with like."""
        sqlite = service.sqlite
        others = [s for s in service.stores if s is not sqlite]
        self.store: Store = sqlite if sqlite.keeps_readings or not others else others[0]

    def now(self) -> datetime:
        """The service's clock (the demo's runs faster than the wall clock)."""
        return self.service.clock().astimezone(UTC)

    def building(self, building_id: str) -> Building:
        return self.inventory.buildings[building_id]

    def timezone(self, building_id: str) -> str:
        commune = self.inventory.communes.get(self.building(building_id).commune)
        return commune.timezone if commune else self.service.settings.site.timezone

    # -- reading the store ------------------------------------------------------------------

    def hours(self, building: str, quantity: Quantity, start: datetime, end: datetime) -> Hours:
        """Hourly sums of a building's deltas whose end lies in [start, end)."""
        if end <= start:
            return {}
        reading = READING_OF[quantity]
        sqlite = self.service.sqlite
        if sqlite.keeps_readings:
            # Whole quarters from the store's rollup (quarter / 4 is the hour), the partial
            # quarters at the edges from the deltas: the same split as SqliteStore.consumption.
            lo, hi = us(start), us(end)
            q_lo, q_hi = -(-lo // QUARTER_US), hi // QUARTER_US
            raw = (
                "SELECT end_us / ?, SUM(value) FROM consumption WHERE name = ? AND end_us >= ?"
                " AND end_us < ? AND building = ? GROUP BY 1"
            )
            if q_lo >= q_hi:
                rows = sqlite.fetch(raw, (HOUR_US, reading, lo, hi, building))
            else:
                rows = sqlite.fetch(raw, (HOUR_US, reading, lo, q_lo * QUARTER_US, building))
                rows += sqlite.fetch(
                    "SELECT quarter / 4, SUM(value) FROM consumption_quarters WHERE name = ?"
                    " AND quarter >= ? AND quarter < ? AND building = ? GROUP BY 1",
                    (reading, q_lo, q_hi, building),
                )
                rows += sqlite.fetch(raw, (HOUR_US, reading, q_hi * QUARTER_US, hi, building))
            sums: Hours = {}
            for key, value in rows:
                sums[int(key)] = sums.get(int(key), 0.0) + float(value)
            return sums
        for store in self.service.stores:
            if store is not sqlite:  # readings only in InfluxDB: its hourly buckets in UTC
                buckets = store.consumption(reading, start, end, "hour", "UTC")
                return {hour_key(b.start): b.value for b in buckets if b.group == building}
        return {}

    def typicals(self, building: str, quantity: Quantity, start: datetime, end: datetime) -> Hours:
        """The typical value of each hour of [start, end) that has one (aggregates.baseline).

        Computed for every building at once (that is how the store answers) and kept a
        minute, so the overview's buildings share one query.
        """
        tz = self.timezone(building)
        last = timeutil.period_start(end - timedelta(microseconds=1), "hour", tz)
        stop = timeutil.next_period(last, "hour", tz)
        points = self._typicals.get(
            ("typicals", quantity, tz, us(start), us(stop)),
            lambda: aggregates.baseline(
                self.store,
                "energy_delta_kwh" if quantity == "energy" else "volume_delta_m3",
                start,
                stop,
                interval="hour",
                weeks=BASELINE_WEEKS,
                tz=tz,
                open_days=self.open_days,
            ),
        )
        return {
            hour_key(p.start): p.typical
            for p in points
            if p.group == building and p.typical is not None
        }

    # -- series -----------------------------------------------------------------------------

    def series(
        self,
        building: str,
        quantity: Quantity,
        interval: Interval,
        start: datetime,
        end: datetime,
    ) -> Series:
        """One point per local period from the one containing ``start`` to before ``end``."""
        tz = self.timezone(building)
        zone = timeutil.zone(tz)
        now = self.now()
        surface = self.building(building).surface_m2
        periods = timeutil.periods(start, end, interval, tz)
        ends = [timeutil.next_period(p, interval, tz) for p in periods]
        points: list[SeriesPoint] = []
        if periods:
            upto = min(ends[-1], now)
            hours = self.hours(building, quantity, periods[0], upto)
            typicals = self.typicals(building, quantity, periods[0], upto)
            last_year = self.hours(
                building,
                quantity,
                year_before(periods[0], interval, zone),
                year_before(upto, interval, zone),
            )
        for a, b_full in zip(periods, ends, strict=True):
            b = min(b_full, now)
            if b <= a:
                points.append(
                    SeriesPoint(start=a, value=None, baseline=None, last_year=None, per_m2=None)
                )
                continue
            value = actual(hours, a, b)
            points.append(
                SeriesPoint(
                    start=a,
                    value=_round(value),
                    baseline=_round(baseline(typicals, a, b)),
                    last_year=_round(
                        actual(
                            last_year,
                            year_before(a, interval, zone),
                            year_before(b, interval, zone),
                            prorate=True,
                        )
                    ),
                    per_m2=_round(value / surface, 5) if value is not None and surface else None,
                )
            )
        measured = [p for p in points if p.value is not None]
        return Series(
            building=building,
            quantity=quantity,
            unit=UNITS[quantity],
            interval=interval,
            timezone=tz,
            start=periods[0] if periods else start,
            end=ends[-1] if ends else end,
            points=points,
            total=_round(sum(p.value for p in measured if p.value is not None))
            if measured
            else None,
            baseline_total=_round(sum(p.baseline for p in measured if p.baseline is not None))
            if measured and all(p.baseline is not None for p in measured)
            else None,
        )

    # -- summaries --------------------------------------------------------------------------

    def _quantity_summary(
        self, building: str, quantity: Quantity, now: datetime
    ) -> tuple[QuantitySummary, Hours]:
        tz = self.timezone(building)
        zone = timeutil.zone(tz)
        today = timeutil.period_start(now, "day", tz)
        week = timeutil.period_start(now, "week", tz)
        month = timeutil.period_start(now, "month", tz)
        earliest = min(month, _wall_shift(week, -7, zone))
        hours = self.hours(building, quantity, earliest, now)
        typicals = self.typicals(building, quantity, min(month, week), now)
        surface = self.building(building).surface_m2
        today_value = actual(hours, today, now)
        last_week, last_now = _wall_shift(week, -7, zone), _wall_shift(now, -7, zone)
        week_reference = actual(hours, last_week, last_now, prorate=True)
        against: Literal["last_week", "typical_week"] = "last_week"
        is_open = self.open_days.get(building)
        if is_open is not None and _open_days(is_open, week, now, zone) != _open_days(
            is_open, last_week, last_now, zone
        ):
            week_reference, against = baseline(typicals, week, now), "typical_week"
        return (
            QuantitySummary(
                quantity=quantity,
                unit=UNITS[quantity],
                today=compared(today_value, baseline(typicals, today, now)),
                week=compared(actual(hours, week, now), week_reference),
                week_against=against,
                week_baseline=_round(baseline(typicals, week, now)),
                month=compared(actual(hours, month, now), baseline(typicals, month, now)),
                today_per_m2=_round(today_value / surface, 5)
                if today_value is not None and surface
                else None,
            ),
            hours,
        )

    def _summary(self, building: str, now: datetime) -> tuple[BuildingSummary, Hours]:
        b = self.building(building)
        energy, energy_hours = self._quantity_summary(building, "energy", now)
        water, _ = self._quantity_summary(building, "water", now)
        seen = [d.last_seen for d in self.devices() if d.building == building and d.last_seen]
        summary = BuildingSummary(
            building=building,
            name=b.name,
            commune=b.commune,
            timezone=self.timezone(building),
            at=now,
            last_data=min(max(seen), now) if seen else None,
            energy=energy,
            water=water,
            open_alerts=self.open_alerts(building),
        )
        return summary, energy_hours

    def summary(self, building: str) -> BuildingSummary:
        now = self.now()
        key = ("summary", building, now.replace(second=0, microsecond=0))
        return self._summaries.get(key, lambda: self._summary(building, now))[0]

    def summaries(self, commune: str | None = None) -> list[BuildingSummary]:
        return [
            self.summary(b.id)
            for b in self.inventory.buildings.values()
            if commune is None or b.commune == commune
        ]

    def campaign(self, building: str, quantity: Quantity = "energy") -> CampaignProgress | None:
        """Since ``campaign_start``, against the same weekdays of the year before it."""
        b = self.building(building)
        try:
            first = date.fromisoformat(b.campaign_start)
        except ValueError:
            return None
        now = self.now()
        return self._campaigns.get(
            ("campaign", building, quantity, now.date(), now.hour),
            lambda: self._campaign(building, quantity, first, now),
        )

    def _campaign(
        self, building: str, quantity: Quantity, first: date, now: datetime
    ) -> CampaignProgress:
        zone = timeutil.zone(self.timezone(building))
        begin = datetime.combine(first, dtime(0)).replace(tzinfo=zone)
        today = now.astimezone(zone).date()
        days_since = max(0, (today - first).days)
        hours = self.hours(building, quantity, _wall_shift(begin, -364, zone), now)
        per_day: dict[date, list[float]] = {}
        for key, value in hours.items():
            per_day.setdefault(hour_start(key).astimezone(zone).date(), []).append(value)
        total = actual(hours, begin, now) if now > begin else None
        measured = [k for k in hours if k >= hour_key(begin)]
        since = hour_start(min(measured)).astimezone(zone).date() if measured else None
        current = reference = 0.0
        compared_days = 0
        for n in range(days_since):
            day = first + timedelta(days=n)
            before = day - timedelta(days=364 * (n // 364 + 1))
            cur, ref = per_day.get(day), per_day.get(before)
            # Whole days only: a day with a few hours of data would skew the comparison.
            if cur is not None and ref is not None and len(cur) >= 20 and len(ref) >= 20:
                current += sum(cur)
                reference += sum(ref)
                compared_days += 1
        return CampaignProgress(
            start=first,
            days=days_since,
            total=_round(total),
            measured_since=since,
            compared_days=compared_days,
            current=_round(current) if compared_days else None,
            reference=_round(reference) if compared_days else None,
            ratio=_round(ratio(current, reference), 4) if compared_days else None,
            saved=_round(reference - current) if compared_days else None,
        )

    def screen(self, building: str) -> ScreenFigures:
        """The occupant screen's figures, cached per building and minute."""
        now = self.now()
        key = ("screen", building, now.replace(second=0, microsecond=0))
        return self._summaries.get(key, lambda: self._screen(building, now))

    def _screen(self, building: str, now: datetime) -> ScreenFigures:
        summary, hours = self._summary(building, now)
        zone = timeutil.zone(summary.timezone)
        midnight = timeutil.period_start(now, "day", summary.timezone)
        tomorrow = timeutil.next_period(midnight, "day", summary.timezone)
        typicals = self.typicals(building, "energy", midnight, tomorrow)
        curve: list[HourOfDay] = []
        for key, _ in _hour_spans(midnight, tomorrow):
            start = hour_start(key)
            curve.append(
                HourOfDay(
                    start=start.astimezone(zone),
                    value=hours.get(key) if start < now else None,
                    typical=typicals.get(key),
                )
            )
        occupied: bool | None = None
        b = self.building(building)
        if b.opening_hours:
            try:
                occupied = Schedule.of(b, summary.timezone, self.inventory).is_occupied(now)
            except ValueError:
                occupied = None
        # Same weekday in each of the baseline's weeks, to the same minute: last week's value
        # is compared directly, and their spread is the band within which a day is "usual".
        past_hours = self.hours(
            building, "energy", _wall_shift(midnight, -7 * BASELINE_WEEKS, zone), midnight
        )
        past = [
            actual(
                past_hours,
                _wall_shift(midnight, -7 * w, zone),
                _wall_shift(now, -7 * w, zone),
                prorate=True,
            )
            for w in range(1, BASELINE_WEEKS + 1)
        ]
        return ScreenFigures(
            summary,
            curve,
            self.campaign(building),
            occupied,
            last_week_day=compared(summary.energy.today.value, past[0]),
            noise=noise_band([x for x in past if x is not None]),
            weather=self.weather(building, now) if summary.energy.month.value is not None else None,
        )

    def weather(self, building: str, now: datetime) -> WeatherLine:
        """Since the campaign began (at most its last year) against the year before it, or
        the last four whole weeks against the year before them: consumption against what a
        model of that year predicts for the actual weather and calendar. Kept an hour."""
        tz = self.timezone(building)
        zone = timeutil.zone(tz)
        midnight = timeutil.period_start(now, "day", tz)
        against: Literal["campaign", "last_year"] = "last_year"
        start = _wall_shift(midnight, -7 * WEATHER_WEEKS, zone)
        try:
            first = date.fromisoformat(self.building(building).campaign_start)
        except ValueError:
            first = None
        if first is not None:
            campaign = datetime.combine(first, dtime(0)).replace(tzinfo=zone)
            if campaign < midnight:
                against, start = "campaign", campaign
        base_end = start
        start = max(start, _wall_shift(midnight, -WEATHER_MAX_DAYS, zone))
        base = (_wall_shift(base_end, -365, zone), base_end)
        key = ("weather", building, us(midnight), now.hour)

        def compute() -> WeatherLine:
            try:
                found = savings.measure(
                    self.store, self.inventory, building, base, (start, midnight)
                )
            except savings.SavingsRefused as exc:
                return WeatherLine(against, None, False, exc.reason)
            return WeatherLine(against, -found.avoided_pct / 100, found.significant)

        return self._campaigns.get(key, compute)

    def savings(
        self,
        building: str,
        baseline: tuple[datetime, datetime],
        reporting: tuple[datetime, datetime],
    ) -> savings.Savings:
        """Avoided energy (:func:`lorawatch.analytics.savings.measure`), kept five minutes:
        a year's fit is a fraction of a second, but a dashboard may ask every minute.
        Raises :class:`~lorawatch.analytics.savings.SavingsRefused` (not cached)."""
        key = ("savings", building, *(us(t) for t in (*baseline, *reporting)))
        return self._campaigns.get(
            key,
            lambda: savings.measure(self.store, self.inventory, building, baseline, reporting),
        )

    def occupancy(self, building: str, days: int = 7) -> Occupancy:
        """The last ``days`` whole local days, split by the opening hours (aggregates)."""
        now = self.now()
        tz = self.timezone(building)
        end = timeutil.period_start(now, "day", tz)
        start = _wall_shift(end, -days, timeutil.zone(tz))
        return self._campaigns.get(
            ("occupancy", building, days, us(end)),
            lambda: self._occupancy(building, start, end, tz),
        )

    def _occupancy(self, building: str, start: datetime, end: datetime, tz: str) -> Occupancy:
        schedule = aggregates.schedules(self.inventory).get(building)
        occupied = unoccupied = None
        if schedule is not None:
            split = [
                s
                for s in aggregates.occupancy_split(
                    self.store, "energy_delta_kwh", start, end, {building: schedule}, tz=tz
                )
                if s.group == building
            ]
            if split:
                occupied = sum(s.occupied for s in split)
                unoccupied = sum(s.unoccupied for s in split)
        nights = [
            n
            for n in aggregates.night_baseload(self.store, "energy_delta_kwh", start, end, tz=tz)
            if n.group == building
        ]
        total = (occupied or 0.0) + (unoccupied or 0.0)
        baseload = sum(n.per_hour for n in nights) / len(nights) if nights else None
        explained = sum(n.per_hour * n.day_hours for n in nights)
        day_totals = sum(n.day_total for n in nights)
        return Occupancy(
            building=building,
            start=start,
            end=end,
            occupied_kwh=_round(occupied),
            unoccupied_kwh=_round(unoccupied),
            unoccupied_share=_round(unoccupied / total, 4)
            if unoccupied is not None and total
            else None,
            night_baseload_kwh_h=_round(baseload),
            night_share=_round(explained / day_totals, 4) if nights and day_totals > 0 else None,
        )

    # -- devices ----------------------------------------------------------------------------

    def devices(self) -> list[DeviceOut]:
        """Every inventory device with its last uplink, battery and silence, cached briefly."""
        now = self.now()
        return self._devices.get(
            ("devices", now.replace(second=0, microsecond=0)), lambda: self._device_list(now)
        )

    def _device_list(self, now: datetime) -> list[DeviceOut]:
        out = []
        state, readings = self.service.state or self.service.sqlite, self.service.sqlite.fetch
        for d in self.inventory.devices.values():
            times = state.uplink_times(d.dev_eui)
            last_seen = from_us(times[0]) if times else None
            gaps = sorted(a - b for a, b in itertools.pairwise(times))
            interval_s = gaps[len(gaps) // 2] / 1e6 if gaps else None
            silent = last_seen is None or (
                (now - last_seen).total_seconds() > max(3 * (interval_s or 0), SILENT_MIN_S)
            )
            battery_rows = readings(
                "SELECT value FROM readings WHERE dev_eui = ? AND name = 'battery_pct'"
                " ORDER BY channel DESC, time_us DESC LIMIT 1",
                (d.dev_eui,),
            )
            battery = float(battery_rows[0][0]) if battery_rows else None
            out.append(
                DeviceOut(
                    dev_eui=d.dev_eui,
                    name=d.name,
                    kind=d.kind,
                    commune=d.commune,
                    building=d.building,
                    decoder=d.decoder.name if d.decoder else "",
                    last_seen=last_seen,
                    interval_s=interval_s,
                    silent=silent,
                    battery_pct=battery,
                    low_battery=battery is not None and battery < LOW_BATTERY_PCT,
                )
            )
        return out

    def readings(self, dev_eui: str, last_seen: datetime | None) -> list[ReadingOut]:
        """The latest value of each (name, channel) of a device, from its last week of data."""
        if last_seen is None:
            return []
        rows = self.service.sqlite.fetch(
            "SELECT name, channel, MAX(time_us), value FROM readings WHERE dev_eui = ?"
            " AND time_us >= ? GROUP BY name, channel ORDER BY name, channel",
            (dev_eui, us(last_seen - timedelta(days=7))),
        )
        return [
            ReadingOut(name=n, channel=c, time=from_us(int(t)), value=float(v))
            for n, c, t, v in rows
        ]

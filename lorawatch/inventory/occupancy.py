"""When a public building is occupied: weekly opening hours, closure calendars and closures.

Consumption outside occupancy is the first waste a commune looks for (heating a closed hall,
lights left on at night), so the simulator, the pipeline and the alert rules must agree on
what "occupied" means; they all read it from here, from the building's inventory entry:

- ``opening_hours``: ``{"mon": ["08:30-12:00", "13:30-16:30"], ...}``; keys ``mon``..``sun``,
  a missing day is closed. ``24:00`` ends a day; an end before the start runs past midnight
  (``"20:00-01:00"``, a Saturday-night booking), and belongs to the day it starts.
- ``calendars``: names of closure calendars: ``fr-school-zone-b`` (French school holidays,
  data in ``calendars.toml`` beside this module, with its source) and ``fr-public-holidays``
  (computed). A day closed by a calendar has no occupancy at all.
- ``closures``: extra closed days, ``"2026-12-24"`` or ``"2026-08-01..2026-08-20"``.

Everything is computed in the building's local time zone (opening hours are wall-clock
times, and a DST day is 23 or 25 hours long) and returned as aware UTC datetimes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol
from zoneinfo import ZoneInfo

import structlog

if TYPE_CHECKING:
    from lorawatch.inventory import Inventory

log = structlog.get_logger(__name__)

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CALENDAR_FILE: Final = Path(__file__).with_name("calendars.toml")
PUBLIC_HOLIDAYS: Final = "fr-public-holidays"


class BuildingLike(Protocol):
    """What :meth:`Schedule.of` reads from an inventory building."""

    opening_hours: dict[str, list[str]]
    calendars: list[str]
    closures: list[str]


@dataclass(frozen=True, slots=True)
class Calendar:
    """A named closure calendar: the days it closes, and the span its data covers."""

    name: str
    description: str
    source: str
    closed: frozenset[date]
    covers: tuple[date, date] | None = None
    """First and last date the data speaks for; None for a computed calendar (always)."""

    def is_closed(self, day: date) -> bool:
        return day in self.closed or (
            self.name == PUBLIC_HOLIDAYS and day in public_holidays(day.year)
        )


def parse_day_range(text: str) -> tuple[date, date]:
    """``"2026-12-24"`` or ``"2026-08-01..2026-08-20"`` -> (first, last), inclusive."""
    first, sep, last = text.strip().partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        raise ValueError(f"{text!r} is not a date or a range YYYY-MM-DD..YYYY-MM-DD") from None
    if end < start:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


def _days(first: date, last: date) -> Iterable[date]:
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


def parse_hours(text: str) -> tuple[int, int]:
    """``"08:30-12:00"`` -> (510, 720) minutes after midnight; an end <= start adds a day."""
    try:
        a, b = (part.strip() for part in text.split("-"))
        start, end = (_minutes(a), _minutes(b))
    except ValueError:
        raise ValueError(f"{text!r} is not a time range HH:MM-HH:MM") from None
    if start >= 24 * 60:
        raise ValueError(f"{text!r} starts at or after 24:00")
    if end <= start:
        end += 24 * 60
    return start, end


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(text)
    return h * 60 + m


def easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def public_holidays(year: int) -> frozenset[date]:
    """The eleven French public holidays (jours fériés) of metropolitan France, without the
    two extra days of Alsace-Moselle. Whit Monday is included: most town halls close."""
    e = easter(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    moving = [e + timedelta(days=1), e + timedelta(days=39), e + timedelta(days=50)]
    return frozenset([date(year, m, d) for m, d in fixed] + moving)


@cache
def calendars() -> dict[str, Calendar]:
    """Every known calendar by name."""
    raw = tomllib.loads(CALENDAR_FILE.read_text(encoding="utf-8"))
    out = {
        PUBLIC_HOLIDAYS: Calendar(
            PUBLIC_HOLIDAYS,
            "French public holidays (jours fériés), metropolitan France",
            "Code du travail, article L3133-1; Easter by the Gregorian computus",
            frozenset(),
        )
    }
    for name, table in raw.items():
        closed: set[date] = set()
        for entry in table.get("closed", []):
            closed.update(_days(*parse_day_range(entry["days"])))
        covers = parse_day_range(table["covers"]) if "covers" in table else None
        out[name] = Calendar(
            name, table.get("description", ""), table.get("source", ""), frozenset(closed), covers
        )
    return out


def calendar(name: str) -> Calendar:
    """The calendar called ``name``; KeyError naming the known ones."""
    known = calendars()
    if name not in known:
        raise KeyError(f"unknown calendar {name!r} (known: {', '.join(sorted(known))})")
    return known[name]


class Schedule:
    """The occupancy of one building: ask :meth:`is_occupied` or :meth:`intervals`."""

    def __init__(
        self,
        opening_hours: Mapping[str, Sequence[str]],
        calendars: Sequence[str] = (),
        closures: Sequence[str] = (),
        timezone: str = "Europe/Paris",
    ) -> None:
        """Parse and check everything now; raise ValueError listing every problem."""
        problems: list[str] = []
        self.zone = ZoneInfo(timezone)
        self.hours: dict[int, list[tuple[int, int]]] = {}
        for key, ranges in opening_hours.items():
            if key not in WEEKDAYS:
                problems.append(f"opening_hours: {key!r} is not one of {', '.join(WEEKDAYS)}")
                continue
            parsed = []
            for text in ranges:
                try:
                    parsed.append(parse_hours(text))
                except ValueError as exc:
                    problems.append(f"opening_hours.{key}: {exc}")
            self.hours[WEEKDAYS.index(key)] = sorted(parsed)
        self.calendars: list[Calendar] = []
        for name in calendars:
            try:
                self.calendars.append(calendar(name))
            except KeyError as exc:
                problems.append(f"calendars: {exc.args[0]}")
        self.closed: set[date] = set()
        for text in closures:
            try:
                self.closed.update(_days(*parse_day_range(text)))
            except ValueError as exc:
                problems.append(f"closures: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        self._cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self._span: tuple[datetime, datetime, bool] = _NO_SPAN

    @classmethod
    def of(cls, building: BuildingLike, timezone: str = "Europe/Paris") -> Schedule:
        """The schedule of an inventory building (``lorawatch.inventory.Building``)."""
        return cls(building.opening_hours, building.calendars, building.closures, timezone)

    def is_open_day(self, day: date) -> bool:
        """False when a closure or a calendar closes the whole (local) day."""
        return day not in self.closed and not any(c.is_closed(day) for c in self.calendars)

    def _own_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_open_day(day):
            return []
        midnight = datetime.combine(day, time(0))
        out = []
        for start, end in self.hours.get(day.weekday(), []):
            a = (midnight + timedelta(minutes=start)).replace(tzinfo=self.zone)
            b = (midnight + timedelta(minutes=end)).replace(tzinfo=self.zone)
            out.append((a.astimezone(UTC), b.astimezone(UTC)))
        return out

    def intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Occupied (start, end) UTC intervals overlapping local ``day``, clipped to it.

        Includes the part of the previous day's late bookings that runs past midnight.
        """
        found = self._cache.get(day)
        if found is None:
            day_start, day_end = self.day_bounds(day)
            spans = self._own_intervals(day) + self._own_intervals(day - timedelta(days=1))
            found = tuple(
                sorted(
                    (max(a, day_start), min(b, day_end))
                    for a, b in spans
                    if a < day_end and b > day_start
                )
            )
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[day] = found
        return found

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """Local midnight to next local midnight, as UTC instants (23, 24 or 25 h apart)."""
        start = datetime.combine(day, time(0)).replace(tzinfo=self.zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0)).replace(tzinfo=self.zone)
        return start, end.astimezone(UTC)

    def local_date(self, t: datetime) -> date:
        return _aware(t).astimezone(self.zone).date()

    def is_occupied(self, t: datetime) -> bool:
        """True when ``t`` (aware) falls inside an opening of an open day."""
        t = _aware(t).astimezone(UTC)
        return any(a <= t < b for a, b in self.intervals(self.local_date(t)))

    def span(self, t: datetime) -> tuple[datetime, datetime, bool]:
        """The span [a, b) around ``t`` (UTC, within its local day) over which occupancy does
        not change, and whether it is occupied."""
        t = _aware(t).astimezone(UTC)
        day = self.local_date(t)
        edge, day_end = self.day_bounds(day)
        for a, b in self.intervals(day):
            if t < a:
                return edge, a, False
            if t < b:
                return a, b, True
            edge = max(edge, b)
        return edge, day_end, False

    def occupied_seconds(self, start: datetime, end: datetime) -> float:
        """How many seconds of [start, end) are occupied; for shares of consumption outside
        occupancy and for the simulator's partly occupied time steps.

        Called for every consumption delta on ingestion: the span of constant occupancy
        reached last is kept, so an interval inside it costs two comparisons, and one across
        an opening or a closing computes the next span, where the following delta starts.
        """
        start, end = _aware(start).astimezone(UTC), _aware(end).astimezone(UTC)
        if end <= start:
            return 0.0
        a, b, occupied = self._span
        if not a <= start < b:
            a, b, occupied = self._span = self.span(start)
        if end <= b:
            return (end - start).total_seconds() if occupied else 0.0
        total = (b - start).total_seconds() if occupied else 0.0
        while b < end:
            t = b
            _, b, occupied = self._span = self.span(t)
            if occupied:
                total += (min(b, end) - t).total_seconds()
        return total

    def unoccupied_part(self, start: datetime, end: datetime, value: float) -> float:
        """The part of ``value``, consumed over (start, end], that fell outside occupancy,
        taking it as consumed evenly over the interval (a gap's too: nothing says when).

        Wholly unoccupied gives ``value`` itself and wholly occupied exactly 0, so the parts of
        a closed day add up to its total to the last digit.
        """
        seconds = (end - start).total_seconds()
        if seconds <= 0:
            return 0.0 if self.is_occupied(end) else value
        occupied = self.occupied_seconds(start, end)
        if occupied <= 0:
            return value
        if occupied >= seconds:
            return 0.0
        return value * (1 - occupied / seconds)


class BuildingSchedules:
    """The schedule of each building of an inventory, built on first use, for the ingestion's
    hot path: :meth:`unoccupied` runs once per consumption delta.

    A building without opening hours (or unknown, or whose hours do not parse) has no
    schedule, and its deltas no unoccupied part: an unknown schedule is not a closed building.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._schedules: dict[str, Schedule | None] = {}

    def get(self, building: str) -> Schedule | None:
        try:
            return self._schedules[building]
        except KeyError:
            pass
        schedule = None
        b = self.inventory.buildings.get(building)
        if b is not None and b.opening_hours:
            commune = self.inventory.communes.get(b.commune)
            try:
                schedule = Schedule.of(b, commune.timezone if commune else "Europe/Paris")
            except ValueError as exc:
                log.warning("building schedule unusable", building=building, error=str(exc))
        self._schedules[building] = schedule
        return schedule

    def unoccupied(
        self, building: str, start: datetime, end: datetime, value: float
    ) -> float | None:
        """The part of a delta outside the building's occupancy; None without a schedule."""
        try:
            schedule = self._schedules[building]
        except KeyError:
            schedule = self.get(building)
        if schedule is None:
            return None
        return schedule.unoccupied_part(start, end, value)


_NO_SPAN: Final = (datetime.min.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC), False)


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("occupancy needs aware datetimes")
    return t


def is_occupied(building: BuildingLike, t: datetime, timezone: str = "Europe/Paris") -> bool:
    """One-off question; build a :class:`Schedule` once when asking many times."""
    return Schedule.of(building, timezone).is_occupied(t)

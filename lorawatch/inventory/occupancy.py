"""When a public building is occupied: weekly opening hours, closure calendars and closures.

Consumption outside occupancy is the first waste a commune looks for (heating a closed hall,
lights left on at night), so the simulator, the pipeline and the alert rules must agree on
what "occupied" means; they all read it from here, from the building's inventory entry:

- ``opening_hours``: ``{"mon": ["08:30-12:00", "13:30-16:30"], ...}``; keys ``mon``..``sun``,
  a missing day is closed. ``24:00`` ends a day; an end before the start runs past midnight
  (``"20:00-01:00"``, a Saturday-night booking), and belongs to the day it starts.
- ``calendars``: names of closure calendars. ``fr-school`` is the school calendar of the
  building's commune (its ``academy``, else its ``school_zone``); ``fr-school-zone-b`` names
  one (French school holidays: data in ``calendars.toml`` beside this module, or imported
  from the Ministry's open data by ``lorawatch calendars import`` into the inventory's
  ``calendar_files``); ``fr-public-holidays`` (and ``fr-public-holidays-alsace-moselle``) are
  computed by the ``holidays`` library. A day closed by a calendar has no occupancy at all.
- ``closures``: extra closed days, ``"2026-12-24"`` or ``"2026-08-01..2026-08-20"``.

A data calendar speaks for the days it ``covers``, no further. Past them a school calendar
falls back to the zone's dates projected by the ``holidays`` library's rules (an estimate,
not the official table) instead of counting the school as open through its holidays, and
:func:`calendar_warnings` says so (``lorawatch config check``, ``/healthz``) from 60 days
before its end.

Everything is computed in the building's local time zone (opening hours are wall-clock
times, and a DST day is 23 or 25 hours long) and returned as aware UTC datetimes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol
from zoneinfo import ZoneInfo

import structlog
from pydantic_core import PydanticCustomError

from lorawatch.core.reasons import OneOf, Several

if TYPE_CHECKING:
    from lorawatch.inventory import Inventory

log = structlog.get_logger(__name__)

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CALENDAR_FILE: Final = Path(__file__).with_name("calendars.toml")
PUBLIC_HOLIDAYS: Final = "fr-public-holidays"
SCHOOL: Final = "fr-school"
"""Not a calendar: the school calendar of the building's commune (see Inventory)."""
COMPUTED: Final[dict[str, str | None]] = {
    PUBLIC_HOLIDAYS: None,
    "fr-public-holidays-alsace-moselle": "57",
}
"""Computed calendars: the ``holidays`` library's subdivision of France for each."""
WARN_DAYS: Final = 60
"""A calendar ending within this many days is warned about."""


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
    projection: str = ""
    """Past ``covers``, the school zone (``Zone A``, ``Zone B``, ``Zone C``) whose dates the
    ``holidays`` library projects by rule; empty: no projection, the days are unknown."""
    computed: bool = False
    subdivision: str | None = None

    def is_closed(self, day: date) -> bool:
        if self.computed:
            return day in public_holidays(day.year, self.subdivision)
        if self.covered(day):
            return day in self.closed
        return bool(self.projection) and day in projected_school_holidays(self.projection, day.year)

    def covered(self, day: date) -> bool:
        """Whether the calendar's own data speaks for ``day`` (a computed one: always)."""
        return self.covers is None or self.covers[0] <= day <= self.covers[1]

    def updated_by(self, newer: Calendar) -> Calendar:
        """``newer`` over this one: its data within its coverage, this one's before and after
        it, so importing the coming school years does not forget the past ones."""
        if self.covers is None or newer.covers is None:
            return newer
        (a, b), (c, d) = self.covers, newer.covers
        if b < c - timedelta(days=1) or d < a - timedelta(days=1):
            return newer  # a gap between them: nothing speaks for it
        kept = {day for day in self.closed if not c <= day <= d}
        return Calendar(
            newer.name,
            newer.description,
            newer.source,
            frozenset(kept | newer.closed),
            (min(a, c), max(b, d)),
            newer.projection or self.projection,
        )


def parse_day_range(text: str) -> tuple[date, date]:
    """``"2026-12-24"`` or ``"2026-08-01..2026-08-20"`` -> (first, last), inclusive."""
    first, sep, last = text.strip().partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        raise PydanticCustomError(
            "day_range",
            "{text} is not a date or a range YYYY-MM-DD..YYYY-MM-DD",
            {"text": repr(text)},
        ) from None
    if end < start:
        raise PydanticCustomError(
            "day_range_reversed", "{text} ends before it starts", {"text": repr(text)}
        )
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
        raise clock_range_error(text) from None
    if start >= 24 * 60:
        raise PydanticCustomError(
            "clock_range_start", "{text} starts at or after 24:00", {"text": repr(text)}
        )
    if end <= start:
        end += 24 * 60
    return start, end


def clock_range_error(text: str) -> PydanticCustomError:
    """``text`` is not ``HH:MM-HH:MM`` (opening hours, quiet hours, a rule's window)."""
    return PydanticCustomError(
        "clock_range", "{text} is not a time range HH:MM-HH:MM", {"text": repr(text)}
    )


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(text)
    return h * 60 + m


@cache
def public_holidays(year: int, subdivision: str | None = None) -> frozenset[date]:
    """French public holidays (jours fériés) of ``year``, from the ``holidays`` library:
    the eleven of metropolitan France (Whit Monday included: most town halls close), plus
    Good Friday and St Stephen's Day with ``subdivision`` "57" (Alsace-Moselle)."""
    return _holidays(subdivision, year, school=False)


@cache
def projected_school_holidays(zone: str, year: int) -> frozenset[date]:
    """School holidays of ``zone`` ("Zone B") in ``year`` projected by the ``holidays``
    library's rules: the fallback past an official calendar's end, an estimate."""
    return _holidays(zone, year, school=True)


_ASK_HOLIDAYS: Final = """
import json, sys
import holidays
subdivision, first, last, school = json.loads(sys.argv[1])
kwargs = {"categories": holidays.SCHOOL} if school else {}
days = holidays.country_holidays("FR", subdiv=subdivision, years=range(first, last + 1), **kwargs)
print(json.dumps(sorted(d.isoformat() for d in days)))
"""
"""The ``holidays`` library asked in a child interpreter: with its 300 modules of every
country's calendars, it holds ~13 MB for good in the process that imports it, which the
service (at ~150 MB in all) does not spend on a few dates a year."""


def _holidays(subdivision: str | None, year: int, *, school: bool) -> frozenset[date]:
    """The days of ``year`` (years around it are asked at once and kept: a service asks
    for this year and the next few at most)."""
    key = (subdivision, school)
    known = _HOLIDAY_YEARS.setdefault(key, {})
    if year not in known:
        first, last = year - 1, year + 2
        ask = json.dumps([subdivision, first, last, school])
        try:
            found = subprocess.run(
                [sys.executable, "-c", _ASK_HOLIDAYS, ask],
                capture_output=True,
                check=True,
                text=True,
                timeout=60,
            ).stdout
            days = [date.fromisoformat(d) for d in json.loads(found)]
        except (OSError, subprocess.SubprocessError, ValueError):
            # lazy: only where no child interpreter can run (the library's own answer)
            import holidays

            years = range(first, last + 1)
            categories = holidays.SCHOOL if school else holidays.PUBLIC
            days = list(
                holidays.country_holidays(
                    "FR", subdiv=subdivision, years=years, categories=categories
                )
            )
        for y in range(first, last + 1):
            known[y] = frozenset(d for d in days if d.year == y)
    return known[year]


_HOLIDAY_YEARS: dict[tuple[str | None, bool], dict[int, frozenset[date]]] = {}


def parse_calendars(raw: Mapping[str, Any], origin: str) -> dict[str, Calendar]:
    """Calendars from a TOML document (the format of ``calendars.toml``); ValueError naming
    every bad entry of ``origin``."""
    out: dict[str, Calendar] = {}
    problems: list[PydanticCustomError] = []

    def problem(where: str, reason: PydanticCustomError) -> None:
        problems.append(
            PydanticCustomError(
                "in_file",
                "{origin}: {where}: {reason}",
                {"origin": origin, "where": where, "reason": reason},
            )
        )

    for name, table in raw.items():
        if not isinstance(table, dict):
            problem(name, PydanticCustomError("table_type", "a table is expected"))
            continue
        closed: set[date] = set()
        for i, entry in enumerate(table.get("closed", [])):
            try:
                closed.update(_days(*parse_day_range(entry["days"])))
            except PydanticCustomError as exc:
                problem(f"{name}.closed[{i}]", exc)
            except (KeyError, TypeError, ValueError):
                problem(
                    f"{name}.closed[{i}]",
                    PydanticCustomError(
                        "closed_days", 'needs days = "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD"'
                    ),
                )
        covers = None
        if "covers" in table:
            try:
                covers = parse_day_range(str(table["covers"]))
            except PydanticCustomError as exc:
                problem(f"{name}.covers", exc)
        else:
            problem(
                f"{name}.covers",
                PydanticCustomError(
                    "covers_missing", "missing: say which days the data speaks for"
                ),
            )
        projection = str(table.get("projection", ""))
        zones = ("Zone A", "Zone B", "Zone C")
        if projection and projection not in zones:
            problem(
                f"{name}.projection",
                PydanticCustomError(
                    "projection", "expected {expected}", {"expected": OneOf(repr(z) for z in zones)}
                ),
            )
        out[name] = Calendar(
            name,
            str(table.get("description", "")),
            str(table.get("source", "")),
            frozenset(closed),
            covers,
            projection,
        )
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise PydanticCustomError("several", "{problems}", {"problems": Several(problems)})
    return out


def load_calendar_file(path: Path) -> dict[str, Calendar]:
    """The calendars of a TOML file (one written by ``lorawatch calendars import``)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PydanticCustomError("no_file", "{path} does not exist", {"path": str(path)}) from None
    except OSError as exc:
        raise PydanticCustomError(
            "unreadable_file",
            "{path}: cannot read it ({why})",
            {"path": str(path), "why": exc.strerror or exc},
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise PydanticCustomError(
            "not_toml", "{path}: not valid TOML ({why})", {"path": str(path), "why": str(exc)}
        ) from None
    return parse_calendars(raw, str(path))


@cache
def calendars() -> dict[str, Calendar]:
    """Every built-in calendar by name: the computed ones and those of ``calendars.toml``."""
    out = {
        name: Calendar(
            name,
            "French public holidays (jours fériés), "
            + ("Alsace-Moselle" if subdivision else "metropolitan France"),
            "Code du travail, articles L3133-1 and L3134-13; dates by the holidays library",
            frozenset(),
            computed=True,
            subdivision=subdivision,
        )
        for name, subdivision in COMPUTED.items()
    }
    raw = tomllib.loads(CALENDAR_FILE.read_text(encoding="utf-8"))
    out.update(parse_calendars(raw, CALENDAR_FILE.name))
    return out


def calendar(name: str, known: Mapping[str, Calendar] | None = None) -> Calendar:
    """The calendar called ``name`` (among ``known``, default the built-in ones); KeyError
    naming the known ones."""
    known = calendars() if known is None else known
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
        known: Mapping[str, Calendar] | None = None,
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
                self.calendars.append(calendar(name, known))
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
    def of(
        cls,
        building: BuildingLike,
        timezone: str = "Europe/Paris",
        inventory: Inventory | None = None,
    ) -> Schedule:
        """The schedule of an inventory building (``lorawatch.inventory.Building``), its
        calendars resolved through ``inventory`` (its calendar files, ``fr-school``)."""
        if inventory is None:
            return cls(building.opening_hours, building.calendars, building.closures, timezone)
        return cls(
            building.opening_hours,
            inventory.calendar_names(building),
            building.closures,
            timezone,
            inventory.calendars,
        )

    def uncovered(self, day: date) -> list[str]:
        """The calendars whose data does not speak for ``day`` (projected, or unknown)."""
        return [c.name for c in self.calendars if not c.covered(day)]

    def is_open_day(self, day: date) -> bool:
        """False when a closure or a calendar closes the whole (local) day."""
        return day not in self.closed and not any(c.is_closed(day) for c in self.calendars)

    def opens(self, day: date) -> bool:
        """Whether the building opens at all on local ``day``: hours that weekday, and no
        closure or calendar closing it. A weekend and a holiday are both closed days."""
        return bool(self.hours.get(day.weekday())) and self.is_open_day(day)

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
                schedule = Schedule.of(
                    b, commune.timezone if commune else "Europe/Paris", self.inventory
                )
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


def calendar_warnings(inventory: Inventory, today: date) -> list[dict[str, Any]]:
    """What an operator must renew: each data calendar used by a building that has ended or
    ends within :data:`WARN_DAYS` days, with a stable ``key`` (``calendar_ended``,
    ``calendar_ends_soon``) for probes and translations, as Home Assistant's repairs have."""
    users: dict[str, list[str]] = {}
    for b in inventory.buildings.values():
        try:
            names = inventory.calendar_names(b)
        except KeyError:
            continue
        for name in names:
            users.setdefault(name, []).append(b.id)
    out: list[dict[str, Any]] = []
    for name, buildings in sorted(users.items()):
        cal = inventory.calendars.get(name)
        if cal is None or cal.covers is None:
            continue
        end = cal.covers[1]
        left = (end - today).days
        if left > WARN_DAYS:
            continue
        fallback = (
            f"the {cal.projection} dates projected by rule (an estimate) are used past it"
            if cal.projection
            else "past it its closures are unknown and the buildings count as open"
        )
        key = "calendar_ended" if left < 0 else "calendar_ends_soon"
        when = f"ended on {end}" if left < 0 else f"ends on {end}, in {left} day(s)"
        out.append(
            {
                "key": key,
                "calendar": name,
                "ends": end.isoformat(),
                "days_left": left,
                "buildings": sorted(buildings),
                "message": f"calendar {name} {when}: {fallback}; import the next school years "
                "with `lorawatch calendars import`",
            }
        )
    return out

"""Occupancy: weekly hours, calendars (school holidays zone B, public holidays), closures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lorawatch.inventory import Building
from lorawatch.inventory.occupancy import (
    Schedule,
    calendar,
    calendars,
    is_occupied,
    parse_hours,
    public_holidays,
)

PARIS = ZoneInfo("Europe/Paris")
SCHOOL = {d: ["08:30-12:00", "13:30-16:30"] for d in ("mon", "tue", "thu", "fri")} | {
    "wed": ["08:30-12:00"]
}


def at(text: str) -> datetime:
    """Local Paris time."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def test_weekly_hours_and_wednesday_afternoon() -> None:
    s = Schedule(SCHOOL)
    assert s.is_occupied(at("2026-03-10T09:00"))  # Tuesday morning
    assert not s.is_occupied(at("2026-03-10T12:30"))  # lunch break
    assert s.is_occupied(at("2026-03-10T16:29"))
    assert not s.is_occupied(at("2026-03-10T16:30"))  # the end is excluded
    assert s.is_occupied(at("2026-03-11T10:00"))  # Wednesday morning
    assert not s.is_occupied(at("2026-03-11T14:00"))  # Wednesday afternoon off
    assert not s.is_occupied(at("2026-03-14T10:00"))  # Saturday


def test_school_holidays_zone_b() -> None:
    s = Schedule(SCHOOL, ["fr-school-zone-b"])
    assert s.is_occupied(at("2026-02-13T10:00"))  # last Friday before the winter holidays
    for day in ("2026-02-16", "2026-02-27", "2025-12-22", "2026-04-20", "2025-07-15"):
        assert not s.is_open_day(date.fromisoformat(day)), day
    assert s.is_occupied(at("2026-03-02T10:00"))  # back to school
    assert s.is_occupied(at("2025-09-01T10:00"))  # rentrée 2025


def test_public_holidays() -> None:
    # Easter Monday: Easter is 2026-04-05 and 2025-04-20 (published tables).
    assert date(2026, 4, 6) in public_holidays(2026) and date(2025, 4, 21) in public_holidays(2025)
    holidays = public_holidays(2026)
    assert len(holidays) == 11
    assert {date(2026, 4, 6), date(2026, 5, 14), date(2026, 5, 25), date(2026, 7, 14)} <= holidays
    s = Schedule(SCHOOL, ["fr-public-holidays"])
    assert not s.is_occupied(at("2026-05-14T10:00"))  # Ascension, a Thursday
    assert s.is_occupied(at("2026-05-12T10:00"))
    assert s.is_occupied(at("2026-04-03T10:00")), "Good Friday is worked in most of France"
    moselle = Schedule(SCHOOL, ["fr-public-holidays-alsace-moselle"])
    assert not moselle.is_open_day(date(2026, 4, 3)) and not moselle.is_open_day(date(2026, 12, 26))
    assert public_holidays(2026) < public_holidays(2026, "57")


def test_closures_days_and_ranges() -> None:
    s = Schedule(SCHOOL, closures=["2026-12-24", "2026-08-03..2026-08-07"])
    assert not s.is_open_day(date(2026, 12, 24))
    assert not s.is_occupied(at("2026-08-05T09:00"))
    assert s.is_occupied(at("2026-08-10T09:00"))


def test_booking_past_midnight_and_dst() -> None:
    s = Schedule({"sat": ["20:00-01:00"]})
    assert s.is_occupied(at("2026-03-28T23:30"))
    assert s.is_occupied(at("2026-03-29T00:30"))  # the Saturday booking runs on
    assert not s.is_occupied(at("2026-03-29T01:30"))
    # 29 March 2026 is 23 hours long in Paris; the intervals stay in wall-clock time.
    start, end = s.day_bounds(date(2026, 3, 29))
    assert end - start == timedelta(hours=23)
    assert s.occupied_seconds(at("2026-03-28T00:00"), at("2026-03-30T00:00")) == 5 * 3600


def test_occupied_seconds_is_additive() -> None:
    s = Schedule(SCHOOL, ["fr-school-zone-b", "fr-public-holidays"])
    a, b, c = at("2026-03-09T00:00"), at("2026-03-11T10:17"), at("2026-03-16T00:00")
    total = s.occupied_seconds(a, c)
    assert total == s.occupied_seconds(a, b) + s.occupied_seconds(b, c)
    assert total == (4 * 6.5 + 3.5) * 3600  # four full days and a Wednesday morning


def test_building_entry_and_utc_times() -> None:
    building = Building(
        id="mairie", commune="c", name="Mairie", opening_hours={"mon": ["08:30-12:00"]}
    )
    assert is_occupied(building, datetime(2026, 3, 9, 8, 0, tzinfo=UTC))  # 09:00 in Paris
    assert not is_occupied(building, datetime(2026, 3, 9, 7, 0, tzinfo=UTC))


def test_bad_entries_are_all_reported() -> None:
    with pytest.raises(ValueError) as info:
        Schedule(
            {"monday": ["08:00-12:00"], "tue": ["8h-12h"]}, ["fr-school-zone-z"], ["2026-13-01"]
        )
    message = str(info.value)
    for part in ("'monday'", "'8h-12h'", "fr-school-zone-z", "2026-13-01"):
        assert part in message
    with pytest.raises(ValueError, match="aware"):
        Schedule(SCHOOL).is_occupied(datetime(2026, 3, 9, 9, 0))


def test_parse_hours() -> None:
    assert parse_hours("08:30-12:00") == (510, 720)
    assert parse_hours("18:00-24:00") == (1080, 1440)
    assert parse_hours("22:00-02:00") == (1320, 1560)
    with pytest.raises(ValueError):
        parse_hours("24:30-25:00")


def test_calendar_data_has_a_source_and_covers_three_school_years() -> None:
    zone_b = calendar("fr-school-zone-b")
    assert zone_b.source and zone_b.covers is not None
    assert zone_b.covers[0] <= date(2024, 9, 1) and zone_b.covers[1] >= date(2027, 7, 1)
    assert "fr-public-holidays" in calendars()
    with pytest.raises(KeyError, match="known"):
        calendar("nope")


def test_holidays_come_from_the_library_asked_in_a_child_or_in_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The dates are the ``holidays`` library's, whether a child interpreter answers (the
    service does not keep the library in memory) or, where none can run, the process itself."""
    import holidays

    from lorawatch.inventory import occupancy

    expected = {
        "public": frozenset(holidays.country_holidays("FR", years=2031)),
        "alsace": frozenset(holidays.country_holidays("FR", subdiv="57", years=2031)),
        "school": frozenset(
            holidays.country_holidays("FR", subdiv="Zone A", years=2031, categories=holidays.SCHOOL)
        ),
    }

    def asked() -> dict[str, frozenset[date]]:
        occupancy.public_holidays.cache_clear()
        occupancy.projected_school_holidays.cache_clear()
        occupancy._HOLIDAY_YEARS.clear()
        return {
            "public": occupancy.public_holidays(2031),
            "alsace": occupancy.public_holidays(2031, "57"),
            "school": occupancy.projected_school_holidays("Zone A", 2031),
        }

    assert asked() == expected
    assert len(expected["alsace"]) == len(expected["public"]) + 2
    monkeypatch.setattr(occupancy.sys, "executable", str(tmp_path / "no-python"))
    assert asked() == expected

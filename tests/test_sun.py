"""Sunrise and sunset against published values for Rennes, and the physical edge cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lorawatch.inventory.sun import CIVIL_ZENITH, is_dark, sun_times

PARIS = ZoneInfo("Europe/Paris")
RENNES = (48.111, -1.680)


def local(t: datetime | None) -> datetime:
    assert t is not None
    return t.astimezone(PARIS)


# La Chaîne Météo's ephemeris for Rennes, rounded to the minute. Published ephemerides differ
# among themselves by a few minutes (which town coordinates, which convention), so the
# tolerance is 4 minutes: enough to catch a wrong time zone, sign or season.
@pytest.mark.parametrize(
    ("day", "sunrise", "sunset"),
    [
        (date(2026, 1, 7), "08:54", "17:32"),
        (date(2026, 1, 18), "08:47", "17:46"),
        (date(2025, 6, 27), "06:08", "22:11"),
    ],
)
def test_published_rennes_times(day: date, sunrise: str, sunset: str) -> None:
    times = sun_times(day, *RENNES)
    for got, want in ((times.sunrise, sunrise), (times.sunset, sunset)):
        expected = datetime.combine(day, datetime.strptime(want, "%H:%M").time(), PARIS)
        assert abs(local(got) - expected) <= timedelta(minutes=4), (got, want)


def test_equinox_day_is_a_little_over_twelve_hours() -> None:
    # Refraction and the sun's radius lengthen the equinox day by several minutes at 48° N.
    length = sun_times(date(2026, 3, 20), *RENNES).daylight
    assert timedelta(hours=12, minutes=2) < length < timedelta(hours=12, minutes=16)


def test_solstices_bound_the_day_length() -> None:
    summer = sun_times(date(2026, 6, 21), *RENNES).daylight
    winter = sun_times(date(2026, 12, 21), *RENNES).daylight
    assert timedelta(hours=15, minutes=50) < summer < timedelta(hours=16, minutes=20)
    assert timedelta(hours=8, minutes=10) < winter < timedelta(hours=8, minutes=35)
    for day in (date(2026, 5, 1), date(2026, 9, 1), date(2026, 11, 11)):
        assert winter < sun_times(day, *RENNES).daylight < summer


def test_civil_dusk_comes_after_sunset() -> None:
    day = date(2026, 10, 1)
    official = sun_times(day, *RENNES)
    civil = sun_times(day, *RENNES, zenith=CIVIL_ZENITH)
    assert official.sunset is not None and civil.sunset is not None
    assert timedelta(minutes=25) < civil.sunset - official.sunset < timedelta(minutes=45)


def test_polar_day_and_night() -> None:
    # Longyearbyen, 78° N: midnight sun in June, polar night in December.
    june = sun_times(date(2026, 6, 21), 78.2, 15.6)
    december = sun_times(date(2026, 12, 21), 78.2, 15.6)
    assert june.sunrise is None and june.polar_day and june.daylight == timedelta(hours=24)
    assert december.sunrise is None and not december.polar_day and december.daylight == timedelta(0)


def test_is_dark() -> None:
    day = date(2026, 2, 3)
    times = sun_times(day, 48.217, -1.580)
    assert times.sunrise is not None and times.sunset is not None
    assert is_dark(times.sunrise - timedelta(minutes=1), 48.217, -1.580)
    assert not is_dark(times.sunrise + timedelta(minutes=1), 48.217, -1.580)
    assert not is_dark(times.sunset - timedelta(minutes=1), 48.217, -1.580)
    assert is_dark(times.sunset + timedelta(minutes=1), 48.217, -1.580)
    assert is_dark(datetime(2026, 2, 3, 23, 30, tzinfo=UTC), 48.217, -1.580)
    with pytest.raises(ValueError, match="aware"):
        is_dark(datetime(2026, 2, 3, 12, 0), 48.217, -1.580)

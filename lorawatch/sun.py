"""Sunrise and sunset for a date and a place, so dusk-to-dawn rules need no network service.

Street lighting is switched at dusk and dawn: the simulator lights its lamps by these times
and the alert rules use them to tell a lamp that should be lit from one that may be off.
The computation follows NOAA's "General Solar Position Calculations" (the fractional-year
series for the equation of time and the solar declination, and the hour angle of the sun
at a zenith of 90.833°, i.e. upper limb on the horizon with standard refraction). It is
accurate to about a minute at mid latitudes, far below what a lighting controller resolves;
each event is computed twice, the second time with the fractional year taken at the event
itself, which removes most of the error of evaluating the series at noon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

OFFICIAL_ZENITH: Final = 90.833
"""Sunrise/sunset: the upper limb on the horizon, with 34' of atmospheric refraction."""
CIVIL_ZENITH: Final = 96.0
"""Civil dawn/dusk: the sun 6° below the horizon."""


@dataclass(frozen=True, slots=True)
class SunTimes:
    """Sunrise and sunset of one date (UTC instants). None when the sun does not cross."""

    sunrise: datetime | None
    sunset: datetime | None
    polar_day: bool = False
    """True when the sun stays above the zenith all day (no sunrise, no sunset)."""

    @property
    def daylight(self) -> timedelta:
        """Time between sunrise and sunset (24 h on a polar day, 0 on a polar night)."""
        if self.sunrise is not None and self.sunset is not None:
            return self.sunset - self.sunrise
        return timedelta(hours=24) if self.polar_day else timedelta(0)


def _series(day_of_year: int, hour_utc: float, days_in_year: int) -> tuple[float, float]:
    """(equation of time in minutes, declination in radians) at that instant."""
    gamma = 2 * math.pi / days_in_year * (day_of_year - 1 + (hour_utc - 12) / 24)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    return eqtime, decl


def _event_minutes(
    day: date, latitude: float, longitude: float, zenith: float, rising: bool
) -> float | bool:
    """Minutes after 00:00 UTC of ``day``; True: sun always above; False: always below."""
    days_in_year = (
        366 if day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0) else 365
    )
    doy = day.timetuple().tm_yday
    lat = math.radians(latitude)
    guess_hour = 12.0 - longitude / 15.0 + (-6.0 if rising else 6.0)
    minutes = 0.0
    for _ in range(2):
        eqtime, decl = _series(doy, guess_hour, days_in_year)
        cos_ha = math.cos(math.radians(zenith)) / (math.cos(lat) * math.cos(decl)) - math.tan(
            lat
        ) * math.tan(decl)
        if cos_ha < -1:
            return True
        if cos_ha > 1:
            return False
        ha = math.degrees(math.acos(cos_ha))
        minutes = 720 - 4 * (longitude + (ha if rising else -ha)) - eqtime
        guess_hour = minutes / 60
    return minutes


def sun_times(
    day: date, latitude: float, longitude: float, zenith: float = OFFICIAL_ZENITH
) -> SunTimes:
    """Sunrise and sunset on ``day`` (a UTC calendar date) at a place; east longitude positive.

    For Europe the UTC date is the local date, so the result is that local day's events.
    Pass :data:`CIVIL_ZENITH` for civil dawn and dusk.
    """
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    rise = _event_minutes(day, latitude, longitude, zenith, rising=True)
    set_ = _event_minutes(day, latitude, longitude, zenith, rising=False)
    if isinstance(rise, bool) or isinstance(set_, bool):
        return SunTimes(None, None, polar_day=rise is True)
    return SunTimes(midnight + timedelta(minutes=rise), midnight + timedelta(minutes=set_))


def is_dark(
    t: datetime, latitude: float, longitude: float, zenith: float = OFFICIAL_ZENITH
) -> bool:
    """True between sunset and the next sunrise at that place (``t`` must be aware)."""
    if t.tzinfo is None:
        raise ValueError("is_dark needs an aware datetime")
    utc = t.astimezone(UTC)
    times = sun_times(utc.date(), latitude, longitude, zenith)
    if times.sunrise is None or times.sunset is None:
        return not times.polar_day
    return not times.sunrise <= utc < times.sunset

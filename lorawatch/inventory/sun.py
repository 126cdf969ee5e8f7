"""Sunrise and sunset for a date and a place, so dusk-to-dawn rules need no network service.

Street lighting is switched at dusk and dawn: the simulator lights its lamps by these times
and the alert rules use them to tell a lamp that should be lit from one that may be off.
The computation follows NOAA's solar calculator (Meeus' low-precision solar coordinates:
the sun's apparent longitude, the obliquity of the ecliptic, the equation of time and the
declination, then the hour angle at a zenith of 90.833°, i.e. the upper limb on the horizon
with standard refraction). The sun's position is re-evaluated at the estimated event time,
three passes, so the result is good to well under a minute at mid latitudes; published
ephemerides differ among themselves by a minute or two (town coordinates, rounding).
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


def _sun(jd: float) -> tuple[float, float]:
    """(equation of time in minutes, declination in degrees) at Julian day ``jd``."""
    t = (jd - 2451545.0) / 36525.0  # Julian centuries since J2000.0
    mean_long = (280.46646 + t * (36000.76983 + t * 0.0003032)) % 360
    anomaly = math.radians(357.52911 + t * (35999.05029 - 0.0001537 * t))
    ecc = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    centre = (
        math.sin(anomaly) * (1.914602 - t * (0.004817 + 0.000014 * t))
        + math.sin(2 * anomaly) * (0.019993 - 0.000101 * t)
        + math.sin(3 * anomaly) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * t)
    apparent = math.radians(mean_long + centre - 0.00569 - 0.00478 * math.sin(omega))
    seconds = 21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))
    obliquity = math.radians(23 + (26 + seconds / 60) / 60 + 0.00256 * math.cos(omega))
    decl = math.degrees(math.asin(math.sin(obliquity) * math.sin(apparent)))
    y = math.tan(obliquity / 2) ** 2
    l0 = math.radians(mean_long)
    eqtime = 4 * math.degrees(
        y * math.sin(2 * l0)
        - 2 * ecc * math.sin(anomaly)
        + 4 * ecc * y * math.sin(anomaly) * math.cos(2 * l0)
        - 0.5 * y * y * math.sin(4 * l0)
        - 1.25 * ecc * ecc * math.sin(2 * anomaly)
    )
    return eqtime, decl


def _event_minutes(
    day: date, latitude: float, longitude: float, zenith: float, rising: bool
) -> float | bool:
    """Minutes after 00:00 UTC of ``day``; True: sun always above; False: always below."""
    midnight_jd = day.toordinal() + 1721424.5
    lat = math.radians(latitude)
    minutes = 720.0 - 4 * longitude + (-360.0 if rising else 360.0)
    for _ in range(3):  # each pass evaluates the sun's position at the previous estimate
        eqtime, decl_deg = _sun(midnight_jd + minutes / 1440)
        decl = math.radians(decl_deg)
        cos_ha = math.cos(math.radians(zenith)) / (math.cos(lat) * math.cos(decl)) - math.tan(
            lat
        ) * math.tan(decl)
        if cos_ha < -1:
            return True
        if cos_ha > 1:
            return False
        ha = math.degrees(math.acos(cos_ha))
        minutes = 720 - 4 * (longitude + (ha if rising else -ha)) - eqtime
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

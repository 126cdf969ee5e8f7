"""Outside temperature at the site: a seasonal and daily curve, passing weather, cold snaps.

Heating load follows the outside temperature, so a demo winter must look like a Breton
winter: a mild oceanic climate (Rennes-Saint-Jacques normals: about 6 °C in January and
19 °C in July, days some 8-11 K warmer than nights), weather systems passing over a few days,
and the occasional cold snap the scenario schedules (the kind of week when heating bills
jump and a heating fault shows). Every term is a smooth function of time, drawn from the
seed, so the temperature at any instant needs no history and no wall clock.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

YEAR_S = 365.2425 * 86400.0
_TWO_PI = 2 * math.pi
# 2000-01-15 00:00 UTC, the coldest time of year in the seasonal term.
_COLDEST = datetime(2000, 1, 15, tzinfo=UTC).timestamp()
# Periods (days) and amplitudes (K) of the passing weather systems.
_SYNOPTIC = ((2.9, 1.1), (6.3, 1.6), (12.7, 1.3), (27.0, 0.9))


@dataclass(frozen=True, slots=True)
class ColdSnap:
    """``delta_c`` added between ``start`` and ``end``, ramped in and out over ``ramp_h``."""

    start: float
    end: float
    delta_c: float
    ramp_h: float = 24.0

    def at(self, ts: float) -> float:
        ramp = self.ramp_h * 3600
        if ts <= self.start - ramp or ts >= self.end + ramp:
            return 0.0
        if ts < self.start:
            return self.delta_c * (ts - self.start + ramp) / ramp
        if ts > self.end:
            return self.delta_c * (self.end + ramp - ts) / ramp
        return self.delta_c


@dataclass(frozen=True, slots=True)
class Weather:
    """Outside air temperature (°C) as a function of a Unix timestamp."""

    mean_c: float = 12.6
    seasonal_amplitude_c: float = 6.6
    daily_amplitude_c: float = 4.5
    phases: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    cold_snaps: tuple[ColdSnap, ...] = field(default_factory=tuple)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], seed: int, timezone: str) -> Weather:
        """From a scenario's ``[scenario.weather]`` table; the seed draws the weather systems."""
        rng = random.Random(f"{seed}/weather")  # noqa: S311 - a simulation, not a secret
        zone = ZoneInfo(timezone)
        snaps = tuple(
            ColdSnap(
                _instant(s["start"], zone),
                _instant(s["end"], zone),
                float(s.get("delta_c", -8.0)),
                float(s.get("ramp_h", 24.0)),
            )
            for s in spec.get("cold_snaps", [])
        )
        return cls(
            mean_c=float(spec.get("mean_c", 12.6)),
            seasonal_amplitude_c=float(spec.get("seasonal_amplitude_c", 6.6)),
            daily_amplitude_c=float(spec.get("daily_amplitude_c", 4.5)),
            phases=tuple(rng.uniform(0, 2 * math.pi) for _ in _SYNOPTIC),
            cold_snaps=snaps,
        )

    def seasonal(self, ts: float) -> float:
        """The climatological daily mean for that time of year."""
        angle = 2 * math.pi * (ts - _COLDEST) / YEAR_S
        return self.mean_c - self.seasonal_amplitude_c * math.cos(angle)

    def at(self, ts: float) -> float:
        """Temperature at Unix time ``ts``: coldest near dawn, warmest mid-afternoon."""
        cos_season = math.cos(_TWO_PI * (ts - _COLDEST) / YEAR_S)
        # Wider daily swing in summer (long sunny days) than in a cloudy winter.
        daily = self.daily_amplitude_c * (1 - 0.25 * cos_season)
        solar_hour = (ts / 3600.0) % 24.0  # UTC is within an hour of solar time in Brittany
        value = self.mean_c - self.seasonal_amplitude_c * cos_season
        value += daily * math.cos(_TWO_PI * (solar_hour - 14.5) / 24.0)
        turns = _TWO_PI * (ts / 86400.0)
        for (period, amplitude), phase in zip(_SYNOPTIC, self.phases, strict=True):
            value += amplitude * math.sin(turns / period + phase)
        for snap in self.cold_snaps:
            value += snap.at(ts)
        return value

    def daily_mean(self, day: date, zone: ZoneInfo) -> float:
        """Mean over a local day (eight samples), which decides if heating is in season."""
        start = datetime.combine(day, time(0)).replace(tzinfo=zone).timestamp()
        return sum(self.at(start + (i + 0.5) * 10800) for i in range(8)) / 8


def _instant(value: object, zone: ZoneInfo) -> float:
    """A TOML date, local or offset datetime, or ISO text, as a Unix timestamp."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).timestamp()
    if isinstance(value, date):
        return datetime.combine(value, time(0)).replace(tzinfo=zone).timestamp()
    raise ValueError(f"{value!r} is not a date or a datetime")


def to_datetime(value: object, zone: ZoneInfo) -> datetime:
    """A TOML date/datetime or ISO text as an aware UTC datetime (local times in ``zone``)."""
    return datetime.fromtimestamp(_instant(value, zone), tz=UTC)

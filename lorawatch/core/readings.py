"""The canonical readings: the normalised vocabulary every decoder maps vendor data onto.

Units are in the names so a stored field explains itself (see docs/data-model.md). A name is
never reused with another unit; extend :data:`CANONICAL` when a device needs more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    """How a reading behaves over time, which decides how the pipeline treats it."""

    GAUGE = "gauge"  # an instantaneous value (power, temperature)
    COUNTER = "counter"  # a cumulative index that only grows, but wraps and resets
    FLAG = "flag"  # a boolean state


@dataclass(frozen=True, slots=True)
class Spec:
    unit: str
    kind: Kind
    low: float
    high: float
    meaning: str


CANONICAL: Final[dict[str, Spec]] = {
    "energy_kwh": Spec("kWh", Kind.COUNTER, 0, 1e10, "cumulative active energy index"),
    "power_w": Spec("W", Kind.GAUGE, -1e7, 1e7, "active power"),
    "current_a": Spec("A", Kind.GAUGE, -1e4, 1e4, "current"),
    "voltage_v": Spec("V", Kind.GAUGE, 0, 1000, "mains voltage"),
    "power_factor": Spec("", Kind.GAUGE, -1, 1, "power factor"),
    "pulse_count": Spec("count", Kind.COUNTER, 0, 2**64, "raw cumulative pulse counter"),
    "volume_m3": Spec("m3", Kind.COUNTER, 0, 1e10, "cumulative water volume index"),
    "flow_l_h": Spec("L/h", Kind.GAUGE, 0, 1e7, "water flow"),
    "leak": Spec("bool", Kind.FLAG, 0, 1, "leak detected"),
    "distance_mm": Spec("mm", Kind.GAUGE, 0, 100_000, "measured distance (bin sensors)"),
    "fill_pct": Spec("%", Kind.GAUGE, 0, 100, "bin fill level from distance and geometry"),
    "tilted": Spec("bool", Kind.FLAG, 0, 1, "sensor tilted / lid open"),
    "lamp_on": Spec("bool", Kind.FLAG, 0, 1, "lamp lit"),
    "dim_pct": Spec("%", Kind.GAUGE, 0, 100, "dimming level"),
    "lamp_failure": Spec("bool", Kind.FLAG, 0, 1, "lamp or driver failure"),
    "lamp_hours": Spec("h", Kind.COUNTER, 0, 1e7, "cumulative lamp-on time"),
    "battery_pct": Spec("%", Kind.GAUGE, 0, 100, "battery level"),
    "battery_v": Spec("V", Kind.GAUGE, 0, 60, "battery voltage"),
    "temperature_c": Spec("°C", Kind.GAUGE, -60, 150, "temperature"),
    "humidity_pct": Spec("%RH", Kind.GAUGE, 0, 100, "relative humidity"),
    "outdoor_temperature_c": Spec(
        "°C", Kind.GAUGE, -60, 60, "outdoor air temperature: a commune's weather source"
    ),
}

# Derived by the pipeline from counters, never by decoders.
DERIVED: Final[dict[str, Spec]] = {
    "energy_delta_kwh": Spec("kWh", Kind.GAUGE, 0, 1e7, "energy consumed in the interval"),
    "volume_delta_m3": Spec("m3", Kind.GAUGE, 0, 1e7, "water consumed in the interval"),
}

OUTDOOR: Final = "outdoor_temperature_c"
"""What an outdoor sensor's ``temperature_c`` is stored as (and what weather imports write):
the commune's weather, never mixed with room temperatures."""

DELTA_OF: Final[dict[str, str]] = {"energy_kwh": "energy_delta_kwh", "volume_m3": "volume_delta_m3"}


def unit_of(name: str) -> str:
    spec = CANONICAL.get(name) or DERIVED.get(name)
    return spec.unit if spec else ""


@dataclass(slots=True)
class Reading:
    """One canonical value of one device at one instant.

    ``channel`` tells apart several values of the same name on one device (a two-input pulse
    counter, a four-lamp DALI controller); it is "" for single-channel devices.
    ``modulus`` is set on counters that wrap: the index value at which the device's register
    rolls over to zero, in the reading's unit, so the pipeline can tell a wrap from a reset.
    """

    name: str
    value: float | bool
    time: datetime
    channel: str = ""
    modulus: float | None = None

    @property
    def unit(self) -> str:
        return unit_of(self.name)

    @property
    def number(self) -> float:
        return float(self.value)

    def problem(self) -> str | None:
        """Why this reading breaks the vocabulary, or None when it is valid."""
        bounds = _BOUNDS.get(self.name)
        if bounds is None:
            return f"{self.name!r} is not a canonical reading name"
        if self.time.tzinfo is None:
            return f"{self.name}: time {self.time.isoformat()} has no time zone"
        value = self.value
        low, high, flag = bounds
        if flag:
            return None if value.__class__ is bool else f"{self.name} must be a bool"
        if value.__class__ is not float and value.__class__ is not int:
            return f"{self.name} must be a number, not {type(value).__name__}"
        if low <= value <= high:  # NaN fails every comparison, so it lands below
            return None
        if not math.isfinite(float(value)):
            return f"{self.name} is not a finite number"
        return f"{self.name}={value} is outside its plausible range [{low}, {high}]"


# (low, high, is_flag) per name: the range check runs for every reading stored.
_BOUNDS: Final[dict[str, tuple[float, float, bool]]] = {
    name: (spec.low, spec.high, spec.kind is Kind.FLAG) for name, spec in CANONICAL.items()
}


def keep_valid(readings: Iterable[Reading], kept: list[Reading]) -> None:
    """Append to ``kept`` the readings whose :meth:`Reading.problem` is None.

    Every decoded reading goes through here: a number inside its name's range with a zoned
    time, nearly all of them, is told valid in one look, the rest by ``problem()``."""
    bounds_of = _BOUNDS.get
    for r in readings:
        bounds = bounds_of(r.name)
        value = r.value
        if (
            bounds is not None
            and (value.__class__ is float or value.__class__ is int)
            and bounds[0] <= value <= bounds[1]
            and not bounds[2]
            and r.time.tzinfo is not None
        ) or r.problem() is None:
            kept.append(r)

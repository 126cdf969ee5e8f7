"""TTN's normalized payload (``normalizeUplink``) onto lorawatch's canonical readings.

A Device Repository codec may add ``normalizeUplink``, which turns its vendor data into
measurements of a shared schema (lib/payload.json of TheThingsNetwork/lorawan-devices). Those
fields have fixed units, so they map onto canonical readings with no configuration:

====================================  =================  ==========================
TTN normalized field                  canonical reading  conversion
====================================  =================  ==========================
``water.leak`` (bool or text)         ``leak``           ``true``/"leak"/"detected"
``metering.water.total`` (L)          ``volume_m3``      x 0.001
``air.temperature`` (°C)              ``temperature_c``
``air.relativeHumidity`` (%)          ``humidity_pct``
``water.temperature.current`` (°C)    ``temperature_c``  channel ``water``
``battery`` (V)                       ``battery_v``
====================================  =================  ==========================

The schema has no energy, lamp or fill-level fields; other fields (``air.co2``,
``air.pressure``, ``air.lightIntensity``, ``action.*``, ``soil.*``, ``wind.*``, ``position``)
have no canonical reading and are left in the vendor data. A measurement's ``time`` becomes its
readings' time. When a device needs more (an energy index, a plug's on/off), the inventory's
mapping reads the vendor data (mapping.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from lorawatch.core.readings import Reading

# How the problems of normalized output start (the pipeline counts them as mapping events).
PROBLEM_PREFIXES: Final = ("normalized[", "normalizeUplink:")

_LEAK_TEXT: Final = {
    "true": True,
    "leak": True,
    "detected": True,
    "yes": True,
    "wet": True,
    "false": False,
    "noleak": False,
    "no leak": False,
    "none": False,
    "no": False,
    "dry": False,
    "normal": False,
}


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _leak(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _LEAK_TEXT.get(value.strip().lower())
    return None


# (path, reading, channel, converter from the TTN value)
FIELDS: Final[tuple[tuple[str, str, str, Callable[[object], float | bool | None]], ...]] = (
    ("water.leak", "leak", "", _leak),
    (
        "metering.water.total",
        "volume_m3",
        "",
        lambda v: None if (n := _number(v)) is None else n / 1000,
    ),
    ("air.temperature", "temperature_c", "", _number),
    ("air.relativeHumidity", "humidity_pct", "", _number),
    ("water.temperature.current", "temperature_c", "water", _number),
    ("battery", "battery_v", "", _number),
)


def _at(obj: Mapping[str, Any], path: str) -> Any:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def readings(measurements: list[dict[str, Any]], time: datetime) -> tuple[list[Reading], list[str]]:
    """Canonical readings of normalized measurements, and a warning per unusable value."""
    out: list[Reading] = []
    warnings: list[str] = []
    for i, measurement in enumerate(measurements):
        when = time
        stamp = measurement.get("time")
        if isinstance(stamp, str):
            try:
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                warnings.append(f"normalized[{i}].time: {stamp!r} is not an RFC 3339 time")
        for path, name, channel, convert in FIELDS:
            value = _at(measurement, path)
            if value is None:
                continue
            converted = convert(value)
            if converted is None:
                warnings.append(f"normalized[{i}].{path}: {value!r} cannot be read as {name}")
            else:
                out.append(Reading(name, converted, when, channel))
    return out, warnings

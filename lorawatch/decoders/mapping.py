"""Declarative field mapping: vendor keys onto canonical readings, configuration only.

For a device with no native decoder, ChirpStack's own codec output (``object``) or a vendor JS
codec's ``data`` can be read through a mapping in the inventory, with no code::

    [devices.mapping]
    "pulse"        = { reading = "pulse_count" }
    "temperature"  = { reading = "temperature_c" }
    "meter.volume" = { reading = "volume_m3", scale = 0.001 }   # litres -> m3

Keys are dot paths into the object. ChirpStack's ``object`` is a protobuf Struct, so every
number arrives as a double (``1000.0``); booleans map onto flag readings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from lorawatch.core.readings import CANONICAL, Kind, Reading


class FieldMapping(BaseModel):
    """One vendor key mapped onto a canonical reading: value x scale + offset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reading: str
    scale: float = 1.0
    offset: float = 0.0
    channel: str = ""

    @field_validator("reading")
    @classmethod
    def _canonical(cls, value: str) -> str:
        if value not in CANONICAL:
            raise ValueError(f"{value!r} is not a canonical reading name")
        return value


def _lookup(obj: Mapping[str, Any], path: str) -> Any:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def apply(
    obj: Mapping[str, Any], mapping: Mapping[str, FieldMapping], time: datetime
) -> tuple[list[Reading], list[str]]:
    """Readings for the mapped keys present in ``obj``, and a warning per unusable value."""
    readings: list[Reading] = []
    warnings: list[str] = []
    for path, field in mapping.items():
        value = _lookup(obj, path)
        if value is None:
            continue
        flag = CANONICAL[field.reading].kind is Kind.FLAG
        if flag and isinstance(value, bool | int | float):
            readings.append(Reading(field.reading, bool(value), time, field.channel))
        elif not flag and isinstance(value, int | float) and not isinstance(value, bool):
            readings.append(
                Reading(
                    field.reading, float(value) * field.scale + field.offset, time, field.channel
                )
            )
        else:
            warnings.append(f"{path}: {value!r} cannot be read as {field.reading}")
    return readings, warnings

"""Declarative field mapping: what a vendor's codec says, onto canonical readings, no code.

For a device with no native decoder, a vendor JS codec's ``data`` (or ChirpStack's decoded
``object``) is read through a mapping in the inventory. Vendors say things in many ways, so a
field can be found and interpreted as follows::

    [devices.mapping]
    "status"                     = { reading = "leak", values = { Leak = true, NoLeak = false } }
    "water_leak_level"           = { reading = "leak", above = 200 }     # 0-255 level
    "sockets[0].state"           = { reading = "lamp_on", values = { ON = true, OFF = false } }
    "meters[displayName=Energy].value" = { reading = "energy_kwh", unit = "Wh" }
    "frames"                     = { reading = "pulse_count", modulus = 65536 }
    "temp"                       = { reading = "temperature_c", scale = 0.1, offset = -40 }
    "leak 2"                     = { path = "probes[1].wet", reading = "leak", channel = "2" }

* **Paths**: the key (or ``path``) is a dot path; ``[n]`` (or ``.n``) indexes a list and
  ``[key=value]`` picks the list item whose ``key`` is ``value``.
* **Enumerations**: ``values`` maps what the vendor sends (text, numbers and booleans compared
  as text, case-insensitive) onto the reading's value: a boolean for a flag, a number otherwise.
* **Thresholds**: a number becomes a flag only through ``above`` (true when greater) or
  ``below`` (true when smaller); without one, only 0 and 1 are accepted, so a 0-255 level of
  17 never reads as a leak.
* **Scale, offset and unit**: the value becomes ``value x scale + offset`` in the vendor's
  ``unit``, then is converted to the reading's unit (``Wh`` -> kWh, ``L`` -> m³, ``mV`` ->
  V, ``cm`` -> mm, ``°F`` -> °C...; see :data:`UNITS`). A number written as text with its
  unit (``"1234 mm"``, ``"3.6V"``) reads with that unit when ``unit`` is not given.
* **Counters**: ``modulus`` is the register's wrap in vendor counts (65536 for 16 bits), so
  the meter logic tells a wrap from a reset.

What a mapping cannot do: arithmetic between fields, conditions on another field, or parsing
text beyond a number and its unit: those need a codec (or a native decoder). A value it cannot read is not
dropped silently: :func:`apply` returns a warning for it, which the pipeline records as a
counted ``mapping`` quality event. ChirpStack's ``object`` is a protobuf Struct, so every
number there arrives as a double (``1000.0``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from lorawatch.core.readings import CANONICAL, Kind, Reading
from lorawatch.core.reasons import Items

# vendor unit -> (canonical unit, factor, offset): canonical = vendor x factor + offset
UNITS: Final[dict[str, tuple[str, float, float]]] = {
    "Wh": ("kWh", 0.001, 0.0),
    "kWh": ("kWh", 1.0, 0.0),
    "MWh": ("kWh", 1000.0, 0.0),
    "W": ("W", 1.0, 0.0),
    "kW": ("W", 1000.0, 0.0),
    "mA": ("A", 0.001, 0.0),
    "A": ("A", 1.0, 0.0),
    "mV": ("V", 0.001, 0.0),
    "V": ("V", 1.0, 0.0),
    "L": ("m3", 0.001, 0.0),
    "l": ("m3", 0.001, 0.0),
    "dm3": ("m3", 0.001, 0.0),
    "m3": ("m3", 1.0, 0.0),
    "m³": ("m3", 1.0, 0.0),
    "L/h": ("L/h", 1.0, 0.0),
    "L/min": ("L/h", 60.0, 0.0),
    "m3/h": ("L/h", 1000.0, 0.0),
    "mm": ("mm", 1.0, 0.0),
    "cm": ("mm", 10.0, 0.0),
    "m": ("mm", 1000.0, 0.0),
    "%": ("%", 1.0, 0.0),
    "%RH": ("%RH", 1.0, 0.0),
    "h": ("h", 1.0, 0.0),
    "min": ("h", 1 / 60, 0.0),
    "s": ("h", 1 / 3600, 0.0),
    "°C": ("°C", 1.0, 0.0),
    "C": ("°C", 1.0, 0.0),
    "°F": ("°C", 5 / 9, -32 * 5 / 9),
    "F": ("°C", 5 / 9, -32 * 5 / 9),
    "K": ("°C", 1.0, -273.15),
    "count": ("count", 1.0, 0.0),
}
# Canonical units that accept another spelling ("%" for a relative humidity).
_SAME_UNIT: Final = {("%RH", "%"), ("%", "%RH")}
_STEP = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")


def parse_path(path: str) -> list[str | int | tuple[str, str]]:
    """``a.b[0].c[name=x]`` -> ``['a', 'b', 0, 'c', ('name', 'x')]``; ValueError if malformed."""
    steps: list[str | int | tuple[str, str]] = []
    pos = 0
    text = path.strip()
    if not text:
        raise PydanticCustomError("path_empty", "empty path")
    while pos < len(text):
        if text[pos] == ".":
            pos += 1
            continue
        match = _STEP.match(text, pos)
        if match is None:
            raise PydanticCustomError(
                "path_unreadable",
                "path {path}: cannot read from {rest}",
                {"path": repr(path), "rest": repr(text[pos:])},
            )
        pos = match.end()
        bracket, name = match.groups()
        if name is not None:
            steps.append(int(name) if name.isdigit() else name)
        elif "=" in bracket:
            key, _, value = bracket.partition("=")
            if not key.strip():
                raise PydanticCustomError(
                    "path_key", "path {path}: [key=value] needs a key", {"path": repr(path)}
                )
            steps.append((key.strip(), value.strip().strip("'\"")))
        elif bracket.strip().lstrip("-").isdigit():
            steps.append(int(bracket))
        else:
            raise PydanticCustomError(
                "path_step",
                "path {path}: {step} is neither an index nor key=value",
                {"path": repr(path), "step": f"[{bracket}]"},
            )
    return steps


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def lookup(obj: object, steps: list[str | int | tuple[str, str]]) -> Any:
    """The value at ``steps`` in ``obj``, or None when any step is missing."""
    current: Any = obj
    for step in steps:
        if isinstance(step, tuple):
            if not isinstance(current, list):
                return None
            key, want = step
            current = next(
                (
                    item
                    for item in current
                    if isinstance(item, Mapping) and key in item and _text(item[key]) == want
                ),
                None,
            )
        elif isinstance(step, int) and isinstance(current, list):
            if not -len(current) <= step < len(current):
                return None
            current = current[step]
        elif isinstance(current, Mapping):
            current = current.get(str(step))
        else:
            return None
        if current is None:
            return None
    return current


class FieldMapping(BaseModel):
    """One vendor field mapped onto a canonical reading (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reading: str
    path: str = ""
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    values: dict[str, bool | float] = Field(default_factory=dict)
    above: float | None = None
    below: float | None = None
    modulus: float | None = Field(None, gt=0)
    channel: str = ""

    @field_validator("reading")
    @classmethod
    def _canonical(cls, value: str) -> str:
        if value not in CANONICAL:
            raise PydanticCustomError(
                "reading_name",
                "{name} is not a canonical reading name (known: {known})",
                {"name": repr(value), "known": Items(sorted(CANONICAL))},
            )
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if value:
            parse_path(value)
        return value

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        if value and value not in UNITS:
            raise PydanticCustomError(
                "unit",
                "unit {unit} is not known (known: {known})",
                {"unit": repr(value), "known": Items(UNITS)},
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        spec = CANONICAL[self.reading]
        flag = spec.kind is Kind.FLAG
        names = {"reading": self.reading}
        if flag and (self.unit or self.scale != 1.0 or self.offset != 0.0):
            raise PydanticCustomError(
                "flag_units", "{reading} is a flag: use values, above or below, not units", names
            )
        if not flag and (self.above is not None or self.below is not None):
            raise PydanticCustomError(
                "not_a_flag", "above/below make flags; {reading} is not one", names
            )
        if self.modulus is not None and spec.kind is not Kind.COUNTER:
            raise PydanticCustomError(
                "modulus",
                "modulus is for counters; {reading} is a {kind}",
                {**names, "kind": spec.kind.value},
            )
        if self.unit:
            target = UNITS[self.unit][0]
            if target != spec.unit and (target, spec.unit) not in _SAME_UNIT:
                raise PydanticCustomError(
                    "unit_mismatch",
                    "unit {unit} converts to {target}, but {reading} is in {wanted}",
                    {**names, "unit": repr(self.unit), "target": target, "wanted": spec.unit},
                )
        for key, value in self.values.items():
            where = {**names, "key": repr(key)}
            if flag and not isinstance(value, bool):
                raise PydanticCustomError(
                    "flag_value", "values[{key}]: {reading} is a flag: true or false", where
                )
            if not flag and isinstance(value, bool):
                raise PydanticCustomError(
                    "number_value", "values[{key}]: {reading} needs a number", where
                )
        return self

    def steps(self, key: str) -> list[str | int | tuple[str, str]]:
        return parse_path(self.path or key)

    def read(self, value: object) -> float | bool | str:
        """The reading's value for a vendor value, or the text of why it cannot be read."""
        if self.values:
            text = _text(value)
            found = self.values.get(text)
            if found is None:
                folded = {k.lower(): v for k, v in self.values.items()}
                found = folded.get(text.lower())
            if found is None:
                return f"{value!r} is not one of {', '.join(self.values)}"
            value = found
        flag = CANONICAL[self.reading].kind is Kind.FLAG
        if flag:
            return self._flag(value)
        number = _number(value)
        unit = self.unit
        if number is None and isinstance(value, str):
            number, said = _with_unit(value)
            if number is not None and not unit:
                target = CANONICAL[self.reading].unit
                if said is None or (
                    UNITS[said][0] != target and (UNITS[said][0], target) not in _SAME_UNIT
                ):
                    return f"{value!r}: its unit does not convert to {target}"
                unit = said
        if number is None:
            return f"{value!r} is not a number"
        number = number * self.scale + self.offset
        if unit:
            _, factor, shift = UNITS[unit]
            number = number * factor + shift
        return number

    def _flag(self, value: object) -> bool | str:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            return value.strip().lower() == "true"
        number = _number(value)
        if number is None:
            return f"{value!r} is neither a boolean nor a number"
        if self.above is not None or self.below is not None:
            return (self.above is not None and number > self.above) or (
                self.below is not None and number < self.below
            )
        if number in (0.0, 1.0):
            return number == 1.0
        return (
            f"{value!r} is a number, not a state: give 'above' or 'below' (a threshold) or 'values'"
        )

    def modulus_of(self) -> float | None:
        """The register's wrap in the reading's unit."""
        if self.modulus is None:
            return None
        factor = UNITS[self.unit][1] if self.unit else 1.0
        return self.modulus * abs(self.scale) * factor


_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)\s*$")


def _with_unit(text: str) -> tuple[float | None, str | None]:
    """``"1234 mm"`` -> (1234.0, "mm"); a suffix that is not a known unit gives (n, None), and
    text that does not start with a number gives (None, None)."""
    match = _NUMBER_UNIT.match(text)
    if match is None:
        return None, None
    number = _number(match.group(1))
    suffix = match.group(2)
    return number, suffix if suffix in UNITS else None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def apply(
    obj: Mapping[str, Any], mapping: Mapping[str, FieldMapping], time: datetime
) -> tuple[list[Reading], list[str]]:
    """Readings for the mapped fields present in ``obj``, and a warning per unusable value.

    A field that is absent is not a warning: codecs send different fields in different frames.
    """
    readings: list[Reading] = []
    warnings: list[str] = []
    for key, field in mapping.items():
        value = lookup(obj, field.steps(key))
        if value is None:
            continue
        got = field.read(value)
        if isinstance(got, str):
            warnings.append(f"mapping {key!r} -> {field.reading}: {got}")
            continue
        readings.append(Reading(field.reading, got, time, field.channel, field.modulus_of()))
    return readings, warnings

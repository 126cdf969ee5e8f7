"""Cayenne LPP (Low Power Payload), the generic channel/type format of myDevices.

Many DIY and small-vendor nodes (Arduino/RAK/Heltec boards, some commercial sensors) speak
Cayenne LPP, so a commune can bring a home-built temperature or energy node without writing a
decoder. A frame is a run of ``channel, type, value`` records, values big-endian, sizes and
resolutions fixed by the type: the IPSO types of the original format plus the extended types of
the ElectronicCats library. The channel number becomes ``Reading.channel``; the vendor data keys
are ``<name>_<channel>`` as the ElectronicCats TTN decoder prints them (``temperature_3``).

Canonical mapping: temperature, humidity, voltage, current, power, energy (uint32 / 1000 kWh,
so it wraps at 4294967.296 kWh), distance (m -> mm). Voltage is read as mains voltage unless
``battery_voltage_channel`` names the channel of a battery voltage (then ``battery_v``);
``battery_percentage_channel`` turns that channel's percentage into ``battery_pct``.
Sources: myDevices Cayenne LPP documentation (https://docs.mydevices.com/docs/lorawan/cayenne-lpp),
ElectronicCats/CayenneLPP src/CayenneLPP.h and decoders/decoder.js (type table, names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final

from lorawatch.core.errors import DecodeError
from lorawatch.core.readings import Reading
from lorawatch.decoders.base import Decoder, Param, Params, Uplink, plausible
from lorawatch.decoders.binary import ByteReader
from lorawatch.decoders.registry import register


@dataclass(frozen=True, slots=True)
class LppType:
    name: str
    size: int
    divisor: float = 1
    signed: bool = False
    axes: tuple[str, ...] = ()
    """Named fields of a multi-value type (accelerometer...), each size/len(axes) bytes."""


TYPES: Final[Mapping[int, LppType]] = {
    0: LppType("digital_in", 1),
    1: LppType("digital_out", 1),
    2: LppType("analog_in", 2, 100, signed=True),
    3: LppType("analog_out", 2, 100, signed=True),
    100: LppType("generic", 4),
    101: LppType("illuminance", 2),
    102: LppType("presence", 1),
    103: LppType("temperature", 2, 10, signed=True),
    104: LppType("humidity", 1, 2),
    113: LppType("accelerometer", 6, 1000, signed=True, axes=("x", "y", "z")),
    115: LppType("barometer", 2, 10),
    116: LppType("voltage", 2, 100),
    117: LppType("current", 2, 1000),
    118: LppType("frequency", 4),
    120: LppType("percentage", 1),
    121: LppType("altitude", 2, signed=True),
    128: LppType("power", 2),
    130: LppType("distance", 4, 1000),
    131: LppType("energy", 4, 1000),
    132: LppType("direction", 2),
    133: LppType("time", 4),
    134: LppType("gyrometer", 6, 100, signed=True, axes=("x", "y", "z")),
    136: LppType("gps", 9, signed=True, axes=("latitude", "longitude", "altitude")),
    142: LppType("switch", 1),
    143: LppType("ppm", 2),
    144: LppType("rgb", 3, axes=("r", "g", "b")),
}
TYPE_OF_NAME: Final[Mapping[str, int]] = {t.name: code for code, t in TYPES.items()}
_GPS_DIVISORS = (10000, 10000, 100)
ENERGY_MODULUS = 2**32 / 1000
_LORAWAN_APP_PORTS = range(1, 224)


def _number(raw: bytes, spec: LppType, divisor: float) -> int | float:
    value = int.from_bytes(raw, "big", signed=spec.signed)
    return value if divisor == 1 else round(value / divisor, 6)


def _field(r: ByteReader, spec: LppType, what: str) -> Any:
    if not spec.axes:
        return _number(r.take(spec.size, what), spec, spec.divisor)
    width = spec.size // len(spec.axes)
    divisors = _GPS_DIVISORS if spec.name == "gps" else (spec.divisor,) * len(spec.axes)
    return {
        axis: _number(r.take(width, f"{what} {axis}"), spec, divisor)
        for axis, divisor in zip(spec.axes, divisors, strict=True)
    }


def _key(key: str) -> tuple[str, str]:
    name, _, channel = key.rpartition("_")
    return name, channel


@register
class CayenneLPP(Decoder):
    name = "cayenne-lpp"
    vendor = "myDevices (generic format)"
    device = "Cayenne LPP"
    family = "generic"
    readings = (
        "temperature_c",
        "humidity_pct",
        "voltage_v",
        "current_a",
        "power_w",
        "energy_kwh",
        "distance_mm",
        "battery_v",
        "battery_pct",
    )
    parameters: ClassVar[Mapping[str, Param]] = {
        "battery_voltage_channel": Param("LPP channel whose voltage is the battery voltage", str),
        "battery_percentage_channel": Param(
            "LPP channel whose percentage is the battery level", str
        ),
    }
    documentation = "https://docs.mydevices.com/docs/lorawan/cayenne-lpp"

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        if uplink.f_port not in _LORAWAN_APP_PORTS:
            raise DecodeError(f"fPort {uplink.f_port} is not an application port (1-223)")
        if not uplink.payload:
            raise DecodeError("empty payload")
        r = ByteReader(uplink.payload)
        data: dict[str, Any] = {}
        while r.remaining:
            at = r.pos
            if r.remaining < 2:
                raise DecodeError(f"dangling byte at offset {at}: a record needs channel and type")
            channel, code = r.u8("channel"), r.u8("type")
            spec = TYPES.get(code)
            if spec is None:
                message = (
                    f"unknown LPP type {code} at offset {at}; "
                    f"{len(uplink.payload) - at} byte(s) not decoded"
                )
                if not data:
                    raise DecodeError(message)
                warnings.append(message)
                break
            key = f"{spec.name}_{channel}"
            if key in data:
                warnings.append(f"{key} repeated at offset {at}; the last value is kept")
            data[key] = _field(r, spec, key)
        return data

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        battery_v = str(params.get("battery_voltage_channel", ""))
        battery_pct = str(params.get("battery_percentage_channel", ""))
        out: list[Reading] = []
        for key, value in data.items():
            name, channel = _key(key)
            if isinstance(value, Mapping | bool):
                continue
            number = float(value)
            if name == "temperature":
                out.append(Reading("temperature_c", number, time, channel))
            elif name == "humidity":
                out.append(Reading("humidity_pct", number, time, channel))
            elif name == "voltage":
                canonical = "battery_v" if channel == battery_v else "voltage_v"
                out.append(Reading(canonical, number, time, channel))
            elif name == "current":
                out.append(Reading("current_a", number, time, channel))
            elif name == "power":
                out.append(Reading("power_w", number, time, channel))
            elif name == "energy":
                out.append(Reading("energy_kwh", number, time, channel, ENERGY_MODULUS))
            elif name == "distance":
                out.append(Reading("distance_mm", round(number * 1000, 3), time, channel))
            elif name == "percentage" and channel == battery_pct:
                out.append(Reading("battery_pct", number, time, channel))
        # LPP fields are wider than the physical ranges (temperature up to 3276.7 °C, humidity
        # up to 127.5 %): such values stay in the vendor data, they are not readings.
        return plausible(*out)

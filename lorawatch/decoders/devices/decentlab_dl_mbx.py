"""Decentlab DL-MBX: ultrasonic distance / level sensor for LoRaWAN, used on waste containers.

Fitted above a container or silo, it reports the median of 15 ultrasonic samples (invalid
samples discarded) with the count of valid ones, so the commune sees how full each bin is.
Decentlab protocol version 2, big endian: version (1 byte, = 2), device id (2), sensor flags
(2, a bitmask saying which sensor blocks follow), then 16-bit words per flagged block:
bit 0 = distance mm + number of valid samples, bit 1 = battery mV. A block whose samples were
all invalid (0 valid samples), or a distance of 0, is no measurement and gives no reading.
Each measured value is given as Decentlab's decoder gives it (and TTN's Device Repository
examples state it): ``{displayName, unit, value}``, battery in V.
Source: decentlab/decentlab-decoders (MIT), DL-MBX (protocol description and key names), and
the DL-MBX datasheet (measurement principle, 15 samples).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lorawatch.core.errors import DecodeError
from lorawatch.core.readings import CANONICAL, Reading
from lorawatch.decoders.base import Decoder, Params, Uplink
from lorawatch.decoders.binary import ByteReader
from lorawatch.decoders.bins import BIN_PARAMETERS, bin_readings
from lorawatch.decoders.registry import register

PROTOCOL_VERSION = 2
DATA_FPORT = 1
DISTANCE_FLAG = 0x0001
BATTERY_FLAG = 0x0002
KNOWN_FLAGS = DISTANCE_FLAG | BATTERY_FLAG
BATTERY_MAX_V = CANONICAL["battery_v"].high


def value_of(data: Mapping[str, Any], key: str) -> Any:
    """The value of a ``{displayName, unit, value}`` entry, or None when absent."""
    entry = data.get(key)
    return entry.get("value") if isinstance(entry, Mapping) else None


def _entry(display_name: str, unit: str | None, value: float) -> dict[str, Any]:
    return {"displayName": display_name, "unit": unit, "value": value}


def valid_distance(data: Mapping[str, Any]) -> bool:
    """Whether the distance block is a measurement (Decentlab's sentinels excluded)."""
    return bool(value_of(data, "number_of_valid_samples")) and bool(value_of(data, "distance"))


@register
class DecentlabDLMBX(Decoder):
    name = "decentlab-dl-mbx"
    vendor = "Decentlab"
    device = "DL-MBX"
    family = "waste"
    readings = ("battery_v", "distance_mm", "fill_pct")
    parameters = BIN_PARAMETERS
    documentation = (
        "https://www.decentlab.com/products/ultrasonic-distance-/-level-sensor-for-lorawan"
    )

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        if uplink.f_port != DATA_FPORT:
            warnings.append(f"fPort {uplink.f_port} is not Decentlab's data port {DATA_FPORT}")
        r = ByteReader(uplink.payload)
        version = r.u8("protocol_version")
        if version != PROTOCOL_VERSION:
            raise DecodeError(f"protocol version {version} doesn't match v2")
        data: dict[str, Any] = {"protocol_version": version, "device_id": r.u16be("device_id")}
        flags = r.u16be("sensor flags")
        if flags & DISTANCE_FLAG:
            distance = r.u16be("distance")
            samples = r.u16be("number_of_valid_samples")
            data["distance"] = _entry("Distance", "mm", distance)
            data["number_of_valid_samples"] = _entry("Number of valid samples", None, samples)
            if not valid_distance(data):
                warnings.append(
                    f"distance {distance} mm with {samples} valid sample(s) is not a measurement"
                )
        if flags & BATTERY_FLAG:
            volts = r.u16be("battery_voltage") / 1000
            data["battery_voltage"] = _entry("Battery voltage", "V", volts)
            if volts > BATTERY_MAX_V:
                warnings.append(f"battery_voltage {volts} V is implausible")
        if flags & ~KNOWN_FLAGS:
            warnings.append(
                f"sensor flags 0x{flags:04x} name blocks unknown to DL-MBX; "
                f"{r.remaining} byte(s) not decoded"
            )
        elif r.remaining:
            warnings.append(f"{r.remaining} trailing byte(s) after the flagged blocks ignored")
        return data

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out: list[Reading] = []
        if valid_distance(data):
            out.extend(bin_readings(float(value_of(data, "distance")), params, time))
        volts = value_of(data, "battery_voltage")
        if isinstance(volts, int | float) and volts <= BATTERY_MAX_V:
            out.append(Reading("battery_v", float(volts), time))
        return out

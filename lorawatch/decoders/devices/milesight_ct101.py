"""Milesight CT101 (CT10x family): LoRaWAN current transformer clamped on one conductor.

Clamped on the supply of a circuit (heating, pumps, lighting board of a public building), it
reports the RMS current every interval, threshold and over-range alarms, and its own
temperature. It also reports a cumulative "total current" in ampere-hours: that is not energy
(without voltage and power factor Ah cannot become kWh), so it stays in the vendor data as
``total_current`` (uint32 / 100 Ah, wraps at 42949672.95 Ah) and maps onto no canonical name.
Sentinels: current 0xFFFF (collection failure), temperature 0xFFFD (over range) and 0xFFFF
(failure) become status strings, never readings; as in Milesight's decoder the temperature
sentinels are compared unsigned, so -0.3 °C and -0.1 °C cannot be told from them. Configuration echoes (0xFF/0xFE channel:
report interval, alarm settings, reboot...) are decoded into the vendor data.
Source: Milesight CT10x documentation, "Uplink Data" and "Downlink Command"
(https://www.milesight.com/products/docs/en/ct10x/), and the Milesight-IoT SensorDecoders
CT_Series/CT10x README (payload tables and examples).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lorawatch.core.readings import Reading
from lorawatch.decoders.base import Params, plausible
from lorawatch.decoders.binary import ByteReader
from lorawatch.decoders.milesight import (
    CONDITIONS,
    Handler,
    MilesightDecoder,
    Record,
    Scalar,
    lookup,
    replies,
    u16,
    yes,
)
from lorawatch.decoders.registry import register

_SENSOR_STATUS = {0xFFFD: "over range alarm", 0xFFFF: "read failed"}
_CURRENT_ALARM_BITS = (
    "current_threshold_alarm",
    "current_threshold_alarm_release",
    "current_over_range_alarm",
    "current_over_range_alarm_release",
)
_TEMPERATURE_ALARM = {0: "temperature threshold alarm release", 1: "temperature threshold alarm"}


_total_current = Scalar("total_current", "u32le", 100)


def _current_value(r: ByteReader, what: str) -> float | None:
    raw = r.u16le(what)
    return None if raw == 0xFFFF else raw / 100


def _current(r: ByteReader, data: dict[str, Any]) -> None:
    value = _current_value(r, "current")
    if value is None:
        data["current_sensor_status"] = "read failed"
    else:
        data["current"] = value


def _temperature_value(r: ByteReader, data: dict[str, Any]) -> None:
    raw = r.u16le("temperature")
    if raw in _SENSOR_STATUS:
        data["temperature_sensor_status"] = _SENSOR_STATUS[raw]
    else:
        data["temperature"] = (raw - 0x10000 if raw & 0x8000 else raw) / 10


def _current_alarm(r: ByteReader, data: dict[str, Any]) -> None:
    for key in ("current_max", "current_min", "current"):
        value = _current_value(r, key)
        if value is not None:
            data[key] = value
        elif key == "current":
            data["current_sensor_status"] = "read failed"
    flags = r.u8("current_alarm")
    data["current_alarm"] = {
        name: "yes" if flags >> bit & 1 else "no" for bit, name in enumerate(_CURRENT_ALARM_BITS)
    }


def _temperature_alarm(r: ByteReader, data: dict[str, Any]) -> None:
    _temperature_value(r, data)
    data["temperature_alarm"] = lookup(_TEMPERATURE_ALARM, r.u8("temperature_alarm"))


def _report_interval(r: ByteReader, data: dict[str, Any]) -> None:
    r.u8("report_interval reserved byte")
    data["report_interval"] = r.u16le("report_interval")


def _threshold_config(r: ByteReader, data: dict[str, Any]) -> None:
    """Byte 1 packs the alarm channel (bits 3-5) and condition; then min, max, interval, counts.

    Milesight's own decoder (TTN Device Repository, vendor/milesight-iot/ct101.js, 2025)
    reads the alarm interval before the alarm counts, so ``ff06 0a 0000 3c00 0200 0500``
    is an interval of 2 and 5 counts; we follow the vendor's decoder, whose output our data
    is compared with, rather than the order of the user guide's table.
    """
    control = r.u8("threshold control")
    channel = (control >> 3) & 0x07
    temperature = channel == 0x04
    raw = [r.u16le("threshold min"), r.u16le("threshold max")]
    limits = [(v - 0x10000 if v & 0x8000 else v) / 10 if temperature else v for v in raw]
    config: dict[str, Any] = {
        "condition": lookup(CONDITIONS, control & 0x07),
        "min_threshold": limits[0],
        "max_threshold": limits[1],
        "alarm_interval": r.u16le("alarm_interval"),
        "alarm_counts": r.u16le("alarm_counts"),
    }
    if channel == 0x01:
        data["current_threshold_alarm_config"] = config
    elif temperature:
        data["temperature_threshold_alarm_config"] = config
    else:
        data["threshold_alarm_config"] = {"channel": channel, **config}


_SETTINGS: dict[int, Handler] = {
    0x02: u16("alarm_report_interval"),
    0x06: _threshold_config,
    0x10: yes("reboot"),
    0x27: yes("clear_current_cumulative"),
    0x28: yes("report_status"),
    0x8E: _report_interval,
    0xF2: u16("alarm_report_counts"),
}

_HANDLERS: dict[tuple[int, int], Record] = {
    (0x03, 0x97): _total_current,
    (0x04, 0x98): _current,
    (0x09, 0x67): _temperature_value,
    (0x84, 0x98): _current_alarm,
    (0x89, 0x67): _temperature_alarm,
    **replies(_SETTINGS),
}


@register
class MilesightCT101(MilesightDecoder):
    name = "milesight-ct101"
    vendor = "Milesight"
    device = "CT101"
    family = "energy"
    readings = ("current_a", "temperature_c", "battery_pct")
    documentation = "https://www.milesight.com/iot/product/lorawan-sensor/ct10x"
    handlers = _HANDLERS

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out: list[Reading] = []
        if "current" in data:
            out.append(Reading("current_a", float(data["current"]), time))
        if "temperature" in data:
            out.append(Reading("temperature_c", float(data["temperature"]), time))
        if "battery" in data:
            out.append(Reading("battery_pct", float(data["battery"]), time))
        # A 16-bit temperature or an 8-bit battery can hold values no sensor measures.
        return plausible(*out)

"""Milesight EM310-UDL: ultrasonic distance sensor, fitted under the lid of a waste bin.

At a commune's drop-off points it tells how full each container is, so collection rounds go
where they are needed, and reports when it is tilted (lid left open, container knocked over).
It sends battery, distance and position on fPort 85, the device information records after
join, and echoes configuration (intervals, distance alarm) after a downlink.
Source: Milesight-IoT SensorDecoders, em-series/em310-udl README (payload tables and example),
with the configuration records laid out as in em310-udl-encoder.js of the same repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lorawatch.decoders.base import Decoder, Params, Uplink
from lorawatch.decoders.binary import ByteReader
from lorawatch.decoders.bins import BIN_PARAMETERS, bin_readings
from lorawatch.decoders.milesight import Handler, check_port, walk
from lorawatch.decoders.registry import register
from lorawatch.readings import Reading

_POSITION = {0: "normal", 1: "tilt"}
_TILTED = {"normal": False, "tilt": True}
_CONDITION = {0: "disable", 1: "below", 2: "above", 3: "between", 4: "outside"}
_ENABLE = {0: "disable", 1: "enable"}


def _lookup(table: Mapping[int, str], value: int) -> str:
    return table.get(value, f"unknown ({value})")


def _distance(r: ByteReader, data: dict[str, Any]) -> None:
    data["distance"] = r.u16le("distance")


def _position(r: ByteReader, data: dict[str, Any]) -> None:
    data["position"] = _lookup(_POSITION, r.u8("position"))


def _interval(key: str) -> Handler:
    def read(r: ByteReader, data: dict[str, Any]) -> None:
        data[key] = r.u16le(key)

    return read


def _reboot(r: ByteReader, data: dict[str, Any]) -> None:
    r.u8("reboot")
    data["reboot"] = "yes"


def _distance_alarm_config(r: ByteReader, data: dict[str, Any]) -> None:
    mode = r.u8("distance_alarm_config condition")
    data["distance_alarm_config"] = {
        "condition": _lookup(_CONDITION, mode & 0x07),
        "alarm_release_enable": _ENABLE[(mode >> 7) & 0x01],
        "threshold_min": r.i16le("distance_alarm_config threshold_min"),
        "threshold_max": r.i16le("distance_alarm_config threshold_max"),
        "lock_time": r.u16le("distance_alarm_config lock_time"),
        "continue_time": r.u16le("distance_alarm_config continue_time"),
    }


# Configuration echoes come on channel 0xFF (or 0xFE) with the downlink command's own type.
_CONFIG: dict[int, Handler] = {
    0x02: _interval("collection_interval"),
    0x03: _interval("report_interval"),
    0x06: _distance_alarm_config,
    0x10: _reboot,
}

_HANDLERS: dict[tuple[int, int], Handler] = {
    (0x03, 0x82): _distance,
    (0x04, 0x00): _position,
    **{(channel, kind): fn for channel in (0xFF, 0xFE) for kind, fn in _CONFIG.items()},
}


@register
class MilesightEM310UDL(Decoder):
    name = "milesight-em310-udl"
    vendor = "Milesight"
    device = "EM310-UDL"
    family = "waste"
    readings = ("battery_pct", "distance_mm", "fill_pct", "tilted")
    parameters = BIN_PARAMETERS
    documentation = "https://www.milesight.com/iot/product/lorawan-sensor/em310-udl"

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        check_port(uplink.f_port, warnings)
        data = walk(uplink.payload, _HANDLERS, warnings)
        if data.get("battery", 0) > 100:
            warnings.append(f"battery {data['battery']} % is above 100, not a reading")
        return data

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out: list[Reading] = []
        if "battery" in data and data["battery"] <= 100:
            out.append(Reading("battery_pct", float(data["battery"]), time))
        if "distance" in data:
            out.extend(bin_readings(float(data["distance"]), params, time))
        position = data.get("position")
        if position in _TILTED:
            out.append(Reading("tilted", _TILTED[position], time))
        return out

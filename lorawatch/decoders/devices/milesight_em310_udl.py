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

from lorawatch.core.readings import Reading
from lorawatch.decoders.base import Params, Uplink
from lorawatch.decoders.binary import ByteReader
from lorawatch.decoders.bins import BIN_PARAMETERS, bin_readings
from lorawatch.decoders.milesight import (
    CONDITIONS,
    ENABLE,
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

_POSITION = {0: "normal", 1: "tilt"}
_TILTED = {"normal": False, "tilt": True}


_distance = Scalar("distance", "u16le")


def _position(r: ByteReader, data: dict[str, Any]) -> None:
    data["position"] = lookup(_POSITION, r.u8("position"))


def _distance_alarm_config(r: ByteReader, data: dict[str, Any]) -> None:
    mode = r.u8("distance_alarm_config condition")
    data["distance_alarm_config"] = {
        "condition": lookup(CONDITIONS, mode & 0x07),
        "alarm_release_enable": ENABLE[(mode >> 7) & 0x01],
        "threshold_min": r.i16le("distance_alarm_config threshold_min"),
        "threshold_max": r.i16le("distance_alarm_config threshold_max"),
        "lock_time": r.u16le("distance_alarm_config lock_time"),
        "continue_time": r.u16le("distance_alarm_config continue_time"),
    }


# Configuration echoes come on channel 0xFF (or 0xFE) with the downlink command's own type.
_CONFIG: dict[int, Handler] = {
    0x02: u16("collection_interval"),
    0x03: u16("report_interval"),
    0x06: _distance_alarm_config,
    0x10: yes("reboot"),
}

_HANDLERS: dict[tuple[int, int], Record] = {
    (0x03, 0x82): _distance,
    (0x04, 0x00): _position,
    **replies(_CONFIG),
}


@register
class MilesightEM310UDL(MilesightDecoder):
    name = "milesight-em310-udl"
    vendor = "Milesight"
    device = "EM310-UDL"
    family = "waste"
    readings = ("battery_pct", "distance_mm", "fill_pct", "tilted")
    parameters = BIN_PARAMETERS
    documentation = "https://www.milesight.com/iot/product/lorawan-sensor/em310-udl"
    handlers = _HANDLERS

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        data = super().decode(uplink, warnings)
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

"""Milesight EM300-ZLD (zone) and EM300-SLD (spot) leak detection sensors.

A commune fits them under boilers, water heaters and in plant rooms of schools and sports
halls, where a silent leak means a flooded floor on Monday: the leakage status is what matters,
temperature and humidity come with it. Both models send the same frames; records stored while
the network is away (0x20 0xCE) are retransmitted later with their own timestamps, and the
device answers configuration requests with records under channel 0xFF/0xFE.
Source: Milesight-IoT SensorDecoders, em-series/em300-zld/README.md and em300-sld/README.md
(identical payload tables), and the EM300-SLD/ZLD user guide, "Uplink Packets".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lorawatch.decoders.base import Decoder, Params, Uplink
from lorawatch.decoders.binary import ByteReader
from lorawatch.decoders.milesight import (
    Handler,
    append_history,
    check_port,
    humidity,
    temperature,
    walk,
)
from lorawatch.decoders.registry import register
from lorawatch.readings import Reading

_LEAKAGE = {0: "normal", 1: "leak"}
_LEAK_OF_STATUS = {"normal": False, "leak": True}
_ENABLE = {0: "disable", 1: "enable"}
_CONDITION = {0: "disable", 1: "below", 2: "above", 3: "between", 4: "outside"}
_D2D_MODE = {
    0: "disable",
    1: "temperature_alarm",
    2: "temperature_alarm_release",
    3: "leakage_alarm",
    4: "leakage_alarm_release",
}
_D2D_REPORT = {0: "lora", 1: "d2d", 3: "d2d_and_lora"}


def _lookup(table: Mapping[int, str], value: int) -> str:
    return table.get(value, f"unknown ({value})")


def _leakage(r: ByteReader, data: dict[str, Any]) -> None:
    data["leakage_status"] = _lookup(_LEAKAGE, r.u8("leakage_status"))


def _history(r: ByteReader, data: dict[str, Any]) -> None:
    point: dict[str, Any] = {"timestamp": r.u32le("history timestamp")}
    point["temperature"] = r.i16le("history temperature") / 10
    point["humidity"] = r.u8("history humidity") / 2
    point["leakage_status"] = _lookup(_LEAKAGE, r.u8("history leakage_status"))
    append_history(data, point)


def _u16_field(key: str) -> Handler:
    def handler(r: ByteReader, data: dict[str, Any]) -> None:
        data[key] = r.u16le(key)

    return handler


def _yes_field(key: str) -> Handler:
    def handler(r: ByteReader, data: dict[str, Any]) -> None:
        r.u8(key)
        data[key] = "yes"

    return handler


def _enable_field(key: str) -> Handler:
    def handler(r: ByteReader, data: dict[str, Any]) -> None:
        data[key] = _lookup(_ENABLE, r.u8(key))

    return handler


def _alarm_config(r: ByteReader, data: dict[str, Any]) -> None:
    raw = r.take(9, "alarm config")
    sub = ByteReader(raw)
    head = sub.u8("alarm config header")
    channel, value = (head >> 3) & 0x07, head & 0x07
    if channel == 1:
        data["temperature_alarm_config"] = {
            "condition": _lookup(_CONDITION, value),
            "threshold_min": sub.i16le("threshold_min") / 10,
            "threshold_max": sub.i16le("threshold_max") / 10,
        }
    elif channel == 2:
        sub.take(4, "reserved")
        data["leakage_alarm_config"] = {
            "enable": _lookup(_ENABLE, value),
            "report_interval": sub.u16le("leak report_interval"),
            "report_times": sub.u16le("leak report_times"),
        }


def _retransmit_interval(r: ByteReader, data: dict[str, Any]) -> None:
    kind = r.u8("interval type")
    seconds = r.u16le("interval")
    if kind == 0:
        data["retransmit_interval"] = seconds
    elif kind == 1:
        data["resend_interval"] = seconds


def _d2d_master(r: ByteReader, data: dict[str, Any]) -> None:
    mode = _lookup(_D2D_MODE, r.u8("d2d mode"))
    report = _lookup(_D2D_REPORT, r.u8("d2d report_type"))
    cmd = r.take(2, "d2d_cmd")
    r.take(2, "d2d reserved")
    entry = {"mode": mode, "report_type": report, "d2d_cmd": f"{cmd[1]:02x}{cmd[0]:02x}"}
    data.setdefault("d2d_master_config", []).append(entry)


def _calibration(r: ByteReader, data: dict[str, Any]) -> None:
    head = r.u8("calibration header")
    raw = r.i16le("calibration_value")
    enable = _lookup(_ENABLE, (head >> 7) & 0x01)
    if head & 0x03 == 0:
        data["temperature_calibration_settings"] = {"enable": enable, "calibration_value": raw / 10}
    elif head & 0x03 == 1:
        data["humidity_calibration_settings"] = {"enable": enable, "calibration_value": raw / 2}


# Answers to configuration downlinks, under channel 0xFF (or 0xFE on newer firmware).
_CONFIG: dict[int, Handler] = {
    0x02: _u16_field("collection_interval"),
    0x03: _u16_field("report_interval"),
    0x06: _alarm_config,
    0x10: _yes_field("reboot"),
    0x27: _yes_field("clear_history"),
    0x28: _yes_field("report_status"),
    0x68: _enable_field("history_enable"),
    0x69: _enable_field("retransmit_enable"),
    0x6A: _retransmit_interval,
    0x6D: _yes_field("stop_transmit"),
    0x79: _d2d_master,
    0xEA: _calibration,
}

_HANDLERS: dict[tuple[int, int], Handler] = {
    (0x03, 0x67): temperature,
    (0x04, 0x68): humidity,
    (0x05, 0x00): _leakage,
    (0x20, 0xCE): _history,
    **{(channel, kind): h for kind, h in _CONFIG.items() for channel in (0xFF, 0xFE)},
}


def _valid(reading: Reading) -> list[Reading]:
    """The reading, or nothing when the value is outside the vocabulary's plausible range."""
    return [reading] if reading.problem() is None else []


@register
class MilesightEM300ZLD(Decoder):
    name = "milesight-em300-zld"
    vendor = "Milesight"
    device = "EM300-ZLD / EM300-SLD (same payload format)"
    family = "water"
    readings = ("battery_pct", "temperature_c", "humidity_pct", "leak")
    documentation = "https://www.milesight.com/iot/product/lorawan-sensor/em300-sld-zld"

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        check_port(uplink.f_port, warnings)
        return walk(uplink.payload, _HANDLERS, warnings)

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out = self._point(data, time)
        if "battery" in data:
            out += _valid(Reading("battery_pct", float(data["battery"]), time))
        for point in data.get("history", ()):
            at = datetime.fromtimestamp(int(point["timestamp"]), UTC)
            out += self._point(point, at)
        return out

    @staticmethod
    def _point(point: Mapping[str, Any], time: datetime) -> list[Reading]:
        out: list[Reading] = []
        if "temperature" in point:
            out += _valid(Reading("temperature_c", float(point["temperature"]), time))
        if "humidity" in point:
            out += _valid(Reading("humidity_pct", float(point["humidity"]), time))
        status = point.get("leakage_status")
        if status in _LEAK_OF_STATUS:
            out.append(Reading("leak", _LEAK_OF_STATUS[status], time))
        return out

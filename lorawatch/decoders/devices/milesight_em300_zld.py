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

from lorawatch.core.readings import Reading
from lorawatch.decoders.base import Params, plausible
from lorawatch.decoders.binary import ByteReader, Group
from lorawatch.decoders.milesight import (
    CONDITIONS,
    ENABLE,
    HISTORY_START,
    Handler,
    MilesightDecoder,
    Record,
    append_history,
    history_point,
    humidity,
    lookup,
    replies,
    temperature,
    u16,
    yes,
)
from lorawatch.decoders.registry import register

_LEAKAGE = {0: "normal", 1: "leak"}
_LEAK_OF_STATUS = {"normal": False, "leak": True}
_D2D_MODE = {
    0: "disable",
    1: "temperature_alarm",
    2: "temperature_alarm_release",
    3: "leakage_alarm",
    4: "leakage_alarm_release",
}
_D2D_REPORT = {0: "lora", 1: "d2d", 3: "d2d_and_lora"}


def _leakage(r: ByteReader, data: dict[str, Any]) -> None:
    data["leakage_status"] = lookup(_LEAKAGE, r.u8("leakage_status"))


_HISTORY = Group(HISTORY_START[0] + "B", *HISTORY_START[1:], "history leakage_status")


def _history(r: ByteReader, data: dict[str, Any]) -> None:
    timestamp, temperature, humidity, leakage = _HISTORY.read(r)
    point = history_point(timestamp, temperature, humidity)
    point["leakage_status"] = lookup(_LEAKAGE, leakage)
    append_history(data, point)


def _enable_field(key: str) -> Handler:
    def handler(r: ByteReader, data: dict[str, Any]) -> None:
        data[key] = lookup(ENABLE, r.u8(key))

    return handler


def _alarm_config(r: ByteReader, data: dict[str, Any]) -> None:
    raw = r.take(9, "alarm config")
    sub = ByteReader(raw)
    head = sub.u8("alarm config header")
    channel, value = (head >> 3) & 0x07, head & 0x07
    if channel == 1:
        data["temperature_alarm_config"] = {
            "condition": lookup(CONDITIONS, value),
            "threshold_min": sub.i16le("threshold_min") / 10,
            "threshold_max": sub.i16le("threshold_max") / 10,
        }
    elif channel == 2:
        sub.take(4, "reserved")
        data["leakage_alarm_config"] = {
            "enable": lookup(ENABLE, value),
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
    mode = lookup(_D2D_MODE, r.u8("d2d mode"))
    report = lookup(_D2D_REPORT, r.u8("d2d report_type"))
    cmd = r.take(2, "d2d_cmd")
    r.take(2, "d2d reserved")
    entry = {"mode": mode, "report_type": report, "d2d_cmd": f"{cmd[1]:02x}{cmd[0]:02x}"}
    data.setdefault("d2d_master_config", []).append(entry)


def _calibration(r: ByteReader, data: dict[str, Any]) -> None:
    head = r.u8("calibration header")
    raw = r.i16le("calibration_value")
    enable = lookup(ENABLE, (head >> 7) & 0x01)
    if head & 0x03 == 0:
        data["temperature_calibration_settings"] = {"enable": enable, "calibration_value": raw / 10}
    elif head & 0x03 == 1:
        data["humidity_calibration_settings"] = {"enable": enable, "calibration_value": raw / 2}


# Answers to configuration downlinks, under channel 0xFF (or 0xFE on newer firmware).
_CONFIG: dict[int, Handler] = {
    0x02: u16("collection_interval"),
    0x03: u16("report_interval"),
    0x06: _alarm_config,
    0x10: yes("reboot"),
    0x27: yes("clear_history"),
    0x28: yes("report_status"),
    0x68: _enable_field("history_enable"),
    0x69: _enable_field("retransmit_enable"),
    0x6A: _retransmit_interval,
    0x6D: yes("stop_transmit"),
    0x79: _d2d_master,
    0xEA: _calibration,
}

_HANDLERS: dict[tuple[int, int], Record] = {
    (0x03, 0x67): temperature,
    (0x04, 0x68): humidity,
    (0x05, 0x00): _leakage,
    (0x20, 0xCE): _history,
    **replies(_CONFIG),
}


@register
class MilesightEM300ZLD(MilesightDecoder):
    name = "milesight-em300-zld"
    vendor = "Milesight"
    device = "EM300-ZLD / EM300-SLD (same payload format)"
    family = "water"
    readings = ("battery_pct", "temperature_c", "humidity_pct", "leak")
    documentation = "https://www.milesight.com/iot/product/lorawan-sensor/em300-sld-zld"
    handlers = _HANDLERS

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out = self._point(data, time)
        if "battery" in data:
            out += plausible(Reading("battery_pct", float(data["battery"]), time))
        for point in data.get("history", ()):
            at = datetime.fromtimestamp(int(point["timestamp"]), UTC)
            out += self._point(point, at)
        return out

    @staticmethod
    def _point(point: Mapping[str, Any], time: datetime) -> list[Reading]:
        out: list[Reading] = []
        if "temperature" in point:
            out += plausible(Reading("temperature_c", float(point["temperature"]), time))
        if "humidity" in point:
            out += plausible(Reading("humidity_pct", float(point["humidity"]), time))
        status = point.get("leakage_status")
        if status in _LEAK_OF_STATUS:
            out.append(Reading("leak", _LEAK_OF_STATUS[status], time))
        return out

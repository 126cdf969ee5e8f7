"""Milesight WS558: LoRaWAN smart light controller, eight switched lines and one power meter.

Installed in a distribution board of a public building (gymnasium, school corridors, hall), it
switches up to eight lighting circuits and meters them together: the line states tell which
circuits are lit (a hall left lit at night), the meter gives voltage, current, active power,
power factor and the cumulative energy of all eight lines, for the building's lighting budget.
The electrical values are the device total (channel ""); the line states are channels "1"-"8".

It reports periodically, and at once when a line changes (with a change mask) or when the LN
model cuts every line after more than 13 A for 30 s (current and line states only). Replies
to downlink commands come back in the same channel/type format.
Source: Milesight WS558 user guide, "Uplink Packets" and "Downlink Commands"; Milesight-IoT
SensorDecoders ws-series/ws558/README.md (payload table, example).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lorawatch.core.readings import CANONICAL, Reading
from lorawatch.decoders.base import Params
from lorawatch.decoders.binary import ByteReader
from lorawatch.decoders.milesight import ENABLE, MilesightDecoder, Record, Scalar, replies, yes
from lorawatch.decoders.registry import register

LINES = 8
ENERGY_MODULUS_KWH = 2**32 / 1000  # uint32 Wh register
_ON_OFF = ("off", "on")


_voltage = Scalar("voltage", "u16le", 10)


_active_power = Scalar("active_power", "u32le")


_power_factor = Scalar("power_factor", "u8")


_power_consumption = Scalar("power_consumption", "u32le")


_current = Scalar("total_current", "u16le")


def _switches(r: ByteReader, data: dict[str, Any]) -> None:
    """Byte 1 flags the lines that just changed, byte 2 is the state of every line."""
    changed = r.u8("switch change mask")
    state = r.u8("switch state")
    for line in range(LINES):
        data[f"switch_{line + 1}"] = _ON_OFF[state >> line & 1]
    for line in range(LINES):
        if changed >> line & 1:
            data[f"switch_{line + 1}_change"] = "yes"


_report_interval = Scalar("report_interval", "u16le")


def _cancel_delay_task(r: ByteReader, data: dict[str, Any]) -> None:
    data["cancel_delay_task"] = r.u8("cancel_delay_task")
    r.u8("cancel_delay_task reserved")


def _power_consumption_enable(r: ByteReader, data: dict[str, Any]) -> None:
    value = r.u8("power_consumption_enable")
    data["power_consumption_enable"] = ENABLE.get(value, "unknown")


def _delay_task(r: ByteReader, data: dict[str, Any]) -> None:
    task: dict[str, Any] = {"task_id": r.u8("task_id"), "delay_time": r.u16le("delay_time")}
    mask = r.u8("delay_task control mask")
    state = r.u8("delay_task switch state")
    for line in range(LINES):
        if mask >> line & 1:
            task[f"switch_{line + 1}"] = _ON_OFF[state >> line & 1]
    data["delay_task"] = task


_REPLIES: dict[int, Record] = {
    0x10: yes("reboot"),
    0x28: yes("report_status"),
    0x03: _report_interval,
    0x23: _cancel_delay_task,
    0x26: _power_consumption_enable,
    0x27: yes("clear_power_consumption"),
    0x32: _delay_task,
}

_HANDLERS: dict[tuple[int, int], Record] = {
    (0x03, 0x74): _voltage,
    (0x04, 0x80): _active_power,
    (0x05, 0x81): _power_factor,
    (0x06, 0x83): _power_consumption,
    (0x07, 0xC9): _current,
    (0x08, 0x31): _switches,
    **replies(_REPLIES),
}


def _gauge(name: str, value: float, time: datetime) -> list[Reading]:
    """A reading, unless the value is outside what the quantity can be (a garbled record)."""
    spec = CANONICAL[name]
    return [Reading(name, value, time)] if spec.low <= value <= spec.high else []


@register
class MilesightWS558(MilesightDecoder):
    name = "milesight-ws558"
    vendor = "Milesight"
    device = "WS558 smart light controller"
    family = "lighting"
    readings = ("voltage_v", "power_w", "power_factor", "energy_kwh", "current_a", "lamp_on")
    documentation = "https://www.milesight.com/iot/product/lorawan-sensor/ws558"
    handlers = _HANDLERS

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out: list[Reading] = []
        if "voltage" in data:
            out += _gauge("voltage_v", float(data["voltage"]), time)
        if "active_power" in data:
            out += _gauge("power_w", float(data["active_power"]), time)
        if "power_factor" in data and 0 <= data["power_factor"] <= 100:
            out.append(Reading("power_factor", data["power_factor"] / 100, time))
        if "power_consumption" in data:
            kwh = data["power_consumption"] / 1000
            out.append(Reading("energy_kwh", kwh, time, modulus=ENERGY_MODULUS_KWH))
        if "total_current" in data:
            out.append(Reading("current_a", data["total_current"] / 1000, time))
        for line in range(1, LINES + 1):
            state = data.get(f"switch_{line}")
            if state in _ON_OFF:
                out.append(Reading("lamp_on", state == "on", time, str(line)))
        return out

"""Milesight EM300-DI: pulse counter (or dry contact) with temperature and humidity.

Wired to the pulse output of an electricity or water meter, it reports the cumulative pulse
count every interval, and stores records (0x20 0xCE, 0x21 0xCE) while the network is away,
which are retransmitted later with their own timestamps.
Source: Milesight EM300-DI user guide, "Uplink Packets"; SensorDecoders em300-di README.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from lorawatch.core.readings import Reading
from lorawatch.decoders.base import Param, Params, plausible
from lorawatch.decoders.binary import ByteReader, Group
from lorawatch.decoders.counters import PULSE_PARAMETERS, pulse_readings
from lorawatch.decoders.milesight import (
    HISTORY_START,
    Fields,
    MilesightDecoder,
    Record,
    Scalar,
    append_history,
    history_point,
    humidity,
    lookup,
    temperature,
)
from lorawatch.decoders.registry import register

_GPIO = {0: "low", 1: "high"}
_GPIO_TYPE = {1: "gpio", 2: "counter"}
_WATER_ALARM = {
    1: "water outage timeout alarm",
    2: "water outage timeout alarm release",
    3: "water flow timeout alarm",
    4: "water flow timeout alarm release",
}
_HISTORY_ALARM = {0: "none", **_WATER_ALARM, 5: "gpio alarm", 6: "gpio alarm release"}
# A flow timeout means water kept flowing longer than the configured limit: a leak sign.
_LEAK_OF_ALARM = {"water flow timeout alarm": True, "water flow timeout alarm release": False}


_WATER = Fields(
    Scalar("water_conv", "u16le", 10),
    Scalar("pulse_conv", "u16le", 10),
    Scalar("water", "f32le", digits=6),
)
_GPIO_STATE = Scalar("gpio", "u8", choices=_GPIO)
_GPIO_ALARM = Scalar(
    "gpio_alarm", "u8", convert=lambda v: "gpio alarm" if v == 1 else "gpio alarm release"
)


_FORMAT, *_NAMES = HISTORY_START
_HISTORY_V1 = Group(_FORMAT + "BBI", *_NAMES, "history gpio_type", "history gpio", "history pulse")
_HISTORY_V2 = Group(
    _FORMAT + "BBBHHf",
    *_NAMES,
    "history alarm",
    "history gpio_type",
    "history gpio",
    "water_conv",
    "pulse_conv",
    "water",
)


def _history_v1(r: ByteReader, data: dict[str, Any]) -> None:
    timestamp, temperature, humidity, mode, gpio, pulse = _HISTORY_V1.read(r)
    point = history_point(timestamp, temperature, humidity)
    point["gpio_type"] = lookup(_GPIO_TYPE, mode)
    if mode == 1:
        point["gpio"] = lookup(_GPIO, gpio)
    elif mode == 2:
        point["pulse"] = pulse
    append_history(data, point)


def _history_v2(r: ByteReader, data: dict[str, Any]) -> None:
    timestamp, temperature, humidity, alarm, mode, gpio, water_conv, pulse_conv, water = (
        _HISTORY_V2.read(r)
    )
    point = history_point(timestamp, temperature, humidity)
    point["alarm"] = lookup(_HISTORY_ALARM, alarm)
    point["gpio_type"] = lookup(_GPIO_TYPE, mode)
    if mode == 1:
        point["gpio"] = lookup(_GPIO, gpio)
    elif mode == 2:
        point["water_conv"] = water_conv / 10
        point["pulse_conv"] = pulse_conv / 10
        point["water"] = round(water, 6)
    append_history(data, point)


_HANDLERS: dict[tuple[int, int], Record] = {
    (0x03, 0x67): temperature,
    (0x04, 0x68): humidity,
    (0x05, 0x00): _GPIO_STATE,
    (0x05, 0xC8): Scalar("pulse", "u32le"),
    (0x05, 0xE1): _WATER,
    (0x85, 0x00): Fields(_GPIO_STATE, _GPIO_ALARM),
    (0x85, 0xE1): Fields(*_WATER.values, Scalar("water_alarm", "u8", choices=_WATER_ALARM)),
    (0x20, 0xCE): _history_v1,
    (0x21, 0xCE): _history_v2,
}


@register
class MilesightEM300DI(MilesightDecoder):
    name = "milesight-em300-di"
    vendor = "Milesight"
    device = "EM300-DI"
    family = "energy"
    readings = (
        "battery_pct",
        "temperature_c",
        "humidity_pct",
        "pulse_count",
        "energy_kwh",
        "volume_m3",
        "leak",
    )
    parameters: ClassVar[Mapping[str, Param]] = {
        **PULSE_PARAMETERS,
        "water_unit": Param("unit of the device-converted water index", str, "m3", ("m3", "L")),
    }
    documentation = "https://www.milesight.com/iot/product/lorawan-sensor/em300-di"
    handlers = _HANDLERS

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out = self._point(data, params, time)
        if "battery" in data:
            out.append(Reading("battery_pct", float(data["battery"]), time))
        alarm = data.get("water_alarm")
        if alarm in _LEAK_OF_ALARM:
            out.append(Reading("leak", _LEAK_OF_ALARM[alarm], time))
        for point in data.get("history", ()):
            at = datetime.fromtimestamp(int(point["timestamp"]), UTC)
            out.extend(self._point(point, params, at))
        return plausible(*out)

    @staticmethod
    def _point(point: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out: list[Reading] = []
        if "temperature" in point:
            out.append(Reading("temperature_c", float(point["temperature"]), time))
        if "humidity" in point:
            out.append(Reading("humidity_pct", float(point["humidity"]), time))
        if "pulse" in point:
            out.extend(pulse_readings(int(point["pulse"]), params, time))
        if "water" in point:
            # The device converts pulses itself (water_conv per pulse_conv) in the unit the
            # installer configured; water_unit says which, so the index lands in m³.
            scale = 1.0 if params.get("water_unit", "m3") == "m3" else 0.001
            offset = float(params.get("index_offset", 0.0))
            out.append(Reading("volume_m3", float(point["water"]) * scale + offset, time))
        return out

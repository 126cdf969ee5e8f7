"""Dragino LWL02: battery-powered water leak sensor (two probes on the floor).

Placed under sinks, water heaters and in cellars of public buildings, it uplinks once a day and
on every leak start and end, with the leak status, how many leaks it counted and how long the
last one lasted. It shares its firmware with the LDS01/LDS02 door sensors: the MOD byte says
which sensor the firmware runs as (1 door, 2 water leak, 3 both).
Source: Dragino "LWL02 LoRaWAN Water Leak Sensor User Manual" (v1.2, "Uplink Payload":
fPort 10, Status & BAT, MOD, total leak events, last leak duration in minutes, alarm byte;
"Alarm Base on Timeout": the alarm is the lowest bit of the 10th byte); Dragino
dragino-end-node-decoder LWL02/lds01_02_payload_ttn_v1.5.txt for the data key names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lorawatch.core.errors import DecodeError
from lorawatch.core.readings import Reading
from lorawatch.decoders.base import Decoder, Params, Uplink
from lorawatch.decoders.binary import ByteReader, expect_length
from lorawatch.decoders.registry import register

SENSOR_FPORT = 10
_DOOR, _LEAK, _BOTH = 1, 2, 3


@register
class DraginoLWL02(Decoder):
    name = "dragino-lwl02"
    vendor = "Dragino"
    device = "LWL02"
    family = "water"
    readings = ("battery_v", "leak")
    documentation = "https://www.dragino.com/products/lora-lorawan-end-node/item/180-lwl02.html"

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        if uplink.f_port != SENSOR_FPORT:
            raise DecodeError(f"unknown fPort {uplink.f_port}: sensor values come on fPort 10")
        payload = uplink.payload
        expect_length(payload, 10, "LWL02 sensor frame")
        r = ByteReader(payload)
        status = r.u16be("status & battery")
        mode = r.u8("MOD")
        times = r.u24be("event count")
        duration = r.u24be("last event duration")
        alarm = r.u8("alarm") & 0x01
        door, leak = (status >> 15) & 0x01, (status >> 14) & 0x01
        data: dict[str, Any] = {"BAT_V": (status & 0x3FFF) / 1000, "MOD": mode}
        if mode == _DOOR:
            data.update(
                DOOR_OPEN_STATUS=door,
                DOOR_OPEN_TIMES=times,
                LAST_DOOR_OPEN_DURATION=duration,
                ALARM=alarm,
            )
        elif mode == _LEAK:
            data.update(
                WATER_LEAK_STATUS=leak,
                WATER_LEAK_TIMES=times,
                LAST_WATER_LEAK_DURATION=duration,
            )
        elif mode == _BOTH:
            data.update(DOOR_OPEN_STATUS=door, WATER_LEAK_STATUS=leak, ALARM=alarm)
        else:
            warnings.append(f"undocumented MOD {mode}: only the battery is decoded")
        return data

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out = [Reading("battery_v", float(data["BAT_V"]), time)] if "BAT_V" in data else []
        if "WATER_LEAK_STATUS" in data:
            out.append(Reading("leak", bool(data["WATER_LEAK_STATUS"]), time))
        return out

"""Dragino LDDS75: LoRaWAN ultrasonic distance detection sensor, used as a bin fill sensor.

Mounted under the lid of a drop-off container, it measures the distance down to the waste
(flat-object range 280-7500 mm) so the commune can plan collections. Uplinks use fPort 2, big
endian: battery mV (2 bytes, top two bits masked off), distance mm (2), interrupt flag (1),
optional DS18B20 temperature x10 (2, signed) and sensor flag (1, 0 = no ultrasonic sensor).
Firmware before v1.1.4 sent only battery, distance and interrupt (5 bytes).
A distance of 0 means the ultrasonic probe is missing; below 280 mm the measurement is invalid
(firmware v1.1.4+ reports every such value as 20 mm). Neither is a reading.
Source: Dragino wiki, "LDDS75 - LoRaWAN Distance Detection Sensor User Manual", section 2.3
Uplink Payload; dragino/dragino-end-node-decoder LDDS75 decoders for the output key names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lorawatch.core.errors import DecodeError
from lorawatch.core.readings import Reading
from lorawatch.decoders.base import Decoder, Params, Uplink
from lorawatch.decoders.binary import ByteReader, expect_length
from lorawatch.decoders.bins import BIN_PARAMETERS, bin_readings
from lorawatch.decoders.registry import register

DATA_FPORT = 2
NO_SENSOR = "No Sensor"
INVALID = "Invalid Reading"
MIN_DISTANCE_MM = 280
# The DS18B20 probe is optional; without it the field reads 0x0000, so an exact 0.0 °C is
# taken as "no probe" rather than a measurement. Outside the probe's range it is not one either.
DS18B20_RANGE = (-55.0, 125.0)


def _distance(raw: int, sensor_present: bool, warnings: list[str]) -> int | str:
    if raw == 0 or not sensor_present:
        warnings.append("distance: no ultrasonic sensor detected")
        return NO_SENSOR
    if raw < MIN_DISTANCE_MM:
        warnings.append(f"distance: {raw} mm is below the {MIN_DISTANCE_MM} mm range, invalid")
        return INVALID
    return raw


@register
class DraginoLDDS75(Decoder):
    name = "dragino-ldds75"
    vendor = "Dragino"
    device = "LDDS75"
    family = "waste"
    readings = ("battery_v", "distance_mm", "fill_pct", "temperature_c")
    parameters = BIN_PARAMETERS
    documentation = (
        "https://wiki.dragino.com/xwiki/bin/view/Main/User%20Manual%20for%20LoRaWAN%20End%20Nodes/"
        "LDDS75%20-%20LoRaWAN%20Distance%20Detection%20Sensor%20User%20Manual/"
    )

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        if uplink.f_port != DATA_FPORT:
            raise DecodeError(f"unknown FPort {uplink.f_port}: LDDS75 reports on {DATA_FPORT}")
        payload = uplink.payload
        expect_length(payload, {5, 8}, "LDDS75 frame")
        r = ByteReader(payload)
        battery = (r.u16be("Bat") & 0x3FFF) / 1000
        raw_distance = r.u16be("Distance")
        if len(payload) == 5:
            distance = _distance(raw_distance, True, warnings)
            return {
                "Bat": battery,
                "Distance": distance,
                "Interrupt_status": r.u8("Interrupt_status"),
            }
        interrupt = r.u8("Interrupt_flag")
        temperature = r.i16be("TempC_DS18B20") / 10
        sensor_flag = r.u8("Sensor_flag")
        low, high = DS18B20_RANGE
        if temperature != 0 and not low <= temperature <= high:
            warnings.append(f"TempC_DS18B20: {temperature} °C is outside the DS18B20 range")
        return {
            "Bat": battery,
            "Distance": _distance(raw_distance, sensor_flag != 0, warnings),
            "Interrupt_flag": interrupt,
            "TempC_DS18B20": temperature,
            "Sensor_flag": sensor_flag,
        }

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        out: list[Reading] = []
        if "Bat" in data:
            out.append(Reading("battery_v", float(data["Bat"]), time))
        distance = data.get("Distance")
        if isinstance(distance, int | float) and not isinstance(distance, bool):
            out.extend(bin_readings(float(distance), params, time))
        temperature = data.get("TempC_DS18B20")
        if isinstance(temperature, int | float) and temperature != 0:
            low, high = DS18B20_RANGE
            if low <= temperature <= high:
                out.append(Reading("temperature_c", float(temperature), time))
        return out

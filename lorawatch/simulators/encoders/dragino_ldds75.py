"""Dragino LDDS75 frames from a simulated waste bin's state.

``report`` is the 8-byte frame of firmware v1.1.4 and later, ``legacy_report`` the 5-byte frame
of earlier firmware. A state without a distance gives the device's "no sensor" frame, and one
without ``temperature_c`` the 0x0000 of an absent DS18B20 probe.
"""

from __future__ import annotations

import struct

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, encoder
from lorawatch.simulators.encoders._waste_bins import distance_from_state


@encoder("dragino-ldds75", kinds=("report", "legacy_report"))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    battery_mv = round(float(state.get("battery_v", 3.6)) * 1000) & 0x3FFF
    distance = distance_from_state(state, params)
    raw_distance = 0 if distance is None else round(distance)
    if kind == "legacy_report":
        return Frame(2, struct.pack(">HHB", battery_mv, raw_distance, 0))
    if kind != "report":
        raise ValueError(f"dragino-ldds75 cannot encode a {kind!r} frame")
    temperature = round(float(state.get("temperature_c", 0.0)) * 10)
    sensor_flag = 0 if distance is None else 1
    return Frame(2, struct.pack(">HHBhB", battery_mv, raw_distance, 0, temperature, sensor_flag))

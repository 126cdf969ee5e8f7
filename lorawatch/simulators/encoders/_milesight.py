"""Milesight records shared by the encoders of devices that send them: battery and climate.

The inverse of the common handlers of :mod:`lorawatch.decoders.milesight` (battery 0x01 0x75,
temperature 0x03 0x67, humidity 0x04 0x68), so every simulated Milesight device writes them the
way the real devices do.
"""

from __future__ import annotations

import struct

from lorawatch.decoders.milesight import MILESIGHT_FPORT
from lorawatch.simulators.encoders import State

PORT = MILESIGHT_FPORT


def battery(state: State) -> bytes:
    """The battery record (percent), or nothing when the state has no ``battery_pct``."""
    if "battery_pct" not in state:
        return b""
    return bytes([0x01, 0x75, round(float(state["battery_pct"]))])


def climate(state: State) -> bytes:
    """The temperature (0.1 °C) and humidity (0.5 %) records the state has values for."""
    out = b""
    if "temperature_c" in state:
        out += bytes([0x03, 0x67]) + struct.pack("<h", round(float(state["temperature_c"]) * 10))
    if "humidity_pct" in state:
        out += bytes([0x04, 0x68, round(float(state["humidity_pct"]) * 2)])
    return out

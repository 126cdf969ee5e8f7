"""Dragino LWL02 frames from a simulated leak sensor's state.

Besides ``battery_v`` and ``leak``, the state may carry ``leak_times`` (leaks counted) and
``last_leak_minutes`` (duration of the last one), which the real device reports too.
"""

from __future__ import annotations

import struct

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, encoder

SENSOR_FPORT = 10
LEAK_MODE = 2


@encoder("dragino-lwl02", kinds=("report",))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    if kind != "report":
        raise ValueError(f"dragino-lwl02 has no {kind!r} frame")
    millivolts = min(max(round(float(state.get("battery_v", 3.0)) * 1000), 0), 0x3FFF)
    status = millivolts | (0x4000 if state.get("leak", False) else 0)
    times = min(int(state.get("leak_times", 0)), 0xFFFFFF)
    minutes = min(int(state.get("last_leak_minutes", 0)), 0xFFFFFF)
    payload = (
        struct.pack(">HB", status, LEAK_MODE)
        + times.to_bytes(3, "big")
        + minutes.to_bytes(3, "big")
        + b"\x00"
    )
    return Frame(SENSOR_FPORT, payload)

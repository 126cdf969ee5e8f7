"""Milesight CT101 frames from a simulated circuit's state.

``report`` is the periodic packet (current, and temperature when the state has one);
``alarm`` the current threshold alarm, with the state's current as latest, minimum and maximum.
"""

from __future__ import annotations

import struct

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, _milesight, encoder

_PORT = _milesight.PORT
_THRESHOLD_ALARM = 0x01
_MAX_CURRENT = 0xFFFE  # 0xFFFF is the collection-failure sentinel


def _current(state: State) -> bytes:
    if "current_a" not in state:
        raise ValueError("a CT101 frame needs current_a in the state")
    raw = min(max(round(float(state["current_a"]) * 100), 0), _MAX_CURRENT)
    return struct.pack("<H", raw)


@encoder("milesight-ct101", kinds=("report", "alarm"))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    current = _current(state)
    if kind == "alarm":
        return Frame(_PORT, bytes([0x84, 0x98]) + current * 3 + bytes([_THRESHOLD_ALARM]))
    out = bytearray([0x04, 0x98]) + current
    if "temperature_c" in state:
        tenths = min(max(round(float(state["temperature_c"]) * 10), -32768), 32767)
        # -0.3 and -0.1 °C share their bytes with the sentinels 0xFFFD and 0xFFFF, so they
        # would decode as sensor faults: the simulator sends the next colder tenth instead.
        tenths = {-3: -4, -1: -2}.get(tenths, tenths)
        out += bytes([0x09, 0x67]) + struct.pack("<h", tenths)
    return Frame(_PORT, bytes(out))

"""Milesight EM300-ZLD / EM300-SLD frames from a simulated leak sensor's state.

``report`` is the periodic frame (also sent at once when a leak starts or ends); ``history``
is one stored record, dated by the state's ``timestamp`` (Unix seconds, 0 when absent).
"""

from __future__ import annotations

import struct

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, _milesight, encoder

PORT = _milesight.PORT


@encoder("milesight-em300-zld", kinds=("report", "history"))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    leak = 1 if state.get("leak", False) else 0
    if kind == "history":
        record = struct.pack(
            "<IhBB",
            int(state.get("timestamp", 0)),
            round(float(state.get("temperature_c", 0.0)) * 10),
            round(float(state.get("humidity_pct", 0.0)) * 2),
            leak,
        )
        return Frame(PORT, bytes([0x20, 0xCE]) + record)
    if kind != "report":
        raise ValueError(f"milesight-em300-zld has no {kind!r} frame")
    leakage = bytes([0x05, 0x00, leak])
    return Frame(PORT, _milesight.battery(state) + _milesight.climate(state) + leakage)

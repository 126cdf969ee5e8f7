"""Milesight EM310-UDL frames from a simulated waste bin's state."""

from __future__ import annotations

import struct

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, _milesight, encoder
from lorawatch.simulators.encoders._waste_bins import distance_from_state


@encoder("milesight-em310-udl", kinds=("report",))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    out = bytearray(_milesight.battery(state))
    distance = distance_from_state(state, params)
    if distance is not None:
        out += bytes([0x03, 0x82]) + struct.pack("<H", round(distance))
    out += bytes([0x04, 0x00, 1 if state.get("tilted", False) else 0])
    return Frame(_milesight.PORT, bytes(out))

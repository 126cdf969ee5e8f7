"""Decentlab DL-MBX protocol v2 frames from a simulated waste bin's state.

Only the blocks the state has are flagged, as the device does; a measured distance is sent
with all 15 samples valid.
"""

from __future__ import annotations

import struct

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, encoder
from lorawatch.simulators.encoders._waste_bins import distance_from_state

SIMULATED_DEVICE_ID = 0x0001
SAMPLES = 15


@encoder("decentlab-dl-mbx", kinds=("report",))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    flags = 0
    words: list[int] = []
    distance = distance_from_state(state, params)
    if distance is not None:
        flags |= 0x0001
        words += [round(distance), SAMPLES]
    if "battery_v" in state:
        flags |= 0x0002
        words.append(round(float(state["battery_v"]) * 1000))
    header = struct.pack(">BHH", 2, SIMULATED_DEVICE_ID, flags)
    return Frame(1, header + struct.pack(f">{len(words)}H", *words))

"""Milesight EM300-DI frames from a simulated pulse meter's state."""

from __future__ import annotations

import struct

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, _milesight, encoder


def pulses_from_index(state: State, params: Params) -> int:
    """The pulse count a meter with this index shows, inverse of decoders.counters."""
    if "pulse_count" in state:
        return int(state["pulse_count"])
    offset = float(params.get("index_offset", 0.0))
    per_kwh = params.get("pulses_per_kwh")
    if "energy_kwh" in state and isinstance(per_kwh, float):
        return round((float(state["energy_kwh"]) - offset) * per_kwh) % 2**32
    per_litre = params.get("litres_per_pulse")
    if "volume_m3" in state and isinstance(per_litre, float):
        return round((float(state["volume_m3"]) - offset) * 1000.0 / per_litre) % 2**32
    raise ValueError("state needs pulse_count, or energy_kwh/volume_m3 with the meter constant")


@encoder("milesight-em300-di", kinds=("report",))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    pulses = bytes([0x05, 0xC8]) + struct.pack("<I", pulses_from_index(state, params))
    return Frame(_milesight.PORT, _milesight.battery(state) + _milesight.climate(state) + pulses)

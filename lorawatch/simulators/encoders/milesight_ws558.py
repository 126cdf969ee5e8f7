"""Milesight WS558 frames from a simulated lighting board's state (``lamp_on`` drives line 1)."""

from __future__ import annotations

import struct

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, _milesight, encoder


def _clamp(value: float, high: int) -> int:
    return min(max(round(value), 0), high)


def _switch(state: State, changed: int) -> bytes:
    return bytes([0x08, 0x31, changed, 0x01 if state.get("lamp_on") else 0x00])


@encoder("milesight-ws558", kinds=("report", "switch_change"))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    """``report`` is the periodic frame, in the record order of Milesight's example."""
    if kind == "switch_change":
        return Frame(_milesight.PORT, _switch(state, 0x01))
    if kind != "report":
        raise ValueError(f"milesight-ws558 has no frame kind {kind!r}")
    out = bytearray(_switch(state, 0x00))
    if "power_factor" in state:
        out += bytes([0x05, 0x81, _clamp(abs(float(state["power_factor"])) * 100, 100)])
    if "current_a" in state:
        out += bytes([0x07, 0xC9]) + struct.pack(
            "<H", _clamp(float(state["current_a"]) * 1000, 0xFFFF)
        )
    if "voltage_v" in state:
        out += bytes([0x03, 0x74]) + struct.pack(
            "<H", _clamp(float(state["voltage_v"]) * 10, 0xFFFF)
        )
    if "energy_kwh" in state:
        wh = round(float(state["energy_kwh"]) * 1000) % 2**32
        out += bytes([0x06, 0x83]) + struct.pack("<I", wh)
    if "power_w" in state:
        out += bytes([0x04, 0x80]) + struct.pack("<I", _clamp(float(state["power_w"]), 2**32 - 1))
    return Frame(_milesight.PORT, bytes(out))

"""Cayenne LPP frames from a simulated node's state.

Every quantity goes on channel 1 (a channel may carry several types), except the battery,
which goes on the channel the inventory names (``battery_voltage_channel``...), as the decoder
reads it back.
"""

from __future__ import annotations

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, encoder

_PORT = 2
_CHANNEL = 1
# canonical name -> (LPP type, bytes, raw steps per canonical unit, signed)
_FIELDS: dict[str, tuple[int, int, float, bool]] = {
    "temperature_c": (103, 2, 10, True),
    "humidity_pct": (104, 1, 2, False),
    "voltage_v": (116, 2, 100, False),
    "current_a": (117, 2, 1000, False),
    "power_w": (128, 2, 1, False),
    "energy_kwh": (131, 4, 1000, False),
    "distance_mm": (130, 4, 1, False),
}


def _record(channel: int, code: int, size: int, value: float, signed: bool) -> bytes:
    bits = 8 * size
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    raw = int(min(max(round(value), low), high))
    return bytes([channel, code]) + raw.to_bytes(size, "big", signed=signed)


def _battery_channel(params: Params, key: str) -> int | None:
    text = str(params.get(key, ""))
    return int(text) if text.isdigit() and int(text) < 256 else None


@encoder("cayenne-lpp", kinds=("report",))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    out = bytearray()
    for name, (code, size, scale, signed) in _FIELDS.items():
        if name in state:
            value = float(state[name])
            if name == "energy_kwh":
                value %= 2**32 / 1000
            out += _record(_CHANNEL, code, size, value * scale, signed)
    volts = _battery_channel(params, "battery_voltage_channel")
    if "battery_v" in state and volts is not None:
        out += _record(volts, 116, 2, float(state["battery_v"]) * 100, False)
    percent = _battery_channel(params, "battery_percentage_channel")
    if "battery_pct" in state and percent is not None:
        out += _record(percent, 120, 1, float(state["battery_pct"]), False)
    if not out:
        raise ValueError("the state has no quantity Cayenne LPP can carry")
    return Frame(_PORT, bytes(out))

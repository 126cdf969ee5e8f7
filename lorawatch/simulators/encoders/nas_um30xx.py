"""NAS UM30xx frames from a simulated meter's state, on pulse input 1.

``report`` is the usage packet (fPort 25), ``status`` the status packet (fPort 24) which adds
battery voltage and internal temperature. The input mode follows the inventory: with
``pulse_1_pulses_per_kwh`` or ``pulse_1_litres_per_pulse`` the input counts raw pulses, else
the device converts itself (``energy_kwh`` -> Wh, ``volume_m3`` -> litres). The multiplier is
the finest one whose count fits the 32-bit register, as the device does.
"""

from __future__ import annotations

import struct

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, encoder

USAGE_PORT, STATUS_PORT = 25, 24
_PULSES, _L_WATER, _WH_ELECTRICITY = 1, 2, 3


def _input_1(state: State, params: Params) -> tuple[int, float]:
    """(medium type, accumulated value in the medium's unit) of pulse input 1."""
    offset = float(params.get("pulse_1_index_offset", 0.0))
    per_kwh = params.get("pulse_1_pulses_per_kwh")
    per_litre = params.get("pulse_1_litres_per_pulse")
    if "pulse_count" in state:
        return _PULSES, float(state["pulse_count"])
    if "energy_kwh" in state:
        kwh = float(state["energy_kwh"]) - offset
        if isinstance(per_kwh, float) and per_kwh > 0:
            return _PULSES, kwh * per_kwh
        return _WH_ELECTRICITY, kwh * 1000
    if "volume_m3" in state:
        m3 = float(state["volume_m3"]) - offset
        if isinstance(per_litre, float) and per_litre > 0:
            return _PULSES, m3 * 1000 / per_litre
        return _L_WATER, m3 * 1000
    raise ValueError("a UM30xx frame needs pulse_count, energy_kwh or volume_m3 in the state")


def _pulse_block(state: State, params: Params) -> bytes:
    medium, value = _input_1(state, params)
    value = max(value, 0.0)
    exponent = next((e for e in range(4) if round(value / 10**e) < 2**32), 3)
    count = min(round(value / 10**exponent), 2**32 - 1)
    return bytes([medium << 4 | exponent << 2]) + struct.pack("<I", count)


@encoder("nas-um30xx", kinds=("report", "status"))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    status = kind == "status"
    out = bytearray([0x82 if status else 0x02, 0x80])
    if status:
        volts = round((float(state.get("battery_v", 3.6)) - 1.5) * 100)
        temperature = round(float(state.get("temperature_c", 20.0)))
        out += bytes([120, min(max(volts, 0), 255)])
        out += struct.pack("<bBBB", min(max(temperature, -128), 127), 0x00, 80, 0x7A)
    out += bytes([0x00, 0x01]) + _pulse_block(state, params)
    return Frame(STATUS_PORT if status else USAGE_PORT, bytes(out))

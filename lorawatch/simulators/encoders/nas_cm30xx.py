"""NAS CM30xx frames from a simulated water meter's state.

``report`` is the usage packet (fPort 25), ``shutdown`` the same usage wrapped in a shutdown
message (fPort 99), ``oms`` an unencrypted OMS frame with BCD volume and flow records
(fPort 20). A leak in the state raises the meter's continuous-flow alert.
"""

from __future__ import annotations

import struct

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, encoder

USAGE_PORT, SYSTEM_PORT, OMS_PORT = 25, 99, 20
_CONTINUOUS_FLOW = 0x04
_APP_SHUTDOWN = 0x33


def _volume(state: State) -> float:
    if "volume_m3" not in state:
        raise ValueError("a CM30xx frame needs volume_m3 in the state")
    return max(float(state["volume_m3"]), 0.0)


def _usage(state: State) -> bytes:
    volume = _volume(state)
    # The finest multiplier (10^(e-6) m³) whose count still fits the 32-bit register.
    exponent = next((e for e in range(3, 8) if round(volume / 10.0 ** (e - 6)) < 2**32), 7)
    count = min(round(volume / 10.0 ** (exponent - 6)), 2**32 - 1)
    alerts = _CONTINUOUS_FLOW if state.get("leak", False) else 0
    out = bytes([0x04, alerts, 0x00, exponent, 0x00]) + struct.pack("<I", count)
    with_status = "battery_v" in state or "temperature_c" in state
    out += bytes([0x03 if with_status else 0x01])
    if with_status:
        volts = round((float(state.get("battery_v", 3.6)) - 1.5) * 100)
        temperature = round(float(state.get("temperature_c", 20.0)))
        out += bytes([120, min(max(volts, 0), 255)])
        out += struct.pack("<bBBB", min(max(temperature, -127), 127), 0x00, 80, 0x7A)
        out += struct.pack("<I", 0x12345678)
    return out


def _bcd(value: int, size: int) -> bytes:
    digits = f"{value:0{2 * size}d}"
    return bytes.fromhex(digits)[::-1]


def _oms(state: State) -> bytes:
    volume = _volume(state)
    # VIF 0x10+n: one step is 10^(n-6) m³; pick the finest that fits 8 BCD digits.
    n = next((n for n in range(3, 8) if round(volume / 10.0 ** (n - 6)) < 10**8), 7)
    count = min(round(volume / 10.0 ** (n - 6)), 10**8 - 1)
    out = bytes([0x7A, 0x00, 0x00, 0x00, 0x20, 0x0C, 0x10 | n]) + _bcd(count, 4)
    if "flow_l_h" in state:
        litres = min(max(round(float(state["flow_l_h"])), 0), 999_999)
        out += bytes([0x0B, 0x3B]) + _bcd(litres, 3)
    return out


@encoder("nas-cm30xx", kinds=("report", "shutdown", "oms"))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    if kind == "report":
        return Frame(USAGE_PORT, _usage(state))
    if kind == "shutdown":
        return Frame(SYSTEM_PORT, bytes([0x01, _APP_SHUTDOWN]) + _usage(state))
    if kind == "oms":
        return Frame(OMS_PORT, _oms(state))
    raise ValueError(f"nas-cm30xx has no {kind!r} frame")

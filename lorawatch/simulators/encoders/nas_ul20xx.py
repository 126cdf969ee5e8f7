"""NAS UL20xx frames from a simulated streetlight's state (one luminaire, DALI broadcast).

The state's lamp readings go to the broadcast address and the metering to the controller's
own meter, both channel "" once decoded. A ``timestamp`` in the state sets the device clock.
"""

from __future__ import annotations

import struct
import time

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import Frame, State, encoder

BROADCAST = 0xFE
INTERNAL_METER = 0xFF


def _clamp(value: float, high: int) -> int:
    return min(max(round(value), 0), high)


def _dali_status(state: State) -> int:
    """The DALI status byte, or 0xFF ("no answer") when the state says nothing of the lamp."""
    if "lamp_on" not in state and "lamp_failure" not in state:
        return 0xFF
    return (0x04 if state.get("lamp_on") else 0) | (0x02 if state.get("lamp_failure") else 0)


def _status(state: State) -> Frame:
    epoch = int(state.get("timestamp", time.time()))
    relay = 0x80 if state.get("lamp_on", True) else 0x00
    alerts = 0x20 if state.get("lamp_failure") else 0x00
    level = _clamp(float(state["dim_pct"]), 100) if "dim_pct" in state else 0xFF
    body = struct.pack("<BIBBBbbBB", 0x01, epoch, relay, 0x00, 50, 9, 20, alerts, 0)
    return Frame(23, body + bytes([BROADCAST, 0x00, level, _dali_status(state)]))


def _usage(state: State) -> Frame:
    fields = 0
    values = b""
    if "energy_kwh" in state:
        fields |= 0x01
        values += struct.pack("<I", round(float(state["energy_kwh"]) * 1000) % 2**32)
    if "power_w" in state:
        fields |= 0x02
        values += struct.pack("<H", _clamp(float(state["power_w"]), 0xFFFF))
    if "power_factor" in state:
        fields |= 0x10
        values += bytes([_clamp(abs(float(state["power_factor"])) * 100, 100)])
    if "voltage_v" in state:
        fields |= 0x20
        values += bytes([_clamp(float(state["voltage_v"]), 0xFF)])
    if "lamp_hours" in state:
        fields |= 0x80
        values += struct.pack("<I", round(float(state["lamp_hours"]) * 3600) % 2**32)
    return Frame(26, bytes([0x00, INTERNAL_METER, fields]) + values)


def _dali_alert(state: State) -> Frame:
    return Frame(61, bytes([0x83, 0x20, BROADCAST, _dali_status(state)]))


def _metering_alert(state: State) -> Frame:
    conditions = 0x01 if state.get("lamp_failure") else 0x00
    power = _clamp(float(state.get("power_w", 0)), 0xFFFF)
    volts = _clamp(float(state.get("voltage_v", 230)), 0xFFFF)
    pf = _clamp(abs(float(state.get("power_factor", 1))) * 100, 100)
    return Frame(61, struct.pack("<BBHHB", 0x84, conditions, power, volts, pf))


_KINDS = {
    "report": _status,
    "usage": _usage,
    "dali_alert": _dali_alert,
    "metering_alert": _metering_alert,
}


@encoder("nas-ul20xx", kinds=tuple(_KINDS))
def encode(state: State, params: Params, kind: str = "report") -> Frame:
    """``report`` is the status frame (dim level, lamp state); ``usage`` the meter frame."""
    try:
        build = _KINDS[kind]
    except KeyError:
        raise ValueError(
            f"nas-ul20xx has no frame kind {kind!r} (known: {', '.join(_KINDS)})"
        ) from None
    return build(state)

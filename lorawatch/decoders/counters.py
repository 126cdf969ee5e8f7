"""Turning a raw pulse counter into canonical meter indexes, shared by pulse-input devices.

A pulse input knows only pulses; what a pulse is worth is a property of the meter it is wired
to, so it comes from the inventory: ``pulses_per_kwh`` for an electricity meter,
``litres_per_pulse`` for a water meter, and ``index_offset`` (kWh or m³) for the meter's
reading on the day the sensor was fitted. The register width makes the modulus, so the
pipeline can tell a wrap from a reset.
"""

from __future__ import annotations

from datetime import datetime

from lorawatch.core.readings import Reading
from lorawatch.decoders.base import Param, Params

PULSE_PARAMETERS: dict[str, Param] = {
    "meter_kind": Param(
        "what the pulse input is wired to",
        str,
        "electricity",
        ("electricity", "water", "gas", "other"),
    ),
    "pulses_per_kwh": Param("electricity meter constant (imp/kWh), gives energy_kwh"),
    "litres_per_pulse": Param("water meter pulse weight (L/imp), gives volume_m3"),
    "index_offset": Param("meter index (kWh or m³) when the counter read 0", float, 0.0),
}


_MODULI = {16: float(2**16), 32: float(2**32)}


def pulse_readings(
    pulses: int, params: Params, time: datetime, *, width_bits: int = 32, channel: str = ""
) -> list[Reading]:
    """The raw pulse count plus, when the inventory says what a pulse is worth, the index."""
    modulus = _MODULI.get(width_bits) or float(2**width_bits)
    out = [Reading("pulse_count", pulses, time, channel, modulus)]
    offset = float(params.get("index_offset", 0.0))
    per_kwh = params.get("pulses_per_kwh")
    if isinstance(per_kwh, float) and per_kwh > 0:
        out.append(
            Reading("energy_kwh", pulses / per_kwh + offset, time, channel, modulus / per_kwh)
        )
    per_litre = params.get("litres_per_pulse")
    if isinstance(per_litre, float) and per_litre > 0:
        scale = per_litre / 1000.0
        out.append(Reading("volume_m3", pulses * scale + offset, time, channel, modulus * scale))
    return out

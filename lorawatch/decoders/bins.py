"""Bin fill level from an ultrasonic distance, shared by the waste-bin sensor decoders.

Bin sensors measure the distance from the lid to the waste; the fill level depends on the
bin, so the geometry comes from the inventory: ``empty_distance_mm`` (distance to the bottom
of the empty bin) and ``full_distance_mm`` (distance when the bin counts as full).
fill % = (empty - d) / (empty - full) x 100, clamped to 0..100 (field notes, "Bin sensors").
"""

from __future__ import annotations

from datetime import datetime

from lorawatch.core.readings import Reading
from lorawatch.decoders.base import Param, Params

BIN_PARAMETERS: dict[str, Param] = {
    "empty_distance_mm": Param("distance from the sensor to the bottom of the empty bin (mm)"),
    "full_distance_mm": Param(
        "distance from the sensor when the bin counts as full (mm)", float, 0.0
    ),
}


def fill_pct(distance_mm: float, params: Params) -> float | None:
    """The fill level, or None when the inventory gives no usable geometry."""
    empty = params.get("empty_distance_mm")
    full = float(params.get("full_distance_mm", 0.0))
    if not isinstance(empty, float) or empty <= full:
        return None
    pct = (empty - distance_mm) / (empty - full) * 100.0
    return round(min(100.0, max(0.0, pct)), 2)


def bin_readings(distance_mm: float, params: Params, time: datetime) -> list[Reading]:
    out = [Reading("distance_mm", float(distance_mm), time)]
    pct = fill_pct(distance_mm, params)
    if pct is not None:
        out.append(Reading("fill_pct", pct, time))
    return out

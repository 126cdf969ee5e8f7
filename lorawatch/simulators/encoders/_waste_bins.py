"""Bin geometry inverse shared by the waste-bin encoders: a simulated fill level to a distance.

The inverse of :func:`lorawatch.decoders.bins.fill_pct`, with the same inventory parameters,
so a simulated bin can be driven by its fill level like the physical model that fills it.
"""

from __future__ import annotations

from lorawatch.decoders.base import Params
from lorawatch.simulators.encoders import State


def distance_from_state(state: State, params: Params) -> float | None:
    """``distance_mm`` from the state, else from ``fill_pct`` and the bin geometry.

    None means the state has no distance at all: the encoder then sends the device's own
    "no measurement" frame, so a simulation can exercise the sentinel paths too.
    """
    if "distance_mm" in state:
        return float(state["distance_mm"])
    if "fill_pct" not in state:
        return None
    empty = params.get("empty_distance_mm")
    full = float(params.get("full_distance_mm", 0.0))
    if not isinstance(empty, float) or empty <= full:
        raise ValueError("fill_pct needs empty_distance_mm beyond full_distance_mm")
    return empty - float(state["fill_pct"]) / 100.0 * (empty - full)

"""Waste-bin encoders round trip: decode + normalise of an encoded frame gives the state back."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_encoders_roundtrip import roundtrip

EMPTY, FULL = 2500.0, 300.0
GEOMETRY = {"empty_distance_mm": EMPTY, "full_distance_mm": FULL}
# One millimetre of distance is this much fill, plus the 0.01 rounding of fill_pct.
FILL_TOLERANCE = 100.0 / (EMPTY - FULL) / 2 + 0.01


def expected_fill(distance: float) -> float:
    return min(100.0, max(0.0, (EMPTY - distance) / (EMPTY - FULL) * 100.0))


@settings(max_examples=200)
@given(
    distance=st.integers(min_value=0, max_value=65535),
    battery=st.integers(min_value=0, max_value=100),
    tilted=st.booleans(),
)
def test_em310_udl(distance: int, battery: int, tilted: bool) -> None:
    state = {"distance_mm": distance, "battery_pct": battery, "tilted": tilted}
    back = roundtrip("milesight-em310-udl", state, GEOMETRY)
    assert back["distance_mm"] == distance
    assert math.isclose(back["fill_pct"], expected_fill(distance), abs_tol=0.01)
    assert back["battery_pct"] == battery
    assert back["tilted"] is tilted


@settings(max_examples=200)
@given(fill=st.floats(min_value=0, max_value=100))
def test_em310_udl_from_fill_level(fill: float) -> None:
    back = roundtrip("milesight-em310-udl", {"fill_pct": fill}, GEOMETRY)
    assert math.isclose(back["fill_pct"], fill, abs_tol=FILL_TOLERANCE)
    assert back["tilted"] is False


@settings(max_examples=200)
@given(
    distance=st.integers(min_value=280, max_value=7500),
    battery_mv=st.integers(min_value=0, max_value=0x3FFF),
    decidegrees=st.integers(min_value=-550, max_value=1250).filter(lambda t: t != 0),
)
def test_ldds75(distance: int, battery_mv: int, decidegrees: int) -> None:
    temperature = decidegrees / 10
    state = {"distance_mm": distance, "battery_v": battery_mv / 1000, "temperature_c": temperature}
    back = roundtrip("dragino-ldds75", state, GEOMETRY)
    assert back["distance_mm"] == distance
    assert math.isclose(back["fill_pct"], expected_fill(distance), abs_tol=0.01)
    assert math.isclose(back["battery_v"], battery_mv / 1000)
    assert math.isclose(back["temperature_c"], temperature)


@settings(max_examples=100)
@given(distance=st.integers(min_value=280, max_value=7500), battery_mv=st.integers(0, 0x3FFF))
def test_ldds75_legacy_frame(distance: int, battery_mv: int) -> None:
    state = {"distance_mm": distance, "battery_v": battery_mv / 1000}
    back = roundtrip("dragino-ldds75", state, {}, kind="legacy_report")
    assert back == {"distance_mm": distance, "battery_v": battery_mv / 1000}


@settings(max_examples=50)
@given(battery_mv=st.integers(min_value=0, max_value=0x3FFF))
def test_ldds75_without_sensor_gives_no_distance(battery_mv: int) -> None:
    back = roundtrip("dragino-ldds75", {"battery_v": battery_mv / 1000}, GEOMETRY)
    assert back == {"battery_v": battery_mv / 1000}


@settings(max_examples=200)
@given(
    distance=st.integers(min_value=1, max_value=65535),
    battery_mv=st.integers(min_value=0, max_value=60000),
)
def test_dl_mbx(distance: int, battery_mv: int) -> None:
    state = {"distance_mm": distance, "battery_v": battery_mv / 1000}
    back = roundtrip("decentlab-dl-mbx", state, GEOMETRY)
    assert back["distance_mm"] == distance
    assert math.isclose(back["fill_pct"], expected_fill(distance), abs_tol=0.01)
    assert math.isclose(back["battery_v"], battery_mv / 1000)


@settings(max_examples=100)
@given(fill=st.floats(min_value=0, max_value=100))
def test_dl_mbx_from_fill_level(fill: float) -> None:
    back = roundtrip("decentlab-dl-mbx", {"fill_pct": fill}, GEOMETRY)
    assert math.isclose(back["fill_pct"], fill, abs_tol=FILL_TOLERANCE)
    assert "battery_v" not in back

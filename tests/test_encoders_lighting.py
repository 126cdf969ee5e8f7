"""Lighting encoders round trip: decode + normalise of an encoded frame gives the state back."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.decoders import Uplink, get, readings_of
from lorawatch.simulators import encoders
from tests.test_encoders_roundtrip import roundtrip

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
power_factors = st.integers(min_value=0, max_value=100).map(lambda p: p / 100)


@settings(max_examples=200)
@given(
    dim=st.integers(min_value=0, max_value=100),
    lamp_on=st.booleans(),
    lamp_failure=st.booleans(),
    timestamp=st.integers(min_value=1_500_000_000, max_value=2_000_000_000),
)
def test_ul20xx_status(dim: int, lamp_on: bool, lamp_failure: bool, timestamp: int) -> None:
    state = {
        "dim_pct": dim,
        "lamp_on": lamp_on,
        "lamp_failure": lamp_failure,
        "timestamp": timestamp,
    }
    back = roundtrip("nas-ul20xx", state, {})
    assert back == {"dim_pct": dim, "lamp_on": lamp_on, "lamp_failure": lamp_failure}


def test_ul20xx_status_without_lamp_state_gives_only_the_level() -> None:
    assert roundtrip("nas-ul20xx", {"dim_pct": 40}, {}) == {"dim_pct": 40}


@settings(max_examples=200)
@given(
    energy=st.floats(min_value=0, max_value=4_000_000, allow_nan=False),
    power=st.integers(min_value=0, max_value=65_535),
    power_factor=power_factors,
    voltage=st.integers(min_value=0, max_value=255),
    hours=st.floats(min_value=0, max_value=1_000_000, allow_nan=False),
)
def test_ul20xx_usage(
    energy: float, power: int, power_factor: float, voltage: int, hours: float
) -> None:
    state = {
        "energy_kwh": energy,
        "power_w": power,
        "power_factor": power_factor,
        "voltage_v": voltage,
        "lamp_hours": hours,
    }
    back = roundtrip("nas-ul20xx", state, {}, "usage")
    assert math.isclose(back["energy_kwh"], energy, abs_tol=0.0005 + 1e-6)
    assert back["power_w"] == power
    assert math.isclose(back["power_factor"], power_factor, abs_tol=1e-9)
    assert back["voltage_v"] == voltage
    # The vendor data keeps a tenth of an hour.
    assert math.isclose(back["lamp_hours"], hours, abs_tol=0.05 + 1 / 3600)


@settings(max_examples=100)
@given(lamp_on=st.booleans(), lamp_failure=st.booleans())
def test_ul20xx_dali_alert(lamp_on: bool, lamp_failure: bool) -> None:
    state = {"lamp_on": lamp_on, "lamp_failure": lamp_failure}
    assert roundtrip("nas-ul20xx", state, {}, "dali_alert") == state


@settings(max_examples=100)
@given(
    power=st.integers(min_value=0, max_value=65_535),
    voltage=st.integers(min_value=0, max_value=1000),
    power_factor=power_factors,
    lamp_failure=st.booleans(),
)
def test_ul20xx_metering_alert(
    power: int, voltage: int, power_factor: float, lamp_failure: bool
) -> None:
    state = {
        "power_w": power,
        "voltage_v": voltage,
        "power_factor": power_factor,
        "lamp_failure": lamp_failure,
    }
    back = roundtrip("nas-ul20xx", state, {}, "metering_alert")
    assert back == {**state, "power_factor": back["power_factor"]}
    assert math.isclose(back["power_factor"], power_factor, abs_tol=1e-9)


def test_ul20xx_usage_energy_carries_its_modulus() -> None:
    frame = encoders.get("nas-ul20xx")({"energy_kwh": 12.5}, {}, "usage")
    decoder = get("nas-ul20xx")
    (reading,) = readings_of(
        decoder, decoder.decode_uplink(Uplink(frame.payload, frame.f_port, T)), {}, T
    )
    assert reading.modulus == 2**32 / 1000


@settings(max_examples=200)
@given(
    energy=st.floats(min_value=0, max_value=4_000_000, allow_nan=False),
    power=st.integers(min_value=0, max_value=100_000),
    power_factor=power_factors,
    voltage=st.integers(min_value=0, max_value=3000).map(lambda v: v / 10),
    current=st.integers(min_value=0, max_value=65_535).map(lambda a: a / 1000),
    lamp_on=st.booleans(),
)
def test_ws558_report(
    energy: float, power: int, power_factor: float, voltage: float, current: float, lamp_on: bool
) -> None:
    state = {
        "energy_kwh": energy,
        "power_w": power,
        "power_factor": power_factor,
        "voltage_v": voltage,
        "current_a": current,
        "lamp_on": lamp_on,
    }
    back = roundtrip("milesight-ws558", state, {})
    assert math.isclose(back["energy_kwh"], energy, abs_tol=0.0005 + 1e-6)
    assert back["power_w"] == power
    assert math.isclose(back["power_factor"], power_factor, abs_tol=1e-9)
    assert math.isclose(back["voltage_v"], voltage, abs_tol=1e-9)
    assert math.isclose(back["current_a"], current, abs_tol=1e-9)
    assert back["lamp_on"] is lamp_on


@given(lamp_on=st.booleans())
def test_ws558_switch_change_reports_every_line(lamp_on: bool) -> None:
    decoder = get("milesight-ws558")
    frame = encoders.get("milesight-ws558")({"lamp_on": lamp_on}, {}, "switch_change")
    result = decoder.decode_uplink(Uplink(frame.payload, frame.f_port, T))
    assert result.data["switch_1_change"] == "yes"
    lines = {r.channel: r.value for r in readings_of(decoder, result, {}, T) if r.name == "lamp_on"}
    assert lines == {str(n): (lamp_on and n == 1) for n in range(1, 9)}

"""Energy-family encoders round trip: decode + normalise of an encoded frame gives the state back."""

from __future__ import annotations

import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.test_encoders_roundtrip import roundtrip

currents = st.integers(min_value=0, max_value=0xFFFE).map(lambda c: c / 100)
# -0.3 and -0.1 °C collide with the CT101's temperature sentinels (see its decoder).
ct_temperatures = st.floats(min_value=-20, max_value=70).filter(
    lambda t: round(t * 10) not in (-3, -1)
)


@settings(max_examples=200)
@given(current=currents, temperature=ct_temperatures)
def test_ct101_report(current: float, temperature: float) -> None:
    back = roundtrip("milesight-ct101", {"current_a": current, "temperature_c": temperature}, {})
    assert math.isclose(back["current_a"], current, abs_tol=1e-9)
    assert math.isclose(back["temperature_c"], temperature, abs_tol=0.05 + 1e-9)


@settings(max_examples=100)
@given(current=currents)
def test_ct101_alarm(current: float) -> None:
    back = roundtrip("milesight-ct101", {"current_a": current}, {}, "alarm")
    assert math.isclose(back["current_a"], current, abs_tol=1e-9)


@settings(max_examples=200)
@given(
    energy=st.floats(min_value=0, max_value=4_000_000, allow_nan=False),
    offset=st.sampled_from([0.0, 12_000.0]),
)
def test_um30xx_device_converted_energy(energy: float, offset: float) -> None:
    state = {"energy_kwh": energy + offset}
    back = roundtrip("nas-um30xx", state, {"pulse_1_index_offset": offset})
    assert math.isclose(back["energy_kwh"], energy + offset, abs_tol=0.0005 + 1e-6)


@settings(max_examples=200)
@given(
    energy=st.floats(min_value=0, max_value=4_000, allow_nan=False),
    per_kwh=st.sampled_from([100.0, 1000.0, 10_000.0]),
)
def test_um30xx_raw_pulses(energy: float, per_kwh: float) -> None:
    back = roundtrip("nas-um30xx", {"energy_kwh": energy}, {"pulse_1_pulses_per_kwh": per_kwh})
    # Half a pulse at most, plus float noise: 8.875 kWh at 100/kWh is 888 pulses, 8.88 kWh.
    assert math.isclose(back["energy_kwh"], energy, abs_tol=0.5 / per_kwh + 1e-9)
    assert back["pulse_count"] == round(energy * per_kwh)


@settings(max_examples=200)
@given(
    volume=st.floats(min_value=0, max_value=1_000_000, allow_nan=False),
    battery=st.integers(min_value=150, max_value=405).map(lambda v: v / 100),
    temperature=st.integers(min_value=-40, max_value=85),
)
def test_um30xx_status_water(volume: float, battery: float, temperature: int) -> None:
    state = {"volume_m3": volume, "battery_v": battery, "temperature_c": temperature}
    back = roundtrip("nas-um30xx", state, {}, "status")
    assert math.isclose(back["volume_m3"], volume, abs_tol=0.0005 + 1e-6)
    assert math.isclose(back["battery_v"], battery, abs_tol=1e-9)
    assert back["temperature_c"] == temperature


@settings(max_examples=200)
@given(
    temperature=st.integers(min_value=-600, max_value=1500).map(lambda t: t / 10),
    humidity=st.integers(min_value=0, max_value=200).map(lambda h: h / 2),
    voltage=st.integers(min_value=0, max_value=65535).map(lambda v: v / 100),
    current=st.integers(min_value=0, max_value=65535).map(lambda c: c / 1000),
    power=st.integers(min_value=0, max_value=65535),
    energy=st.integers(min_value=0, max_value=2**32 - 1).map(lambda e: e / 1000),
    distance=st.integers(min_value=0, max_value=100_000),
    battery=st.integers(min_value=0, max_value=100),
)
def test_cayenne_lpp(
    temperature: float,
    humidity: float,
    voltage: float,
    current: float,
    power: int,
    energy: float,
    distance: int,
    battery: int,
) -> None:
    state = {
        "temperature_c": temperature,
        "humidity_pct": humidity,
        "voltage_v": voltage,
        "current_a": current,
        "power_w": power,
        "energy_kwh": energy,
        "distance_mm": distance,
        "battery_pct": battery,
    }
    back = roundtrip("cayenne-lpp", state, {"battery_percentage_channel": "1"})
    for name, value in state.items():
        assert math.isclose(float(back[name]), value, abs_tol=1e-6), name


@settings(max_examples=50)
@given(energy=st.floats(min_value=0, max_value=4_000_000, allow_nan=False))
def test_cayenne_energy_alone(energy: float) -> None:
    assume(energy < 2**32 / 1000)
    back = roundtrip("cayenne-lpp", {"energy_kwh": energy}, {})
    assert math.isclose(back["energy_kwh"], energy, abs_tol=0.0005 + 1e-6)

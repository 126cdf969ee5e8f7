"""Water encoders round trip: decode + normalise of an encoded frame gives the state back."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.decoders import Uplink, get, readings_of
from lorawatch.simulators import encoders
from tests.test_encoders_roundtrip import roundtrip

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
temperatures = st.floats(min_value=-40, max_value=85)
humidities = st.integers(min_value=0, max_value=200).map(lambda h: h / 2)


@settings(max_examples=200)
@given(
    battery=st.integers(min_value=0, max_value=100),
    temperature=temperatures,
    humidity=humidities,
    leak=st.booleans(),
)
def test_em300_zld_report(battery: int, temperature: float, humidity: float, leak: bool) -> None:
    state = {
        "battery_pct": battery,
        "temperature_c": temperature,
        "humidity_pct": humidity,
        "leak": leak,
    }
    back = roundtrip("milesight-em300-zld", state, {})
    assert back["battery_pct"] == battery
    assert math.isclose(back["temperature_c"], temperature, abs_tol=0.05 + 1e-9)
    assert back["humidity_pct"] == humidity
    assert back["leak"] is leak


@settings(max_examples=100)
@given(
    timestamp=st.integers(min_value=1_600_000_000, max_value=2_000_000_000),
    temperature=temperatures,
    humidity=humidities,
    leak=st.booleans(),
)
def test_em300_zld_history_lands_at_its_own_time(
    timestamp: int, temperature: float, humidity: float, leak: bool
) -> None:
    state = {"timestamp": timestamp, "temperature_c": temperature, "humidity_pct": humidity}
    decoder = get("milesight-em300-zld")
    frame = encoders.get("milesight-em300-zld")({**state, "leak": leak}, {}, "history")
    result = decoder.decode_uplink(Uplink(frame.payload, frame.f_port, T))
    readings = readings_of(decoder, result, {}, T)
    assert {r.time for r in readings} == {datetime.fromtimestamp(timestamp, UTC)}
    back = {r.name: r.value for r in readings}
    assert math.isclose(back["temperature_c"], temperature, abs_tol=0.05 + 1e-9)
    assert back["humidity_pct"] == humidity
    assert back["leak"] is leak


@settings(max_examples=200)
@given(millivolts=st.integers(min_value=0, max_value=0x3FFF), leak=st.booleans())
def test_lwl02(millivolts: int, leak: bool) -> None:
    back = roundtrip("dragino-lwl02", {"battery_v": millivolts / 1000, "leak": leak}, {})
    assert math.isclose(back["battery_v"], millivolts / 1000)
    assert back["leak"] is leak


@settings(max_examples=200)
@given(
    volume=st.floats(min_value=0, max_value=4_000_000_000),
    leak=st.booleans(),
    centivolts=st.integers(min_value=150, max_value=405),
    temperature=st.integers(min_value=-60, max_value=127),
    kind=st.sampled_from(["report", "shutdown"]),
)
def test_cm30xx_usage(
    volume: float, leak: bool, centivolts: int, temperature: int, kind: str
) -> None:
    state = {
        "volume_m3": volume,
        "leak": leak,
        "battery_v": centivolts / 100,
        "temperature_c": temperature,
    }
    back = roundtrip("nas-cm30xx", state, {}, kind)
    # The register counts in the finest multiplier that fits 32 bits: half a step of error.
    step = next(10.0 ** (e - 6) for e in range(3, 8) if round(volume / 10.0 ** (e - 6)) < 2**32)
    assert math.isclose(back["volume_m3"], volume, abs_tol=step / 2 + 1e-9)
    assert back["leak"] is leak
    assert math.isclose(back["battery_v"], centivolts / 100)
    assert back["temperature_c"] == temperature


@settings(max_examples=200)
@given(
    volume=st.floats(min_value=0, max_value=999_999_000),
    flow=st.integers(min_value=0, max_value=999_999),
)
def test_cm30xx_oms(volume: float, flow: int) -> None:
    back = roundtrip("nas-cm30xx", {"volume_m3": volume, "flow_l_h": flow}, {}, "oms")
    step = next(10.0 ** (n - 6) for n in range(3, 8) if round(volume / 10.0 ** (n - 6)) < 10**8)
    assert math.isclose(back["volume_m3"], volume, abs_tol=step / 2 + 1e-9)
    assert math.isclose(back["flow_l_h"], flow)


def test_cm30xx_volume_carries_the_register_modulus() -> None:
    decoder = get("nas-cm30xx")
    frame = encoders.get("nas-cm30xx")({"volume_m3": 12.5}, {}, "report")
    result = decoder.decode_uplink(Uplink(frame.payload, frame.f_port, T))
    (volume,) = [r for r in readings_of(decoder, result, {}, T) if r.name == "volume_m3"]
    assert volume.modulus == 2**32 * 0.001
    frame = encoders.get("nas-cm30xx")({"volume_m3": 12.5}, {}, "oms")
    result = decoder.decode_uplink(Uplink(frame.payload, frame.f_port, T))
    (volume,) = [r for r in readings_of(decoder, result, {}, T) if r.name == "volume_m3"]
    assert math.isclose(volume.modulus or 0.0, 10**8 * 0.001)

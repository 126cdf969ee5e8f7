"""Round trip per device: decode + normalise of an encoded frame gives the simulated state back."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.decoders import Uplink, get, readings_of
from lorawatch.simulators import encoders

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def roundtrip(
    decoder_name: str,
    state: dict[str, float | bool],
    raw_params: dict[str, object],
    kind: str = "report",
) -> dict[str, float | bool]:
    decoder = get(decoder_name)
    params, problems = decoder.resolve_params(raw_params)
    assert not problems
    frame = encoders.get(decoder_name)(state, params, kind)
    result = decoder.decode_uplink(Uplink(frame.payload, frame.f_port, T))
    assert result.ok, result.errors
    return {
        r.name: r.value for r in readings_of(decoder, result, params, T) if r.channel in ("", "1")
    }


def test_every_decoder_but_js_has_an_encoder() -> None:
    from lorawatch.decoders import names

    missing = sorted(set(names()) - set(encoders.names()) - {"js"})
    assert not missing, f"decoders without a simulator encoder: {missing}"


@settings(max_examples=200)
@given(
    energy=st.floats(min_value=0, max_value=4_000_000, allow_nan=False),
    battery=st.integers(min_value=0, max_value=100),
    temperature=st.floats(min_value=-40, max_value=85),
    humidity=st.integers(min_value=0, max_value=200).map(lambda h: h / 2),
)
def test_em300_di(energy: float, battery: int, temperature: float, humidity: float) -> None:
    state = {
        "energy_kwh": energy,
        "battery_pct": battery,
        "temperature_c": temperature,
        "humidity_pct": humidity,
    }
    back = roundtrip("milesight-em300-di", state, {"pulses_per_kwh": 1000})
    assert math.isclose(back["energy_kwh"], energy, abs_tol=0.0005 + 1e-6)
    assert back["battery_pct"] == battery
    assert math.isclose(back["temperature_c"], temperature, abs_tol=0.05 + 1e-9)
    assert back["humidity_pct"] == humidity

"""The line protocol's numbers: the text of each float reads back as that float, remembered
texts included (sensor values repeat, so their shortest repr is kept), and a batch's
readings are found by name in the batch's order."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.pipeline import line_protocol
from lorawatch.pipeline.records import Batch, Consumption, Place, RawUplink, StoredReading

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PLACE = Place("c", "b", "meter-1", "electricity")


def fields(line: str) -> dict[str, str]:
    """``name=value`` of a line's field set (no string field holds a comma here)."""
    return dict(part.split("=", 1) for part in line.split(" ")[1].split(","))


def readings_batch(values: list[float]) -> Batch:
    return Batch(
        readings=[
            StoredReading("a1", "temperature_c", "", T0 + timedelta(minutes=i), v, PLACE)
            for i, v in enumerate(values)
        ]
    )


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, -0.0, 30.8, 0.1, 1e-300]) | finite, max_size=30))
def test_each_value_reads_back_as_itself_remembered_or_not(values: list[float]) -> None:
    lines = line_protocol.encode(readings_batch(values + values))
    texts = [fields(line)["temperature_c"] for line in lines]
    assert texts == [repr(v) for v in values + values]
    for text, v in zip(texts, values + values, strict=True):
        assert float(text) == v and math.copysign(1.0, float(text)) == math.copysign(1.0, v)


def test_zero_and_negative_zero_keep_their_sign_in_either_order() -> None:
    for values in ([0.0, -0.0, 0.0], [-0.0, 0.0, -0.0]):
        lines = line_protocol.encode(readings_batch(values))
        assert [fields(line)["temperature_c"] for line in lines] == [repr(v) for v in values]


def test_deltas_and_radio_figures_use_the_same_texts() -> None:
    batch = Batch(
        consumption=[
            Consumption(
                "a1",
                "energy_delta_kwh",
                "",
                T0,
                T0 + timedelta(minutes=15),
                0.037,
                False,
                PLACE,
                0.01,
            )
        ]
        * 2,
        uplinks=[RawUplink("a1", T0, 1, 85, b"\x01", "id", T0, "v4-json", -87.0, 8.41, 1, PLACE)]
        * 2,
    )
    lines = line_protocol.encode(batch)
    for line in lines[:2]:
        f = fields(line)
        assert (f["energy_delta_kwh"], f["energy_delta_kwh_unoccupied"]) == ("0.037", "0.01")
    for line in lines[2:]:
        f = fields(line)
        assert (f["rssi"], f["snr"]) == ("-87.0", "8.41")


def test_the_remembered_texts_stay_bounded_and_nan_is_not_kept() -> None:
    line_protocol.encode(
        readings_batch([float(i) + 0.5 for i in range(line_protocol.FLOATS_KEPT + 100)])
    )
    assert 0 < len(line_protocol._FLOAT_TEXTS) <= line_protocol.FLOATS_KEPT
    line_protocol._FLOAT_TEXTS.clear()
    assert line_protocol._number(math.nan) == "nan"
    assert line_protocol._number(-0.0) == "-0.0"
    assert line_protocol._FLOAT_TEXTS == {}


def test_readings_are_found_by_name_in_batch_order() -> None:
    def reading(name: str, minute: int) -> StoredReading:
        return StoredReading("a1", name, "", T0 + timedelta(minutes=minute), 1.0, PLACE)

    batch = Batch(
        readings=[reading("tilted", 0), reading("temperature_c", 0), reading("fill_pct", 0)]
    )
    assert [r.name for r in batch.named(("fill_pct", "tilted"))] == ["tilted", "fill_pct"]
    assert batch.named(("leak",)) == []
    batch.readings.append(reading("leak", 1))  # added after a look: looked at again
    assert [r.name for r in batch.named(("leak",))] == ["leak"]
    batch.readings = [reading("lamp_on", 2)] * 4  # replaced, same length: looked at again
    assert [r.name for r in batch.named(("lamp_on",))] == ["lamp_on"] * 4
    assert Batch().named(("leak",)) == []


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_reading_is_a_boolean_field(value: bool) -> None:
    batch = Batch(readings=[StoredReading("a1", "leak", "", T0, value, PLACE)])
    assert fields(line_protocol.encode(batch)[0])["leak"] == ("true" if value else "false")

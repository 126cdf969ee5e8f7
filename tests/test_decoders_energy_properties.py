"""Hostile payloads on the energy-family and generic decoders: nothing raises, nothing
off-vocabulary or implausible comes out of normalise."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.decoders import Uplink, get, readings_of
from lorawatch.decoders.devices.cayenne_lpp import TYPES

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DECODERS = ("milesight-ct101", "nas-um30xx", "cayenne-lpp")

_CT101_RECORDS = st.sampled_from(
    [
        b"\x03\x97",
        b"\x04\x98",
        b"\x09\x67",
        b"\x84\x98",
        b"\x89\x67",
        b"\x01\x75",
        b"\xff\x06",
        b"\xfe\x8e",
        b"\xff\x0b",
        b"\xff\x16",
    ]
)
# Known record headers with random values, so the walker gets past its first record.
ct101_frames = st.lists(
    st.tuples(_CT101_RECORDS, st.binary(max_size=9)).map(lambda t: t[0] + t[1]), max_size=6
).map(b"".join)
# Known packet headers; usage frames with the M-Bus flag so the record walker runs.
um30xx_frames = st.one_of(
    st.tuples(
        st.sampled_from([0x02, 0x82, 0x12, 0x14, 0x21, 0x03, 0x81, 0xFF, 0x00, 0x01, 0x13]),
        st.binary(max_size=40),
    ).map(lambda t: bytes([t[0]]) + t[1]),
    st.binary(max_size=40).map(lambda b: bytes.fromhex("0200002060007856341233380102") + b),
    st.binary(max_size=40).map(lambda b: b"\x02\x00\x00\x23\x10" + b),
    st.binary(max_size=40).map(lambda b: b"\x01\x33\x82" + b),
)


def _lpp_record(code: int) -> st.SearchStrategy[bytes]:
    size = TYPES[code].size
    return st.tuples(st.integers(0, 255), st.binary(min_size=size, max_size=size)).map(
        lambda t: bytes([t[0], code]) + t[1]
    )


# Well-formed records of every known type with random values and channels.
lpp_frames = st.lists(st.sampled_from(sorted(TYPES)).flatmap(_lpp_record), max_size=8).map(b"".join)

PAYLOADS = {
    "milesight-ct101": st.one_of(st.binary(max_size=40), ct101_frames),
    "nas-um30xx": st.one_of(st.binary(max_size=60), um30xx_frames),
    "cayenne-lpp": st.one_of(st.binary(max_size=40), lpp_frames),
}
PORTS = {
    "milesight-ct101": st.just(85),
    "nas-um30xx": st.sampled_from([24, 25, 49, 50, 60, 61, 99]),
    "cayenne-lpp": st.integers(1, 223),
}
PARAMS = {
    "milesight-ct101": st.just({}),
    "nas-um30xx": st.sampled_from(
        [
            {},
            {"mbus_meter_kind": "electricity"},
            {"mbus_meter_kind": "water", "pulse_1_pulses_per_kwh": 1000},
            {"pulse_2_litres_per_pulse": 10, "pulse_2_index_offset": 500},
        ]
    ),
    "cayenne-lpp": st.sampled_from(
        [{}, {"battery_voltage_channel": "1", "battery_percentage_channel": "2"}]
    ),
}


@settings(max_examples=800)
@given(data=st.data())
def test_hostile_payloads_never_raise_and_stay_in_vocabulary(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(DECODERS))
    decoder = get(name)
    payload = data.draw(PAYLOADS[name])
    f_port = data.draw(st.one_of(PORTS[name], st.integers(0, 255)))
    params, problems = decoder.resolve_params(data.draw(PARAMS[name]))
    assert not problems
    result = decoder.decode_uplink(Uplink(payload, f_port, T))
    assert not any("decoder failed" in e for e in result.errors), result.errors
    kept = readings_of(decoder, result, params, T)
    if not result.ok:
        assert kept == []
        return
    assert not any("normalise failed" in e for e in result.errors), result.errors
    for reading in decoder.normalise(result.data, params, T):
        assert reading.problem() is None, reading
        assert reading.name in decoder.readings

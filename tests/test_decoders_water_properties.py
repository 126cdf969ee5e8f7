"""Hostile payloads on the water decoders: nothing raises, nothing off-vocabulary comes out."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.decoders import Uplink, get, readings_of

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DECODERS = ("milesight-em300-zld", "dragino-lwl02", "nas-cm30xx")

_ZLD_RECORDS = st.sampled_from(
    [
        b"\x01\x75",
        b"\x03\x67",
        b"\x04\x68",
        b"\x05\x00",
        b"\x20\xce",
        b"\xff\x06",
        b"\xfe\x79",
        b"\xff\xea",
        b"\xff\x6a",
        b"\xff\x16",
    ]
)
# Known record headers with random values, so the walker gets past its first record.
zld_frames = st.lists(
    st.tuples(_ZLD_RECORDS, st.binary(max_size=9)).map(lambda t: t[0] + t[1]), max_size=6
).map(b"".join)
lwl02_frames = st.binary(min_size=10, max_size=10)
# Known packet types, and OMS frames whose header is clear so the record walker runs.
cm30xx_frames = st.one_of(
    st.tuples(
        st.sampled_from([0x04, 0x20, 0x21, 0x03, 0xFF, 0x00, 0x01, 0x13, 0x7A, 0x72]),
        st.binary(max_size=40),
    ).map(lambda t: bytes([t[0]]) + t[1]),
    st.binary(max_size=40).map(lambda b: b"\x7a\x00\x00\x00\x20" + b),
    st.binary(max_size=30).map(lambda b: b"\x01\x33\x04" + b),
)
PAYLOADS = {
    "milesight-em300-zld": st.one_of(st.binary(max_size=40), zld_frames),
    "dragino-lwl02": st.one_of(st.binary(max_size=12), lwl02_frames),
    "nas-cm30xx": st.one_of(st.binary(max_size=40), cm30xx_frames),
}
PORTS = {
    "milesight-em300-zld": st.just(85),
    "dragino-lwl02": st.just(10),
    "nas-cm30xx": st.sampled_from([20, 25, 49, 50, 60, 99]),
}
PARAMS = {
    "milesight-em300-zld": st.just({}),
    "dragino-lwl02": st.just({}),
    "nas-cm30xx": st.sampled_from([{}, {"oms_medium": "gas"}, {"oms_medium": "warm_water"}]),
}


@settings(max_examples=600)
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

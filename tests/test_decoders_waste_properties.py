"""Hostile payloads on the waste-bin decoders: nothing raises, nothing off-vocabulary comes out."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.decoders import Uplink, get, readings_of

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DECODERS = ("milesight-em310-udl", "dragino-ldds75", "decentlab-dl-mbx")
GEOMETRIES = st.sampled_from(
    [{}, {"empty_distance_mm": 2500, "full_distance_mm": 300}, {"empty_distance_mm": 100}]
)

_MILESIGHT_RECORDS = st.sampled_from(
    [b"\x01\x75", b"\x03\x82", b"\x04\x00", b"\xff\x06", b"\xff\x02", b"\xfe\x10", b"\xff\x16"]
)
# Known record headers with random values, so the walker gets past its first record.
milesight_frames = st.lists(
    st.tuples(_MILESIGHT_RECORDS, st.binary(min_size=0, max_size=9)).map(lambda t: t[0] + t[1]),
    max_size=6,
).map(b"".join)
ldds75_frames = st.one_of(st.binary(min_size=8, max_size=8), st.binary(min_size=5, max_size=5))
dl_mbx_frames = st.builds(
    lambda dev, flags, words: struct.pack(">BHH", 2, dev, flags) + words,
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.binary(max_size=12),
)
PAYLOADS = {
    "milesight-em310-udl": st.one_of(st.binary(max_size=40), milesight_frames),
    "dragino-ldds75": st.one_of(st.binary(max_size=12), ldds75_frames),
    "decentlab-dl-mbx": st.one_of(st.binary(max_size=16), dl_mbx_frames),
}
NATIVE_PORT = {"milesight-em310-udl": 85, "dragino-ldds75": 2, "decentlab-dl-mbx": 1}


@settings(max_examples=300)
@given(data=st.data())
def test_hostile_payloads_never_raise_and_stay_in_vocabulary(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(DECODERS))
    decoder = get(name)
    payload = data.draw(PAYLOADS[name])
    f_port = data.draw(st.one_of(st.just(NATIVE_PORT[name]), st.integers(0, 255)))
    params, problems = decoder.resolve_params(data.draw(GEOMETRIES))
    assert not problems
    result = decoder.decode_uplink(Uplink(payload, f_port, T))
    kept = readings_of(decoder, result, params, T)
    if not result.ok:
        assert kept == []
        return
    for reading in decoder.normalise(result.data, params, T):
        assert reading.problem() is None, reading
        assert reading.name in decoder.readings

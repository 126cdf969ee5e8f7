"""Hostile payloads on the lighting decoders: nothing raises, nothing off-vocabulary comes out."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.decoders import Uplink, get, readings_of

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DECODERS = ("nas-ul20xx", "milesight-ws558")

# Known headers with random bodies, so the parsers get past their first byte.
_UL20XX_HEADERS = {
    23: [0x00, 0x01],
    24: [],
    25: [],
    26: [0x00],
    50: [*range(0x01, 0x2C), 0x52, 0x53, 0xFE, 0xFF],
    60: list(range(0x00, 0x0D)),
    61: [0x80, 0x81, 0x83, 0x84, 0x85, 0x86],
    99: [0x00, 0x13],
}
ul20xx_frames = st.sampled_from(sorted(_UL20XX_HEADERS)).flatmap(
    lambda port: st.tuples(
        st.just(port),
        st.one_of(
            st.binary(max_size=40),
            st.tuples(st.sampled_from(_UL20XX_HEADERS[port] or [0]), st.binary(max_size=40)).map(
                lambda t: bytes([t[0]]) + t[1]
            ),
        ),
    )
)
_WS558_RECORDS = st.sampled_from(
    [
        b"\x03\x74",
        b"\x04\x80",
        b"\x05\x81",
        b"\x06\x83",
        b"\x07\xc9",
        b"\x08\x31",
        b"\xff\x32",
        b"\xfe\x23",
    ]
)
ws558_frames = st.lists(
    st.tuples(_WS558_RECORDS, st.binary(max_size=5)).map(lambda t: t[0] + t[1]), max_size=8
).map(b"".join)
FRAMES = {
    "nas-ul20xx": ul20xx_frames,
    "milesight-ws558": st.tuples(st.just(85), st.one_of(st.binary(max_size=40), ws558_frames)),
}


@settings(max_examples=800)
@given(data=st.data())
def test_hostile_payloads_never_raise_and_stay_in_vocabulary(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(DECODERS))
    decoder = get(name)
    port, payload = data.draw(FRAMES[name])
    f_port = data.draw(st.one_of(st.just(port), st.integers(0, 255)))
    result = decoder.decode_uplink(Uplink(payload, f_port, T))
    assert not any("decoder failed" in e for e in result.errors), result.errors
    kept = readings_of(decoder, result, {}, T)
    if not result.ok:
        assert kept == []
        return
    assert not any("normalise failed" in e for e in result.errors), result.errors
    for reading in decoder.normalise(result.data, {}, T):
        assert reading.problem() is None, reading
        assert reading.name in decoder.readings

"""Hostile payloads on every registered decoder: nothing raises, nothing off-vocabulary comes out.

Random bytes on random fPorts must never crash a decoder (payloads are hostile), and whatever
a decoder normalises from a frame it accepted must be a valid canonical reading it declares.
Purely random bytes rarely get past a decoder's first check, so each decoder also gets frames
that start like its real ones (known headers, record types) with random bodies; a decoder
without such a profile still gets random bytes. ``js`` runs user codecs and has its own tests.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.core.readings import CANONICAL, Reading, keep_valid
from lorawatch.decoders import Uplink, get, names, readings_of
from lorawatch.decoders.devices.cayenne_lpp import TYPES
from lorawatch.decoders.milesight import COMMON, MILESIGHT_FPORT, MilesightDecoder

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Per decoder: the twelve built-in decoders together run in well under 20 s.
EXAMPLES = 200

# (fPort, payload) of frames shaped like a decoder's real uplinks.
Frames = st.SearchStrategy[tuple[int, bytes]]


def _on(ports: st.SearchStrategy[int], payloads: st.SearchStrategy[bytes]) -> Frames:
    return st.tuples(ports, payloads)


def _headed(headers: list[int], max_size: int) -> st.SearchStrategy[bytes]:
    """A known first byte (packet type) and a random body."""
    return st.tuples(st.sampled_from(headers), st.binary(max_size=max_size)).map(
        lambda t: bytes([t[0]]) + t[1]
    )


def _records(headers: list[bytes], max_value: int, max_records: int) -> st.SearchStrategy[bytes]:
    """Known record headers with random values, so a record walker gets past its first one."""
    record = st.tuples(st.sampled_from(headers), st.binary(max_size=max_value))
    return st.lists(record.map(lambda t: t[0] + t[1]), max_size=max_records).map(b"".join)


def _milesight(decoder: MilesightDecoder) -> Frames:
    """Frames of every (id, type) record the decoder knows, device information included."""
    headers = sorted(bytes(key) for key in {*decoder.handlers, *COMMON})
    payloads = st.one_of(st.binary(max_size=40), _records(headers, 9, 6))
    return _on(st.just(MILESIGHT_FPORT), payloads)


def _lpp_record(code: int) -> st.SearchStrategy[bytes]:
    size = TYPES[code].size
    return st.tuples(st.integers(0, 255), st.binary(min_size=size, max_size=size)).map(
        lambda t: bytes([t[0], code]) + t[1]
    )


# Well-formed records of every known type with random values and channels.
_LPP_FRAMES = st.lists(st.sampled_from(sorted(TYPES)).flatmap(_lpp_record), max_size=8).map(
    b"".join
)
# Known packet headers; usage frames with the M-Bus flag so the record walker runs.
_UM30XX_FRAMES = st.one_of(
    _headed([0x02, 0x82, 0x12, 0x14, 0x21, 0x03, 0x81, 0xFF, 0x00, 0x01, 0x13], 40),
    st.binary(max_size=40).map(lambda b: bytes.fromhex("0200002060007856341233380102") + b),
    st.binary(max_size=40).map(lambda b: b"\x02\x00\x00\x23\x10" + b),
    st.binary(max_size=40).map(lambda b: b"\x01\x33\x82" + b),
)
# Known packet types, and OMS frames whose header is clear so the record walker runs.
_CM30XX_FRAMES = st.one_of(
    _headed([0x04, 0x20, 0x21, 0x03, 0xFF, 0x00, 0x01, 0x13, 0x7A, 0x72], 40),
    st.binary(max_size=40).map(lambda b: b"\x7a\x00\x00\x00\x20" + b),
    st.binary(max_size=30).map(lambda b: b"\x01\x33\x04" + b),
)
# Known headers per fPort with random bodies, so the parsers get past their first byte.
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
_UL20XX_FRAMES = st.sampled_from(sorted(_UL20XX_HEADERS)).flatmap(
    lambda port: _on(
        st.just(port),
        st.one_of(st.binary(max_size=40), _headed(_UL20XX_HEADERS[port] or [0], 40)),
    )
)
_DL_MBX_FRAMES = st.builds(
    lambda dev, flags, words: struct.pack(">BHH", 2, dev, flags) + words,
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.binary(max_size=12),
)
_BIN_GEOMETRIES = st.sampled_from(
    [{}, {"empty_distance_mm": 2500, "full_distance_mm": 300}, {"empty_distance_mm": 100}]
)

FRAMES: dict[str, Frames] = {
    "cayenne-lpp": _on(st.integers(1, 223), st.one_of(st.binary(max_size=40), _LPP_FRAMES)),
    "nas-um30xx": _on(
        st.sampled_from([24, 25, 49, 50, 60, 61, 99]),
        st.one_of(st.binary(max_size=60), _UM30XX_FRAMES),
    ),
    "nas-cm30xx": _on(
        st.sampled_from([20, 25, 49, 50, 60, 99]), st.one_of(st.binary(max_size=40), _CM30XX_FRAMES)
    ),
    "nas-ul20xx": _UL20XX_FRAMES,
    "dragino-lwl02": _on(
        st.just(10), st.one_of(st.binary(max_size=12), st.binary(min_size=10, max_size=10))
    ),
    "dragino-ldds75": _on(
        st.just(2),
        st.one_of(
            st.binary(max_size=12),
            st.binary(min_size=8, max_size=8),
            st.binary(min_size=5, max_size=5),
        ),
    ),
    "decentlab-dl-mbx": _on(st.just(1), st.one_of(st.binary(max_size=16), _DL_MBX_FRAMES)),
}
PARAMS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "cayenne-lpp": st.sampled_from(
        [{}, {"battery_voltage_channel": "1", "battery_percentage_channel": "2"}]
    ),
    "nas-um30xx": st.sampled_from(
        [
            {},
            {"mbus_meter_kind": "electricity"},
            {"mbus_meter_kind": "water", "pulse_1_pulses_per_kwh": 1000},
            {"pulse_2_litres_per_pulse": 10, "pulse_2_index_offset": 500},
        ]
    ),
    "nas-cm30xx": st.sampled_from([{}, {"oms_medium": "gas"}, {"oms_medium": "warm_water"}]),
    "dragino-ldds75": _BIN_GEOMETRIES,
    "decentlab-dl-mbx": _BIN_GEOMETRIES,
    "milesight-em310-udl": _BIN_GEOMETRIES,
}
DECODERS = [name for name in names() if name != "js"]


def _frames(name: str) -> Frames:
    """The decoder's own frames; Milesight ones from its handlers; else any bytes on any port."""
    if name in FRAMES:
        return FRAMES[name]
    decoder = get(name)
    if isinstance(decoder, MilesightDecoder):
        return _milesight(decoder)
    return _on(st.integers(0, 255), st.binary(max_size=64))


def test_every_profile_names_a_registered_decoder() -> None:
    assert not (set(FRAMES) | set(PARAMS)) - set(DECODERS)


@pytest.mark.parametrize("name", DECODERS)
# No deadline: timing belongs to bench/, and a busy machine must not fail a property test.
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_hostile_payloads_never_raise_and_stay_in_vocabulary(
    name: str, data: st.DataObject
) -> None:
    decoder = get(name)
    port, payload = data.draw(_frames(name))
    f_port = data.draw(st.one_of(st.just(port), st.integers(0, 255)))
    params, problems = decoder.resolve_params(data.draw(PARAMS.get(name, st.just({}))))
    assert not problems
    result = decoder.decode_uplink(Uplink(payload, f_port, T))
    assert not any("decoder failed" in e for e in result.errors), result.errors
    kept = readings_of(decoder, result, params, T)
    if not result.ok:
        assert kept == []
        return
    assert not any("normalise failed" in e for e in result.errors), result.errors
    for reading in decoder.normalise(result.data, params, T):
        assert reading.name in decoder.readings
        assert reading.problem() is None, reading


def test_em300_di_keeps_to_the_vocabulary() -> None:
    decoder = get("milesight-em300-di")
    result = decoder.decode_uplink(Uplink(bytes.fromhex("017565"), MILESIGHT_FPORT, T))
    assert result.ok
    assert all(r.problem() is None for r in decoder.normalise(result.data, {}, T))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*CANONICAL, "no_such_reading"]),
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True),
                st.integers(-(10**12), 10**12),
                st.booleans(),
                st.text(max_size=3),
            ),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_keep_valid_keeps_what_problem_accepts(cases: list[tuple[str, Any, bool]]) -> None:
    """The one-look check of the hot path keeps exactly the readings ``problem()`` accepts."""
    readings = [Reading(n, v, T if zoned else T.replace(tzinfo=None)) for n, v, zoned in cases]
    kept: list[Reading] = []
    keep_valid(readings, kept)
    assert kept == [r for r in readings if r.problem() is None]

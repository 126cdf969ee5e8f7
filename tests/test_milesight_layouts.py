"""The Milesight frame-shape cache gives exactly what the record-by-record walk gives.

A Milesight decoder remembers the shape of the all-number frames it decoded and reads the
next frame of that shape with one ``Struct`` call (lorawatch.decoders.milesight.Table). The
cache is only an optimisation: for any frame, the second decode (through the cache) must equal
the first (the walk), values, names and sentinels included, and a frame that only looks alike
(same length, another header) must not be read with the wrong shape.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.decoders import get, names
from lorawatch.decoders.milesight import MilesightDecoder, Table, walk

MILESIGHT = sorted(n for n in names() if isinstance(get(n), MilesightDecoder))


def _scalar_headers(table: Table) -> list[tuple[bytes, int]]:
    """(header, value bytes) of each record made only of numbers."""
    out = []
    for key, record in sorted(table.records.items(), key=lambda kv: kv[0]):
        if isinstance(record, tuple):
            out.append((bytes([key >> 8, key & 0xFF]), sum(value[1] for value in record)))
    return out


@st.composite
def frames(draw: st.DrawFn, name: str) -> bytes:
    headers = _scalar_headers(get(name).records)  # type: ignore[attr-defined]
    chosen = draw(st.lists(st.sampled_from(headers), min_size=1, max_size=6))
    return b"".join(h + draw(st.binary(min_size=n, max_size=n)) for h, n in chosen)


def test_every_milesight_decoder_has_number_records() -> None:
    assert len(MILESIGHT) >= 5
    for name in MILESIGHT:
        assert _scalar_headers(get(name).records), name  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_cached_shape_decodes_like_the_walk(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(MILESIGHT))
    decoder = get(name)
    assert isinstance(decoder, MilesightDecoder)
    table = Table(decoder.handlers)
    payload = data.draw(frames(name))
    walked = walk(payload, table, [])
    learned = sum(len(layouts) for layouts in table.layouts.values())
    cached = walk(payload, table, [])
    # repr, not ==: a float32 of random bytes may be NaN, which equals nothing.
    assert repr(cached) == repr(walked)
    # A frame whose keys all differ is learned; one that repeats a key is walked each time.
    keys = [v[0] for h, _ in _shape(payload, table) for v in table.records[h]]  # type: ignore[union-attr]
    assert learned == (1 if len(set(keys)) == len(keys) else 0)


def _shape(payload: bytes, table: Table) -> list[tuple[int, int]]:
    """(header key, offset) of each record of a frame built by :func:`frames`."""
    out, pos = [], 0
    while pos < len(payload):
        key = payload[pos] << 8 | payload[pos + 1]
        record = table.records[key]
        assert isinstance(record, tuple)
        out.append((key, pos))
        pos += 2 + sum(v[1] for v in record)
    return out


def test_same_length_other_header_is_not_read_with_the_cached_shape() -> None:
    decoder = get("milesight-em300-di")
    assert isinstance(decoder, MilesightDecoder)
    table = Table(decoder.handlers)
    report = bytes.fromhex("01755c0367340104686505c8e8030000")
    first = walk(report, table, [])
    assert (
        walk(report, table, [])
        == first
        == {
            "battery": 92,
            "temperature": 30.8,
            "humidity": 50.5,
            "pulse": 1000,
        }
    )
    # Same length, humidity record replaced by a GPIO state: another shape, walked and named.
    other = bytes.fromhex("01755c0367340105000105c8e8030000")
    assert walk(other, table, []) == {
        "battery": 92,
        "temperature": 30.8,
        "gpio": "high",
        "pulse": 1000,
    }
    assert len(table.layouts[len(report)]) == 2

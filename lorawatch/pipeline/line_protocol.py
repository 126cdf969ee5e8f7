"""InfluxDB line protocol for our records: a small writer, no client library needed.

Schema (docs/data-model.md): measurement ``reading`` (one line per device, channel and time,
fields = canonical names), ``consumption`` (deltas, their part outside occupancy,
``interval_s``, ``gap``), ``uplink`` (raw frame for audit) and ``alert`` (alert lifecycle
events, :func:`alert`). Tags are the low-cardinality place (commune, building, device, dev_eui,
kind, channel); fCnt, deduplicationId and gateways are fields, never tags, so the tag set of a
series is stable and a replay overwrites the same points (field notes, "InfluxDB").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from lorawatch.core.timeutil import ns
from lorawatch.pipeline.records import Batch, Place, unoccupied_field

_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\\": "\\\\", "\n": " "})


def _tags(place: Place, dev_eui: str, channel: str = "") -> str:
    """The escaped tag set of a series, cached per (device, channel): a fleet has few series
    and many points, and the ingestor hands the same Place object for every point of a device
    (another object, say after an inventory change, is worked out again)."""
    key = (dev_eui, channel)
    found = _TAG_SETS.get(key)
    if found is not None and found[0] is place:
        return found[1]
    pairs = (
        ("building", place.building),
        ("channel", channel),
        ("commune", place.commune),
        ("dev_eui", dev_eui),
        ("device", place.device),
        ("kind", place.kind),
    )
    tags = "".join(f",{k}={v.translate(_TAG_ESCAPES)}" for k, v in pairs if v)
    if len(_TAG_SETS) > 65_536:
        _TAG_SETS.clear()
    _TAG_SETS[key] = (place, tags)
    return tags


_TAG_SETS: dict[tuple[str, str], tuple[Place, str]] = {}


def _field(value: float | bool | int | str) -> str:
    if value.__class__ is float:
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _number(value: float | bool) -> str:
    """A reading's value: a float (InfluxDB fixes a field's type at its first point, and a
    counter that once came as an int must not conflict later), or a boolean."""
    if value.__class__ is bool:
        return "true" if value else "false"
    number = float(value)
    return _FLOAT_TEXTS.get(number) or _float_text(number)


FLOATS_KEPT = 4_096


def _float_text(value: float) -> str:
    """``repr(value)``, the shortest text that reads back as the same float, remembered.

    Sensor values repeat: a temperature to 0.1 °C, a humidity, a battery level, a radio's
    RSSI and SNR come back again and again, and the shortest repr (Python's dtoa) costs about
    ten dictionary lookups. The line protocol of the ingest bench's uplinks took ~62,000
    instructions an uplink, ~48,000 with the texts remembered (callgrind); unique values (a
    meter's index) are worked out as before. Zero is not kept: 0.0 and -0.0 are one key with
    two texts. At most :data:`FLOATS_KEPT` (~0.5 MB), then forgotten at once: 1,024 kept
    saved ~12,000 instructions an uplink, 4,096 ~14,000, 65,536 (~7 MB) no more."""
    text = repr(value)
    if value and value == value:  # not zero, not NaN (which would never be found again)
        if len(_FLOAT_TEXTS) >= FLOATS_KEPT:
            _FLOAT_TEXTS.clear()
        _FLOAT_TEXTS[value] = text
    return text


_FLOAT_TEXTS: dict[float, str] = {}


def encode(batch: Batch, readings: bool = True) -> list[str]:
    """The lines of a batch. Written for speed (it runs once per batch on the bridge thread):
    readings are grouped per point without intermediate dicts of values, each timestamp is
    converted once, and fields whose type is known are formatted inline."""
    lines: list[str] = []
    append = lines.append
    stamps: dict[datetime, int] = {}
    known = _FLOAT_TEXTS.get

    def stamp(t: datetime) -> int:
        found = stamps.get(t)
        if found is None:
            found = stamps[t] = ns(t)
        return found

    if readings:
        points: dict[tuple[str, str, datetime], tuple[Place, dict[str, str]]] = {}
        # The readings of one point (an uplink's, say) come one after another: the point is
        # looked up once per run of them, not once per reading.
        dev_eui = channel = ""
        t: datetime | None = None
        fields: dict[str, str] = {}
        for r in batch.readings:
            if r.time is not t or r.dev_eui != dev_eui or r.channel != channel:
                dev_eui, channel, t = r.dev_eui, r.channel, r.time
                key = (dev_eui, channel, t)
                point = points.get(key)
                if point is None:
                    point = points[key] = (r.place, {})
                fields = point[1]
            value = r.value
            fields[r.name] = (
                f"{r.name}={known(value) or _float_text(value)}"
                if value.__class__ is float
                else f"{r.name}={_number(value)}"
            )
        for (dev_eui, channel, at), (place, values) in points.items():
            append(
                f"reading{_tags(place, dev_eui, channel)} {','.join(values.values())} {stamp(at)}"
            )
        for c in batch.consumption:
            interval = int((c.end - c.start).total_seconds())
            unoccupied = (
                ""
                if c.unoccupied is None
                else f",{unoccupied_field(c.name)}={_number(c.unoccupied)}"
            )
            value = float(c.value)
            append(
                f"consumption{_tags(c.place, c.dev_eui, c.channel)} "
                f"{c.name}={known(value) or _float_text(value)}{unoccupied},interval_s={interval}i,"
                f"gap={'true' if c.gap else 'false'} {stamp(c.end)}"
            )
    for u in batch.uplinks:
        # payload_hex is hex digits: nothing to escape in the string field.
        body = (
            f"f_cnt={-1 if u.f_cnt is None else u.f_cnt}i,f_port={u.f_port}i,"
            f'payload_hex="{u.payload.hex()}",gateways={u.gateways}i'
        )
        if u.rssi is not None:
            rssi = float(u.rssi)
            body += f",rssi={known(rssi) or _float_text(rssi)}"
        if u.snr is not None:
            snr = float(u.snr)
            body += f",snr={known(snr) or _float_text(snr)}"
        append(f"uplink{_tags(u.place, u.dev_eui)} {body} {stamp(u.time)}")
    return lines


def alert(
    tags: Mapping[str, str], fields: Mapping[str, float | bool | int | str], t: datetime
) -> str:
    """One point of the ``alert`` measurement: tags in name order, empty ones left out (InfluxDB
    has no empty tag values), string fields quoted and escaped."""
    tag_set = "".join(f",{k}={v.translate(_TAG_ESCAPES)}" for k, v in sorted(tags.items()) if v)
    body = ",".join(f"{k}={_field(v)}" for k, v in fields.items())
    return f"alert{tag_set} {body} {ns(t)}"


def point(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, float], t: datetime
) -> str:
    """One point of a series the service computes (``typical_day``, ``expected``): tags in
    name order, empty ones left out, float fields."""
    tag_set = "".join(f",{k}={v.translate(_TAG_ESCAPES)}" for k, v in sorted(tags.items()) if v)
    body = ",".join(f"{k}={float(v)!r}" for k, v in fields.items())
    return f"{measurement}{tag_set} {body} {ns(t)}"

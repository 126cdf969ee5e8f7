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
from datetime import UTC, datetime
from functools import lru_cache

from lorawatch.pipeline.records import Batch, Place, unoccupied_field

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\\": "\\\\", "\n": " "})


def ns(t: datetime) -> int:
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


@lru_cache(maxsize=65_536)
def _tags(place: Place, dev_eui: str, channel: str = "") -> str:
    """The escaped tag set of a series; cached, since a fleet has few series and many points."""
    pairs = (
        ("building", place.building),
        ("channel", channel),
        ("commune", place.commune),
        ("dev_eui", dev_eui),
        ("device", place.device),
        ("kind", place.kind),
    )
    return "".join(f",{k}={v.translate(_TAG_ESCAPES)}" for k, v in pairs if v)


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


def encode(batch: Batch, readings: bool = True) -> list[str]:
    lines: list[str] = []
    if readings:
        points: dict[tuple[str, str, int], tuple[Place, dict[str, float | bool]]] = {}
        for r in batch.readings:
            _, fields = points.setdefault((r.dev_eui, r.channel, ns(r.time)), (r.place, {}))
            fields[r.name] = r.value if r.value.__class__ is bool else float(r.value)
        for (dev_eui, channel, t), (place, fields) in points.items():
            body = ",".join([f"{k}={_field(v)}" for k, v in fields.items()])
            lines.append(f"reading{_tags(place, dev_eui, channel)} {body} {t}")
        for c in batch.consumption:
            interval = int((c.end - c.start).total_seconds())
            unoccupied = (
                ""
                if c.unoccupied is None
                else f",{unoccupied_field(c.name)}={_field(float(c.unoccupied))}"
            )
            lines.append(
                f"consumption{_tags(c.place, c.dev_eui, c.channel)} "
                f"{c.name}={_field(float(c.value))}{unoccupied},interval_s={interval}i,"
                f"gap={_field(c.gap)} {ns(c.end)}"
            )
    for u in batch.uplinks:
        uplink_fields: dict[str, float | bool | int | str] = {
            "f_cnt": -1 if u.f_cnt is None else u.f_cnt,
            "f_port": u.f_port,
            "payload_hex": u.payload.hex(),
            "gateways": u.gateways,
        }
        body = ",".join(f"{k}={_field(v)}" for k, v in uplink_fields.items())
        if u.rssi is not None:
            body += f",rssi={_field(float(u.rssi))}"
        if u.snr is not None:
            body += f",snr={_field(float(u.snr))}"
        lines.append(f"uplink{_tags(u.place, u.dev_eui)} {body} {ns(u.time)}")
    return lines


def alert(
    tags: Mapping[str, str], fields: Mapping[str, float | bool | int | str], t: datetime
) -> str:
    """One point of the ``alert`` measurement: tags in name order, empty ones left out (InfluxDB
    has no empty tag values), string fields quoted and escaped."""
    tag_set = "".join(f",{k}={v.translate(_TAG_ESCAPES)}" for k, v in sorted(tags.items()) if v)
    body = ",".join(f"{k}={_field(v)}" for k, v in fields.items())
    return f"alert{tag_set} {body} {ns(t)}"

"""The declarative mapping: what vendors say (states as text, levels, lists, units, counters)
onto canonical readings, and the values it cannot read counted as quality events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lorawatch import inventory
from lorawatch.decoders.mapping import FieldMapping, apply, parse_path
from lorawatch.gateway_bridge.events import UplinkEvent
from lorawatch.gateway_bridge.source import Message
from lorawatch.pipeline.ingest import Ingestor
from lorawatch.pipeline.records import Batch

T = datetime(2026, 1, 14, 9, 26, 53, tzinfo=UTC)
CODECS = Path(__file__).parent / "js_codecs"
REPO = CODECS / "repository"

# The SP-300 example of tests/js_codecs/repository (a TTN v2 codec's output).
PLUG = {
    "sockets": [{"state": "ON"}, {"state": "OFF"}],
    "meters": [
        {"displayName": "Energy", "unit": "Wh", "value": 1234567},
        {"displayName": "Power", "unit": "W", "value": 56},
    ],
    "frames": 65535,
}


def mapped(obj: dict[str, Any], **fields: dict[str, Any]) -> tuple[list[Any], list[str]]:
    mapping = {key.replace("__", "."): FieldMapping(**spec) for key, spec in fields.items()}
    readings, warnings = apply(obj, mapping, T)
    return [(r.name, r.value, r.channel, r.modulus) for r in readings], warnings


def test_states_sent_as_text_become_flags() -> None:
    spec = {"reading": "leak", "values": {"Leak": True, "NoLeak": False}}
    assert mapped({"status": "Leak"}, status=spec) == ([("leak", True, "", None)], [])
    assert mapped({"status": "NoLeak"}, status=spec) == ([("leak", False, "", None)], [])
    assert mapped({"status": "noleak"}, status=spec)[0] == [("leak", False, "", None)]
    readings, warnings = mapped({"status": "Flood"}, status=spec)
    assert readings == []
    assert warnings == ["mapping 'status' -> leak: 'Flood' is not one of Leak, NoLeak"]


def test_a_level_is_a_leak_only_above_its_declared_threshold() -> None:
    spec = {"reading": "leak", "above": 200}
    assert mapped({"level": 17}, level=spec)[0] == [("leak", False, "", None)]
    assert mapped({"level": 230}, level=spec)[0] == [("leak", True, "", None)]
    assert mapped({"level": 200}, level=spec)[0] == [("leak", False, "", None)]
    below = {"reading": "leak", "below": 10}
    assert mapped({"level": 3}, level=below)[0] == [("leak", True, "", None)]


def test_a_number_other_than_0_or_1_is_never_taken_for_a_state() -> None:
    readings, warnings = mapped({"level": 17}, level={"reading": "leak"})
    assert readings == []
    assert "not a state" in warnings[0] and "above" in warnings[0]
    assert mapped({"level": 1}, level={"reading": "leak"})[0] == [("leak", True, "", None)]
    assert mapped({"wet": "true"}, wet={"reading": "leak"})[0] == [("leak", True, "", None)]


def test_list_items_by_index_and_by_key() -> None:
    on_off = {"ON": True, "OFF": False}
    readings, warnings = mapped(
        PLUG,
        socket1={
            "path": "sockets[0].state",
            "reading": "lamp_on",
            "values": on_off,
            "channel": "1",
        },
        socket2={"path": "sockets.1.state", "reading": "lamp_on", "values": on_off, "channel": "2"},
        energy={"path": "meters[displayName=Energy].value", "reading": "energy_kwh", "unit": "Wh"},
        power={"path": "meters[displayName=Power].value", "reading": "power_w", "unit": "W"},
        gone={"path": "sockets[5].state", "reading": "lamp_on", "values": on_off},
    )
    assert warnings == []
    assert readings == [
        ("lamp_on", True, "1", None),
        ("lamp_on", False, "2", None),
        ("energy_kwh", pytest.approx(1234.567), "", None),
        ("power_w", 56.0, "", None),
    ]


def test_counters_carry_their_modulus_in_the_readings_unit() -> None:
    readings, _ = mapped(PLUG, frames={"reading": "pulse_count", "modulus": 65536})
    assert readings == [("pulse_count", 65535.0, "", 65536.0)]
    litres = {"path": "index", "reading": "volume_m3", "unit": "L", "modulus": 2**32}
    readings, _ = mapped({"index": 1000}, x=litres)
    assert readings == [("volume_m3", 1.0, "", pytest.approx(2**32 / 1000))]


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ({"reading": "temperature_c", "scale": 0.1, "offset": -40}, 653, 25.3),
        ({"reading": "temperature_c", "unit": "°F"}, 212, 100.0),
        ({"reading": "battery_v", "unit": "mV"}, 3600, 3.6),
        ({"reading": "distance_mm", "unit": "cm"}, "123.4", 1234.0),
        ({"reading": "flow_l_h", "unit": "m3/h"}, 1.5, 1500.0),
        ({"reading": "humidity_pct", "unit": "%"}, 45, 45.0),
        ({"reading": "energy_kwh", "scale": 10, "unit": "Wh"}, 5, 0.05),
    ],
)
def test_scale_offset_and_units(spec: dict[str, Any], value: object, expected: float) -> None:
    ((name, got, _, _),), warnings = mapped({"v": value}, v=spec)
    assert warnings == [] and name == spec["reading"]
    assert got == pytest.approx(expected)


def test_nested_paths_and_absent_fields() -> None:
    obj = {"meter": {"volume": 12345}, "flags": None}
    readings, warnings = mapped(
        obj,
        meter__volume={"reading": "volume_m3", "scale": 0.001},
        meter__flow={"reading": "flow_l_h"},
        flags__leak={"reading": "leak"},
    )
    assert readings == [("volume_m3", pytest.approx(12.345), "", None)]
    assert warnings == []  # absent fields are normal: frames differ


@pytest.mark.parametrize(
    ("value", "message"),
    [(True, "is not a number"), ("abc", "is not a number"), ({"a": 1}, "is not a number")],
)
def test_unreadable_numbers_are_warnings(value: object, message: str) -> None:
    readings, warnings = mapped({"t": value}, t={"reading": "temperature_c"})
    assert readings == [] and message in warnings[0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"reading": "temperature"}, "not a canonical reading name"),
        ({"reading": "energy_kwh", "unit": "parsec"}, "not known"),
        ({"reading": "energy_kwh", "unit": "mV"}, "converts to V"),
        ({"reading": "power_w", "above": 3}, "make flags"),
        ({"reading": "power_w", "modulus": 65536}, "for counters"),
        ({"reading": "leak", "unit": "mm"}, "is a flag"),
        ({"reading": "leak", "values": {"x": 2}}, "true or false"),
        ({"reading": "power_w", "values": {"x": True}}, "needs a number"),
        ({"reading": "power_w", "path": "a[b]"}, "neither an index"),
        ({"reading": "power_w", "modulus": 0}, "greater than 0"),
        ({"reading": "power_w", "factor": 2}, "Extra inputs"),
    ],
)
def test_bad_mappings_are_refused_at_load(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FieldMapping(**spec)


def test_paths() -> None:
    assert parse_path("a.b[0].c[name=x]") == ["a", "b", 0, "c", ("name", "x")]
    assert parse_path("m[displayName='Energy'].value") == ["m", ("displayName", "Energy"), "value"]
    assert parse_path("list.2") == ["list", 2]
    for bad in ("", "a[", "a[=x]"):
        with pytest.raises(ValueError):
            parse_path(bad)


# --- in the pipeline ---------------------------------------------------------------------


def test_a_repository_device_with_a_mapping_through_the_pipeline(tmp_path: Path) -> None:
    """The LL-50's 0-255 level and the WL-100's 'Leak' text reach the store as the right
    leak states; a value the mapping cannot read is a counted quality event."""
    path = tmp_path / "inventory.toml"
    path.write_text(
        '[[communes]]\nid = "c"\nname = "C"\nlatitude = 48.2\nlongitude = -1.6\n'
        '[[buildings]]\nid = "b"\ncommune = "c"\nname = "B"\n'
        '[[devices]]\ndev_eui = "0000000000000001"\ndecoder = "js"\nbuilding = "b"\nkind = "leak"\n'
        f'params = {{ repository = "{REPO}", device = "lorawatch-labs/ll-50" }}\n'
        '[devices.mapping]\n"water_leak_level" = { reading = "leak", above = 200 }\n'
        '"battery_pct" = { reading = "battery_pct", values = { "90" = 90 } }\n'
    )
    inv = inventory.load(path)
    ingestor = Ingestor(inv)
    batch = Batch()

    def send(payload: str) -> None:
        event = UplinkEvent("up", "0000000000000001", T, f_port=2, payload=bytes.fromhex(payload))
        ingestor.uplink(Message("t", b"{}", T), event, batch)

    send("115a")  # level 17, battery 90
    send("e659")  # level 230, battery 89: not in the battery mapping's values
    leaks = [(r.name, r.value) for r in batch.readings if r.name == "leak"]
    assert leaks == [("leak", False), ("leak", True)]
    assert [r.value for r in batch.readings if r.name == "battery_pct"] == [90.0]
    (event,) = [e for e in batch.events if e.kind == "quality"]
    assert event.code == "mapping" and "89 is not one of 90" in event.detail
    assert ingestor.quality["mapping"] == 1
    assert batch.dead_letters == []


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ({"reading": "distance_mm"}, "1234 mm", 1234.0),
        ({"reading": "distance_mm"}, "12.5cm", 125.0),
        ({"reading": "battery_v"}, "3600 mV", 3.6),
        ({"reading": "temperature_c"}, "-4.5 °C", -4.5),
        ({"reading": "distance_mm", "unit": "cm"}, "12", 120.0),
    ],
)
def test_numbers_written_with_their_unit(spec: dict[str, Any], value: str, expected: float) -> None:
    ((_, got, _, _),), warnings = mapped({"v": value}, v=spec)
    assert warnings == [] and got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("No Sensor", "is not a number"),
        ("1234 V", "does not convert to mm"),
        ("12 h 30 min", "does not convert to mm"),
    ],
)
def test_text_that_is_not_a_distance(value: str, message: str) -> None:
    readings, warnings = mapped({"v": value}, v={"reading": "distance_mm"})
    assert readings == [] and message in warnings[0]


def test_an_unreadable_normalized_field_is_a_mapping_event(tmp_path: Path) -> None:
    path = tmp_path / "inventory.toml"
    path.write_text(
        '[[communes]]\nid = "c"\nname = "C"\nlatitude = 48.2\nlongitude = -1.6\n'
        '[[devices]]\ndev_eui = "0000000000000002"\ndecoder = "js"\n'
        f'params = {{ codec = "{CODECS / "normalize_odd.js"}" }}\n'
    )
    ingestor = Ingestor(inventory.load(path))
    batch = Batch()
    for payload in (b"\x01", b"\x10"):
        event = UplinkEvent("up", "0000000000000002", T, f_port=1, payload=payload)
        ingestor.uplink(Message("t", b"{}", T), event, batch)
    assert [(r.name, r.value) for r in batch.readings] == [
        ("leak", False),
        ("battery_v", 3.1),
        ("battery_v", 3.1),
    ]
    (event,) = [e for e in batch.events if e.kind == "quality"]
    assert event.code == "mapping" and "water.leak: 'maybe' cannot be read as leak" in event.detail
    assert ingestor.quality["mapping"] == 1

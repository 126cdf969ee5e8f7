"""ChirpStack event parsing: the reference events in every format, and hostile input."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lorawatch.core.errors import RejectedMessage
from lorawatch.gateway_bridge.events import TopicMatcher, UplinkEvent, parse
from tests.conftest import REFERENCE

M = TopicMatcher()
EUI = "24e124136d123456"
UP = M.match(f"application/17c82e96-be03-4f38-aef3-f83d48582d97/device/{EUI}/event/up")


def test_v4_json_protobuf_and_v3_give_the_same_uplink() -> None:
    v4 = parse(UP, (REFERENCE / "v4-event-up.json").read_bytes())
    pb = parse(UP, (REFERENCE / "v4-event-up.pb").read_bytes())
    v3 = parse(
        M.match(f"application/12/device/{EUI}/rx"), (REFERENCE / "v3-json_v3-up.json").read_bytes()
    )
    assert (
        isinstance(v4, UplinkEvent) and isinstance(pb, UplinkEvent) and isinstance(v3, UplinkEvent)
    )
    assert (v4.format, pb.format, v3.format) == ("v4-json", "v4-protobuf", "v3")
    for e in (v4, pb, v3):
        assert e.dev_eui == EUI
        assert e.f_cnt == 1842 and e.f_port == 85
        assert e.payload.hex() == "01755c0367340104686505c8e8030000"
        assert e.time.isoformat() == "2026-01-14T09:26:53.497315+00:00"
        assert e.rx[0].rssi == -87 and e.rx[0].snr == 7.25
    assert v4.tags == pb.tags and v4.tags["pulses_per_kwh"] == "1000"
    assert v4.dedup_id == pb.dedup_id == "5b7f0a4e-6c1d-4d8a-9d5e-2f3b9c1e7a10"
    assert v4.object == {"battery": 92.0, "temperature": 30.8, "humidity": 50.5, "pulse": 1000.0}


@pytest.mark.parametrize("event", ["status", "join", "log"])
def test_other_v4_events(event: str) -> None:
    name = "v4-event-log-codec-error.json" if event == "log" else f"v4-event-{event}.json"
    parsed = parse(
        M.match(f"application/x/device/{EUI}/event/{event}"), (REFERENCE / name).read_bytes()
    )
    assert parsed.kind == event and parsed.dev_eui == EUI
    if event == "log":
        assert parsed.body["code"] == "UPLINK_CODEC"


def test_v3_11_topic_shape_and_error_event() -> None:
    assert M.match(f"application/12/device/{EUI}/event/up").event == "up"
    assert M.match(f"application/12/device/{EUI}/error").event == "log"


def test_custom_topic_template() -> None:
    m = TopicMatcher("lora/{application_id}/{dev_eui}/{event}")
    t = m.match(f"lora/app/{EUI}/up")
    assert (t.application_id, t.dev_eui, t.event) == ("app", EUI, "up")


def test_all_fields_optional_like_chirpstack_4_0() -> None:
    body = {"deviceInfo": {"devEui": EUI}, "data": base64.b64encode(b"\x01\x75\x5c").decode()}
    e = parse(UP, json.dumps(body).encode())
    assert isinstance(e, UplinkEvent)
    assert e.f_cnt is None and e.f_port == 0 and e.time_from_receipt


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "wrong_shape"),
        (
            json.dumps({"deviceInfo": {"devEui": EUI}, "data": "!!notbase64"}).encode(),
            "invalid_base64",
        ),
        (json.dumps({"deviceInfo": {"devEui": EUI}, "fCnt": "many"}).encode(), "wrong_shape"),
        (json.dumps({"deviceInfo": {"devEui": "ffffffffffffffff"}}).encode(), "topic_mismatch"),
        (json.dumps({"deviceInfo": "x"}).encode(), "wrong_shape"),
        (json.dumps({"deviceInfo": {"devEui": EUI}, "object": [1]}).encode(), "wrong_shape"),
        (b"\x0a\xff\xff\xff\xff\x0f", "malformed_protobuf"),
    ],
)
def test_bad_events_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(RejectedMessage) as info:
        parse(UP, payload)
    assert info.value.reason == reason


def test_foreign_topic() -> None:
    with pytest.raises(RejectedMessage) as info:
        M.match("zigbee2mqtt/kitchen")
    assert info.value.reason == "foreign_topic"


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(payload: bytes) -> None:
    try:
        parse(UP, payload)
    except RejectedMessage as exc:
        assert exc.reason


ODD = st.sampled_from(
    [None, "", "x", 5, -1, 2**40, 3.5, True, [], {}, [1], {"a": 1}, "AXVc", EUI, "2026-01-01"]
)
DROP = object()
PATHS = [
    ("deviceInfo",),
    ("deviceInfo", "devEui"),
    ("deviceInfo", "tags"),
    ("deviceInfo", "applicationId"),
    ("deviceInfo", "deviceName"),
    ("deviceInfo", "deviceProfileName"),
    ("time",),
    ("deduplicationId",),
    ("fCnt",),
    ("fPort",),
    ("data",),
    ("object",),
    ("rxInfo",),
    ("rxInfo", 0),
    ("rxInfo", 0, "rssi"),
    ("rxInfo", 0, "snr"),
    ("rxInfo", 0, "gatewayId"),
    ("dr",),
    ("devEUI",),
    ("applicationID",),
]


def _outcome(run):  # type: ignore[no-untyped-def]
    try:
        return run()
    except RejectedMessage as exc:
        return (exc.reason, exc.detail)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.one_of(st.just(DROP), ODD)), max_size=6))
@example([(("deviceInfo", "tags"), 5), (("object",), 5), (("fCnt",), "x"), (("data",), 5)])
@example([(("object",), 5), (("fCnt",), "x"), (("fPort",), -1), (("data",), 5), (("dr",), "x")])
@example([(("data",), "%%"), (("rxInfo", 0, "rssi"), "x"), (("dr",), 2**40)])
def test_the_typed_reading_of_uplinks_equals_the_dict_reading(changes) -> None:  # type: ignore[no-untyped-def]
    """v4 JSON ``up`` events are read straight into typed fields (msgspec) for speed; for any
    shape of the fields read, the event or the rejection (reason and detail) is the one the
    reading through a dict gives."""
    from datetime import UTC, datetime

    from lorawatch.gateway_bridge import events

    body = json.loads((REFERENCE / "v4-event-up.json").read_bytes())
    for path, value in changes:
        node = body
        for key in path[:-1]:
            node = node[key] if isinstance(node, dict | list) and _has(node, key) else None
            if node is None:
                break
        if not isinstance(node, dict | list) or (
            not _has(node, path[-1]) and isinstance(node, list)
        ):
            continue
        if value is DROP:
            if isinstance(node, dict):
                node.pop(path[-1], None)
        else:
            node[path[-1]] = copy.deepcopy(value)  # the strategy's lists and dicts are shared
    payload = json.dumps(body).encode()
    received = datetime(2026, 2, 1, tzinfo=UTC)
    typed = _outcome(lambda: events._up_v4_json(UP, payload, received))
    by_dict = _outcome(lambda: events._from_v4(UP, json.loads(payload), "v4-json", received))
    if typed is None:  # another shape, or v3: parse reads it through the dict
        assert "devEUI" in body or "applicationID" in body or not _typed_shape(body)
        typed = _outcome(lambda: parse(UP, payload, received=received))
        if "devEUI" in body or "applicationID" in body:
            return  # v3 after all: another reader
    assert typed == by_dict


def _has(node: dict | list, key: object) -> bool:  # type: ignore[type-arg]
    return key in node if isinstance(node, dict) else isinstance(key, int) and key < len(node)


def _typed_shape(body: dict) -> bool:  # type: ignore[type-arg]
    """Whether the typed reading takes the event: the values ChirpStack writes."""

    def text(node: dict, key: str) -> bool:  # type: ignore[type-arg]
        return key not in node or isinstance(node[key], str)

    def u32(key: str) -> bool:
        v = body.get(key)
        return v is None or (type(v) is int and 0 <= v < 2**32)

    def number(node: dict, key: str) -> bool:  # type: ignore[type-arg]
        return node.get(key) is None or type(node[key]) in (int, float)

    info, rx = body.get("deviceInfo"), body.get("rxInfo")
    if info is not None:
        if not isinstance(info, dict):
            return False
        tags = info.get("tags")
        if not (text(info, "deviceName") and text(info, "deviceProfileName")):
            return False
        if tags is not None and not (
            isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())
        ):
            return False
    if rx is not None:
        if not isinstance(rx, list) or not all(isinstance(r, dict) for r in rx):
            return False
        if not all(text(r, "gatewayId") and number(r, "rssi") and number(r, "snr") for r in rx):
            return False
    return text(body, "deduplicationId") and u32("fCnt") and u32("fPort") and u32("dr")


def test_the_typed_reading_is_the_one_used_for_v4_json_uplinks() -> None:
    from lorawatch.gateway_bridge import events

    payload = (REFERENCE / "v4-event-up.json").read_bytes()
    assert events._up_v4_json(UP, payload, None) == parse(UP, payload)  # type: ignore[arg-type]
    assert events._up_v4_json(UP, b'{"deviceInfo": 3}', None) is None  # type: ignore[arg-type]
    assert events._up_v4_json(UP, b"{", None) is None  # type: ignore[arg-type]

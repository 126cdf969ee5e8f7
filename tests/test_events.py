"""ChirpStack event parsing: the reference events in every format, and hostile input."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
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

"""Parse ChirpStack integration events: v4 JSON, v4 protobuf and v3 (json_v3 and old topics).

What this relies on, as ChirpStack v4 publishes (its ``api/proto/integration/integration.proto``
and ``src/integration/mqtt.rs``, github.com/chirpstack/chirpstack): the JSON marshaler is the
protobuf JSON mapping, so every v4 field is optional (v4.0 omitted defaults) and unknown fields
are ignored; ``data`` is base64; the decoded ``object`` is a ``google.protobuf.Struct`` (every
number a double); and v3's ``json_v3`` uplink has no top-level time (use ``rxInfo[].time``).
Anything that does not fit raises :class:`~lorawatch.core.errors.RejectedMessage` with a stable
reason, which the bridge turns into a dead letter.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import msgspec
import orjson

from lorawatch.core.errors import RejectedMessage

if TYPE_CHECKING:
    from google.protobuf.message import Message

Format = Literal["auto", "v4-json", "v4-protobuf", "v3"]
EUI = re.compile(r"^[0-9a-f]{16}$")


class Rx(msgspec.Struct, rename={"gateway_id": "gatewayId"}):
    """One gateway's reception of an uplink (a v4 JSON ``rxInfo`` item is read straight
    into it)."""

    gateway_id: str = ""
    rssi: float | None = None
    snr: float | None = None


@dataclass(slots=True)
class Event:
    """Any ChirpStack event: ``kind`` is the topic's event name (up, status, join, log...)."""

    kind: str
    dev_eui: str
    time: datetime
    application_id: str = ""
    device_name: str = ""
    device_profile: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    format: str = "v4-json"
    time_from_receipt: bool = False


@dataclass(slots=True)
class UplinkEvent(Event):
    """An ``up`` event: the frame and its radio metadata."""

    dedup_id: str = ""
    f_cnt: int | None = None
    f_port: int = 0
    payload: bytes = b""
    object: dict[str, Any] | None = None
    rx: tuple[Rx, ...] = ()
    dr: int | None = None

    @property
    def dedup_key(self) -> str:
        """(devEui, fCnt, fPort, payload): equal for a retransmission forwarded with a new id."""
        return f"{self.dev_eui}/{self.f_cnt}/{self.f_port}/{self.payload.hex()}"


@dataclass(frozen=True, slots=True)
class Topic:
    application_id: str
    dev_eui: str
    event: str


TOPICS_KEPT = 16_384


class TopicMatcher:
    """Reads application id, dev_eui and event from a topic, per the configured template.

    ChirpStack's event topic is configurable (``event_topic`` in chirpstack.toml), so the
    template is too; v3 before 3.11 used ``.../device/{dev_eui}/rx`` (mapped to ``up``).
    """

    _V3_OLD: ClassVar[dict[str, str]] = {
        "rx": "up",
        "status": "status",
        "join": "join",
        "ack": "ack",
        "error": "log",
        "location": "location",
        "txack": "txack",
    }

    def __init__(
        self, template: str = "application/{application_id}/device/{dev_eui}/event/{event}"
    ) -> None:
        pattern = re.escape(template)
        for name in ("application_id", "dev_eui", "event"):
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+)")
        self._template = re.compile(f"^{pattern}$")
        self._old = re.compile(
            r"^application/(?P<application_id>[^/]+)/device/(?P<dev_eui>[^/]+)/(?P<event>[a-z]+)$"
        )
        self._known: dict[str, Topic] = {}

    def match(self, topic: str) -> Topic:
        """The topic's parts; a fleet sends on a few topics per device, so the answers are
        kept (at most :data:`TOPICS_KEPT`, then forgotten at once)."""
        found = self._known.get(topic)
        if found is None:
            found = self._match(topic)
            if len(self._known) >= TOPICS_KEPT:
                self._known.clear()
            self._known[topic] = found
        return found

    def _match(self, topic: str) -> Topic:
        m = self._template.match(topic)
        if m is not None:
            groups = m.groupdict()
            event = groups.get("event", "up")
            event = "log" if event == "error" else event
        else:
            m = self._old.match(topic)
            if m is None or m["event"] not in self._V3_OLD:
                raise RejectedMessage(
                    "foreign_topic", f"topic {topic!r} is not a ChirpStack event topic"
                )
            groups = m.groupdict()
            event = self._V3_OLD[groups["event"]]
        return Topic(groups.get("application_id", ""), groups.get("dev_eui", "").lower(), event)


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _b64(text: object, what: str) -> bytes:
    if text is None or text == "":
        return b""
    if not isinstance(text, str):
        raise RejectedMessage("wrong_shape", f"{what} must be a base64 string")
    try:
        # base64.b64decode(validate=True) without its wrapper (a non-ASCII text: ValueError)
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError):
        raise RejectedMessage("invalid_base64", f"{what} is not valid base64") from None


_NUMBER_OR_TEXT = (int, float, str)
_NUMBER = (int, float)
"""As tuples: ``int | float`` in a call builds a new union object each time."""


def _int(value: object, what: str) -> int | None:
    if value is None:
        return None
    if value.__class__ is int and 0 <= value < 2**32:
        return value
    if isinstance(value, bool) or not isinstance(value, _NUMBER_OR_TEXT):
        raise RejectedMessage("wrong_shape", f"{what} must be a number")
    try:
        number = int(value)
    except ValueError:
        raise RejectedMessage("wrong_shape", f"{what} must be a number") from None
    if number < 0 or number >= 2**32:
        raise RejectedMessage("wrong_shape", f"{what}={number} is outside 0..2^32-1")
    return number


def _float(value: object) -> float | None:
    if value.__class__ is float:
        return value
    return float(value) if isinstance(value, _NUMBER) and not isinstance(value, bool) else None


def _dict(value: object, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RejectedMessage("wrong_shape", f"{what} must be an object")
    return value


def _str_dict(value: object, what: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _dict(value, what).items()}


def _eui(value: object, topic: Topic, what: str) -> str:
    eui = str(value or topic.dev_eui).lower()
    if not EUI.match(eui):
        raise RejectedMessage("wrong_shape", f"{what} {eui!r} is not 16 hex digits")
    if topic.dev_eui and eui != topic.dev_eui:
        raise RejectedMessage(
            "topic_mismatch", f"{what} {eui} differs from the topic's {topic.dev_eui}"
        )
    return eui


def _rx_list(value: object, snr_key: str, id_key: str) -> tuple[Rx, ...]:
    if not isinstance(value, list):
        return ()
    out = []
    for item in value[:32]:
        if isinstance(item, dict):
            out.append(
                Rx(str(item.get(id_key, "")), _float(item.get("rssi")), _float(item.get(snr_key)))
            )
    return tuple(out)


def _from_v4(topic: Topic, body: dict[str, Any], fmt: str, received: datetime) -> Event:
    info = _dict(body.get("deviceInfo"), "deviceInfo")
    dev_eui = _eui(info.get("devEui"), topic, "deviceInfo.devEui")
    time = _time(body.get("time"))
    common: dict[str, Any] = {
        "kind": topic.event,
        "dev_eui": dev_eui,
        "time": time or received,
        "time_from_receipt": time is None,
        "application_id": str(info.get("applicationId", topic.application_id)),
        "device_name": str(info.get("deviceName", "")),
        "device_profile": str(info.get("deviceProfileName", "")),
        "tags": _str_dict(info.get("tags"), "deviceInfo.tags"),
        "format": fmt,
    }
    if topic.event != "up":
        return Event(**common, body=body)
    obj = body.get("object")
    if obj is not None and not isinstance(obj, dict):
        raise RejectedMessage("wrong_shape", "object must be a JSON object")
    return UplinkEvent(
        **common,
        dedup_id=str(body.get("deduplicationId", "")),
        f_cnt=_int(body.get("fCnt"), "fCnt"),
        f_port=_int(body.get("fPort"), "fPort") or 0,
        payload=_b64(body.get("data"), "data"),
        object=obj,
        rx=_rx_list(body.get("rxInfo"), "snr", "gatewayId"),
        dr=_int(body.get("dr"), "dr"),
    )


def _from_v3(topic: Topic, body: dict[str, Any], received: datetime) -> Event:
    raw_eui = body.get("devEUI", "")
    if isinstance(raw_eui, str) and not EUI.match(raw_eui.lower()):
        # The v3 protojson marshaler encodes devEUI as base64.
        with contextlib.suppress(binascii.Error, ValueError):
            raw_eui = base64.b64decode(raw_eui, validate=True).hex()
    dev_eui = _eui(raw_eui, topic, "devEUI")
    rx = body.get("rxInfo")
    times = (
        [t for t in (_time(r.get("time")) for r in rx if isinstance(r, dict)) if t]
        if isinstance(rx, list)
        else []
    )
    obj = body.get("object")
    if obj is None and isinstance(body.get("objectJSON"), str) and body["objectJSON"]:
        try:
            obj = orjson.loads(body["objectJSON"])
        except orjson.JSONDecodeError:
            obj = None
    if obj is not None and not isinstance(obj, dict):
        raise RejectedMessage("wrong_shape", "object must be a JSON object")
    time = min(times) if times else None
    common: dict[str, Any] = {
        "kind": topic.event,
        "dev_eui": dev_eui,
        "time": time or received,
        "time_from_receipt": time is None,
        "application_id": str(body.get("applicationID", topic.application_id)),
        "device_name": str(body.get("deviceName", "")),
        "device_profile": str(body.get("deviceProfileName", "")),
        "tags": _str_dict(body.get("tags"), "tags"),
        "format": "v3",
    }
    if topic.event != "up":
        return Event(**common, body=body)
    return UplinkEvent(
        **common,
        f_cnt=_int(body.get("fCnt"), "fCnt"),
        f_port=_int(body.get("fPort"), "fPort") or 0,
        payload=_b64(body.get("data"), "data"),
        object=obj,
        rx=_rx_list(rx, "loRaSNR", "gatewayID"),
        dr=_int(_dict(body.get("txInfo"), "txInfo").get("dr"), "txInfo.dr"),
    )


def _protobuf_message(event: str) -> Message | None:
    # lazy: protobuf classes load only for a protobuf event
    from chirpstack_api import integration

    classes: dict[str, type[Message]] = {
        "up": integration.UplinkEvent,
        "status": integration.StatusEvent,
        "join": integration.JoinEvent,
        "ack": integration.AckEvent,
        "txack": integration.TxAckEvent,
        "log": integration.LogEvent,
        "location": integration.LocationEvent,
    }
    cls = classes.get(event)
    return cls() if cls else None


_U32 = Annotated[int, msgspec.Meta(ge=0, lt=2**32)]


# The fields keep ChirpStack's JSON names: msgspec matches them as they are. Typed fields
# take the values ChirpStack writes; any other value (a number as text, a null name) fails
# the typed reading, and the event is read the usual way, which says what is wrong or
# converts it.
class _DeviceInfoJson(msgspec.Struct):
    devEui: Any = None
    applicationId: Any = msgspec.UNSET
    deviceName: str = ""
    deviceProfileName: str = ""
    tags: dict[str, str] | None = None


class _UpJson(msgspec.Struct):
    """The fields of a v4 ``up`` event that lorawatch reads; the decoder skips the rest
    (txInfo, most of rxInfo) without building them. ``devEUI``/``applicationID`` only say
    that the event is v3 after all."""

    deviceInfo: _DeviceInfoJson | None = None
    time: Any = None
    deduplicationId: str = ""
    fCnt: _U32 | None = None
    fPort: _U32 | None = None
    data: Any = None
    object: Any = None
    rxInfo: list[Rx] | None = None
    dr: _U32 | None = None
    devEUI: Any = msgspec.UNSET
    applicationID: Any = msgspec.UNSET


_UP_JSON = msgspec.json.Decoder(_UpJson)


def _up_v4_json(topic: Topic, payload: bytes, received: datetime) -> UplinkEvent | None:
    """A v4 JSON ``up`` event read straight into the fields used, as :func:`_from_v4` reads
    it from a dict (about three times faster than building the dict); None when the JSON is
    malformed, of another shape or v3, for :func:`parse` to read the usual way (with its
    precise reasons)."""
    try:
        up = _UP_JSON.decode(payload)
    except msgspec.DecodeError:  # ValidationError included: a field of another shape
        return None
    if up.devEUI is not msgspec.UNSET or up.applicationID is not msgspec.UNSET:
        return None
    info = up.deviceInfo or _NO_DEVICE_INFO
    dev_eui = _eui(info.devEui, topic, "deviceInfo.devEui")
    time = _time(up.time)
    application = info.applicationId
    tags = {} if info.tags is None else info.tags
    obj = up.object
    if obj is not None and not isinstance(obj, dict):
        raise RejectedMessage("wrong_shape", "object must be a JSON object")
    return UplinkEvent(
        topic.event,
        dev_eui,
        time or received,
        topic.application_id if application is msgspec.UNSET else str(application),
        info.deviceName,
        info.deviceProfileName,
        tags,
        {},
        "v4-json",
        time is None,
        up.deduplicationId,
        up.fCnt,
        up.fPort or 0,
        _b64(up.data, "data"),
        obj,
        tuple(up.rxInfo[:32]) if up.rxInfo else (),
        up.dr,
    )


_NO_DEVICE_INFO = _DeviceInfoJson()


def _parse_protobuf(topic: Topic, payload: bytes, received: datetime) -> Event:
    # lazy: protobuf loads only for a protobuf event (the JSON integration needs none)
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError as ProtobufDecodeError

    message = _protobuf_message(topic.event)
    if message is None:
        raise RejectedMessage("unknown_event", f"no protobuf message for event {topic.event!r}")
    try:
        message.ParseFromString(payload)
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        raise RejectedMessage(
            "malformed_protobuf", f"not a {type(message).__name__}: {exc}"
        ) from None
    return _from_v4(topic, json_format.MessageToDict(message), "v4-protobuf", received)


def parse(
    topic: Topic, payload: bytes, fmt: Format = "auto", received: datetime | None = None
) -> Event:
    """Parse one event; raise RejectedMessage (with a stable reason) when it cannot be read.

    In ``auto`` mode a payload starting with ``{`` or ``[`` is JSON, anything else protobuf (whose
    first byte, a field tag, is never ``{``).
    """
    received = received or datetime.now(UTC)
    if fmt == "v4-protobuf" or (fmt == "auto" and payload.lstrip()[:1] not in (b"{", b"[")):
        return _parse_protobuf(topic, payload, received)
    if topic.event == "up" and fmt != "v3":
        event = _up_v4_json(topic, payload, received)
        if event is not None:
            return event
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise RejectedMessage("malformed_json", f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RejectedMessage("wrong_shape", f"expected a JSON object, got {type(body).__name__}")
    if fmt == "v3" or (fmt == "auto" and ("devEUI" in body or "applicationID" in body)):
        return _from_v3(topic, body, received)
    return _from_v4(topic, body, "v4-json", received)

"""Wrap a vendor frame in a ChirpStack integration event, as ChirpStack would publish it.

v4 JSON (the default marshaler), v4 protobuf (``json=false``) and v3 ``json_v3``, with a
realistic deviceInfo, rxInfo (one to three gateways, RSSI/SNR falling with distance), txInfo,
fCnt, deduplicationId and time. Shapes follow ChirpStack's ``integration.proto`` (v4) and the
v3 Application Server's ``json_v3`` marshaler; tests/data/chirpstack holds example events.
"""

from __future__ import annotations

import base64
import functools
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

OutFormat = Literal["v4-json", "v4-protobuf", "v3"]

TENANT_ID = "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
APPLICATION_ID = "17c82e96-be03-4f38-aef3-f83d48582d97"


@dataclass(frozen=True, slots=True)
class SimDevice:
    dev_eui: str
    name: str
    profile: str
    tags: dict[str, str] = field(default_factory=dict)
    application_id: str = APPLICATION_ID
    application_name: str = "batiments-communaux"
    tenant_name: str = "Saint-Sulpice-la-Forêt"
    distance_m: float = 500.0


GATEWAYS = ("0016c001f153a14c", "0016c001f153a14d", "0016c001f153a14e")


def topic(device: SimDevice, event: str = "up", fmt: OutFormat = "v4-json") -> str:
    if fmt == "v3":
        return f"application/12/device/{device.dev_eui}/event/{event}"
    return f"application/{device.application_id}/device/{device.dev_eui}/event/{event}"


@functools.lru_cache(maxsize=4096)
def _profile_id(profile: str) -> str:
    """The device profile's id, stable per name (a uuid5 costs more than the rest of an event)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, profile))


def _uuid4(bits: int) -> str:
    """The text of ``uuid.UUID(int=bits, version=4)``: the version and variant bits set, without
    building the object (which costs more than the rest of the id)."""
    bits = bits & ~(0xF000 << 64 | 0xC000 << 48) | 4 << 76 | 0x8000 << 48
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@functools.lru_cache(maxsize=4096)
def _link(distance_m: float) -> tuple[tuple[str, ...], float]:
    """(gateways in reach, path loss in dB) of a device, the same for each of its frames."""
    count = 1 + (distance_m < 1500) + (distance_m < 600)
    return GATEWAYS[:count], -60 - 20 * max(0.0, (distance_m / 100)) ** 0.5


def _rx(device: SimDevice, ns_time: str, rng: random.Random) -> list[dict[str, Any]]:
    gateways, path_loss = _link(device.distance_m)
    out = []
    gauss, randrange = rng.gauss, rng.randrange
    for gw in gateways:
        rssi = path_loss + gauss(0, 3)
        out.append(
            {
                "gatewayId": gw,
                "uplinkId": randrange(2**32),
                "nsTime": ns_time,
                "rssi": round(max(-130.0, rssi)),
                "snr": round(max(-20.0, min(12.0, (rssi + 120) / 4 + gauss(0, 1))), 2),
                "channel": randrange(8),
                "crcStatus": "CRC_OK",
            }
        )
    return out


def uplink_event(
    device: SimDevice,
    f_port: int,
    payload: bytes,
    f_cnt: int,
    time: datetime,
    rng: random.Random,
    obj: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A v4 ``up`` event as a JSON-ready dict."""
    iso_time = time.isoformat()
    event: dict[str, Any] = {
        "deduplicationId": _uuid4(rng.getrandbits(128)),
        "time": iso_time,
        "deviceInfo": {
            "tenantId": TENANT_ID,
            "tenantName": device.tenant_name,
            "applicationId": device.application_id,
            "applicationName": device.application_name,
            "deviceProfileId": _profile_id(device.profile),
            "deviceProfileName": device.profile,
            "deviceName": device.name,
            "devEui": device.dev_eui,
            "deviceClassEnabled": "CLASS_A",
            "tags": device.tags,
        },
        "devAddr": f"{rng.getrandbits(32):08x}",
        "adr": True,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": f_port,
        "confirmed": False,
        "data": base64.b64encode(payload).decode(),
        "rxInfo": _rx(device, iso_time.replace("+00:00", "Z"), rng),
        "txInfo": {
            "frequency": rng.choice((868100000, 868300000, 868500000)),
            "modulation": {
                "lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}
            },
        },
        "regionConfigId": "eu868",
    }
    if obj is not None:
        event["object"] = obj
    return event


def encode(event: dict[str, Any], fmt: OutFormat = "v4-json") -> bytes:
    """Serialise a v4 ``up`` event dict in the requested ChirpStack format."""
    if fmt == "v4-json":
        return orjson.dumps(event)
    if fmt == "v4-protobuf":
        # lazy: protobuf classes load only for protobuf output
        from chirpstack_api import integration
        from google.protobuf import json_format

        message = integration.UplinkEvent()
        json_format.ParseDict(event, message, ignore_unknown_fields=True)
        return bytes(message.SerializeToString())
    info = event["deviceInfo"]
    v3 = {
        "applicationID": "12",
        "applicationName": info["applicationName"],
        "deviceName": info["deviceName"],
        "deviceProfileName": info["deviceProfileName"],
        "deviceProfileID": info["deviceProfileId"],
        "devEUI": info["devEui"],
        "rxInfo": [
            {
                "gatewayID": r["gatewayId"],
                "time": event["time"],
                "rssi": r["rssi"],
                "loRaSNR": r["snr"],
            }
            for r in event["rxInfo"]
        ],
        "txInfo": {"frequency": event["txInfo"]["frequency"], "dr": event["dr"]},
        "adr": True,
        "fCnt": event["fCnt"],
        "fPort": event["fPort"],
        "data": event["data"],
        "tags": info["tags"],
    }
    if "object" in event:
        v3["object"] = event["object"]
    return orjson.dumps(v3)

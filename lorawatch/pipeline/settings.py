"""The ``[bridge]`` section: how ChirpStack events are read, de-duplicated and mapped."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lorawatch.core.settings import Section


class BridgeConfig(Section):
    source: Literal["mqtt", "amqp"] = Field(
        "mqtt",
        description="Where events come from: 'mqtt' (the [mqtt] section, one worker) or 'amqp' "
        "(the [amqp] section: RabbitMQ partition queues, several workers; docs/scaling.md).",
    )
    format: Literal["auto", "v4-json", "v4-protobuf", "v3"] = Field(
        "auto", description="ChirpStack event encoding; auto detects it per message."
    )
    event_topic: str = Field(
        "application/{application_id}/device/{dev_eui}/event/{event}",
        description="Topic template of ChirpStack events (chirpstack.toml event_topic).",
    )
    max_message_bytes: int = Field(
        65536, ge=256, description="Larger messages are dead-lettered unread (reason: oversized)."
    )
    dedup_window_s: int = Field(
        86400,
        ge=0,
        description="Seconds of wall-clock time the identities of stored uplinks stay in "
        "memory (the store remains the authority after), and the event-time distance beyond "
        "which the same (devEui, fCnt, fPort, payload) is a new frame after a counter restart.",
    )
    max_clock_ahead_s: int = Field(
        3600,
        ge=0,
        description="An event dated more than this ahead of its arrival is read at its arrival "
        "time, its meter indexes left out (the next frame's delta spans the interval), with a "
        "clock_ahead quality event: a gateway or network server with a wrong clock must not "
        "push a meter, the de-duplication or the last-seen times years ahead. 0 trusts every "
        "event time (a simulation running faster than real time).",
    )
    use_chirpstack_object: bool = Field(
        True,
        description="When a device has no decoder, map ChirpStack's decoded 'object' through "
        "the device's declarative mapping instead of dead-lettering the uplink.",
    )

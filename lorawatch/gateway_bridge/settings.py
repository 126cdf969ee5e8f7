"""The ``[mqtt]`` section: how the bridge reaches ChirpStack's broker."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from lorawatch.core.settings import Section, read_secret


def parse_broker_url(url: str) -> tuple[bool, str, int]:
    """(tls, host, port) of ``mqtt[s]://host[:port][/]``; ValueError says what to change.

    Credentials in the URL are refused rather than read: the URL is shown in logs and
    messages, and secrets belong in ``mqtt.username`` and ``LORAWATCH__MQTT__PASSWORD``.
    """

    def refused(kind: str, template: str) -> PydanticCustomError:
        return PydanticCustomError(kind, template, {"url": repr(url)})

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise refused(
            "broker_url", "{url} is not a broker URL (its port or address): write mqtt://host:port"
        ) from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise refused("broker_url_scheme", "{url} must start with mqtt:// or mqtts:// (TLS)")
    if parts.username is not None or parts.password is not None:
        raise _credentials("mqtt")
    if not parts.hostname:
        raise refused(
            "broker_url_host", "{url} has no host: write mqtt://host:port ([::1] for IPv6)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise refused(
            "broker_url_path", "{url}: a broker URL has no path or query: write mqtt://host:port"
        )
    tls = parts.scheme == "mqtts"
    if port == 0:
        raise refused(
            "broker_url_port", "{url}: port 0 is not a broker port (1883, or 8883 for TLS)"
        )
    return tls, parts.hostname, port or (8883 if tls else 1883)


def _credentials(section: str) -> PydanticCustomError:
    """A URL holding a user name or password: never echoed (it may hold the password)."""
    return PydanticCustomError(
        "url_credentials",
        "credentials do not go in the URL: set {username}, and the password in {variable} or "
        "{password_file}",
        {
            "username": f"{section}.username",
            "variable": f"LORAWATCH__{section.upper()}__PASSWORD",
            "password_file": f"{section}.password_file",
        },
    )


def _pair() -> PydanticCustomError:
    return PydanticCustomError(
        "cert_and_key", "cert_file and key_file go together: set both or neither"
    )


class MqttConfig(Section):
    url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="Broker URL: mqtt://host:port, or mqtts://host:port for TLS.",
    )
    client_id: str = Field(
        "lorawatch",
        description="Fixed client id: the broker keeps this client's session and queued "
        "messages while it is away, so it must not change between restarts.",
    )
    protocol: Literal["5", "3.1.1"] = Field(
        "5", description="MQTT version. 5 sets Receive Maximum and a session expiry."
    )
    username: str = Field("", description="Broker user name (empty: anonymous).")
    password: SecretStr = Field(
        SecretStr(""),
        description="Broker password; prefer LORAWATCH__MQTT__PASSWORD or password_file.",
    )
    password_file: Path | None = Field(None, description="File holding the broker password.")
    qos: Literal[1, 2] = Field(
        1, description="Subscription QoS; 1 or 2, never 0 (0 loses messages)."
    )
    session_expiry_s: int = Field(
        7 * 24 * 3600,
        ge=0,
        description="How long the broker keeps the session and its queue while lorawatch is down.",
    )
    receive_maximum: int = Field(
        0,
        ge=0,
        le=65535,
        description="MQTT 5 Receive Maximum: unacknowledged messages the broker may send at once. "
        "0 sizes it from the pipeline: (write stages + 2) x store.batch_size, a batch being "
        "prepared, one in each store's writer and one on its way (4000 with InfluxDB and the "
        "state file, 3000 with SQLite alone). Acks follow the last write: a smaller window "
        "leaves stages waiting.",
    )
    receiver: Literal["process", "thread"] = Field(
        "process",
        description="Where the MQTT client runs: 'process' gives it a child process (and a core), "
        "so paho's packet handling does not take turns with the pipeline; 'thread' keeps one "
        "process (a one-core machine).",
    )
    keepalive_s: int = Field(30, ge=5, description="MQTT keep-alive interval.")
    reconnect_min_s: float = Field(
        0.5, gt=0, description="First reconnect delay (jittered, doubled)."
    )
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay.")
    topics: list[str] = Field(
        ["application/+/device/+/event/+"],
        description="Subscriptions. Add 'application/+/device/+/rx' for ChirpStack v3 < 3.11.",
    )
    shared_group: str = Field(
        "",
        description="Shared-subscription group for several replicas ($share/<group>/...). "
        "Per-device order is not kept across replicas.",
    )
    ca_file: Path | None = Field(None, description="CA certificate (PEM) to verify the broker.")
    cert_file: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    key_file: Path | None = Field(None, description="Client private key (PEM) for mutual TLS.")
    require_tls: bool = Field(False, description="Refuse to start on a plaintext mqtt:// URL.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_broker_url(value)
        return value

    @model_validator(mode="after")
    def _tls(self) -> MqttConfig:
        if self.require_tls and not self.url.startswith("mqtts://"):
            raise PydanticCustomError(
                "tls_required", "require_tls is true but url is plaintext: use mqtts://"
            )
        if (self.cert_file is None) != (self.key_file is None):
            raise _pair()
        return self

    @property
    def tls(self) -> bool:
        return self.url.startswith("mqtts://")

    @property
    def host(self) -> str:
        return parse_broker_url(self.url)[1]

    @property
    def port(self) -> int:
        return parse_broker_url(self.url)[2]

    def secret(self) -> str:
        return read_secret(self.password, self.password_file)


class AmqpConfig(Section):
    """The ``[amqp]`` section: ChirpStack's AMQP integration, consumed from partition queues.

    ChirpStack publishes each event to ``exchange`` with the routing key
    ``application.{id}.device.{dev_eui}.event.{event}``. ``lorawatch amqp setup`` binds that
    exchange to a consistent-hash exchange feeding ``partitions`` quorum queues with a single
    active consumer each; every worker consumes all of them (docs/scaling.md).
    """

    url: str = Field(
        "amqp://127.0.0.1:5672/%2F",
        description="Broker URL: amqp://host:port/vhost (amqps:// for TLS; %2F is the default "
        "vhost). Keep the password out of it: use username and password_file.",
    )
    username: str = Field(
        "", description="Broker user name (empty: the URL's, or RabbitMQ's guest)."
    )
    password: SecretStr = Field(
        SecretStr(""),
        description="Broker password; prefer LORAWATCH__AMQP__PASSWORD or password_file.",
    )
    password_file: Path | None = Field(None, description="File holding the broker password.")
    exchange: str = Field(
        "amq.topic",
        description="Where ChirpStack publishes (chirpstack.toml [integration.amqp] exchange).",
    )
    binding_key: str = Field(
        "application.*.device.*.event.*",
        description="Which of the exchange's routing keys are ChirpStack events for lorawatch.",
    )
    hash_exchange: str = Field(
        "lorawatch.events",
        description="The consistent-hash exchange that spreads devices over the partitions.",
    )
    queue_prefix: str = Field(
        "lorawatch.events",
        description="Partition queues are named <queue_prefix>.0 ... <queue_prefix>.<P-1>.",
    )
    partitions: int = Field(
        8,
        ge=1,
        le=1024,
        description="Number of partition queues (P). Workers beyond P stand by. Change it only "
        "with the queues drained: a device may move to another partition.",
    )
    prefetch: int = Field(
        0,
        ge=0,
        le=65535,
        description="Unacknowledged messages per partition queue; 0 sizes it from the batch "
        "(2 x store.batch_size), so the next batch arrives while one is written.",
    )
    heartbeat_s: int = Field(
        30,
        ge=0,
        description="AMQP heartbeat: a worker whose host vanished loses its partitions after "
        "about twice this (a killed process loses them at once: its socket closes).",
    )
    reconnect_min_s: float = Field(
        0.5, gt=0, description="First reconnect delay (jittered, doubled)."
    )
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay.")
    ca_file: Path | None = Field(None, description="CA certificate (PEM) to verify the broker.")
    cert_file: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    key_file: Path | None = Field(None, description="Client private key (PEM) for mutual TLS.")

    @model_validator(mode="after")
    def _check(self) -> AmqpConfig:
        if not self.url.startswith(("amqp://", "amqps://")):
            raise PydanticCustomError(
                "amqp_url_scheme", "url must start with amqp:// or amqps:// (TLS)"
            )
        if "@" in self.url.split("://", 1)[1].split("/", 1)[0]:
            raise _credentials("amqp")
        if (self.cert_file is None) != (self.key_file is None):
            raise _pair()
        return self

    @property
    def tls(self) -> bool:
        return self.url.startswith("amqps://")

    def queues(self) -> list[str]:
        return [f"{self.queue_prefix}.{i}" for i in range(self.partitions)]

    def secret(self) -> str:
        return read_secret(self.password, self.password_file)

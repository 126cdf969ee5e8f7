"""The MQTT source: paho-mqtt with QoS 1, a persistent session and manual acknowledgement.

Why each setting (field notes, "MQTT and Mosquitto"):
- a fixed client id and a persistent session (MQTT 5 session expiry, or clean session off
  on 3.1.1), so the broker queues what arrives while lorawatch is down;
- ``manual_ack``: a PUBACK leaves only after the message's batch is durable, so a crash
  between receipt and storage means redelivery, never loss;
- MQTT 5 Receive Maximum at least twice the batch size: Mosquitto's default in-flight window
  of 20 would otherwise stall a consumer that acks per batch, and with one batch's worth the
  broker waits while each batch is written;
- reconnect with jittered exponential backoff; subscriptions are renewed on every connect.
"""

from __future__ import annotations

import queue
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from lorawatch.core.errors import SourceError
from lorawatch.gateway_bridge.settings import MqttConfig
from lorawatch.gateway_bridge.source import Message

log = structlog.get_logger(__name__)


_REFUSAL_FIX = {
    "Bad user name or password": "check mqtt.username and the password "
    "(LORAWATCH__MQTT__PASSWORD or mqtt.password_file)",
    "Not authorized": "give this user access on the broker (Mosquitto: its ACL file), or "
    "check mqtt.username",
    "Client identifier not valid": "set another mqtt.client_id",
    "Unsupported protocol version": 'set mqtt.protocol = "3.1.1" for this broker',
    "Banned": "ask the broker's administrator",
}
"""What to change for the CONNACK refusals an operator can fix."""

Row = tuple[str, bytes, float, int, int, int, bool]
"""A received message as a plain tuple: topic, payload, received (epoch s), mid, qos,
generation, retained (what :mod:`lorawatch.gateway_bridge.receiver` passes between processes)."""


class MqttSource:
    def __init__(self, cfg: MqttConfig, sink: Callable[[Row], None] | None = None) -> None:
        """``sink`` takes each message as a :data:`Row` instead of the internal queue, for a
        caller that forwards messages elsewhere (then :meth:`get_batch` returns nothing)."""
        self.cfg = cfg
        self._sink = sink
        self.v5 = cfg.protocol == "5"
        self._queue: queue.Queue[Message] = queue.Queue()
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.connects = 0
        self.failures = 0
        self.last_error = ""
        self.last_error_at = ""
        self._delay: float | None = None
        self._min_delay = 1
        self._first_attempt = True
        self._stopping = False
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        cfg = self.cfg
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else False,
            manual_ack=True,
        )
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.secret() or None)
        if cfg.tls:
            client.tls_set(
                ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
                certfile=str(cfg.cert_file) if cfg.cert_file else None,
                keyfile=str(cfg.key_file) if cfg.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.max_inflight_messages_set(cfg.receive_maximum)
        self._min_delay = self._jittered(cfg.reconnect_min_s)
        client.reconnect_delay_set(self._min_delay, int(cfg.reconnect_max_s))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    @staticmethod
    def _jittered(base: float) -> int:
        return max(1, round(base * random.uniform(0.5, 1.5)))  # noqa: S311 - jitter

    def _topics(self) -> list[tuple[str, int]]:
        prefix = f"$share/{self.cfg.shared_group}/" if self.cfg.shared_group else ""
        return [(prefix + t, self.cfg.qos) for t in self.cfg.topics]

    def _next_delay(self) -> float:
        """The wait before paho's next attempt: it doubles from the minimum to the maximum
        (paho's own back-off, which it does not expose), reset by each successful CONNACK."""
        top = max(1, int(self.cfg.reconnect_max_s))
        self._delay = self._min_delay if self._delay is None else min(self._delay * 2, top)
        return self._delay

    def _error(self, text: str) -> None:
        self.last_error = text
        self.last_error_at = datetime.now(UTC).isoformat(timespec="seconds")

    def _on_connect_fail(self, _: mqtt.Client, __: Any) -> None:
        """The TCP/TLS connection failed (refused, unreachable, name unknown, handshake)."""
        if self._stopping:
            return
        exc = sys.exception()  # paho calls this inside its ``except OSError``
        self.failures += 1
        retry_in_s = self._next_delay()
        if self._first_attempt:
            # paho waits twice after a failed first connect: before retrying it, and again
            # once its network loop finds no connection.
            retry_in_s += self._next_delay()
            self._first_attempt = False
        why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or "unknown"
        self._error(f"cannot reach the broker {self.cfg.host}:{self.cfg.port}: {why}")
        log.warning(
            "mqtt connection failed; retrying",
            broker=self.cfg.host,
            port=self.cfg.port,
            error=why,
            attempt=self.failures,
            retry_in_s=retry_in_s,
        )

    def _on_connect(
        self, client: mqtt.Client, _: Any, flags: mqtt.ConnectFlags, reason: ReasonCode, __: Any
    ) -> None:
        if reason.is_failure:
            self.failures += 1
            self._error(f"broker refused the connection: {reason} (reason code {reason.value})")
            log.error(
                "mqtt connect refused; retrying",
                broker=self.cfg.host,
                port=self.cfg.port,
                reason=str(reason),
                reason_code=reason.value,
                fix=_REFUSAL_FIX.get(str(reason), ""),
                attempt=self.failures,
            )
            return
        self._delay = None
        self._first_attempt = False
        self.failures = 0
        self._generation += 1
        self.connects += 1
        client.subscribe(self._topics())
        self._connected.set()
        log.info(
            "mqtt connected",
            broker=self.cfg.host,
            port=self.cfg.port,
            session_present=flags.session_present,
            protocol=self.cfg.protocol,
        )

    def _on_disconnect(
        self, client: mqtt.Client, _: Any, __: mqtt.DisconnectFlags, reason: ReasonCode, ___: Any
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._stopping:
            log.info("mqtt disconnected")
            return
        if was_connected:
            self._error(f"disconnected: {reason}")
            self._min_delay = self._jittered(self.cfg.reconnect_min_s)
            client.reconnect_delay_set(self._min_delay, int(self.cfg.reconnect_max_s))
            self._delay = None
        log.warning(
            "mqtt disconnected; retrying",
            reason=str(reason),
            retry_in_s=self._next_delay(),
        )

    def _on_subscribe(
        self, _: mqtt.Client, __: Any, mid: int, reasons: list[ReasonCode], ___: Any
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self.last_error = f"broker refused the subscription: {', '.join(refused)}"
            log.error("mqtt subscription refused", reasons=refused, topics=self.cfg.topics)
            return
        self._subscribed.set()
        log.info("mqtt subscribed", topics=[t for t, _ in self._topics()])

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def _on_message(self, _: mqtt.Client, __: Any, msg: mqtt.MQTTMessage) -> None:
        if self._sink is not None:
            self._sink(
                (
                    msg.topic,
                    bytes(msg.payload),
                    time.time(),
                    msg.mid,
                    msg.qos,
                    self._generation,
                    msg.retain,
                )
            )
            return
        self._queue.put(
            Message(
                msg.topic,
                bytes(msg.payload),
                datetime.now(UTC),
                msg.mid,
                msg.qos,
                self._generation,
                bool(msg.retain),
            )
        )

    def start(self) -> None:
        properties = None
        if self.v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self.cfg.session_expiry_s
            properties.ReceiveMaximum = self.cfg.receive_maximum
        try:
            self._client.connect_async(
                self.cfg.host,
                self.cfg.port,
                keepalive=self.cfg.keepalive_s,
                clean_start=False if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                properties=properties,
            )
        except (ValueError, OSError) as exc:
            raise SourceError(f"cannot connect to {self.cfg.url}: {exc}") from exc
        self._client.loop_start()

    def get_batch(self, max_messages: int, max_wait_s: float) -> list[Message]:
        try:
            first = self._queue.get(timeout=max_wait_s)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + max_wait_s
        while len(batch) < max_messages:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get(timeout=max(0.0, remaining))
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def ack(self, messages: list[Message]) -> None:
        self.ack_ids([(m.mid, m.qos, m.generation) for m in messages])

    def ack_ids(self, acks: list[tuple[int, int, int]]) -> None:
        """Acknowledge (mid, qos, generation) in order; those of an earlier connection are
        dropped (their packet ids mean other messages now), and the broker redelivers them."""
        current = self._generation
        ack = self._client.ack
        for mid, qos, generation in acks:
            if qos and generation == current:
                ack(mid, qos)

    def pending(self) -> int:
        return self._queue.qsize()

    def stop(self) -> None:
        self._stopping = True
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    def health(self) -> dict[str, object]:
        return {
            "connected": self._connected.is_set(),
            "subscribed": self._subscribed.is_set(),
            "connects": self.connects,
            "queued": self._queue.qsize(),
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "failed_attempts": self.failures,
        }

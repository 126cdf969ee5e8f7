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

The module is also the whole of the receiver child's program (:mod:`receiver_child`), so it
imports paho and the standard library only: the settings come as a plain :class:`Link`, not
the pydantic section, and the log is the caller's (structlog's unless given).
"""

from __future__ import annotations

import queue
import random
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from lorawatch.core.errors import SourceError
from lorawatch.gateway_bridge.source import Message

if TYPE_CHECKING:
    from lorawatch.gateway_bridge.settings import MqttConfig


class Log(Protocol):
    """What :class:`MqttSource` logs through: structlog's logger, or the receiver child's,
    which hands each event to its parent."""

    def info(self, event: str, **fields: Any) -> Any: ...
    def warning(self, event: str, **fields: Any) -> Any: ...
    def error(self, event: str, **fields: Any) -> Any: ...


UNSIZED_WINDOW = 2000
"""The Receive Maximum of a source built from a config whose window was left at 0 without
the service to size it (``mqtt.receive_maximum``): two batches of the default size."""


@dataclass(frozen=True, slots=True)
class Link:
    """The ``[mqtt]`` settings the client uses, as plain values: what the receiver child
    needs, without pydantic (~7 MB in a process that holds nothing else)."""

    url: str
    host: str
    port: int
    tls: bool
    client_id: str
    protocol: str
    username: str
    password: str = field(repr=False)
    qos: int
    session_expiry_s: int
    receive_maximum: int
    keepalive_s: int
    reconnect_min_s: float
    reconnect_max_s: float
    topics: tuple[str, ...]
    shared_group: str
    ca_file: Path | None
    cert_file: Path | None
    key_file: Path | None

    @classmethod
    def of(cls, cfg: MqttConfig) -> Link:
        return cls(
            url=cfg.url,
            host=cfg.host,
            port=cfg.port,
            tls=cfg.tls,
            client_id=cfg.client_id,
            protocol=cfg.protocol,
            username=cfg.username,
            password=cfg.secret(),
            qos=cfg.qos,
            session_expiry_s=cfg.session_expiry_s,
            receive_maximum=cfg.receive_maximum or UNSIZED_WINDOW,
            keepalive_s=cfg.keepalive_s,
            reconnect_min_s=cfg.reconnect_min_s,
            reconnect_max_s=cfg.reconnect_max_s,
            topics=tuple(cfg.topics),
            shared_group=cfg.shared_group,
            ca_file=cfg.ca_file,
            cert_file=cfg.cert_file,
            key_file=cfg.key_file,
        )


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


_U16 = struct.Struct("!H")
_ACK_COMMAND = {1: 0x40, 2: 0x70}
"""The fixed header byte of the acknowledgement a manual ack sends: PUBACK for QoS 1,
PUBCOMP for QoS 2 (paho has answered the PUBREL's PUBREC already)."""
FLUSH_S = 2.0
"""How long a stopping source waits for paho to write its last acks (a dead link: not long)."""


class _Client(mqtt.Client):
    """paho's client, reading the socket in blocks and acknowledging a batch in one write.

    paho reads each packet with three ``recv`` calls (type, length, body) and goes back to
    ``select`` after each one; it writes each acknowledgement with a ``send`` of its own,
    after waking its loop through its socket pair; it reads the MQTT 5 properties of every
    PUBLISH into objects and matches its topic against per-topic callbacks. Per message,
    that was most of the receiver's CPU (``python -m bench.ingest`` shows its share). Here
    the socket is read 64 KiB at a time, every packet already received is handled before
    the next ``select``, a QoS 1 PUBLISH goes straight to ``on_publish_fast`` (its
    properties, which lorawatch does not use, skipped), and :meth:`ack_many` queues the
    acknowledgements of a batch as one write. Anything else (QoS 2, a packet this reading
    finds odd) is paho's, as are sessions, TLS and reconnection. Tied to paho's internals
    (``_sock_recv``, ``_packet_read``, ``_handle_publish``, ``_in_packet``,
    ``_packet_queue``, ``_loop_rc_handle``): the pin in pyproject.toml and
    tests/test_receiver.py tell when they move.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._rsock: object = None
        self.on_publish_fast: Callable[[str, bytes, int, bool], None] | None = None
        """(topic, payload, mid, retain) of each QoS 1 message, instead of ``on_message``."""
        self._pong = threading.Event()

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf) or self._rsock is not self._sock:
            # Empty, or left from an earlier connection: read what the socket has.
            data: bytes = super()._sock_recv(max(bufsize, 65536))
            if len(data) <= bufsize:
                self._rbuf, self._rpos = b"", 0
                return data
            self._rbuf, self._rpos, self._rsock = data, 0, self._sock
            buf, pos = data, 0
        end = pos + bufsize
        self._rpos = end
        return buf[pos:end]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Handle packets until the socket has no more (paho stops after one), writing what
        was queued meanwhile (the acks) as it goes.

        A broker draining a deep queue may keep the socket full for minutes (Mosquitto 2.0
        sends past Receive Maximum once acks come back): writing only once the socket is
        empty, no ack left and no ping either, the broker dropped the silent connection
        after one and a half keep-alives and sent the unacknowledged messages again, over
        and over (bench/memory.py --drain 1000000: 3.8 million copies, the drain stalled).
        """
        while True:
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            if self._out_packet:
                rc = self.loop_write()
                if rc or self._sock is None:
                    return rc

    def _handle_publish(self) -> MQTTErrorCode:
        fast = self.on_publish_fast
        header = self._in_packet["command"]
        if fast is None or header & 0x06 != 0x02 or not self._manual_ack:
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        try:
            (n,) = _U16.unpack_from(packet, 0)
            topic = packet[2 : 2 + n].decode()
            (mid,) = _U16.unpack_from(packet, 2 + n)
            pos = 4 + n
            if self._protocol == mqtt.MQTTv5:
                length, shift = 0, 0
                while True:  # the properties' length, a variable byte integer
                    byte = packet[pos]
                    pos += 1
                    length |= (byte & 0x7F) << shift
                    if not byte & 0x80:
                        break
                    shift += 7
                    if shift > 21:
                        raise ValueError("property length over 4 bytes")
                pos += length
            if not topic or pos > len(packet):
                raise ValueError("no topic (an alias) or properties past the end")
        except (struct.error, UnicodeDecodeError, IndexError, ValueError):
            return super()._handle_publish()  # paho's reading, paho's errors
        fast(topic, bytes(packet[pos:]), mid, bool(header & 0x01))
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_pingresp(self) -> MQTTErrorCode:
        rc = super()._handle_pingresp()
        self._pong.set()
        return rc

    def read_by_broker(self, timeout: float) -> bool:
        """Whether the broker has read every packet written so far (the acks), within
        ``timeout``: it reads a connection in order, so its answer to a ping sent now says
        so. Written is not enough: a new connection of the same session (a restarted
        receiver) takes the session over, and the old one's unread acks are dropped."""
        self._pong.clear()
        if self._send_pingreq() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        return self._pong.wait(timeout)

    def ack_many(self, acks: list[tuple[int, int]]) -> None:
        """Acknowledge (mid, qos) in order, in one write."""
        pack = struct.pack
        data = b"".join(pack("!BBH", _ACK_COMMAND[qos], 2, mid) for mid, qos in acks)
        if data:
            self._packet_queue(_ACK_COMMAND[acks[0][1]], data, 0, 0)


class MqttSource:
    def __init__(
        self,
        cfg: MqttConfig | Link,
        sink: Callable[[Row], None] | None = None,
        log: Log | None = None,
    ) -> None:
        """``sink`` takes each message as a :data:`Row` instead of the internal queue, for a
        caller that forwards messages elsewhere (then :meth:`get_batch` returns nothing)."""
        self.cfg = cfg if isinstance(cfg, Link) else Link.of(cfg)
        if log is None:
            # Here, not at the top: the receiver child logs through its parent, without structlog.
            import structlog

            log = structlog.get_logger(__name__)
        self.log: Log = log
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

    def _make_client(self) -> _Client:
        cfg = self.cfg
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else False,
            manual_ack=True,
        )
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password or None)
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
        client.on_publish_fast = self._on_publish
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
        self.log.warning(
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
            self.log.error(
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
        self.log.info(
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
            self.log.info("mqtt disconnected")
            return
        if was_connected:
            self._error(f"disconnected: {reason}")
            self._min_delay = self._jittered(self.cfg.reconnect_min_s)
            client.reconnect_delay_set(self._min_delay, int(self.cfg.reconnect_max_s))
            self._delay = None
        self.log.warning(
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
            self.log.error(
                "mqtt subscription refused", reasons=refused, topics=list(self.cfg.topics)
            )
            return
        self._subscribed.set()
        self.log.info("mqtt subscribed", topics=[t for t, _ in self._topics()])

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def _on_message(self, _: mqtt.Client, __: Any, msg: mqtt.MQTTMessage) -> None:
        self._received(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain))

    def _on_publish(self, topic: str, payload: bytes, mid: int, retain: bool) -> None:
        self._received(topic, payload, mid, 1, retain)

    def _received(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool) -> None:
        if self._sink is not None:
            self._sink((topic, payload, time.time(), mid, qos, self._generation, retain))
            return
        self._queue.put(
            Message(topic, payload, datetime.now(UTC), mid, qos, self._generation, retain)
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
        self._client.ack_many(
            [(mid, qos) for mid, qos, generation in acks if qos and generation == current]
        )

    def pending(self) -> int:
        return self._queue.qsize()

    def stop(self) -> None:
        self._stopping = True
        # The acks queued last must reach the broker first: once disconnect() is called,
        # paho's network thread ends its loop without writing what it had not written yet,
        # and the broker would deliver those messages again (stored already: duplicates).
        deadline = time.monotonic() + FLUSH_S
        while self._client.want_write() and time.monotonic() < deadline:
            time.sleep(0.005)
        if self._connected.is_set():
            self._client.read_by_broker(max(0.0, deadline - time.monotonic()))
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

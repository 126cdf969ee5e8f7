"""The AMQP source: ChirpStack's AMQP integration, read from partition queues on RabbitMQ.

ChirpStack v4 publishes each event to ``amq.topic`` with the routing key
``application.{application_id}.device.{dev_eui}.event.{event}`` (JSON or protobuf, as its
``[integration.amqp] json`` says). :func:`declare` binds those keys to a consistent-hash
exchange that spreads them over P quorum queues with ``x-single-active-consumer``: every
worker consumes every queue, RabbitMQ delivers each queue to one of them at a time, and hands
it to another when that worker's connection ends (docs/scaling.md).

Why each choice:
- the routing key becomes the MQTT topic form (dots to slashes), so the bridge's topic
  template, event parser, dead letters and metrics are the MQTT path's, unchanged;
- manual acknowledgement, sent only from :meth:`AmqpSource.ack` (after the batch is durable),
  in arrival order; acks of messages received on an earlier connection are dropped: their
  delivery tags mean nothing on the new channel, and the broker has requeued them already;
- a prefetch of at least two batches per queue: acks follow the write, so the next batch must
  be able to arrive while one is written (as MQTT's Receive Maximum);
- pika's blocking connection runs in its own thread; the bridge's acks reach it through
  ``add_callback_threadsafe``, the one thread-safe entry of pika;
- reconnection with jittered, doubling delays, each attempt logged at info with its reason.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import ssl
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions
import structlog
from pika.adapters.blocking_connection import BlockingChannel

from lorawatch.core.errors import SourceError
from lorawatch.gateway_bridge.settings import AmqpConfig
from lorawatch.gateway_bridge.source import Message, take_batch

log = structlog.get_logger(__name__)

PARTITION_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum", "x-single-active-consumer": True}
"""Replicated, ordered, and delivered to one consumer at a time (the others stand by)."""


def connection_parameters(cfg: AmqpConfig) -> pika.URLParameters:
    params = pika.URLParameters(cfg.url)
    if cfg.username:
        params.credentials = pika.PlainCredentials(cfg.username, cfg.secret())
    params.heartbeat = cfg.heartbeat_s
    params.client_properties = {"connection_name": f"lorawatch {socket.gethostname()}"}
    if cfg.tls:
        context = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        if cfg.cert_file and cfg.key_file:
            context.load_cert_chain(str(cfg.cert_file), str(cfg.key_file))
        params.ssl_options = pika.SSLOptions(context, params.host)
    return params


def topic_of(routing_key: str) -> str:
    """``application.X.device.Y.event.up`` -> ``application/X/device/Y/event/up``: the form
    the bridge's topic template reads (application ids, EUIs and event names hold no dots)."""
    return routing_key.replace(".", "/")


def declare(channel: BlockingChannel, cfg: AmqpConfig) -> list[str]:
    """Declare the partitioned topology; idempotent. Returns the partition queues.

    The consistent-hash exchange hashes the whole routing key. ChirpStack sets no header or
    property to hash on instead, so a device's ``up`` events (one key per device) always land
    on one queue, in order; its ``status``/``join``/``log`` events may land on another one,
    which only orders them apart from the uplinks (they carry their own time and no meter).
    """
    if not cfg.exchange.startswith("amq."):  # amq.* exist already and may not be declared
        channel.exchange_declare(cfg.exchange, exchange_type="topic", durable=True)
    channel.exchange_declare(cfg.hash_exchange, exchange_type="x-consistent-hash", durable=True)
    channel.exchange_bind(cfg.hash_exchange, cfg.exchange, routing_key=cfg.binding_key)
    queues = cfg.queues()
    for queue in queues:
        channel.queue_declare(queue, durable=True, arguments=PARTITION_ARGUMENTS)
        channel.queue_bind(queue, cfg.hash_exchange, routing_key="1")  # equal weights
    return queues


def setup(cfg: AmqpConfig) -> list[str]:
    """Connect and :func:`declare`; a clear :class:`SourceError` when the broker refuses."""
    try:
        connection = pika.BlockingConnection(connection_parameters(cfg))
    except pika.exceptions.AMQPError as exc:
        raise SourceError(f"cannot connect to {cfg.url}: {_reason(exc)}") from exc
    try:
        return declare(connection.channel(), cfg)
    except pika.exceptions.ChannelClosedByBroker as exc:
        hint = ""
        if exc.reply_code == 406:
            hint = (
                " (a queue or exchange of that name exists with other arguments: delete it,"
                " or choose another amqp.queue_prefix / amqp.hash_exchange)"
            )
        elif exc.reply_code == 403:
            hint = " (the user needs configure rights; amq.* names are the broker's own)"
        elif exc.reply_code == 503:
            hint = " (enable the rabbitmq_consistent_hash_exchange plugin)"
        raise SourceError(f"the broker refused the topology: {exc.reply_text}{hint}") from exc
    finally:
        if connection.is_open:
            connection.close()


def depths(cfg: AmqpConfig) -> list[dict[str, Any]]:
    """Messages waiting and consumers of each partition queue, by passive declares (they
    need no management plugin and change nothing)."""
    try:
        connection = pika.BlockingConnection(connection_parameters(cfg))
    except pika.exceptions.AMQPError as exc:
        raise SourceError(f"cannot connect to {cfg.url}: {_reason(exc)}") from exc
    out = []
    try:
        for queue in cfg.queues():
            try:
                ok = connection.channel().queue_declare(queue, passive=True).method
            except pika.exceptions.ChannelClosedByBroker as exc:
                out.append(
                    {
                        "queue": queue,
                        "messages": None,
                        "consumers": None,
                        "error": f"{exc.reply_text} (lorawatch amqp setup declares it)",
                    }
                )
                continue
            out.append(
                {"queue": queue, "messages": ok.message_count, "consumers": ok.consumer_count}
            )
    finally:
        if connection.is_open:
            connection.close()
    return out


def definitions(cfg: AmqpConfig, vhost: str) -> dict[str, Any]:
    """The same topology as RabbitMQ definitions (``rabbitmqctl import_definitions``)."""
    exchanges: list[dict[str, Any]] = []
    if not cfg.exchange.startswith("amq."):
        exchanges.append(_exchange(cfg.exchange, "topic", vhost))
    exchanges.append(_exchange(cfg.hash_exchange, "x-consistent-hash", vhost))
    bindings = [
        {
            "source": cfg.exchange,
            "vhost": vhost,
            "destination": cfg.hash_exchange,
            "destination_type": "exchange",
            "routing_key": cfg.binding_key,
            "arguments": {},
        }
    ]
    queues = []
    for queue in cfg.queues():
        queues.append(
            {
                "name": queue,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": PARTITION_ARGUMENTS,
            }
        )
        bindings.append(
            {
                "source": cfg.hash_exchange,
                "vhost": vhost,
                "destination": queue,
                "destination_type": "queue",
                "routing_key": "1",
                "arguments": {},
            }
        )
    return {
        "vhosts": [{"name": vhost}],
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
    }


def _exchange(name: str, kind: str, vhost: str) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": vhost,
        "type": kind,
        "durable": True,
        "auto_delete": False,
        "internal": False,
        "arguments": {},
    }


def _reason(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:300]


class AmqpSource:
    """A :class:`~lorawatch.gateway_bridge.source.MessageSource` consuming every partition."""

    def __init__(self, cfg: AmqpConfig, prefetch: int) -> None:
        self.cfg = cfg
        self.prefetch = prefetch
        self._params = connection_parameters(cfg)
        self._pending: deque[Message] = deque()
        self._arrived = threading.Condition()
        self._lock = threading.Lock()
        self._generation = 0
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._acked_upto = 0
        self._queue_of: dict[str, str] = {}
        self._active: set[str] = set()
        self._outstanding: dict[str, int] = {}
        """Per queue, messages received on this connection and not acked yet (I/O thread)."""
        self._draining: set[str] = set()
        self._cancelled: set[str] = set()
        self.drained: set[str] = set()
        """Queues given up by :meth:`drain` whose last message is acked (read, then cleared,
        by the caller)."""
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._tag = f"{socket.gethostname()}.{os.getpid()}"
        self.connects = 0
        self.acks_sent = 0
        self.last_error = ""

    # -- the I/O thread ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="amqp-consumer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        delay = self.cfg.reconnect_min_s
        while not self._stopping.is_set():
            try:
                self._consume()
            except (pika.exceptions.AMQPError, OSError) as exc:
                self.last_error = _reason(exc)
                if "NOT_FOUND" in self.last_error:
                    self.last_error += " (declare the queues: lorawatch amqp setup)"
            except Exception as exc:  # a bug must not end reception: log it, reconnect
                log.exception("amqp consumer failed")
                self.last_error = _reason(exc)
            if self._stopping.is_set():
                break
            if self._connected.is_set():  # it had connected: start the back-off afresh
                delay = self.cfg.reconnect_min_s
            self._connected.clear()
            wait = delay * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
            log.info(
                "amqp reconnecting", reason=self.last_error, in_s=round(wait, 2), url=self.cfg.url
            )
            self._stopping.wait(wait)
            delay = min(delay * 2, self.cfg.reconnect_max_s)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(self._params)
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self.prefetch)
            with self._lock:
                self._generation += 1
                self._connection, self._channel = connection, channel
                self._acked_upto = 0
                self._active = set()
                self._outstanding = {}
                self._draining = set()
                self._cancelled = set()
            with self._arrived:
                # What an earlier connection received and the bridge has not taken yet: the
                # broker requeued it when that connection ended and delivers it again.
                stale = len(self._pending)
                self._pending.clear()
            if stale:
                log.info("amqp dropped messages of the lost connection", messages=stale)
            self._queue_of = {}
            # From a random queue on: workers that subscribe at the same time each come first
            # on some queues, so they share the partitions instead of one taking them all.
            queues = self.cfg.queues()
            start = random.randrange(len(queues))  # noqa: S311 - not a secret
            for queue in queues[start:] + queues[:start]:
                tag = f"{self._tag}.{queue}"
                self._queue_of[tag] = queue
                channel.basic_consume(queue, self._on_message, consumer_tag=tag)
            self.connects += 1
            self._connected.set()
            log.info(
                "amqp consuming",
                url=self.cfg.url,
                queues=len(self._queue_of),
                prefetch=self.prefetch,
                connects=self.connects,
            )
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=0.25)
                if self._draining:  # after the deliveries that preceded a cancel
                    self._check_drained(channel)
            connection.process_data_events(time_limit=0)  # the acks posted before the stop
            self.last_error = ""
        finally:
            with self._lock:
                self._connection = self._channel = None
            if connection.is_open:
                try:
                    connection.close()
                except (pika.exceptions.AMQPError, OSError) as exc:
                    log.debug("amqp close failed", error=_reason(exc))

    def _on_message(
        self, _: BlockingChannel, method: Any, __: pika.BasicProperties, body: bytes
    ) -> None:
        queue = self._queue_of.get(method.consumer_tag, "")
        self._outstanding[queue] = self._outstanding.get(queue, 0) + 1
        if queue not in self._active:
            self._active.add(queue)
            log.info("amqp partition active", queue=queue)
        message = Message(
            topic_of(method.routing_key),
            body,
            datetime.now(UTC),
            method.delivery_tag,
            1,
            self._generation,
            partition=queue,
        )
        with self._arrived:
            self._pending.append(message)
            self._arrived.notify()

    def _settled(self, queues: list[str]) -> None:
        """In the I/O thread: count acked (or requeued) messages off their queues."""
        for queue in queues:
            self._outstanding[queue] = self._outstanding.get(queue, 0) - 1

    def _check_drained(self, channel: BlockingChannel) -> None:
        """In the I/O thread, once the deliveries received are dispatched: a queue being
        drained whose last message is acked is subscribed to again, at the back of its line."""
        for queue in list(self._draining):
            if self._outstanding.get(queue, 0) <= 0 and channel.is_open:
                self._draining.discard(queue)
                tag = f"{self._tag}.{queue}.{self.connects}.{len(self.drained)}"
                self._queue_of[tag] = queue
                self._active.discard(queue)
                channel.basic_consume(queue, self._on_message, consumer_tag=tag)
                self.drained.add(queue)
                log.info("amqp partition drained, standing by", queue=queue)

    def drain(self, queue: str) -> None:
        """Give ``queue`` to the next worker in its line: stop receiving from it, let the
        bridge finish (and ack) what it has of it, then subscribe again as a standby; the
        queue then shows in :attr:`drained`. The shared state keeps the next worker from
        starting on it before that (``PostgresStore.begin_drain``)."""
        with self._lock:
            connection, channel, generation = self._connection, self._channel, self._generation
        if connection is None or channel is None:
            return

        def cancel() -> None:
            if generation != self._generation or not channel.is_open:
                return
            for tag, name in list(self._queue_of.items()):
                if name == queue and tag not in self._cancelled:
                    channel.basic_cancel(tag)  # deliveries already sent still arrive
                    self._cancelled.add(tag)
            self._draining.add(queue)

        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            connection.add_callback_threadsafe(cancel)

    def _ack(self, channel: BlockingChannel, generation: int, tags: list[int]) -> None:
        """In the I/O thread: one multiple-ack when the batch is the next contiguous run of
        delivery tags (the usual case), else one ack per message."""
        if generation != self._generation or not channel.is_open:
            return
        if tags[0] == self._acked_upto + 1 and tags[-1] - tags[0] + 1 == len(tags):
            channel.basic_ack(tags[-1], multiple=True)
        else:
            for tag in tags:
                channel.basic_ack(tag)
        self._acked_upto = max(self._acked_upto, tags[-1])
        self.acks_sent += len(tags)

    # -- the source --------------------------------------------------------------------------

    def get_batch(self, max_messages: int, max_wait_s: float) -> list[Message]:
        return take_batch(self._arrived, self._pending, max_messages, max_wait_s)

    def ack(self, messages: list[Message]) -> None:
        with self._lock:
            generation, connection, channel = self._generation, self._connection, self._channel
        current = [m for m in messages if m.generation == generation]
        tags = [m.mid for m in current]
        if not tags or connection is None or channel is None:
            return
        queues = [m.partition for m in current]

        def ack() -> None:
            self._ack(channel, generation, tags)
            if generation == self._generation:
                self._settled(queues)

        # If the connection closed meanwhile, the broker has requeued them: nothing to ack.
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            connection.add_callback_threadsafe(ack)

    def requeue(self, messages: list[Message]) -> None:
        """Hand messages back to their queues (a batch another worker's takeover voided);
        those of an earlier connection were requeued by the broker already."""
        with self._lock:
            generation, connection, channel = self._generation, self._connection, self._channel
        current = [m for m in messages if m.generation == generation]
        tags = [m.mid for m in current]
        if not tags or connection is None or channel is None:
            return
        queues = [m.partition for m in current]

        def nack() -> None:
            if generation != self._generation or not channel.is_open:
                return
            for tag in tags:
                channel.basic_nack(tag, requeue=True)
            self._acked_upto = max(self._acked_upto, tags[-1])
            self._settled(queues)

        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            connection.add_callback_threadsafe(nack)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def pending(self) -> int:
        return len(self._pending)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def health(self) -> dict[str, object]:
        return {
            "kind": "amqp",
            "connected": self._connected.is_set(),
            "subscribed": self._connected.is_set(),
            "connects": self.connects,
            "acks_sent": self.acks_sent,
            "queued": len(self._pending),
            "partitions": len(self.cfg.queues()),
            "active_partitions": sorted(self._active),
            "last_error": self.last_error,
        }

"""MQTT reception in a child process: the service's second core runs paho, the first the pipeline.

In one Python process, paho's packet handling and the pipeline (parsing, decoding, meters,
stores, alerts) take turns on one core under the GIL, and the switching costs as much as a
part of the work itself. :class:`ProcessSource` runs an unchanged :class:`MqttSource` in a
child process and exchanges batches with it over a pipe: the child receives and queues,
the parent decodes and stores, and the acknowledgements travel back, in arrival order, once
the parent's batch is durable. Nothing else changes: the child holds the persistent session,
the manual acks, the reconnections and the generation check (an ack for a message received
on an earlier connection, or by an earlier child, is dropped and the broker redelivers).

The child follows its parent: it exits when the pipe closes (the parent was stopped, or
killed), without acknowledging anything more, so the broker keeps what was not stored. If the
child dies, the parent starts another one (a new epoch: acks of the old one are dropped).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import structlog

from lorawatch.core import logs
from lorawatch.gateway_bridge.mqtt import MqttSource, Row
from lorawatch.gateway_bridge.settings import MqttConfig
from lorawatch.gateway_bridge.source import Message, take_batch

log = structlog.get_logger(__name__)

HEALTH_EVERY_S = 0.5
RESTART_AFTER_S = 1.0
FORWARD_AFTER_S = 0.002
WINDOW_WAIT_S = 5.0
"""How long paho's thread waits for acks once Receive Maximum messages are unacked."""
"""How long the child lets a burst gather before passing it on (latency is 100s of ms)."""


class ProcessSource:
    """A :class:`~lorawatch.gateway_bridge.source.MessageSource` whose MQTT client runs in a
    child process (``mqtt.receiver = "process"``)."""

    def __init__(self, cfg: MqttConfig, log_level: str = "info", log_format: str = "auto") -> None:
        self.cfg = cfg
        self._log = (log_level, log_format)
        self._ctx = multiprocessing.get_context("spawn")
        self._pending: deque[Message] = deque()
        self._arrived = threading.Condition()
        self._send_lock = threading.Lock()
        self._health: dict[str, object] = {"connected": False, "subscribed": False}
        self._subscribed = threading.Event()
        self._stopping = False
        self._epoch = 0
        self.restarts = 0
        self._conn: Connection | None = None
        self._process: Any = None
        self._reader: threading.Thread | None = None

    # -- the child ---------------------------------------------------------------------------

    def start(self) -> None:
        self._spawn()

    def _spawn(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        self._epoch += 1
        self._process = self._ctx.Process(
            target=_receive,
            args=(self.cfg, child, self._log),
            name=f"lorawatch-mqtt-{self._epoch}",
            daemon=True,
        )
        with _main_left_out():
            self._process.start()
        child.close()
        self._conn = parent
        self._reader = threading.Thread(
            target=self._read, args=(parent, self._epoch), name="mqtt-receiver", daemon=True
        )
        self._reader.start()

    def _read(self, conn: Connection, epoch: int) -> None:
        """Take what the child sends until its pipe closes; restart it if it died."""
        while True:
            try:
                kind, body = conn.recv()
            except (EOFError, OSError):
                break
            if kind == "messages":
                messages = [
                    Message(t, p, datetime.fromtimestamp(r, UTC), m, q, (epoch << 32) | g, k)
                    for t, p, r, m, q, g, k in body
                ]
                with self._arrived:
                    self._pending.extend(messages)
                    self._arrived.notify()
            elif kind == "health":
                self._health = body
                if body.get("subscribed"):
                    self._subscribed.set()
        conn.close()  # only here: this thread owns the parent's end of its child's pipe
        self._health = {**self._health, "connected": False, "subscribed": False}
        self._subscribed.clear()
        if self._stopping or epoch != self._epoch:
            return
        log.error("mqtt receiver process ended; starting another", exitcode=self._exitcode())
        time.sleep(RESTART_AFTER_S)
        if not self._stopping:
            self.restarts += 1
            self._spawn()

    def _exitcode(self) -> object:
        return None if self._process is None else self._process.exitcode

    # -- the source --------------------------------------------------------------------------

    def get_batch(self, max_messages: int, max_wait_s: float) -> list[Message]:
        return take_batch(self._arrived, self._pending, max_messages, max_wait_s)

    def ack(self, messages: list[Message]) -> None:
        rows = [(m.mid, m.qos, m.generation & 0xFFFFFFFF) for m in messages if self._current(m)]
        if not rows:
            return
        with self._send_lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(("ack", rows))

    def _current(self, message: Message) -> bool:
        return message.qos > 0 and message.generation >> 32 == self._epoch

    def stop(self) -> None:
        self._stopping = True
        with self._send_lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(("stop", None))
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():  # it ignores SIGTERM (see _receive)
                self._process.kill()
                self._process.join(timeout=2)
        if self._reader is not None:
            self._reader.join(timeout=2)  # it closes the pipe once the child is gone

    def pending(self) -> int:
        return len(self._pending)

    def health(self) -> dict[str, object]:
        return {
            **self._health,
            "receiver": "process",
            "receiver_restarts": self.restarts,
            "queued": len(self._pending) + int(self._health.get("queued", 0)),  # type: ignore[call-overload]
        }

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)


@contextlib.contextmanager
def _main_left_out() -> Iterator[None]:
    """Start the child without the parent's ``__main__``.

    A spawned child re-imports its parent's main module (the ``lorawatch`` command line, so
    every part of the service: ~35 MB) before it runs its target, which needs only this
    module, paho and the settings (bench/memory.py --drain). multiprocessing names that
    module after ``__main__.__spec__`` or ``__file__``; without both it names none. Both are
    put back as soon as the child's start-up data is written, before ``start`` returns.
    """
    main = sys.modules["__main__"]
    saved: dict[str, object] = {
        k: main.__dict__[k] for k in ("__spec__", "__file__") if k in main.__dict__
    }
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.update(saved)
        if "__spec__" not in saved:
            del main.__spec__


def _receive(cfg: MqttConfig, conn: Connection, log_setup: tuple[str, str]) -> None:
    """The child: run an MqttSource, forward what it receives, ack what the parent stored."""
    # Signals are the parent's business: the child ends when the parent closes the pipe, so
    # an interrupted service still acks the batch it was writing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logs.setup(log_setup[0], log_setup[1])  # type: ignore[arg-type]
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)  # as the service does (lorawatch.app.service.tune_gc)
    received: deque[Row] = deque()
    arrived = threading.Event()
    idle = [False]
    # Flow control: the broker is asked for at most Receive Maximum unacknowledged messages,
    # but Mosquitto 2.0 sends a whole backlog once the first acks came back, and it would
    # pile up in these processes. Past the window, paho's thread waits for acks here (the
    # socket unread: TCP holds the broker back), a bounded wait so that a parent that never
    # acks costs one more message per wait, not a stalled connection.
    window = threading.Condition()
    unacked = [0]
    generation = [-1]
    limit = max(cfg.receive_maximum, 1)

    def sink(row: Row) -> None:
        if row[4]:  # QoS 0 is never acknowledged
            with window:
                if row[5] != generation[0]:  # a new connection: the broker's window restarts
                    generation[0], unacked[0] = row[5], 0
                elif unacked[0] >= limit:
                    window.wait_for(lambda: unacked[0] < limit or done.is_set(), WINDOW_WAIT_S)
                unacked[0] += 1
        # Wake the forwarding loop only when it waits for the queue to fill (an Event.set
        # per message costs a lock and a notify).
        received.append(row)
        if idle[0]:
            idle[0] = False
            arrived.set()

    source = MqttSource(cfg, sink=sink)
    done = threading.Event()

    def acks() -> None:
        while not done.is_set():
            try:
                kind, body = conn.recv()
            except (EOFError, OSError):
                break  # the parent is gone: ack nothing more
            if kind == "stop":
                break
            source.ack_ids(body)
            with window:
                current = sum(1 for _, qos, g in body if qos and g == generation[0])
                unacked[0] = max(0, unacked[0] - current)
                window.notify_all()
        done.set()
        arrived.set()
        with window:
            window.notify_all()

    source.start()
    threading.Thread(target=acks, name="acks", daemon=True).start()
    last: tuple[object, ...] = ()
    sent_at = 0.0
    try:
        while not done.is_set():
            if not received:
                idle[0] = True
                if not received:  # appended before the flag was up: no wake-up will come
                    arrived.wait(HEALTH_EVERY_S)
                idle[0] = False
                arrived.clear()
            if received:
                # What arrives together goes together: one pipe write for a burst, not one
                # per message (the broker sends up to Receive Maximum at once).
                time.sleep(FORWARD_AFTER_S)
                conn.send(("messages", [received.popleft() for _ in range(len(received))]))
            health = source.health()
            state = (health["connected"], health["subscribed"], health["connects"])
            now = time.monotonic()
            if state != last or now - sent_at >= HEALTH_EVERY_S:
                conn.send(("health", health | {"cpu_s": time.process_time()}))
                last, sent_at = state, now
    except (BrokenPipeError, EOFError, OSError):
        pass
    finally:
        done.set()
        source.stop()

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

The child is a plain interpreter running :mod:`~lorawatch.gateway_bridge.receiver_child`
(paho and the standard library), not a multiprocessing one: spawn re-imports what the target's
arguments need and starts a resource-tracker process besides, 60 MB in all for a child that
holds a window of messages (bench/memory.py --drain).

The child forwards raw payloads and the parent parses them, although the parent is the
busier process: taking over the child's parse costs the parent nearly as much as parsing.
For the ingest bench's uplinks (1.1 KB of v4 JSON, batches of 1,000), the parent spends
7.1 µs an uplink to unpickle the raw row and parse it, 5.8 µs to unpickle the parsed fields
and build the :class:`~lorawatch.gateway_bridge.events.UplinkEvent`, 3.4 µs with a typed
msgpack array instead of pickle: at best 3 % of the parent's CPU per message in
``bench.ingest``, for a second copy of the bridge's topic, format and size rules in the child
(measured on a 2-core AMD EPYC).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from multiprocessing.connection import Connection

import structlog

from lorawatch.core.memory import child_environment
from lorawatch.gateway_bridge.mqtt import Link
from lorawatch.gateway_bridge.receiver_child import BOOT
from lorawatch.gateway_bridge.settings import MqttConfig
from lorawatch.gateway_bridge.source import Message, take_batch

log = structlog.get_logger(__name__)
child_log = structlog.get_logger("lorawatch.gateway_bridge.mqtt")
"""What the child logs (its MqttSource's events), written by the parent."""

RESTART_AFTER_S = 1.0
STOP_WAIT_S = 5.0


class ProcessSource:
    """A :class:`~lorawatch.gateway_bridge.source.MessageSource` whose MQTT client runs in a
    child process (``mqtt.receiver = "process"``)."""

    def __init__(self, cfg: MqttConfig) -> None:
        self.cfg = cfg
        self._pending: deque[Message] = deque()
        self._arrived = threading.Condition()
        self._send_lock = threading.Lock()
        self._health: dict[str, object] = {"connected": False, "subscribed": False}
        self._subscribed = threading.Event()
        self._stopping = False
        self._epoch = 0
        self.restarts = 0
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    # -- the child ---------------------------------------------------------------------------

    def start(self) -> None:
        self._spawn()

    def _spawn(self) -> None:
        parent, child = socket.socketpair()
        self._epoch += 1
        with parent, child:
            self._process = subprocess.Popen(
                [sys.executable, "-c", BOOT, str(child.fileno()), *sys.path],
                stdin=subprocess.DEVNULL,
                pass_fds=[child.fileno()],
                env=child_environment(),
            )
            conn = Connection(parent.detach())
        # The settings as plain values, the password read now: a restarted child reads a
        # rotated password file again.
        conn.send(("link", Link.of(self.cfg)))
        self._conn = conn
        self._reader = threading.Thread(
            target=self._read, args=(conn, self._epoch), name="mqtt-receiver", daemon=True
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
            elif kind == "log":
                level, event, fields = body
                getattr(child_log, level)(event, **fields)
        conn.close()  # only here: this thread owns the parent's end of its child's pipe
        self._health = {**self._health, "connected": False, "subscribed": False}
        self._subscribed.clear()
        if self._stopping or epoch != self._epoch:
            return
        log.error("mqtt receiver process ended; starting another", exitcode=self._reap())
        time.sleep(RESTART_AFTER_S)
        if not self._stopping:
            self.restarts += 1
            self._spawn()

    def _reap(self) -> int | None:
        """Wait for the child to end (killed if it closed its pipe but lingers): its exit code."""
        process = self._process
        if process is None:
            return None
        try:
            return process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:  # it ignores SIGTERM (see receiver_child.main)
            process.kill()
            return process.wait(timeout=STOP_WAIT_S)

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
        self._reap()
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

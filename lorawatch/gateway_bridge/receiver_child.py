"""The MQTT receiver child's program: an :class:`MqttSource` that forwards to its parent.

:class:`~lorawatch.gateway_bridge.receiver.ProcessSource` starts it as a plain interpreter
(:data:`BOOT`), with one end of a socket pair as its connection; the parent sends the
:class:`~lorawatch.gateway_bridge.mqtt.Link`, then acks. The child imports paho, the standard
library and :mod:`lorawatch.gateway_bridge.mqtt`, nothing else: as a multiprocessing child it
held 48 MB (structlog and rich, pydantic for the settings, the package metadata) and made
multiprocessing start its resource tracker, 12 MB more (bench/memory.py --drain). Its log
events travel to the parent, which logs them with its own configuration.
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

from lorawatch.gateway_bridge.mqtt import Link, MqttSource, Row

BOOT = (
    "import sys; sys.path[:] = sys.argv[2:]; "
    "from lorawatch.gateway_bridge.receiver_child import main; main(int(sys.argv[1]))"
)
"""``python -c BOOT FD *sys.path``: the parent's import path, so the child runs the very
lorawatch its parent runs (a source tree, a virtual environment)."""

HEALTH_EVERY_S = 0.5
FORWARD_AFTER_S = 0.002
"""How long the child lets a burst gather before passing it on (latency is 100s of ms)."""
WINDOW_WAIT_S = 5.0
"""How long paho's thread waits for acks once Receive Maximum messages are unacked."""
GC_THRESHOLDS = (50_000, 20, 100)
"""As the service's (lorawatch.app.service.tune_gc)."""

LogEvent = tuple[str, str, dict[str, Any]]
"""(level, event, fields) of a log line the parent writes."""


class ParentLog:
    """The child's log: events queued for the main loop to send (paho's thread, which logs,
    must not wait on the pipe)."""

    def __init__(self, wake: threading.Event) -> None:
        self.events: deque[LogEvent] = deque()
        self._wake = wake

    def _add(self, level: str, event: str, fields: dict[str, Any]) -> None:
        self.events.append((level, event, fields))
        self._wake.set()

    def info(self, event: str, **fields: Any) -> None:
        self._add("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._add("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._add("error", event, fields)


def main(fd: int) -> None:
    """Run on the connection inherited as ``fd`` until the parent closes it or says stop."""
    # Signals are the parent's business: the child ends when the parent closes the pipe, so
    # an interrupted service still acks the batch it was writing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        kind, link = conn.recv()
    except (EOFError, OSError):
        return
    if kind == "link" and isinstance(link, Link):
        receive(link, conn)


def receive(cfg: Link, conn: Connection) -> None:
    """Forward what the MqttSource receives, ack what the parent stored."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    received: deque[Row] = deque()
    arrived = threading.Event()
    idle = [False]
    log = ParentLog(arrived)
    # Flow control: the broker is asked for at most Receive Maximum unacknowledged messages,
    # but Mosquitto 2.0 sends a whole backlog once the first acks came back, and it would
    # pile up in these processes. Past the window, paho's thread waits for acks here (the
    # socket unread: TCP holds the broker back), a bounded wait so that a parent that never
    # acks costs one more message per wait, not a stalled connection.
    window = threading.Condition()
    unacked = [0]
    generation = [-1]
    limit = max(cfg.receive_maximum, 1)
    done = threading.Event()

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

    source = MqttSource(cfg, sink=sink, log=log)

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
            while log.events:
                conn.send(("log", log.events.popleft()))
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

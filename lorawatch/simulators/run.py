"""Driving a simulation: live onto an MQTT broker in accelerated time, or a backfill of months
straight through the pipeline.

Live mode is what a demo or a soak test needs: ChirpStack-shaped events on the broker, at QoS
1, ``speed`` simulated seconds per real second, stopping as soon as asked. Backfill is what a
dashboard needs to have a history to show: a whole simulated year pushed through the same
bridge and pipeline in-process (no broker in between), in batches the stores like. On a
machine with a core to spare, the simulation runs in a child process one day ahead of the
pipeline, so a backfill goes at the pipeline's pace rather than at the sum of both costs.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lorawatch.core.errors import LorawatchError
from lorawatch.gateway_bridge.source import Message
from lorawatch.simulators.simulation import Simulation, SimUplink

log = structlog.get_logger(__name__)

BACKFILL_BATCH: Final = 5000
"""Messages per pipeline batch in a backfill: fewer, larger store transactions than live."""
PRODUCER_WINDOW: Final = timedelta(days=1)
"""A producer child simulates this much at a time; two windows wait in its queue at most."""
CHUNK: Final = timedelta(minutes=15)
"""Live mode simulates ahead by at most this much simulated time."""
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``"365d"``, ``"12h"``, ``"90m"``, ``"2w"``, ``"30s"`` -> a timedelta."""
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if unit not in _UNITS or number <= 0:
        raise ValueError(f"{text!r} is not a duration like 365d, 12h, 90m, 2w or 30s")
    return timedelta(seconds=number * _UNITS[unit])


def _client(broker_url: str) -> tuple[mqtt.Client, str, int]:
    url = urlsplit(broker_url)
    if url.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise LorawatchError(f"broker URL {broker_url!r} must start with mqtt:// or mqtts://")
    tls = url.scheme in ("mqtts", "ssl")
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"lorawatch-simulator-{time.monotonic_ns() % 10**9}",
        protocol=mqtt.MQTTv311,
    )
    if url.username:
        client.username_pw_set(unquote(url.username), unquote(url.password or "") or None)
    if tls:
        client.tls_set()
    client.max_inflight_messages_set(200)
    return client, url.hostname or "127.0.0.1", url.port or (8883 if tls else 1883)


def live(
    sim: Simulation,
    broker_url: str,
    speed: float,
    stop: threading.Event,
    start: datetime | None = None,
    on_publish: Callable[[SimUplink], object] | None = None,
) -> int:
    """Publish the simulation at QoS 1 until ``stop`` is set; returns the count published.

    Simulated time runs from ``start`` (default: now) at ``speed`` simulated seconds per real
    second; each uplink is published when its simulated time comes. If publishing falls
    behind (a high speed on a large scenario) it goes as fast as it can and catches up.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    origin = start or datetime.now(UTC).replace(microsecond=0)
    client, host, port = _client(broker_url)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise LorawatchError(f"cannot connect to the broker {broker_url}: {exc}") from None
    client.loop_start()
    began = time.monotonic()
    published = 0

    def wait_until(simulated: datetime) -> bool:
        """Sleep until ``simulated`` time is due; True when asked to stop meanwhile."""
        due = began + (simulated - origin).total_seconds() / speed
        return (
            stop.wait(max(0.0, due - time.monotonic())) if due > time.monotonic() else stop.is_set()
        )

    log.info("simulator publishing", broker=broker_url, speed=speed, devices=len(sim.devices))
    try:
        cursor = origin
        while not stop.is_set():
            for uplink in sim.uplinks(cursor, cursor + CHUNK):
                if wait_until(uplink.time):
                    return published
                client.publish(uplink.topic, uplink.payload, qos=1)
                published += 1
                if on_publish is not None:
                    on_publish(uplink)
            cursor += CHUNK
            if wait_until(cursor):
                break
    finally:
        client.loop_stop()
        client.disconnect()
        log.info("simulator stopped", published=published)
    return published


def backfill(
    sim: Simulation,
    start: datetime,
    end: datetime,
    sink: Callable[[list[Message]], object],
    batch: int = BACKFILL_BATCH,
    progress: bool = True,
    workers: int | None = None,
    dev_euis: Collection[str] | None = None,
) -> int:
    """Feed every uplink of [start, end) to ``sink`` (e.g. ``bridge.process``) in batches of
    ``batch`` messages, each received at its event time; returns the count of messages.

    ``workers`` child processes simulate days in turn while this one runs ``sink`` (``None``:
    one when :func:`spare_core` and the span is over a day; 0: none). On a machine whose
    cores are busy with other work, a child only adds its start-up and the hand-over.
    The messages and their order are the same either way. ``dev_euis`` restricts it to those
    devices (simulated in this process).
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if dev_euis is not None:
        workers = 0
    elif workers is None:
        workers = 1 if spare_core() and end - start > PRODUCER_WINDOW else 0
    total_s = max(1.0, (end - start).total_seconds())
    count = 0
    pending: list[Message] = []
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f} %"),
        TextColumn("{task.fields[at]}"),
        TextColumn("messages {task.fields[messages]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    messages = (
        _produced(sim, start, end, workers)
        if workers > 0
        else (u.message() for u in sim.uplinks(start, end, dev_euis))
    )
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("backfill", total=round(total_s), at=f"{start:%Y-%m-%d}", messages=0)
        for message in messages:
            pending.append(message)
            if len(pending) >= batch:
                sink(pending)
                count += len(pending)
                pending = []
                done = (message.received - start).total_seconds()
                bar.update(
                    task,
                    completed=round(done),
                    at=f"{message.received:%Y-%m-%d %H:%M}",
                    messages=count,
                )
        if pending:
            sink(pending)
            count += len(pending)
        bar.update(task, completed=round(total_s), at=f"{end:%Y-%m-%d %H:%M}", messages=count)
    return count


def spare_core() -> bool:
    """Two cores or more, and the last minute's load leaves one free for a producer."""
    cores = os.cpu_count() or 1
    return cores > 1 and os.getloadavg()[0] <= cores - 1


def _produced(sim: Simulation, start: datetime, end: datetime, workers: int) -> Iterator[Message]:
    """The messages of [start, end) in order, simulated by ``workers`` child processes: window
    k (a day) by child k % workers, each queue read in turn."""
    ctx = multiprocessing.get_context("spawn")
    queues = [ctx.Queue(maxsize=2) for _ in range(workers)]
    children = [
        ctx.Process(
            target=_produce,
            args=(sim, start, end, i, workers, queues[i]),
            name=f"lorawatch-backfill-{i}",
            daemon=True,
        )
        for i in range(workers)
    ]
    for child in children:
        child.start()
    try:
        k = 0
        while True:
            child, q = children[k % workers], queues[k % workers]
            try:
                window = q.get(timeout=1.0)
            except queue.Empty:
                if not child.is_alive():
                    raise LorawatchError(
                        f"backfill: simulator process ended (exit code {child.exitcode})"
                    ) from None
                continue
            if window is None:
                return
            for topic, payload, ms in window:
                yield Message(topic, payload, _UNIX0 + timedelta(milliseconds=ms))
            k += 1
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
            child.join(timeout=5)
        for q in queues:
            q.close()
            q.cancel_join_thread()


_UNIX0: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _produce(
    sim: Simulation, start: datetime, end: datetime, first: int, every: int, out: Any
) -> None:
    """A producer child: windows ``first``, ``first + every``... of [start, end), then None."""
    k = first
    while (a := start + k * PRODUCER_WINDOW) < end:
        b = min(end, a + PRODUCER_WINDOW)
        out.put(
            [
                (u.topic, u.payload, (u.time - _UNIX0) // timedelta(milliseconds=1))
                for u in sim.uplinks(a, b)
            ]
        )
        k += every
    out.put(None)

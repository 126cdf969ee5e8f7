"""The bridge loop: take a batch of messages, turn it into records, make it durable, ack it.

Acknowledgement is the last step and happens in arrival order, only after every output
store returned (durable, or spooled). If a store fails, the same batch is retried with backoff
and nothing is acked meanwhile: the broker keeps the messages, so a crash at any point means
redelivery, which idempotent writes and de-duplication absorb (Telegraf's "ack only after the
output wrote"). Bad messages never stop the loop: they become dead letters, acked like the rest.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

import structlog
from prometheus_client import Counter

from lorawatch.core.errors import PartitionLost, RejectedMessage, StoreError
from lorawatch.core.logs import OncePer
from lorawatch.core.metrics import Metrics
from lorawatch.core.timeutil import from_us
from lorawatch.gateway_bridge.dedup import Deduplicator, Persisted
from lorawatch.gateway_bridge.events import Format, TopicMatcher, UplinkEvent, parse
from lorawatch.gateway_bridge.source import Message, MessageSource
from lorawatch.pipeline.ingest import Ingestor
from lorawatch.pipeline.partitions import Handover, PartitionState
from lorawatch.pipeline.records import Batch, DeadLetter
from lorawatch.pipeline.store import Store

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Prepared:
    """A batch of messages turned into records, waiting to be written and acked."""

    messages: list[Message]
    batch: Batch
    keys: list[int]
    commands: list[int]


@runtime_checkable
class Requeuing(Protocol):
    """A source that can hand messages back to the broker (AMQP's reject with requeue)."""

    def requeue(self, messages: list[Message]) -> None: ...


def window(batch_size: int, stages: int) -> int:
    """Messages the bridge holds unacknowledged when its pipeline is full: a batch being
    prepared, one in each writing stage (:meth:`Bridge.run`), and the next one already on its
    way. Acks follow the last stage, and the messages they let the broker send take a round
    trip (broker, receiver, pipe) to arrive: without that one batch ahead, the bridge waited
    for them 0.7-1.1 s of a 7 s drain and prepared part-filled batches. With it (4,000 instead
    of 3,000 with InfluxDB and the state file) the ingest bench drained 1.2-2.6 % faster in
    each of five runs, for 1-3 MB more; a smaller window leaves a stage idle (2,000 drained
    ~8 % slower), a larger one was no faster (65,535: MQTT's largest)."""
    return min((stages + 2) * batch_size, 65_535)


RECORDED_EVENTS = frozenset({"status", "join", "log", "ack", "txack", "location", "integration"})


class Bridge:
    def __init__(
        self,
        source: MessageSource,
        ingestor: Ingestor,
        stores: list[Store],
        metrics: Metrics,
        *,
        topic_template: str = "application/{application_id}/device/{dev_eui}/event/{event}",
        fmt: Format = "auto",
        max_message_bytes: int = 65536,
        dedup_window_s: float = 86400.0,
        max_clock_ahead_s: float = 0.0,
        batch_size: int = 1000,
        batch_interval_s: float = 0.25,
        on_stored: Callable[[Batch], None] | None = None,
        persisted: Persisted | None = None,
        partitions: PartitionState | None = None,
        on_takeover: Callable[[set[str]], object] | None = None,
    ) -> None:
        """``on_stored`` is called with each batch once it is durable and acked; it must be
        quick, and an exception it raises is logged, never propagated (the service's alert
        rules run inside the SQLite transaction instead: ``SqliteStore.hooks``).
        ``persisted`` answers which uplink identities are already stored (across restarts).
        ``max_clock_ahead_s`` (0: off) is how far ahead of its arrival an event's own time
        may be before it is read at its arrival time instead. ``partitions`` (a shared state)
        is asked to own the partitions of each batch before it is prepared; the state of those
        it takes over is loaded over this worker's memory (docs/scaling.md), and
        ``on_takeover`` is told their devices (the alert rules reload theirs)."""
        self.source = source
        self.ingestor = ingestor
        self.stores = stores
        self.metrics = metrics
        self.topics = TopicMatcher(topic_template)
        self.fmt = fmt
        self.max_message_bytes = max_message_bytes
        self.dedup = Deduplicator(dedup_window_s, horizon_s=dedup_window_s, persisted=persisted)
        self.max_ahead = timedelta(seconds=max_clock_ahead_s) if max_clock_ahead_s > 0 else None
        self.batch_size = batch_size
        self.batch_interval_s = batch_interval_s
        self.on_stored = on_stored
        self._once = OncePer(300.0)
        self.batches = 0
        self.acked = 0
        """Messages acknowledged since start (stored or dead-lettered, or duplicates)."""
        self.unknown_events = 0
        self._event_counters: dict[str, Counter] = {}
        self.partitions = partitions
        self.on_takeover = on_takeover
        self._devices_of: dict[str, set[str]] = {}
        """Partition -> the devices whose uplinks came from it (to forget them on a takeover)."""
        self._lost = False
        self._stop: threading.Event | None = None
        self.takeovers = 0
        self.lost_batches = 0
        self._kinds: dict[str, int] = {}
        self._decoded = 0

    def _event_counter(self, kind: str) -> Counter:
        counter = self._event_counters.get(kind)
        if counter is None:
            counter = self._event_counters[kind] = self.metrics.events.labels(kind)
        return counter

    def run(self, stop: threading.Event) -> None:
        """Process batches until ``stop`` is set; the batches in hand are finished first.

        Writing is pipelined, one thread per store in the stores' order (SQLite and sockets
        release the GIL): while batch N is committed to the state file, N+1 is written to
        InfluxDB and N+2 is parsed and decoded. A store writes a batch only once the stores
        before it wrote it (the state file, which remembers what was stored, comes last), and
        batches are acknowledged in arrival order once the last store has them. With a
        shared state (partitions) one thread writes every store: a batch prepared on the
        memory of a batch lost to another worker must never reach a store.
        """
        self._stop = stop
        stages = [[s] for s in self.stores] if self.partitions is None else [self.stores]
        stages = stages or [[]]  # no store (a dry run): batches are still acked in order
        inflight: deque[tuple[Future[bool], Prepared]] = deque()
        with contextlib.ExitStack() as stack:
            writers = [
                stack.enter_context(
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"store-writer-{i}")
                )
                for i in range(len(stages))
            ]
            while True:
                stopping = stop.is_set()
                wait = 0.005 if inflight else self.batch_interval_s
                messages = [] if stopping else self.source.get_batch(self.batch_size, wait)
                prepared = self.prepare(messages) if messages else None
                for message in messages:
                    # The source's messages are the loop's own: what the ack needs stays (its
                    # ids), the payload, now in records and dead letters, is let go, so the
                    # batches in flight hold no second copy of it.
                    message.payload = b""
                while inflight and (
                    prepared is None or len(inflight) >= len(stages) or inflight[0][0].done()
                ):
                    future, done = inflight.popleft()
                    if self._finish(done, future.result()) and prepared is not None:
                        # Prepared on the memory of the lost batch: not to be written either.
                        self._give_back(prepared)
                        prepared = None
                if prepared is not None:
                    last: Future[bool] | None = None
                    for writer, stores in zip(writers, stages, strict=True):
                        last = writer.submit(self._commit_after, last, stores, prepared, stop)
                    assert last is not None
                    inflight.append((last, prepared))
                elif stopping and not inflight:
                    return

    def _commit_after(
        self,
        before: Future[bool] | None,
        stores: list[Store],
        prepared: Prepared,
        stop: threading.Event,
    ) -> bool:
        """A stage of the writing pipeline: write once the stages before have."""
        if before is not None and not before.result():
            return False
        return self._commit(prepared.batch, stop, stores)

    def process(self, messages: list[Message], stop: threading.Event | None = None) -> Batch:
        """Turn messages into records, make them durable, then ack them (synchronously)."""
        prepared = self.prepare(messages)
        self._finish(prepared, self._commit(prepared.batch, stop))
        return prepared.batch

    def prepare(self, messages: list[Message]) -> Prepared:
        self.metrics.received.inc(len(messages))
        self.metrics.acks_pending.inc(len(messages))
        prepared = Prepared(messages, Batch(), [], [])
        if self.partitions is not None:
            prepared.batch.partitions = {m.partition for m in messages}
            self._acquire(prepared.batch.partitions)
        prepared.commands = self.ingestor.poll_commands(prepared.batch)
        prepared.batch.commands_applied = prepared.commands
        for message in messages:
            self._handle(message, prepared.batch, prepared.keys)
        batch = prepared.batch
        batch.meter_state, batch.meter_window, batch.meter_window_drop = (
            self.ingestor.meters.take_state()
        )
        self._count_events()
        return prepared

    def _count_events(self) -> None:
        """Add the batch's events and decoded uplinks to their counters, once per batch (a
        Prometheus increment takes a lock: per message, a few percent of the pipeline)."""
        for kind, n in self._kinds.items():
            self._event_counter(kind).inc(n)
        self._kinds.clear()
        if self._decoded:
            self.metrics.uplinks.inc(self._decoded)
            self._decoded = 0

    def _acquire(self, partitions: set[str]) -> None:
        """Own the batch's partitions; load the state of those taken over (retrying while the
        shared state is unreachable: nothing is prepared on a memory that may be stale)."""
        assert self.partitions is not None
        delay = 0.1
        while True:
            try:
                handover = self.partitions.acquire(partitions)
                break
            except StoreError as exc:
                log.error("cannot acquire the batch's partitions, retrying", error=str(exc))
                if self._stop is not None and self._stop.wait(delay):
                    raise
                if self._stop is None:
                    time.sleep(delay)
                delay = min(delay * 2, 10.0)
        if handover is not None:
            self._take_over(handover)

    def _take_over(self, handover: Handover) -> None:
        """Continue the partitions from their stored state, not from this worker's memory."""
        self.takeovers += 1
        forget: set[str] = set()
        for partition in handover.partitions:
            forget |= self._devices_of.pop(partition, set())
        self.dedup.reload(forget, handover.last_f_cnt)
        try:
            self.ingestor.meters.load_states(handover.meter_states, handover.windows)
        except ValueError as exc:
            log.error("a stored meter state is unreadable", error=str(exc))
        if self.on_takeover is not None:
            try:
                self.on_takeover(forget | set(handover.last_f_cnt))
            except Exception:
                log.exception("the alert rules could not reload the devices taken over")

    def _give_back(self, prepared: Prepared) -> None:
        """A batch that must not be written: forget it, hand its messages back to the broker."""
        self.dedup.abandon(prepared.keys)
        if self.partitions is not None:
            self.partitions.release(sorted(prepared.batch.partitions))
        self.lost_batches += 1
        if isinstance(self.source, Requeuing):
            self.source.requeue(prepared.messages)

    def _finish(self, prepared: Prepared, stored: bool) -> bool:
        """After the write: remember the keys and ack, or forget them (redelivery will come).
        True when the batch was lost to another worker (see :meth:`_give_back`)."""
        if not stored:
            lost, self._lost = self._lost, False
            if lost:
                self._give_back(prepared)
            else:
                self.dedup.abandon(prepared.keys)
            return lost
        self.dedup.commit(prepared.keys)
        self.ingestor.commands_applied(prepared.commands)
        self.source.ack(prepared.messages)
        self.acked += len(prepared.messages)
        self.metrics.acks_pending.dec(len(prepared.messages))
        self.metrics.readings.inc(len(prepared.batch.readings))
        if prepared.batch.uplinks:
            self.metrics.uplink_stored()
        self.batches += 1
        if self.on_stored is not None and len(prepared.batch):
            try:
                self.on_stored(prepared.batch)
            except Exception:
                log.exception("on_stored hook failed; ingestion goes on")
        return False

    def records(self, message: Message) -> Batch:
        """The records one message would produce, without storing or acking (for replays)."""
        batch = Batch()
        self._handle(message, batch, None)
        batch.meter_state, batch.meter_window, batch.meter_window_drop = (
            self.ingestor.meters.take_state()
        )
        self._count_events()
        return batch

    def _handle(self, message: Message, batch: Batch, committed: list[int] | None) -> None:
        """Add the message's records to the batch; ``committed`` None for a replay, which
        passes the identity gate (its uplink may be stored while its readings were not) but
        keeps the stored copy's time, so that it lands on the same keys."""
        try:
            if len(message.payload) > self.max_message_bytes:
                raise RejectedMessage(
                    "oversized",
                    f"{len(message.payload)} bytes > bridge.max_message_bytes={self.max_message_bytes}",
                )
            topic = self.topics.match(message.topic)
            if topic.event not in RECORDED_EVENTS and topic.event != "up":
                self.unknown_events += 1
                self._event_counter("unknown").inc()
                raise RejectedMessage(
                    "unknown_event",
                    f"event type {topic.event!r} is not one ChirpStack sends (up, "
                    f"{', '.join(sorted(RECORDED_EVENTS))}): check bridge.event_topic",
                    topic.dev_eui,
                )
            event = parse(topic, message.payload, self.fmt, message.received)
        except RejectedMessage as exc:
            self._dead_letter(message, exc, batch)
            return
        kinds = self._kinds
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
        dated = event.time
        skewed = self.max_ahead is not None and dated - message.received > self.max_ahead
        if skewed:
            event.time = message.received  # before de-duplication: its copies alike
        if not isinstance(event, UplinkEvent):
            # A re-published status (new id, later time) must not add its battery reading
            # again: the event's identity is its content, stored under a unique key.
            event_uid = self.dedup.claim_event(event)
            if event_uid is None:
                self.metrics.duplicates.inc()
                return
            if committed is None:
                self.dedup.abandon([event_uid])  # a replay claims nothing
            else:
                committed.append(event_uid)
            if skewed:
                self.ingestor.clock_ahead(event, dated, batch)
            self.ingestor.event(event, batch, event_uid)
            return
        if committed is None:
            uid, known = self.dedup.resolve(event, message)
            if known is not None:
                event.time = from_us(known)
        else:
            claimed = self.dedup.claim(event, message)
            if claimed is None:
                self.metrics.duplicates.inc()
                return
            uid = claimed
            committed.append(uid)
        if message.partition or batch.partitions:
            batch.partition_of[event.dev_eui] = message.partition
            devices = self._devices_of.get(message.partition)
            if devices is None:
                devices = self._devices_of[message.partition] = set()
            devices.add(event.dev_eui)
        before = len(batch.dead_letters)
        if skewed:
            self.ingestor.clock_ahead(event, dated, batch)
        if self.ingestor.uplink(message, event, batch, uid, meters=not skewed):
            self._decoded += 1
        for letter in batch.dead_letters[before:]:
            self._count(letter, message)

    def _dead_letter(self, message: Message, exc: RejectedMessage, batch: Batch) -> None:
        letter = DeadLetter(
            message.received, message.topic, message.payload, exc.reason, exc.detail, exc.dev_eui
        )
        batch.dead_letters.append(letter)
        self._count(letter, message)

    def _count(self, letter: DeadLetter, message: Message) -> None:
        self.metrics.dead_letters.labels(letter.reason).inc()
        who = letter.dev_eui or message.topic.rsplit("/", 1)[0]
        if self._once(f"{who}/{letter.reason}", time.monotonic()):
            log.warning(
                "message dead-lettered",
                reason=letter.reason,
                detail=letter.detail,
                dev_eui=letter.dev_eui,
                topic=message.topic[:200],
            )

    def _commit(
        self, batch: Batch, stop: threading.Event | None, stores: list[Store] | None = None
    ) -> bool:
        """Write the batch to every store (or ``stores``), retrying with backoff; False if
        stopped first."""
        delay = 0.1
        pending = list(self.stores if stores is None else stores)
        while pending:
            store = pending[0]
            started = time.perf_counter()
            try:
                store.write(batch)
            except PartitionLost as exc:
                # Another worker owns some of the batch's partitions now (this worker's broker
                # connection ended): it continues from the stored state; this batch is dropped.
                log.warning("partitions taken over, batch given back", partitions=exc.partitions)
                self._lost = True
                return False
            except StoreError as exc:
                self.metrics.store_errors.labels(store.name).inc()
                log.error(
                    "store write failed, retrying the batch", store=store.name, error=str(exc)
                )
                if stop is not None and stop.wait(delay * random.uniform(0.8, 1.2)):  # noqa: S311
                    return False
                if stop is None:
                    time.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.metrics.store_latency.labels(store.name).observe(time.perf_counter() - started)
            pending.pop(0)
        return True

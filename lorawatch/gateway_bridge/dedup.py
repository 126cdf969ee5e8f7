"""The identity of an uplink, and the de-duplication of uplinks by it.

ChirpStack forwards a retransmission (same fCnt) with a *new* deduplicationId and a later time
when ``skip_fcnt_check`` is on, a second network-server path or a re-publish does the same,
and MQTT redelivers a message whose ack was lost: all must count once (ChirpStack v4 emits a
retransmission only as a ``log`` event ``UPLINK_F_CNT_RETRANSMISSION`` unless
``skip_fcnt_check`` is on; see its ``src/uplink/data.rs``). So an uplink's identity is a 64-bit hash of what the
device sent: devEui, fCnt, fPort and payload (deduplicationId only when there is no fCnt, the
raw message when there is neither). The stores keep it under a unique key, so a copy that gets
past this module is still stored once; this module keeps copies from reaching the meters.

Frame counters restart (a rejoin, an ABP reset, a 16-bit rollover), so the same fCnt and
payload may come back as a genuinely new frame. A stored identity whose event time is more
than ``horizon_s`` away from the new copy's is such a frame: it takes the next *generation*
of the identity (the hash with a counter appended), and so on, so a retransmission of the
newer frame still finds its own identity.

The in-memory set is the fast path, never the authority: it holds identities for
``window_s`` of *wall-clock* time after their batch was stored (event times cannot flush it:
an uplink dated ten years ahead is just one more entry) and at most ``capacity`` of them,
whatever the backlog. It is kept compact (:class:`_Seen`): half a million identities as
Python ints and tuples in a dict were ~125 MB, the largest part of the service's memory after
a long drain; as sorted arrays of 64-bit integers they are 8 MB. The default capacity,
:data:`CAPACITY`, holds 2 MB of them: the copies the set answers for come within minutes
(an MQTT redelivery, a second network-server path), and an older one costs a look-up in
the store, not a double count. Behind it, :class:`Persisted` answers from the store. An uplink whose
fCnt is above the highest its device sent is new without asking anyone, which is nearly
every uplink: only retransmissions, late frames and a restarted counter (until it passes its
old height again) cost a look-up.
"""

from __future__ import annotations

import hashlib
import time
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from lorawatch.gateway_bridge.events import Event, UplinkEvent
from lorawatch.gateway_bridge.source import Message

CAPACITY = 131_072
"""Identities the in-memory set holds at most (16 bytes each): at a drain's 10,000 uplinks/s,
the last 13 seconds; at a town's 50 uplinks/s, the last 40 minutes."""

MAX_GENERATIONS = 8
"""Counter restarts with the very same payload told apart; past this, the last one is reused."""

_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def identity(event: UplinkEvent, message: Message | None = None, generation: int = 0) -> int:
    """The uplink's identity as a signed 64-bit integer (an SQLite INTEGER)."""
    if event.f_cnt is None and not event.dedup_id and message is not None:
        return _hash(b"raw:" + message.topic.encode() + b"\0" + message.payload, generation)
    return frame_identity(
        event.dev_eui, event.f_cnt, event.f_port, event.payload, event.dedup_id, generation
    )


def frame_identity(
    dev_eui: str,
    f_cnt: int | None,
    f_port: int,
    payload: bytes,
    dedup_id: str = "",
    generation: int = 0,
) -> int:
    """:func:`identity` from a stored frame's columns (no fCnt: ``None`` or -1)."""
    if f_cnt is not None and f_cnt >= 0:
        data = f"{dev_eui}/{f_cnt}/{f_port}/".encode() + payload
    else:
        data = f"{dev_eui}/id:{dedup_id}/{f_port}/".encode() + payload
    return _hash(data, generation)


def _hash(data: bytes, generation: int) -> int:
    if generation:
        data += b"#%d" % generation
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def letter_key(topic: str, payload: bytes) -> int:
    """The identity of a dead letter: its topic and bytes (a redelivery is the same letter)."""
    return _hash(topic.encode() + b"\0" + payload, 0)


_VOLATILE = frozenset({"time", "deduplicationId", "deduplication_id"})
"""Top-level fields a re-publish of the same event may change (its copy's time and id)."""


def _content(value: Any) -> Any:
    """``value`` without default values (v4.0 and protobuf omit them, v4.1+ JSON writes them)."""
    if isinstance(value, dict):
        kept = {str(k): _content(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, False, 0, "", [], {})}
    if isinstance(value, list):
        return [_content(v) for v in value]
    return value


def event_identity(event: Event, bucket: int) -> int:
    """The identity of a non-uplink event (status, join, txack, log...) as a signed 64-bit
    integer: devEui, kind and what the event says (its body but its time and
    deduplicationId, which a re-publish changes), in the ``bucket``-th window of time.

    Two events of one device saying the same thing within the de-duplication horizon are
    one event (:meth:`Deduplicator.claim_event` looks in the neighbouring windows too); the
    window in the identity tells apart the same content said again later (a status with the
    same battery and margin days afterwards), however often it recurs.
    """
    body = {k: v for k, v in event.body.items() if k not in _VOLATILE}
    data = orjson.dumps(_content(body), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return _hash(f"{event.dev_eui}/{event.kind}/{bucket}/".encode() + data, 0)


def event_us(event: Event) -> int:
    """The event time in µs since the epoch, exactly (the stores' key)."""
    d = event.time - _EPOCH
    return (d.days * 86_400 + d.seconds) * _US + d.microseconds


class Persisted(Protocol):
    """The identities already stored (the SQLite store)."""

    def uplink_time(self, dev_eui: str, f_cnt: int, uid: int) -> int | None:
        """Event time (µs since the epoch) of the stored uplink with this identity, or None.
        ``dev_eui`` and ``f_cnt`` (-1: none) are the frame's, which its identity was made of:
        a store may key its identities under them, so that each batch appends to them."""

    def last_f_cnt(self, dev_eui: str) -> int | None:
        """The frame counter of the device's latest stored uplink, or None."""

    def event_time(self, uid: int) -> int | None:
        """Event time (µs) of the stored non-uplink event with this identity, or None."""


class Deduplicator:
    def __init__(
        self,
        window_s: float = 86400.0,
        capacity: int = CAPACITY,
        *,
        horizon_s: float = 86400.0,
        persisted: Persisted | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self.horizon_us = int(horizon_s * _US)
        self.persisted = persisted
        self.clock = clock
        self._seen = _Seen(capacity)
        self._pending: dict[int, int] = {}
        self._high: dict[str, int] = {}
        """Per device, the highest fCnt claimed (or stored, after a restart)."""
        self.lookups = 0

    def claim(self, event: UplinkEvent, message: Message | None = None) -> int | None:
        """None when the uplink is a copy of one seen (stored, or earlier in this batch); else
        its identity, pending until :meth:`commit` or :meth:`abandon`."""
        t = event_us(event)
        f_cnt = event.f_cnt
        if f_cnt is not None:
            high = self._high.get(event.dev_eui)
            if high is None and self.persisted is not None:
                self.lookups += 1
                high = self.persisted.last_f_cnt(event.dev_eui)
                self._high[event.dev_eui] = -1 if high is None else high
            if high is None or f_cnt > high:
                # Above every frame of the device: new, whoever is asked.
                uid = identity(event, message)
                self._high[event.dev_eui] = f_cnt
                self._pending[uid] = t
                return uid
        uid, known = self.resolve(event, message, t)
        if known is not None:
            return None
        self._pending[uid] = t
        return uid

    def resolve(
        self, event: UplinkEvent, message: Message | None = None, t: int | None = None
    ) -> tuple[int, int | None]:
        """The uplink's identity, and the event time (µs) of the copy already seen with it,
        or None when it is new (then the identity is the first free generation)."""
        if t is None:
            t = event_us(event)
        frame = (event.dev_eui, -1 if event.f_cnt is None else event.f_cnt)
        for generation in range(MAX_GENERATIONS):
            uid = identity(event, message, generation)
            known = self._known(uid, frame)
            if known is None:
                return uid, None
            if abs(t - known) <= self.horizon_us:
                return uid, known
        return uid, None

    def claim_event(self, event: Event) -> int | None:
        """:meth:`claim` for a non-uplink event: None when a copy of it (same device, kind and
        content) is stored or pending within the horizon; else its identity, pending."""
        t = event_us(event)
        width = max(self.horizon_us, 1)
        bucket = t // width
        for b in (bucket, bucket - 1, bucket + 1):
            known = self._known(event_identity(event, b))
            if known is not None and abs(t - known) <= self.horizon_us:
                return None
        uid = event_identity(event, bucket)
        self._pending[uid] = t
        return uid

    def _known(self, uid: int, frame: tuple[str, int] | None = None) -> int | None:
        """Event time of the identity if pending, seen or stored; ``frame`` (devEui, fCnt) for
        an uplink's, None for another event's."""
        found = self._pending.get(uid)
        if found is not None:
            return found
        seen = self._seen.get(uid)
        if seen is not None:
            return seen
        if self.persisted is None:
            return None
        self.lookups += 1
        if frame is None:
            return self.persisted.event_time(uid)
        return self.persisted.uplink_time(*frame, uid)

    def commit(self, uids: list[int]) -> None:
        """Remember the identities of a durable batch; forget those past the window."""
        now = self.clock()
        self._seen.expire(now)
        pending = self._pending
        stored = [(uid, t) for uid in uids if (t := pending.pop(uid, None)) is not None]
        self._seen.add(stored, now + self.window_s)

    def abandon(self, uids: list[int]) -> None:
        """The batch was not stored: its identities were never seen."""
        pending = self._pending
        for uid in uids:
            pending.pop(uid, None)

    def reload(self, forget: set[str], last_f_cnt: dict[str, int]) -> None:
        """Another worker handled these devices meanwhile (a partition taken over): what this
        one knew of their frame counters is stale. ``last_f_cnt`` is what the store holds."""
        high = self._high
        for dev_eui in forget:
            high.pop(dev_eui, None)
        high.update(last_f_cnt)

    def __len__(self) -> int:
        return len(self._seen)


class _Seen:
    """Identity -> event time (µs) of the stored uplinks, for a window, in little memory.

    The newest identities are in a dict (``recent``); every ``segment`` of them, in commit
    order, the oldest are frozen into a pair of sorted ``array('q')`` (16 bytes an identity,
    against ~250 for a dict entry with its int objects and tuple), looked up by bisection.
    A segment is forgotten as a whole: once the newest of its identities is past the
    wall-clock window, or when the total would exceed ``capacity`` (the oldest first). An
    identity may so be kept up to a segment's filling time longer than the window, never
    less (the set is a cache in front of the store, so keeping longer changes no answer).
    """

    def __init__(self, capacity: int, segment: int = 16_384) -> None:
        self.capacity = capacity
        self.segment = max(1, min(segment, capacity // 8))
        self.recent: dict[int, int] = {}
        self.recent_expiry = 0.0
        self.frozen: deque[tuple[float, array[int], array[int]]] = deque()
        """(wall-clock expiry of the newest, sorted identities, their event times), oldest first."""
        self.frozen_len = 0

    def __len__(self) -> int:
        return len(self.recent) + self.frozen_len

    def get(self, uid: int) -> int | None:
        found = self.recent.get(uid)
        if found is not None:
            return found
        for _, uids, times in reversed(self.frozen):
            i = bisect_left(uids, uid)
            if i < len(uids) and uids[i] == uid:
                return times[i]
        return None

    def add(self, items: list[tuple[int, int]], expiry: float) -> None:
        if not items:
            return
        recent = self.recent
        recent.update(items)
        self.recent_expiry = expiry
        if len(recent) >= self.segment:
            ordered = list(recent.items())
            cut = len(ordered) - len(ordered) % self.segment
            for start in range(0, cut, self.segment):
                part = sorted(ordered[start : start + self.segment])
                uids = array("q", [uid for uid, _ in part])
                self.frozen.append((expiry, uids, array("q", [t for _, t in part])))
                self.frozen_len += len(uids)
            self.recent = dict(ordered[cut:])
        # ``recent`` is now below one segment, itself below the capacity.
        while self.frozen and len(self) > self.capacity:
            self._drop_oldest()

    def expire(self, now: float) -> None:
        while self.frozen and self.frozen[0][0] < now:
            self._drop_oldest()
        if self.recent and self.recent_expiry < now:
            self.recent = {}

    def _drop_oldest(self) -> None:
        self.frozen_len -= len(self.frozen.popleft()[1])

"""De-duplication of uplinks by deduplicationId and by (devEui, fCnt, fPort, payload).

ChirpStack forwards a retransmission (same fCnt) with a *new* deduplicationId when
``skip_fcnt_check`` is on, and MQTT redelivers a message whose ack was lost: both must count
once (shared/reference/chirpstack/README.md). Keys are remembered for ``window_s`` of event
time, bounded in number. A key is only remembered once its batch is durable (``commit``): a
message whose batch failed to store must not be dropped as a duplicate on redelivery.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from lorawatch.gateway_bridge.events import UplinkEvent


class Deduplicator:
    def __init__(self, window_s: float = 86400.0, capacity: int = 500_000) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._pending: set[str] = set()

    @staticmethod
    def keys(event: UplinkEvent) -> list[str]:
        """The identities of an uplink; an event with neither fCnt nor id has none (never a dup)."""
        keys = []
        if event.f_cnt is not None and event.payload:
            keys.append(f"k:{event.dedup_key}")
        if event.dedup_id:
            keys.append(f"i:{event.dedup_id}")
        return keys

    def claim(self, event: UplinkEvent) -> list[str] | None:
        """None when the uplink was seen (committed, or earlier in this batch); else its keys,
        now pending until :meth:`commit` or :meth:`abandon`."""
        keys = self.keys(event)
        seen, pending = self._seen, self._pending
        for k in keys:
            if k in seen or k in pending:
                return None
        pending.update(keys)
        return keys

    def commit(self, events: list[tuple[list[str], datetime]]) -> None:
        """Remember the keys of a durable batch; forget keys older than the window."""
        newest = 0.0
        seen, pending = self._seen, self._pending
        for keys, time in events:
            t = time.timestamp()
            if t > newest:
                newest = t
            for k in keys:
                pending.discard(k)
                if k in seen:
                    seen.move_to_end(k)
                seen[k] = t
        horizon = newest - self.window_s
        while seen and (len(seen) > self.capacity or next(iter(seen.values())) < horizon):
            seen.popitem(last=False)

    def abandon(self, events: list[tuple[list[str], datetime]]) -> None:
        """The batch was not stored: its keys were never seen."""
        for keys, _ in events:
            self._pending.difference_update(keys)

    def __len__(self) -> int:
        return len(self._seen)

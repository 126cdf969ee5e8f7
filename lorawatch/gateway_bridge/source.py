"""The message source protocol: where ChirpStack events come from, and how they are acked.

The bridge takes a batch, makes it durable, then acknowledges it, in arrival order. A source
that reconnected in between must not ack the old messages on the new connection (their
packet ids mean other messages there): it drops them, and the broker redelivers them, which
the idempotent stores absorb.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    received: datetime
    mid: int = 0
    qos: int = 0
    generation: int = 0
    retained: bool = False
    partition: str = ""
    """The broker queue it came from (AMQP partitions); "" for a source without any."""


def take_batch(
    arrived: threading.Condition, pending: deque[Message], max_messages: int, max_wait_s: float
) -> list[Message]:
    """``get_batch`` of a source whose receiving thread appends to ``pending`` under
    ``arrived`` and notifies it: up to ``max_messages``, waiting at most ``max_wait_s`` for the
    first and as long again for the batch to fill."""
    with arrived:
        if not pending and not arrived.wait_for(lambda: bool(pending), max_wait_s):
            return []
        deadline = time.monotonic() + max_wait_s
        while len(pending) < max_messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not arrived.wait(remaining):
                break
        return [pending.popleft() for _ in range(min(max_messages, len(pending)))]


class MessageSource(Protocol):
    def start(self) -> None:
        """Connect and subscribe; returns once the first connection attempt is under way."""

    def get_batch(self, max_messages: int, max_wait_s: float) -> list[Message]:
        """Up to ``max_messages``, waiting at most ``max_wait_s`` after the first arrives."""

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge, in the order given (arrival order)."""

    def stop(self) -> None: ...

    def health(self) -> dict[str, object]: ...


class NullSource:
    """A source with nothing to receive, for replays and backfills that feed the bridge directly."""

    def start(self) -> None:
        return None

    def get_batch(self, max_messages: int, max_wait_s: float) -> list[Message]:
        return []

    def ack(self, messages: list[Message]) -> None:
        return None

    def stop(self) -> None:
        return None

    def health(self) -> dict[str, object]:
        return {"connected": True, "kind": "in-process"}

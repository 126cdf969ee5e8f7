"""Partition ownership as the pipeline sees it: who may write a partition's state, from where.

With several workers on partitioned queues, the worker a partition moves to must continue
from the state its previous owner committed, not from what it itself remembered (it may have
owned the partition before, or never). A shared state (PostgreSQL) implements
:class:`PartitionState`; the bridge calls :meth:`~PartitionState.acquire` before preparing a
batch and loads the :class:`Handover` it returns. A protocol, so the pipeline does not import
the stores above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class Handover:
    """The stored state of partitions this worker just took: load it over its memory."""

    partitions: list[str]
    meter_states: list[str] = field(default_factory=list)
    """Each meter's state as the previous owner committed it (``MeterEngine.load_states``)."""
    last_f_cnt: dict[str, int] = field(default_factory=dict)
    """Each device's last stored frame counter (the de-duplicator's fast path)."""
    windows: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)
    """Each meter's chunks of window readings (``MeterEngine.load_states``)."""


class PartitionState(Protocol):
    def acquire(self, partitions: set[str]) -> Handover | None:
        """Own ``partitions`` from this batch on; None when this worker held them all already,
        else the stored state of those it took."""

    def release(self, partitions: Sequence[str]) -> None:
        """Forget these partitions (a batch on them was lost): the next one acquires afresh."""

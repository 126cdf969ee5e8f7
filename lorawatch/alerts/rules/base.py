"""What every rule domain shares: the engine's services, hourly series, state persistence.

A domain (water, energy, waste, lighting, fleet) reads the records of each stored batch and
returns findings; several rules of one domain share its working state (a water meter's
hourly series serves the continuous-flow and the night-flow rules). The state is plain
JSON-able data per subject, saved in ``alert_state`` so a restart keeps baselines and
series instead of relearning them, and every input is idempotent (a re-emitted consumption
delta replaces the one it corrects; a reading older than the last one seen is ignored), so
a redelivered batch changes nothing.

Each domain has a scope. ``device`` rules need only one device's records, so with several
workers they run in the worker that consumes that device's partition. ``building`` rules need
every meter of a building, which several workers each see a part of: with
``alerts.evaluator = "elected"`` they run in one elected worker that reads the consumption
from the store (:mod:`lorawatch.alerts.evaluator`).
"""

from __future__ import annotations

import statistics
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from lorawatch.alerts.model import Finding
from lorawatch.alerts.places import Places
from lorawatch.pipeline.records import Batch, Place

HOUR = 3600
Scope = Literal["device", "building"]


def ts(t: datetime) -> float:
    return t.timestamp()


def dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def median(values: Iterable[float]) -> float:
    return float(statistics.median(values))


@dataclass(slots=True)
class Services:
    """What a domain may ask the engine: places and whether an alert is open."""

    places: Places
    is_open: Callable[[str, str], bool]
    tracked: Callable[[str, str], bool]
    """Whether the lifecycle follows (rule, subject): an alert is open or latched. A clearing
    finding for anything else would be dropped, so rules need not build it."""


class Domain:
    """Base of the rule domains: a batch in, findings out, per-subject state kept."""

    name = "domain"
    scope: ClassVar[Scope] = "device"

    def __init__(self, services: Services) -> None:
        self.s = services
        self.places = services.places
        self.dirty: set[str] = set()
        self.resave: set[str] = set()
        """Subjects whose :meth:`load` read an older layout: saved again at the next save."""

    def batch(self, batch: Batch) -> list[Finding]:
        return []

    def clear(
        self,
        rule: str,
        subject: str,
        at: datetime,
        place: Place,
        hold: timedelta | None = None,
    ) -> list[Finding]:
        """A clearing finding, or nothing when no alert of that rule follows the subject."""
        if not self.s.tracked(rule, subject):
            return []
        return [Finding(rule, subject, at, False, place=place, hold=hold)]

    def tick(self, now: datetime) -> list[Finding]:
        return []

    def dump(self, subject: str) -> Any:
        """The JSON-able state of one subject (called for the dirty ones)."""
        raise NotImplementedError

    def load(self, subject: str, state: Any) -> None:
        raise NotImplementedError

    def series(self, subject: str) -> Chunked | None:
        """What the subject saves as chunks, apart from its dump (an hourly series' deltas)."""
        return None

    def take_dirty(self) -> dict[str, Any]:
        out = {subject: self.dump(subject) for subject in self.dirty}
        self.dirty.clear()
        return out


@dataclass(slots=True)
class Run:
    """A condition seen in consecutive readings of one device: since when, how many times.

    Debounce for rules that would otherwise fire on one frame: a radio sensor sends an
    outlier now and then (an ultrasonic echo off a bag, a voltage dip on a cold morning), and
    an operator woken by a critical alert that the next frame contradicts stops trusting the
    alerts. ``see`` with the condition's truth at each reading; ``held`` says whether it
    lasted ``readings`` readings in a row, or ``minutes`` from its first reading to the
    latest one (so one reading alone confirms nothing unless ``readings`` is 1).
    """

    since: float = 0.0
    latest: float = 0.0
    count: int = 0

    def see(self, t: float, holds: bool) -> None:
        if not holds:
            self.since, self.latest, self.count = 0.0, 0.0, 0
            return
        if not self.count:
            self.since = t
        self.latest = t
        self.count += 1

    def held(self, readings: int, minutes: float) -> bool:
        if not self.count:
            return False
        if self.count >= readings:
            return True
        return minutes > 0 and self.latest - self.since >= minutes * 60.0

    def to_json(self) -> list[float]:
        return [self.since, self.latest, self.count]

    @classmethod
    def from_json(cls, data: Any) -> Run:
        if not data:
            return cls()
        since, latest, count = data
        return cls(float(since), float(latest), int(count))


def runs_to_json(runs: dict[str, Run]) -> dict[str, list[float]]:
    return {name: run.to_json() for name, run in runs.items() if run.count}


def runs_from_json(data: Any) -> dict[str, Run]:
    return {str(name): Run.from_json(v) for name, v in (data or {}).items()}


class Chunked:
    """What is saved apart from a subject's state, as chunks of what changed (``alert_series``).

    A batch writes the entries it added or replaced as one chunk, not the whole history, so
    what it writes does not grow with the weeks kept. An entry is a tuple whose second item
    is its time (epoch seconds): a chunk is deleted once every entry in it is older than
    ``pruned``. Restoring replays the chunks in sequence order, a later copy of an entry
    replacing an earlier one.
    """

    def __init__(self) -> None:
        self.changed: dict[str, tuple[Any, ...]] = {}
        """Entries added or replaced since :meth:`take_changes` (the next chunk)."""
        self.chunks: list[tuple[int, float]] = []
        """(sequence, latest time) of the saved chunks: one whose every entry was pruned goes.
        Added by :meth:`add_chunk`, replaced by :meth:`set_chunks`."""
        self.pruned = float("-inf")
        self._oldest = float("inf")
        """No saved chunk's latest time is below this: a batch finds none to delete without
        looking through the chunks of weeks (each batch that changes a subject adds one)."""

    def take_changes(self) -> dict[str, tuple[Any, ...]]:
        """The entries added or replaced since the last call (the next chunk)."""
        out, self.changed = self.changed, {}
        return out

    def add_chunk(self, chunk: tuple[int, float]) -> None:
        self.chunks.append(chunk)
        if chunk[1] < self._oldest:
            self._oldest = chunk[1]

    def set_chunks(self, chunks: list[tuple[int, float]]) -> None:
        self.chunks = chunks
        self._oldest = min((c[1] for c in chunks), default=float("inf"))

    def stale_chunks(self) -> list[tuple[int, float]]:
        """Take the saved chunks whose every entry is pruned (to delete): a look through them
        only once the pruning passed the oldest, about once an hour of data."""
        if self._oldest > self.pruned:
            return []
        stale = [c for c in self.chunks if c[1] <= self.pruned]
        self.set_chunks([c for c in self.chunks if c[1] > self.pruned])
        return stale

    def restore(self, chunks: Iterable[tuple[int, float, list[list[Any]]]]) -> None:
        raise NotImplementedError


class Log(Chunked):
    """Records of a subject kept for weeks (an energy model's judged hours), saved as chunks.

    The owner keeps the records in its own shape and :meth:`put` each one it adds or changes;
    the log holds only what the next chunk writes. :meth:`restore` hands the owner the
    surviving entries (key -> entry) to rebuild from.
    """

    def __init__(self, on_restore: Callable[[dict[str, tuple[Any, ...]]], None]) -> None:
        super().__init__()
        self._on_restore = on_restore

    def put(self, key: str, entry: tuple[Any, ...]) -> None:
        self.changed[key] = entry

    def prune(self, before: float) -> None:
        self.pruned = max(self.pruned, before)

    def restore(self, chunks: Iterable[tuple[int, float, list[list[Any]]]]) -> None:
        found: dict[str, tuple[Any, ...]] = {}
        for seq, latest, entries in chunks:
            self.add_chunk((seq, latest))
            for key, *entry in entries:
                if entry[1] > self.pruned:
                    found[str(key)] = tuple(entry)
        self._on_restore(found)


class _Deltas:
    """One meter's deltas in an hourly series, sorted by end, as columns of numbers: 25
    bytes a delta, where a key string and a tuple of floats were ~350 (8 MB for the 25,000
    deltas of 200 meters' 30 hours)."""

    __slots__ = ("ends", "gaps", "starts", "values")

    def __init__(self) -> None:
        self.ends = array("d")
        self.starts = array("d")
        self.values = array("d")
        self.gaps = bytearray()

    def put(
        self, start: float, end: float, value: float, gap: bool
    ) -> tuple[float, float, bool] | None:
        """Add the delta ending at ``end``, or replace it: return the one replaced (start,
        value, gap), None if it is new. Deltas mostly come in order: an append."""
        ends = self.ends
        i = len(ends)
        if i and end <= ends[-1]:
            i = bisect_left(ends, end)
            if i < len(ends) and ends[i] == end:
                old = (self.starts[i], self.values[i], bool(self.gaps[i]))
                self.starts[i], self.values[i], self.gaps[i] = start, value, gap
                return old
        ends.insert(i, end)
        self.starts.insert(i, start)
        self.values.insert(i, value)
        self.gaps.insert(i, gap)
        return None

    def cut(self, n: int) -> None:
        """Forget the ``n`` oldest."""
        del self.ends[:n], self.starts[:n], self.values[:n], self.gaps[:n]


def _key(meter: str, end: float) -> str:
    """A delta's key in the saved chunks: its meter and end (a re-emitted delta replaces)."""
    return f"{meter}|{end:.6f}"


class Hourly(Chunked):
    """A quantity per UTC hour from consumption deltas (litres, kWh), idempotent.

    Each delta (start, end] is spread over the hours it overlaps, in proportion to time. A
    delta re-emitted for the same (meter, end), corrected by a late reading, first takes its
    previous contribution back. ``covered`` counts the seconds of each hour that a regular
    delta covered; the hours of a long gap (flagged by the meter engine) are left uncovered:
    their total is known, not how it was spread, so rules treat them as unknown.
    """

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[int, float] = {}
        self.covered: dict[int, float] = {}
        self.deltas: dict[str, _Deltas] = {}
        """Per meter, the deltas seen (to take a re-emitted one back, and for :meth:`window`),
        saved apart from :meth:`to_json`, as chunks of their changes."""
        self.ends: dict[str, float] = {}
        """Latest delta end per meter: an hour is complete once every active meter passed it."""

    def add(self, meter: str, start: float, end: float, value: float, gap: bool) -> bool:
        d = self.deltas.get(meter)
        if d is None:
            d = self.deltas[meter] = _Deltas()
        old = d.put(start, end, value, gap)
        if old is not None:
            if old == (start, value, gap):
                return False
            self._spread(old[0], end, old[1], old[2], sign=-1.0)
        self._spread(start, end, value, gap, sign=1.0)
        self.changed[_key(meter, end)] = (start, end, value, gap)
        ends = self.ends
        if end > ends.get(meter, float("-inf")):
            ends[meter] = end
        return True

    def _put(self, found: dict[tuple[str, float], tuple[float, float, bool]]) -> None:
        """Put back saved deltas ((meter, end) -> (start, value, gap)) without spreading them:
        the hourly sums were saved with them."""
        for (meter, end), (start, value, gap) in sorted(found.items()):
            d = self.deltas.get(meter)
            if d is None:
                d = self.deltas[meter] = _Deltas()
            d.put(start, end, value, gap)

    def _spread(self, start: float, end: float, value: float, gap: bool, sign: float) -> None:
        span = end - start
        if span <= 0:
            hour = int(end // HOUR) * HOUR
            self.values[hour] = self.values.get(hour, 0.0) + sign * value
            return
        hour = int(start // HOUR) * HOUR
        if end <= hour + HOUR:
            # Within one hour (a meter's usual delta): the loop's one step, the same sums.
            self.values[hour] = self.values.get(hour, 0.0) + sign * value * span / span
            if not gap:
                self.covered[hour] = self.covered.get(hour, 0.0) + sign * span
            return
        while hour < end:
            overlap = min(end, hour + HOUR) - max(start, hour)
            if overlap > 0:
                self.values[hour] = self.values.get(hour, 0.0) + sign * value * overlap / span
                if not gap:
                    self.covered[hour] = self.covered.get(hour, 0.0) + sign * overlap
            hour += HOUR

    def watermark(self, active_s: float = 6 * HOUR) -> float:
        """Time up to which every meter still reporting has sent its deltas."""
        if not self.ends:
            return 0.0
        newest = max(self.ends.values())
        return min(e for e in self.ends.values() if e >= newest - active_s)

    def known(self, hour: int) -> bool:
        return self.covered.get(hour, 0.0) >= 0.5 * HOUR

    def value(self, hour: int) -> float:
        return max(0.0, self.values.get(hour, 0.0))

    def prune(self, before: float) -> None:
        """Forget what ended before ``before``; rules call it per batch with a bound that moves
        by the hour, so the scan runs once per hour of data, not once per batch."""
        if before <= self.pruned:
            return
        self.pruned = before
        for hour in [h for h in self.values if h + HOUR <= before]:
            self.values.pop(hour, None)
            self.covered.pop(hour, None)
        for meter, d in list(self.deltas.items()):
            cut = bisect_right(d.ends, before)
            if not cut:
                continue
            if self.changed:
                for end in d.ends[:cut]:
                    self.changed.pop(_key(meter, end), None)
            if cut == len(d.ends):
                del self.deltas[meter]
            else:
                d.cut(cut)
        for meter in [m for m, e in self.ends.items() if e < before - 7 * 86400]:
            del self.ends[meter]

    def window(self, start: float, end: float) -> float:
        """The quantity within [start, end) from the deltas themselves (finer than hours)."""
        total = 0.0
        for d in self.deltas.values():
            ends, starts, values = d.ends, d.starts, d.values
            for i in range(len(ends) - 1, -1, -1):
                b = ends[i]
                if b <= start:
                    break
                a = starts[i]
                overlap = min(b, end) - max(a, start)
                if overlap > 0 and b > a:
                    total += values[i] * overlap / (b - a)
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            # Exact (not rounded): a restart continues the sums where they were.
            "values": [[h, v] for h, v in self.values.items()],
            "covered": [[h, c] for h, c in self.covered.items()],
            "ends": self.ends,
            "pruned": None if self.pruned == float("-inf") else self.pruned,
        }

    def restore(self, chunks: Iterable[tuple[int, float, list[list[Any]]]]) -> None:
        """Put back the deltas from their saved chunks, in sequence order (a later copy of a
        delta replaces an earlier one; what was pruned is left out), after :meth:`from_json`."""
        found: dict[tuple[str, float], tuple[float, float, bool]] = {}
        for seq, latest, entries in chunks:
            self.add_chunk((seq, latest))
            for k, a, b, v, g in entries:
                if b > self.pruned:
                    found[(str(k).rpartition("|")[0], float(b))] = (float(a), float(v), bool(g))
        self._put(found)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Hourly:
        out = cls()
        out.values = {int(h): float(v) for h, v in data.get("values", [])}
        out.covered = {int(h): float(c) for h, c in data.get("covered", [])}
        pruned = data.get("pruned")
        out.pruned = float("-inf") if pruned is None else float(pruned)
        # A state saved before alert_series held the deltas in "seen": keep them, and write
        # them as a chunk at the next save.
        seen = data.get("seen", [])
        out.changed = {str(k): (float(a), float(b), float(v), bool(g)) for k, a, b, v, g in seen}
        out._put({(k.rpartition("|")[0], e[1]): (e[0], e[2], e[3]) for k, e in out.changed.items()})
        out.ends = {str(k): float(v) for k, v in data.get("ends", {}).items()}
        return out

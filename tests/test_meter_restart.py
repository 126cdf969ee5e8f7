"""A restarted meter engine behaves exactly as one that never stopped.

The state stored with each batch (``MeterEngine.take_state``: each moved meter's base and
commands, the readings put in its window, where the window now starts) is applied to a
stand-in for the two tables, and a new engine is loaded from it at several points of a
random sequence: late readings inside the window, duplicates and corrected values, dips,
resets, register rollovers, implausible jumps and replacements. Every delta and quality
event emitted after each restart equals the uninterrupted run's.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lorawatch.core.readings import Reading
from lorawatch.pipeline.meters import MeterEngine, MeterKey, MeterLimits

T0 = datetime(2026, 1, 14, tzinfo=UTC)
EUIS = ("aa01", "aa02")
LIMITS = MeterLimits(max_per_hour=400.0, gap_after=timedelta(hours=2))


class Tables:
    """``meter_state`` and ``meter_window`` as SQLite keeps them."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.windows: dict[str, dict[int, tuple[int, str]]] = {}
        self.written = 0

    def write(self, engine: MeterEngine) -> None:
        states, chunks, drop = engine.take_state()
        self.states.update(states)
        self.written += len(chunks)
        for key, seq, latest, readings in chunks:
            self.windows.setdefault(key, {})[seq] = (latest, readings)
        for key, seq in drop:
            del self.windows[key][seq]

    def load(self, window: int) -> MeterEngine:
        engine = MeterEngine(LIMITS, window=window)
        windows = {
            k: [(s, *c) for s, c in sorted(rows.items())] for k, rows in self.windows.items()
        }
        assert engine.load_states(list(self.states.values()), windows) == len(self.states)
        return engine

    def rows(self) -> int:
        return sum(len(rows) for rows in self.windows.values())


def sequence(rng: random.Random, n: int) -> list[tuple[str, Any]]:
    """Readings (and a few commands) of two meters, mostly in order, some late."""
    out: list[tuple[str, Any]] = []
    index = {e: 1000.0 for e in EUIS}
    clock = {e: 0 for e in EUIS}
    sent: dict[str, list[tuple[int, float]]] = {e: [] for e in EUIS}
    for _ in range(n):
        eui = rng.choice(EUIS)
        roll = rng.random()
        if roll < 0.12 and sent[eui]:  # late, or a copy, or a corrected value
            minute, value = rng.choice(sent[eui][-40:])
            if rng.random() < 0.4:
                minute -= rng.randint(1, 14)
            elif rng.random() < 0.5:
                value += rng.choice((0.0, 1.5))
            out.append(("read", (eui, minute, value, 10_000.0)))
            continue
        if roll < 0.14:
            at = clock[eui] + rng.randint(1, 14)
            out.append(("replace", (eui, at, float(rng.randint(0, 50)))))
            continue
        clock[eui] += rng.choice((15, 15, 15, 30, 180))
        step = rng.random()
        if step < 0.05:
            index[eui] *= 0.95  # dip
        elif step < 0.08:
            index[eui] = float(rng.randint(0, 20))  # reset
        elif step < 0.10:
            index[eui] += 5000.0  # implausible jump
        else:
            index[eui] += rng.uniform(0, 60)
        index[eui] %= 10_000.0  # a 10,000-unit register: some rollovers
        sent[eui].append((clock[eui], index[eui]))
        out.append(("read", (eui, clock[eui], index[eui], 10_000.0)))
    return out


def feed(engine: MeterEngine, op: tuple[str, Any]) -> tuple[list[Any], list[Any]]:
    kind, args = op
    if kind == "read":
        eui, minute, value, modulus = args
        reading = Reading("energy_kwh", value, T0 + timedelta(minutes=minute), modulus=modulus)
        return engine.update(eui, reading)
    eui, minute, amount = args
    return engine.replace(MeterKey(eui, "energy_kwh", ""), T0 + timedelta(minutes=minute), amount)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("window", [8, 256])
def test_a_restart_anywhere_changes_no_delta_and_no_event(seed: int, window: int) -> None:
    rng = random.Random(seed)
    ops = sequence(rng, 400)
    steady = MeterEngine(LIMITS, window=window)
    expected = [feed(steady, op) for op in ops]
    batches = sorted(rng.sample(range(1, len(ops)), 40))  # where batches end
    restarts = set(rng.sample(batches, 8))
    tables = Tables()
    engine = MeterEngine(LIMITS, window=window)
    got = []
    start = 0
    for end in [*batches, len(ops)]:
        got += [feed(engine, op) for op in ops[start:end]]
        tables.write(engine)
        if end in restarts:
            engine = tables.load(window)
        start = end
    assert got == expected
    if window == 8:  # chunks whose readings all left the window are deleted
        assert tables.rows() <= tables.written // 2
    assert sum(len(d) for d, _ in expected) > 300, "the sequence emits deltas"
    assert any(e.kind == "too_late" or e.kind == "duplicate" for _, es in expected for e in es)

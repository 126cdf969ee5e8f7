"""The rules' hourly series (alerts.rules.base.Hourly): sums, re-emitted deltas, pruning, and a
restart from the saved chunks, against a plain recomputation from the deltas themselves."""

from __future__ import annotations

import random
from typing import Any

import pytest

from lorawatch.alerts.rules.base import HOUR, Hourly

T0 = 1_780_000_000.0 - 1_780_000_000.0 % HOUR


def expected(deltas: dict[tuple[str, float], tuple[float, float, bool]]) -> dict[int, float]:
    """Each hour's quantity, spread in proportion to time, from the deltas alone."""
    out: dict[int, float] = {}
    for (_, end), (start, value, _) in deltas.items():
        hour = int(start // HOUR) * HOUR
        while hour < end:
            overlap = min(end, hour + HOUR) - max(start, hour)
            if overlap > 0:
                out[hour] = out.get(hour, 0.0) + value * overlap / (end - start)
            hour += HOUR
    return out


def save(series: Hourly, chunks: list[tuple[int, float, list[list[Any]]]]) -> None:
    """What the engine writes at each save: the changes as one chunk."""
    changes = series.take_changes()
    if changes:
        seq = len(chunks) + 1
        chunks.append(
            (seq, max(e[1] for e in changes.values()), [[k, *e] for k, e in changes.items()])
        )


def test_re_emitted_deltas_replace_and_a_restart_continues_the_same_sums() -> None:
    rng = random.Random(7)
    series, chunks = Hourly(), []
    truth: dict[tuple[str, float], tuple[float, float, bool]] = {}
    meters = ["70b3d5|", "70b3d6|1", "70b3d7|"]
    for step in range(600):
        meter = rng.choice(meters)
        end = T0 + rng.randrange(1, 200) * 900.0
        start = end - rng.choice([900.0, 900.0, 1800.0, 3 * HOUR])
        value = round(rng.uniform(0, 5), 3)
        changed = series.add(meter, start, end, value, False)
        assert changed == (truth.get((meter, end)) != (start, value, False))
        truth[(meter, end)] = (start, value, False)
        if step % 50 == 0:
            save(series, chunks)
    save(series, chunks)
    want = expected(truth)
    assert series.values.keys() == want.keys()
    for hour, value in want.items():
        assert series.values[hour] == pytest.approx(value, abs=1e-9)

    again = Hourly.from_json(series.to_json())
    again.restore(chunks)
    # The same deltas back: a re-emitted copy changes nothing, a corrected one replaces.
    for (meter, end), (start, value, gap) in list(truth.items())[:40]:
        assert not again.add(meter, start, end, value, gap)
    meter, end = next(iter(truth))
    start, value, _ = truth[(meter, end)]
    assert again.add(meter, start, end, value + 1.0, False)
    assert sum(again.values.values()) == pytest.approx(sum(want.values()) + 1.0, abs=1e-6)
    assert again.window(T0 - 4 * HOUR, T0 + 300 * 900.0) == pytest.approx(
        sum(v for _, v, _ in truth.values()) + 1.0, abs=1e-6
    )


def test_prune_forgets_the_old_deltas_and_their_unsaved_changes() -> None:
    series = Hourly()
    for i in range(1, 9):
        series.add("m|", T0 + (i - 1) * 900.0, T0 + i * 900.0, 1.0, False)
    series.prune(T0 + HOUR)
    assert all(hour >= T0 + HOUR for hour in series.values)
    assert sorted(e[1] for e in series.take_changes().values()) == [
        T0 + i * 900.0 for i in range(5, 9)
    ]
    # What was pruned is gone: adding it again counts it again (it is new to the series).
    assert series.add("m|", T0, T0 + 900.0, 1.0, False)
    assert series.window(T0 + HOUR, T0 + 2 * HOUR) == pytest.approx(4.0)


def test_a_state_saved_before_the_chunks_keeps_its_deltas() -> None:
    """The layout before alert_series: the deltas were in the state's "seen"."""
    end = T0 + 900.0
    old = {
        "values": [[int(T0), 2.0]],
        "covered": [[int(T0), 900.0]],
        "ends": {"m|": end},
        "seen": [[f"m||{end:.6f}", T0, end, 2.0, False]],
    }
    series = Hourly.from_json(old)
    assert not series.add("m|", T0, end, 2.0, False)
    assert list(series.take_changes()) == [f"m||{end:.6f}"]  # written as a chunk next
    assert series.add("m|", T0, end, 3.0, False)
    assert series.values[int(T0)] == pytest.approx(3.0)


def test_saved_chunks_go_once_pruning_passes_their_latest_entry_late_ones_included() -> None:
    """A batch looks through the saved chunks only once the pruning passed the oldest of them:
    the chunks found stale are the same as a look through every chunk at every batch finds."""
    series = Hourly()
    for chunk in [(1, T0 + 10), (2, T0 + 20), (3, T0 + 5)]:
        series.add_chunk(chunk)
    assert series.stale_chunks() == []
    series.prune(T0 + 15)
    assert series.stale_chunks() == [(1, T0 + 10), (3, T0 + 5)]
    assert series.chunks == [(2, T0 + 20)]
    assert series.stale_chunks() == []
    series.add_chunk((4, T0 + 12))  # a late delta's chunk, older than the pruning already
    assert series.stale_chunks() == [(4, T0 + 12)]
    series.set_chunks([(2, T0 + 20), (5, T0 + 1)])  # a rolled-back save puts chunks back
    assert series.stale_chunks() == [(5, T0 + 1)]
    series.prune(T0 + 30)
    assert series.stale_chunks() == [(2, T0 + 20)]
    assert series.chunks == []

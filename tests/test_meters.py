"""The meter-semantics engine: wraps, resets, dips, jumps, gaps, late and repeated readings.

The store is modelled as a dict keyed by (meter key, end time) that each emitted delta
overwrites, which is exactly how the pipeline writes them.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lorawatch.core.readings import Reading
from lorawatch.pipeline.meters import Delta, MeterEngine, MeterKey, MeterLimits, QualityEvent

T0 = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
DEV = "a84041000181c9d1"
KEY = MeterKey(DEV, "energy_kwh", "")
Store = dict[tuple[MeterKey, datetime], Delta]


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def kwh(hours: float, value: float, modulus: float | None = None) -> Reading:
    return Reading("energy_kwh", value, at(hours), modulus=modulus)


def apply(store: Store, out: tuple[list[Delta], list[QualityEvent]]) -> list[QualityEvent]:
    for d in out[0]:
        store[(d.key, d.end)] = d
    return out[1]


def feed(engine: MeterEngine, readings: list[Reading], store: Store | None = None) -> Store:
    store = {} if store is None else store
    for r in readings:
        apply(store, engine.update(DEV, r))
    return store


def values(store: Store) -> dict[datetime, float]:
    return {end: d.value for (_, end), d in sorted(store.items(), key=lambda kv: kv[0][1])}


def kinds(events: list[QualityEvent]) -> list[str]:
    return [e.kind for e in events]


# ------------------------------------------------------------------------- single rules


def test_plain_consumption_is_stored_at_the_reading_over_the_interval() -> None:
    eng = MeterEngine()
    assert eng.update(DEV, kwh(0, 100.0)) == ([], [])  # first reading: nothing to compare
    deltas, events = eng.update(DEV, kwh(1, 104.5))
    assert events == []
    assert deltas == [Delta(KEY, "energy_delta_kwh", at(0), at(1), 4.5, False)]


def test_wrap_counts_across_the_rollover() -> None:
    eng = MeterEngine(MeterLimits(max_per_hour=250))
    modulus = 65536.0
    eng.update(DEV, kwh(0, modulus - 5, modulus))
    deltas, events = eng.update(DEV, kwh(1, 3.0, modulus))
    assert [d.value for d in deltas] == [8.0]
    assert kinds(events) == ["wrap"]


def test_wrap_needs_a_modulus_and_plausibility() -> None:
    # Without a modulus the same drop is a reset counted from 0.
    eng = MeterEngine(MeterLimits(max_per_hour=250))
    eng.update(DEV, kwh(0, 65531.0))
    deltas, events = eng.update(DEV, kwh(1, 3.0))
    assert [d.value for d in deltas] == [3.0]
    assert kinds(events) == ["reset"]
    # A small drop on a wrapping register is a dip, not a near-full turn of the register.
    eng = MeterEngine()
    eng.update(DEV, kwh(0, 100.0, 65536.0))
    deltas, events = eng.update(DEV, kwh(1, 99.0, 65536.0))
    assert [d.value for d in deltas] == [0.0]
    assert kinds(events) == ["dip"]
    # A wrap faster than the meter can go is not a wrap: the drop is a reset.
    eng = MeterEngine(MeterLimits(max_per_hour=10))
    eng.update(DEV, kwh(0, 60000.0, 65536.0))
    deltas, events = eng.update(DEV, kwh(1, 3.0, 65536.0))
    assert [d.value for d in deltas] == [3.0]
    assert kinds(events) == ["reset"]


def test_reset_starts_a_new_cycle_from_zero() -> None:
    eng = MeterEngine()
    store = feed(eng, [kwh(0, 1000.0), kwh(1, 1010.0)])
    deltas, events = eng.update(DEV, kwh(2, 5.0))
    assert [d.value for d in deltas] == [5.0]
    assert kinds(events) == ["reset"]
    apply(store, (deltas, events))
    feed(eng, [kwh(3, 7.0)], store)
    assert sum(d.value for d in store.values()) == pytest.approx(10.0 + 5.0 + 2.0)


def test_dip_counts_nothing_and_keeps_the_higher_baseline() -> None:
    eng = MeterEngine()
    eng.update(DEV, kwh(0, 100.0))
    deltas, events = eng.update(DEV, kwh(1, 95.0))
    assert [d.value for d in deltas] == [0.0]
    assert kinds(events) == ["dip"]
    deltas, events = eng.update(DEV, kwh(2, 101.0))
    assert [d.value for d in deltas] == [1.0]  # from 100, not from 95
    assert events == []
    # the boundary: down to 90 % of the baseline is a dip, below it a reset
    assert kinds(eng.update(DEV, kwh(3, 90.9))[1]) == ["dip"]
    deltas, events = eng.update(DEV, kwh(4, 90.8))
    assert kinds(events) == ["reset"]
    assert [d.value for d in deltas] == [90.8]


def test_jitter_is_not_counted_twice() -> None:
    store = feed(MeterEngine(), [kwh(0, 100.0), kwh(1, 99.9), kwh(2, 100.1)])
    assert sum(d.value for d in store.values()) == pytest.approx(0.1)


def test_jump_is_quarantined_and_the_baseline_stays() -> None:
    eng = MeterEngine(MeterLimits(max_per_hour=250))
    store = feed(eng, [kwh(0, 1000.0), kwh(1, 1100.0)])
    deltas, events = eng.update(DEV, kwh(2, 90000.0))
    assert [d.value for d in deltas] == [0.0]
    assert kinds(events) == ["jump"]
    assert "1100.0 -> 90000.0" in events[0].detail
    apply(store, (deltas, events))
    deltas, events = eng.update(DEV, kwh(3, 1200.0))  # back to normal: the jump was a glitch
    assert [d.value for d in deltas] == [100.0]
    assert events == []
    apply(store, (deltas, events))
    assert sum(d.value for d in store.values()) == pytest.approx(200.0)


def test_a_confirmed_jump_becomes_the_new_baseline_without_being_counted() -> None:
    eng = MeterEngine(MeterLimits(max_per_hour=250))
    store = feed(eng, [kwh(0, 1000.0), kwh(1, 1100.0), kwh(2, 50000.0)])
    deltas, events = eng.update(DEV, kwh(3, 50050.0))
    assert [d.value for d in deltas] == [50.0]
    assert kinds(events) == ["reset"]
    apply(store, (deltas, events))
    feed(eng, [kwh(4, 50100.0)], store)
    assert values(store) == {at(1): 100.0, at(2): 0.0, at(3): 50.0, at(4): 50.0}


def test_an_implausible_reset_is_quarantined_too() -> None:
    # A replaced meter that starts high: not 5000 kWh in an hour.
    eng = MeterEngine(MeterLimits(max_per_hour=250))
    store = feed(eng, [kwh(0, 90000.0), kwh(1, 5000.0), kwh(2, 5010.0)])
    assert values(store) == {at(1): 0.0, at(2): 10.0}


def test_a_long_interval_is_flagged_as_a_gap_not_split() -> None:
    eng = MeterEngine(MeterLimits(gap_after=timedelta(hours=3)))
    store = feed(eng, [kwh(0, 10.0), kwh(1, 11.0), kwh(3.5, 12.0), kwh(9, 30.0)])
    assert len(store) == 3
    gap = store[(KEY, at(9))]
    assert (gap.start, gap.end, gap.value, gap.gap) == (at(3.5), at(9), 18.0, True)
    assert not store[(KEY, at(3.5))].gap
    assert not store[(KEY, at(1))].gap


def test_limits_can_differ_per_meter() -> None:
    water = MeterKey(DEV, "volume_m3", "")

    def limits(key: MeterKey) -> MeterLimits:
        if key.name == "volume_m3":
            return MeterLimits(max_per_hour=50, gap_after=timedelta(hours=1))
        return MeterLimits(max_per_hour=250)

    eng = MeterEngine(limits)
    eng.update(DEV, Reading("volume_m3", 10.0, at(0)))
    deltas, events = eng.update(DEV, Reading("volume_m3", 110.0, at(1.5)))
    assert deltas == [Delta(water, "volume_delta_m3", at(0), at(1.5), 0.0, True)]
    assert kinds(events) == ["jump"]
    eng.update(DEV, kwh(0, 10.0))
    deltas, events = eng.update(DEV, kwh(1.5, 110.0))
    assert [(d.value, d.gap) for d in deltas] == [(100.0, False)]


def test_channels_are_separate_meters_and_other_readings_are_ignored() -> None:
    eng = MeterEngine()
    eng.update(DEV, Reading("energy_kwh", 10.0, at(0), channel="1"))
    eng.update(DEV, Reading("energy_kwh", 500.0, at(0), channel="2"))
    deltas, _ = eng.update(DEV, Reading("energy_kwh", 12.0, at(1), channel="1"))
    assert [(d.key.channel, d.value) for d in deltas] == [("1", 2.0)]
    assert eng.update(DEV, Reading("power_w", 1200.0, at(1))) == ([], [])


def test_invalid_values_are_reported_and_do_not_poison_the_meter() -> None:
    eng = MeterEngine()
    eng.update(DEV, kwh(0, 10.0))
    for bad in (kwh(1, math.nan), kwh(1, -3.0), Reading("energy_kwh", 11.0, datetime(2024, 3, 4))):
        deltas, events = eng.update(DEV, bad)
        assert deltas == []
        assert kinds(events) == ["invalid"]
    deltas, _ = eng.update(DEV, kwh(2, 12.0))
    assert [d.value for d in deltas] == [2.0]


# ------------------------------------------------------------------ replay and late data


def series() -> list[Reading]:
    return [kwh(h, v) for h, v in enumerate([5.0, 7.0, 6.9, 9.0, 2.0, 4.0, 4.5, 80.0, 81.0])]


def test_replay_is_idempotent() -> None:
    once = feed(MeterEngine(MeterLimits(max_per_hour=20)), series())
    eng = MeterEngine(MeterLimits(max_per_hour=20))
    twice = feed(eng, series())
    for r in series():
        assert eng.update(DEV, r) == ([], [])  # every replayed reading is a duplicate
    feed(eng, series(), twice)
    assert twice == once
    assert sum(d.value for d in twice.values()) == pytest.approx(2.0 + 2.0 + 2.0 + 2.0 + 0.5 + 1.0)


def test_late_reading_is_merged_and_the_next_delta_recomputed() -> None:
    eng = MeterEngine()
    store = feed(eng, [kwh(0, 100.0), kwh(2, 120.0), kwh(3, 125.0)])
    deltas, events = eng.update(DEV, kwh(1, 112.0))
    assert events == []
    assert [(d.start, d.end, d.value) for d in deltas] == [
        (at(0), at(1), 12.0),
        (at(1), at(2), 8.0),
    ]  # the delta at 3 h did not change, so it is not re-emitted
    apply(store, (deltas, events))
    assert values(store) == {at(1): 12.0, at(2): 8.0, at(3): 5.0}


def test_a_late_reading_can_change_the_verdict_of_later_ones() -> None:
    # 100 then 95 alone is a dip; with 5 in between, 5 is a reset and 95 is real consumption.
    eng = MeterEngine()
    store = feed(eng, [kwh(0, 100.0), kwh(2, 95.0)])
    apply(store, eng.update(DEV, kwh(1, 5.0)))
    assert values(store) == {at(1): 5.0, at(2): 90.0}


def test_an_earlier_reading_before_the_first_gives_the_first_its_delta() -> None:
    eng = MeterEngine()
    store = feed(eng, [kwh(1, 10.0), kwh(0, 4.0)])
    assert values(store) == {at(1): 6.0}


def test_duplicates_emit_nothing_and_a_new_value_replaces_the_old() -> None:
    eng = MeterEngine()
    store = feed(eng, [kwh(0, 10.0), kwh(1, 11.0), kwh(2, 13.0)])
    assert eng.update(DEV, kwh(1, 11.0)) == ([], [])
    events = apply(store, eng.update(DEV, kwh(1, 12.0)))
    assert kinds(events) == ["duplicate"]
    assert values(store) == {at(1): 2.0, at(2): 1.0}


def test_readings_older_than_the_window_are_too_late() -> None:
    eng = MeterEngine(window=3)
    store = feed(eng, [kwh(h, 10.0 + h) for h in range(6)])
    before = dict(store)
    for late in (kwh(2, 12.0), kwh(1.5, 11.5)):  # at(2) was the last evicted: the floor
        deltas, events = eng.update(DEV, late)
        assert deltas == []
        assert kinds(events) == ["too_late"]
    deltas, events = eng.update(DEV, kwh(3.5, 13.5))  # inside the window: merged
    assert events == []
    apply(store, (deltas, events))
    assert store[(KEY, at(3.5))].value == pytest.approx(0.5)
    assert set(store) == set(before) | {(KEY, at(3.5))}

    eng = MeterEngine(max_age=timedelta(days=1))
    feed(eng, [kwh(0, 1.0), kwh(30, 2.0), kwh(50, 3.0)])
    assert kinds(eng.update(DEV, kwh(10, 1.5))[1]) == ["too_late"]


def test_eviction_keeps_the_state_and_the_commands_it_still_needs() -> None:
    def run(engine: MeterEngine) -> Store:
        store: Store = {}
        # Every tenth reading arrives after the next four: with a window of four its predecessor
        # has just been evicted, so it is computed from the evicted state and pending commands.
        for h in sorted(range(400), key=lambda h: h + 4.5 if h % 10 == 5 else h):
            if h % 10 == 0:
                apply(store, engine.calibrate(KEY, at(h + 4.7), 3.0))
            value = float(h // 3) + 3.0 * (h // 10) + (100.0 if h % 97 == 50 else 0.0)
            apply(store, engine.update(DEV, kwh(h, value)))
        return store

    windowed = run(MeterEngine(MeterLimits(max_per_hour=5), window=4))
    assert len(windowed) == 399
    assert windowed == run(MeterEngine(MeterLimits(max_per_hour=5), window=10_000))


# ---------------------------------------------------------------------- manual commands


def test_replace_counts_the_new_meter_from_its_start_index() -> None:
    eng = MeterEngine(MeterLimits(max_per_hour=250))
    store = feed(eng, [kwh(0, 5000.0), kwh(1, 5100.0)])
    assert eng.replace(KEY, at(1.5), 7000.0) == ([], [])
    feed(eng, [kwh(2, 7010.0), kwh(3, 7030.0)], store)
    assert values(store) == {at(1): 100.0, at(2): 10.0, at(3): 20.0}


def test_replace_issued_after_the_fact_recomputes_and_is_idempotent() -> None:
    eng = MeterEngine()
    store = feed(eng, [kwh(0, 5000.0), kwh(1, 5100.0), kwh(2, 12.0), kwh(3, 20.0)])
    assert values(store)[at(2)] == 12.0  # a reset counted from 0
    apply(store, eng.replace(KEY, at(1.5), 10.0))
    assert values(store) == {at(1): 100.0, at(2): 2.0, at(3): 8.0}
    assert eng.replace(KEY, at(1.5), 10.0) == ([], [])  # same command again: nothing changes


def test_calibration_is_not_consumption() -> None:
    eng = MeterEngine()
    store = feed(eng, [kwh(0, 100.0), kwh(1, 110.0)])
    apply(store, eng.calibrate(KEY, at(1.5), 1000.0))
    feed(eng, [kwh(2, 1115.0)], store)
    assert values(store) == {at(1): 10.0, at(2): 5.0}
    # issued after the reading that follows it: the delta is recomputed
    feed(eng, [kwh(3, 1120.0), kwh(4, 1015.0)], store)  # someone set the index back by 110
    assert values(store)[at(4)] == 0.0  # a dip
    apply(store, eng.calibrate(KEY, at(3.5), -110.0))
    assert values(store) == {at(1): 10.0, at(2): 5.0, at(3): 5.0, at(4): 5.0}


def test_a_command_at_a_reading_time_applies_after_that_reading() -> None:
    eng = MeterEngine()
    store = feed(eng, [kwh(0, 100.0), kwh(1, 110.0)])
    apply(store, eng.calibrate(KEY, at(1), 1000.0))
    feed(eng, [kwh(2, 1115.0)], store)
    assert values(store) == {at(1): 10.0, at(2): 5.0}


def test_calibration_shifts_a_quarantined_index_too() -> None:
    eng = MeterEngine(MeterLimits(max_per_hour=250))
    store = feed(eng, [kwh(0, 1000.0), kwh(1, 50000.0)])  # quarantined
    apply(store, eng.calibrate(KEY, at(1.5), 10.0))
    feed(eng, [kwh(2, 50060.0)], store)  # confirms 50000 + 10
    assert values(store) == {at(1): 0.0, at(2): 50.0}


def test_commands_on_meters_that_are_not_indexes_are_refused() -> None:
    with pytest.raises(ValueError, match="not a meter index"):
        MeterEngine().replace(MeterKey(DEV, "power_w", ""), at(0), 0.0)
    with pytest.raises(ValueError, match="time zone"):
        MeterEngine().calibrate(KEY, datetime(2024, 1, 1), 1.0)


# ------------------------------------------------------------------------- persistence


def test_seed_resumes_from_the_stored_index() -> None:
    eng = MeterEngine()
    assert eng.seed(KEY, at(5), 1234.0)
    assert not eng.seed(KEY, at(6), 9.0)  # already running: untouched
    assert eng.update(DEV, kwh(5, 1234.0)) == ([], [])  # the stored reading replayed
    assert kinds(eng.update(DEV, kwh(4, 1200.0))[1]) == ["too_late"]
    deltas, _ = eng.update(DEV, kwh(6, 1240.0))
    assert [(d.start, d.value) for d in deltas] == [(at(5), 6.0)]


def test_snapshot_restore_mid_stream_equals_an_uninterrupted_run() -> None:
    limits = MeterLimits(max_per_hour=20)
    readings = series()
    whole = feed(MeterEngine(limits), readings)
    eng = MeterEngine(limits)
    eng.replace(KEY, at(4.5), 1.0)
    part = feed(eng, readings[:5])
    saved = json.loads(json.dumps(eng.snapshot()))
    resumed = MeterEngine.restore(saved, limits)
    feed(resumed, readings[:5], part)  # redelivered after the restart: duplicates
    feed(resumed, readings[5:], part)
    reference = MeterEngine(limits)
    reference.replace(KEY, at(4.5), 1.0)
    assert part == feed(reference, readings)
    assert part != whole  # the replacement mattered, so the test can tell them apart


def test_restore_refuses_foreign_snapshots() -> None:
    with pytest.raises(ValueError, match="version"):
        MeterEngine.restore({"version": 99, "meters": []})
    with pytest.raises(ValueError, match="corrupt"):
        MeterEngine.restore({"version": 1, "meters": [{"key": [DEV, "energy_kwh", ""]}]})


# ---------------------------------------------------------------------- properties

steps = st.one_of(
    st.floats(0, 30, allow_nan=False).map(lambda x: ("up", x)),
    st.floats(0, 0.09).map(lambda x: ("dip", x)),  # fraction of the index lost
    st.floats(0, 50).map(lambda x: ("reset", x)),
    st.floats(1000, 5000).map(lambda x: ("jump", x)),
)


@st.composite
def histories(draw: st.DrawFn) -> list[Reading]:
    """A meter's readings: growth, dips, resets and jumps, at irregular times."""
    n = draw(st.integers(2, 40))
    minutes = draw(st.lists(st.integers(1, 300), min_size=n, max_size=n))
    index = draw(st.floats(0, 1000))
    out = []
    t = T0
    for gap, (kind, x) in zip(minutes, draw(st.lists(steps, min_size=n, max_size=n)), strict=True):
        t += timedelta(minutes=gap)
        if kind == "up":
            index += x
        elif kind == "dip":
            index -= index * x
        elif kind == "reset":
            index = x
        else:
            index += x
        out.append(Reading("energy_kwh", index, t))
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.floats(100, 1e7),
    st.lists(st.floats(0, 1000), min_size=1, max_size=60),
    st.lists(st.integers(1, 600), min_size=60, max_size=60),
)
def test_monotone_series_sums_to_last_minus_first(
    start: float, increments: list[float], gaps: list[int]
) -> None:
    readings = [kwh(0, start)]
    index, t = start, 0.0
    for inc, gap in zip(increments, gaps, strict=False):
        index += inc
        t += gap / 60
        readings.append(kwh(t, index))
    store = feed(MeterEngine(), readings)
    assert len(store) == len(readings) - 1
    total = math.fsum(d.value for d in store.values())
    assert total == pytest.approx(readings[-1].number - start, rel=1e-9, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms(use_true_random=False), st.sampled_from([None, 100.0]))
def test_arrival_order_does_not_change_the_result(
    readings: list[Reading], rnd: random.Random, rate: float | None
) -> None:
    limits = MeterLimits(max_per_hour=rate)
    in_order = feed(MeterEngine(limits), readings)
    shuffled = list(readings)
    rnd.shuffle(shuffled)
    assert feed(MeterEngine(limits), shuffled) == in_order


@settings(max_examples=200, deadline=None)
@given(histories(), st.randoms(use_true_random=False), st.data())
def test_commands_and_restarts_commute_with_arrival_order(
    readings: list[Reading], rnd: random.Random, data: st.DataObject
) -> None:
    """Commands anywhere in time, issued in any order, with a restart anywhere: same result."""
    limits = MeterLimits(max_per_hour=100.0)
    span = (readings[-1].time - T0).total_seconds() / 3600
    commands = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(["replace", "calibrate"]),
                st.floats(0, span),
                st.floats(-50, 50),
            ),
            max_size=3,
            unique_by=lambda c: (c[0], at(c[1])),  # same kind, same instant: overwrites
        )
    )
    actions: list[Reading | tuple[str, float, float]] = [*readings, *commands]

    def run(order: list[Reading | tuple[str, float, float]], restart_at: int | None) -> Store:
        eng = MeterEngine(limits)
        store: Store = {}
        for i, action in enumerate(order):
            if i == restart_at:
                eng = MeterEngine.restore(json.loads(json.dumps(eng.snapshot())), limits)
            if isinstance(action, Reading):
                apply(store, eng.update(DEV, action))
            elif action[0] == "replace":
                apply(store, eng.replace(KEY, at(action[1]), abs(action[2])))
            else:
                apply(store, eng.calibrate(KEY, at(action[1]), action[2]))
        return store

    def when(action: Reading | tuple[str, float, float]) -> datetime:
        return action.time if isinstance(action, Reading) else at(action[1])

    # Reference: everything in time order (a command applies after a reading at its instant).
    in_order = run(sorted(actions, key=lambda a: (when(a), not isinstance(a, Reading))), None)
    shuffled = list(actions)
    rnd.shuffle(shuffled)
    restart = data.draw(st.integers(0, len(shuffled)))
    assert run(shuffled, restart) == in_order


@settings(max_examples=300, deadline=None)
@given(
    histories(),
    st.randoms(use_true_random=False),
    st.sampled_from([None, 100.0]),
    st.sampled_from([None, 2000.0]),
    st.integers(0, 3),
)
def test_the_append_fast_path_changes_nothing(
    readings: list[Reading],
    rnd: random.Random,
    rate: float | None,
    modulus: float | None,
    late: int,
) -> None:
    """Step by step, the engine's answers and final state are those of the general replay
    (``_append`` off), with wraps, late readings, a command and a small window in the mix."""
    readings = [Reading(r.name, r.value, r.time, modulus=modulus) for r in readings]
    for _ in range(late):  # a few arrive late
        i = rnd.randrange(len(readings))
        readings.append(readings.pop(i))
    limits = MeterLimits(max_per_hour=rate)
    fast, slow = MeterEngine(limits, window=8), MeterEngine(limits, window=8)
    slow._append = lambda *_: None  # type: ignore[method-assign]
    command = rnd.randrange(len(readings))
    for i, r in enumerate(readings):
        if i == command:
            assert fast.calibrate(KEY, r.time, 5.0) == slow.calibrate(KEY, r.time, 5.0)
        assert fast.update(DEV, r) == slow.update(DEV, r)
    assert fast.snapshot() == slow.snapshot()
    assert fast.take_state() == slow.take_state()

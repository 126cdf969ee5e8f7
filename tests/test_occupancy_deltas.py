"""Consumption outside occupancy, stored with each delta: the split of a delta by the building's
schedule, its fast path, the ingestion that attaches it and the stores that write it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lorawatch.core.metrics import Metrics
from lorawatch.gateway_bridge.source import NullSource
from lorawatch.inventory import Inventory, InventoryFile
from lorawatch.inventory.occupancy import BuildingSchedules, Schedule
from lorawatch.pipeline import line_protocol
from lorawatch.pipeline.bridge import Bridge
from lorawatch.pipeline.ingest import Ingestor
from lorawatch.pipeline.records import Batch, Consumption, Place
from lorawatch.simulators.scenario import builtin, load
from lorawatch.simulators.simulation import Simulation
from lorawatch.stores.sqlite import SqliteStore

PARIS = ZoneInfo("Europe/Paris")
SCENE = load(builtin("saint-sulpice"))
SCHOOL = Schedule.of(SCENE.inventory.buildings["ecole"])  # opens 07:30 on Monday
HALL = Schedule.of(SCENE.inventory.buildings["salle-polyvalente"])  # Saturday 14:00-01:00


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def test_a_delta_straddling_the_opening_is_split_in_proportion() -> None:
    assert SCHOOL.unoccupied_part(at(2026, 5, 11, 7, 15), at(2026, 5, 11, 7, 45), 3.0) == 1.5
    assert SCHOOL.unoccupied_part(
        at(2026, 5, 11, 7, 20), at(2026, 5, 11, 7, 35), 1.5
    ) == pytest.approx(1.0)
    # The hall's Saturday booking runs to 01:00 on Sunday: half of 00:45-01:15 is occupied.
    assert HALL.unoccupied_part(at(2026, 5, 10, 0, 45), at(2026, 5, 10, 1, 15), 2.0) == 1.0


def test_a_delta_wholly_on_one_side_is_all_or_nothing_to_the_last_digit() -> None:
    value = 0.1 + 0.2  # no value survives an x (1 - 0/900) that is not exactly 1
    assert SCHOOL.unoccupied_part(at(2026, 5, 11, 9, 0), at(2026, 5, 11, 9, 15), value) == 0.0
    assert SCHOOL.unoccupied_part(at(2026, 5, 11, 5, 0), at(2026, 5, 11, 5, 15), value) == value
    assert SCHOOL.unoccupied_part(at(2026, 5, 10, 9, 0), at(2026, 5, 10, 9, 15), value) == value
    # Ascension Thursday, a public holiday: closed all day despite the weekly hours.
    assert SCHOOL.unoccupied_part(at(2026, 5, 14, 9, 0), at(2026, 5, 14, 9, 15), value) == value


def test_a_gap_delta_is_split_over_the_days_it_spans() -> None:
    """Nothing says when a gap's energy was used: it is taken as spread evenly, so the part
    outside occupancy is the share of unoccupied time, here Saturday noon to Monday 08:30."""
    start, end = at(2026, 5, 9, 12, 0), at(2026, 5, 11, 8, 30)
    hours = (end - start) / timedelta(hours=1)
    assert SCHOOL.unoccupied_part(start, end, hours) == pytest.approx(hours - 1.0)


def reference(schedule: Schedule, start: datetime, end: datetime) -> float:
    """Occupied seconds by walking every day's intervals, without the cached span."""
    total = 0.0
    day = schedule.local_date(start) - timedelta(days=1)
    while schedule.day_bounds(day)[0] < end:
        for a, b in schedule.intervals(day):
            total += max(0.0, (min(b, end) - max(a, start)).total_seconds())
        day += timedelta(days=1)
    return total


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([SCHOOL, HALL]),
            st.integers(0, 14 * 24 * 60),
            st.integers(0, 3 * 24 * 60),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_the_cached_span_agrees_with_walking_the_days(
    deltas: list[tuple[Schedule, int, int]],
) -> None:
    """Deltas in any order, long or short, across midnight and the March DST change."""
    origin = at(2026, 3, 22, 0, 0)
    for schedule, offset, minutes in deltas:
        start = origin + timedelta(minutes=offset)
        end = start + timedelta(minutes=minutes)
        assert schedule.occupied_seconds(start, end) == pytest.approx(
            reference(schedule, start, end), abs=1e-6
        )


def test_a_building_without_opening_hours_gets_no_unoccupied_part() -> None:
    inventory = Inventory(
        InventoryFile.model_validate(
            {
                "communes": [{"id": "c", "name": "C", "latitude": 48, "longitude": -1.6}],
                "buildings": [
                    {
                        "id": "open",
                        "commune": "c",
                        "name": "O",
                        "opening_hours": {"mon": ["8:00-9:00"]},
                    },
                    {"id": "unknown", "commune": "c", "name": "U"},
                ],
            }
        )
    )
    schedules = BuildingSchedules(inventory)
    night = (at(2026, 5, 11, 3, 0), at(2026, 5, 11, 3, 15), 1.0)
    assert schedules.unoccupied("open", *night) == 1.0
    for building in ("unknown", "", "not-in-the-inventory"):
        assert schedules.unoccupied(building, *night) is None


def test_broken_opening_hours_are_refused_when_the_inventory_loads() -> None:
    """Not guessed later as "no schedule": the key and the bad value are named at once."""
    broken = {"id": "broken", "commune": "c", "name": "B", "opening_hours": {"mon": ["8h"]}}
    with pytest.raises(ValidationError) as info:
        InventoryFile.model_validate(
            {
                "communes": [{"id": "c", "name": "C", "latitude": 48, "longitude": -1.6}],
                "buildings": [broken],
            }
        )
    (error,) = info.value.errors()
    assert error["loc"] == ("buildings", 0, "opening_hours", "mon", 0)
    assert error["input"] == "8h"


def test_ingestion_stores_the_unoccupied_part_of_each_delta() -> None:
    """Through the real bridge and decoders: the school's meters on a Monday morning."""
    bridge = Bridge(NullSource(), Ingestor(SCENE.inventory), [], Metrics(), on_stored=None)
    school = [d.dev_eui for d in SCENE.inventory.devices.values() if d.building == "ecole"]
    uplinks = Simulation(SCENE, 0).uplinks(at(2026, 5, 11, 6, 0), at(2026, 5, 11, 9, 0), school)
    batch = bridge.process([u.message() for u in uplinks])
    names = {c.name for c in batch.consumption}
    assert names == {"energy_delta_kwh", "volume_delta_m3"}
    opening = at(2026, 5, 11, 7, 30)
    sides = set()
    for c in batch.consumption:
        assert c.unoccupied == SCHOOL.unoccupied_part(c.start, c.end, c.value)
        if c.end <= opening:
            assert c.unoccupied == c.value
            sides.add("before")
        elif c.start >= opening:
            assert c.unoccupied == 0.0
            sides.add("after")
        else:
            assert c.unoccupied is not None and 0 <= c.unoccupied <= c.value
            sides.add("across")
    assert sides == {"before", "after", "across"}


def delta(name: str, unoccupied: float | None, place: Place) -> Consumption:
    end = at(2026, 5, 11, 7, 45)
    return Consumption(
        "24e124136b400002",
        name,
        "",
        end - timedelta(minutes=15),
        end,
        2.0,
        False,
        place,
        unoccupied,
    )


def test_the_part_is_a_field_of_the_same_point_named_after_its_delta() -> None:
    school = Place("saint-sulpice-la-foret", "ecole", "ecole-elec", "electricity")
    lamp = Place("saint-sulpice-la-foret", "", "ep-1", "streetlight")
    batch = Batch(
        consumption=[
            delta("energy_delta_kwh", 0.0, school),
            delta("volume_delta_m3", 0.5, school),
            delta("energy_delta_kwh", None, lamp),
        ]
    )
    energy, water, street = line_protocol.encode(batch)
    assert " energy_delta_kwh=2.0,energy_delta_kwh_unoccupied=0.0,interval_s=900i," in energy
    assert " volume_delta_m3=2.0,volume_delta_m3_unoccupied=0.5,interval_s=900i," in water
    assert "unoccupied" not in street


def test_the_sqlite_store_takes_deltas_with_their_part(tmp_path: Path) -> None:
    """SQLite keeps no such column: its aggregates split by the schedule at query time."""
    store = SqliteStore(tmp_path / "lorawatch.sqlite")
    school = Place("saint-sulpice-la-foret", "ecole", "ecole-elec", "electricity")
    store.write(Batch(consumption=[delta("energy_delta_kwh", 0.5, school)]))
    assert store.fetch("SELECT value FROM consumption") == [(2.0,)]
    store.close()

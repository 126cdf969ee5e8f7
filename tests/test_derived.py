"""The series the service writes for Grafana, on the web tests' village (eleven simulated days
in SQLite, "now" a school Thursday at 15:20): the typical day is the hall screen's, the
expected hours come from fits on the days before, and later runs of the day neither refit
nor rewrite the days already complete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lorawatch.analytics import derived
from lorawatch.pipeline import line_protocol
from lorawatch.stores.sqlite import SqliteStore
from lorawatch.web.figures import Figures
from tests.web_support import NOW, make_service, scene

PARIS = "Europe/Paris"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    service = make_service(tmp_path_factory.mktemp("derived"))
    path = service.sqlite.path
    service.stop()
    return SqliteStore(path)


def test_the_typical_day_is_the_hall_screens(
    store: SqliteStore, tmp_path_factory: pytest.TempPathFactory
) -> None:
    inventory = scene().inventory
    points = derived.typical_days(store, inventory, NOW)
    energy = {p.building: p.fields["energy_delta_kwh"] for p in points}
    assert set(energy) == {b.id for b in inventory.buildings.values()}
    assert {p.time for p in points} == {datetime(2026, 1, 15, tzinfo=ZoneInfo(PARIS))}
    service = make_service(tmp_path_factory.mktemp("derived-web"))
    try:
        figures = Figures(service)
        for building, value in energy.items():
            curve = figures.screen(building).today
            typical = sum(h.typical for h in curve if h.typical is not None)
            assert value == pytest.approx(typical, rel=1e-6), building
    finally:
        service.stop()
    line = line_protocol.point(
        derived.TYPICAL, {"building": "ecole", "commune": "x y"}, {"a": 1.5}, points[0].time
    )
    assert line.startswith("typical_day,building=ecole,commune=x\\ y a=1.5 ")


def test_expected_hours_are_fitted_on_the_days_before(store: SqliteStore) -> None:
    inventory = scene().inventory
    job = derived.ExpectedDays()
    first = job.points(store, inventory, NOW)
    # Eleven days of history: the days with a week before them get expected hours.
    # History from 4 January 15:20: 12 January is the first day with a week before it.
    days = {p.time.astimezone(ZoneInfo(PARIS)).day for p in first}
    assert days == {12, 13, 14, 15}, days
    mairie = [p for p in first if p.building == "mairie"]
    assert mairie and all(p.fields[derived.EXPECTED_FIELD] >= 0 for p in mairie)
    assert all(p.time + timedelta(hours=1) <= NOW for p in first), "only hours that ended"
    assert set(job.fits) == {b.id for b in inventory.buildings.values()}
    # Ten minutes later: only today's hours, from the kept fit.
    fits = dict(job.fits)
    later = job.points(store, inventory, NOW + timedelta(minutes=10))
    today = datetime(2026, 1, 14, 23, tzinfo=UTC)  # 15 January, 00:00 in Paris
    assert later and all(p.time >= today for p in later)
    assert all(job.fits[b][1] is fit for b, (_, fit) in fits.items()), "no refit within the day"
    assert len(later) == 15 * len(inventory.buildings)  # 00:00 to 14:00, whole hours


def test_a_store_without_energy_gives_nothing(tmp_path_factory: pytest.TempPathFactory) -> None:
    empty = SqliteStore(tmp_path_factory.mktemp("empty") / "lw.sqlite")
    assert derived.typical_days(empty, scene().inventory, NOW) == []
    assert derived.ExpectedDays().points(empty, scene().inventory, NOW) == []

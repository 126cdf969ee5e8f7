"""The occupant screens' "typical day" compares like with like: a school day with school days,
a holiday with closed days. The simulated school's electricity meter, autumn 2025 (Toussaint
holidays, zone B: 2025-10-18..2025-11-02), goes through the bridge into SQLite, and the screen
figures are read at a few moments around the holidays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from lorawatch.analytics import aggregates
from lorawatch.app.service import Service
from lorawatch.core.metrics import Metrics
from lorawatch.gateway_bridge.source import Message, NullSource
from lorawatch.pipeline.bridge import Bridge
from lorawatch.pipeline.ingest import Ingestor
from lorawatch.simulators.scenario import builtin, load
from lorawatch.simulators.simulation import Simulation
from lorawatch.stores.sqlite import SqliteStore
from lorawatch.web.figures import Figures
from tests.alert_kit import EUI, local
from tests.web_support import settings

SCENE = load(builtin("saint-sulpice"))
START, END = local(2025, 9, 8), local(2025, 11, 25)


@pytest.fixture(scope="module")
def school_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("typical") / "lw.sqlite"
    store = SqliteStore(db)
    bridge = Bridge(NullSource(), Ingestor(SCENE.inventory), [store], Metrics(), on_stored=None)
    sim = Simulation(SCENE, 3)
    batch: list[Message] = []
    for u in sim.uplinks(START, END, [EUI["ecole-elec"]]):
        batch.append(u.message())
        if len(batch) == 200:
            bridge.process(batch)
            batch = []
    bridge.process(batch)
    store.close()
    return db


@pytest.fixture
def figures(school_db: Path) -> Iterator[tuple[Figures, Service]]:
    service = Service(settings(school_db), inventory=SCENE.inventory, source=NullSource())
    try:
        yield Figures(service), service
    finally:
        service.stop()


def today_change(figures: Figures, service: Service, at: datetime) -> float:
    service.clock = lambda: at
    change = figures.summary("ecole").energy.today.ratio
    assert change is not None
    return change


def old_change(figures: Figures, at: datetime) -> float:
    """The same figure from the same weekday of the four previous weeks, whatever they were."""
    midnight = at.replace(hour=0, minute=0)
    points = aggregates.baseline(
        figures.store, "energy_delta_kwh", midnight, at, weeks=4, tz="Europe/Paris"
    )
    mine = [p for p in points if p.group == "ecole" and p.start < at]
    value = sum(p.value or 0.0 for p in mine)
    typical = sum(p.typical or 0.0 for p in mine)
    return value / typical - 1


def test_the_weeks_after_the_holidays_are_compared_with_school_weeks(
    figures: tuple[Figures, Service],
) -> None:
    fig, service = figures
    for day in (date(2025, 11, 10), date(2025, 11, 13), date(2025, 11, 17)):
        at = local(day.year, day.month, day.day, 17, 0)
        change = today_change(fig, service, at)
        assert abs(change) < 0.2, (day, change)
        # Half the previous weeks on that weekday were holidays: what the screen used to say.
        assert old_change(fig, at) > 0.4, day


def test_a_holiday_is_compared_with_closed_days_not_shown_as_a_saving(
    figures: tuple[Figures, Service],
) -> None:
    fig, service = figures
    for day in (date(2025, 10, 22), date(2025, 10, 28), date(2025, 10, 30)):
        at = local(day.year, day.month, day.day, 17, 0)
        change = today_change(fig, service, at)
        assert abs(change) < 0.25, (day, change)
        assert old_change(fig, at) < -0.4, day


def test_the_month_so_far_is_compared_alike(figures: tuple[Figures, Service]) -> None:
    fig, service = figures
    service.clock = lambda: local(2025, 11, 21, 17, 0)
    month = fig.summary("ecole").energy.month
    assert month.ratio is not None and abs(month.ratio) < 0.15, month


def test_this_week_is_compared_with_last_week_only_when_both_open_alike(
    figures: tuple[Figures, Service],
) -> None:
    fig, service = figures
    cases = {
        date(2025, 10, 22): "typical_week",  # first week of holidays: last week was school
        date(2025, 10, 30): "last_week",  # second week of holidays, like the first
        date(2025, 11, 6): "typical_week",  # back to school after a holiday week
        date(2025, 11, 20): "typical_week",  # last week had Armistice (11 Nov) off
        date(2025, 11, 24): "last_week",
    }
    for day, against in cases.items():
        service.clock = lambda day=day: local(day.year, day.month, day.day, 17, 0)
        week = fig.summary("ecole").energy
        assert week.week_against == against, day
        assert week.week.ratio is not None and abs(week.week.ratio) < 0.25, (day, week.week)

"""The hall screen's weather-adjusted line on a real store: the town hall's heat pump replaced
when its campaign began (1 September 2025, 15 % less), eighteen simulated months through
SQLite, read on 1 March 2026: "−15 % against the year before the campaign", weather aside.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lorawatch.app.service import Service
from lorawatch.core.readings import OUTDOOR
from lorawatch.gateway_bridge.source import NullSource
from lorawatch.inventory import Inventory
from lorawatch.pipeline.records import Batch, Consumption, StoredReading
from lorawatch.simulators.scenario import builtin, load
from lorawatch.simulators.simulation import Simulation
from lorawatch.stores.sqlite import SqliteStore
from lorawatch.web import pages
from lorawatch.web.figures import Figures
from tests.alert_kit import EUI, local, place
from tests.test_savings import RETROFIT
from tests.web_support import settings

SCENE = load(builtin("saint-sulpice"))
CAMPAIGN = local(2025, 9, 1)
NOW = datetime(2026, 3, 1, 11, tzinfo=UTC)


def inventory() -> Inventory:
    doc = SCENE.inventory.doc
    buildings = [
        b.model_copy(update={"campaign_start": "2025-09-01"}) if b.id == "mairie" else b
        for b in doc.buildings
    ]
    return Inventory(doc.model_copy(update={"buildings": buildings}), SCENE.inventory.source)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    db: Path = tmp_path_factory.mktemp("screen-weather") / "lw.sqlite"
    sim = Simulation(SCENE, 2)
    load_ = sim.load("mairie")
    batch = Batch()
    h = int(local(2024, 8, 25).timestamp())
    while h < NOW.timestamp():
        start = datetime.fromtimestamp(h, UTC)
        kwh = (load_.energy_kwh(h + 3600) - load_.energy_kwh(h)) * (
            1 - RETROFIT if h >= CAMPAIGN.timestamp() else 1.0
        )
        batch.consumption.append(
            Consumption(
                EUI["mairie-elec"],
                "energy_delta_kwh",
                "",
                start,
                start + timedelta(hours=1),
                kwh,
                False,
                place("mairie-elec"),
            )
        )
        temp = sum(sim.ctx.weather.at(h + m * 600 + 300) for m in range(6)) / 6
        batch.readings.append(
            StoredReading(
                EUI["meteo-ateliers"],
                OUTDOOR,
                "1",
                start + timedelta(minutes=30),
                temp,
                place("meteo-ateliers"),
            )
        )
        h += 3600
    store = SqliteStore(db)
    store.write(batch)
    store.close()
    svc = Service(settings(db), inventory=inventory(), source=NullSource())
    svc.clock = lambda: NOW
    try:
        yield svc
    finally:
        svc.stop()


def test_the_campaign_is_measured_weather_aside(service: Service) -> None:
    figures = Figures(service)
    line = figures.weather("mairie", NOW)
    assert line.against == "campaign" and line.significant and line.change is not None
    assert line.change == pytest.approx(-RETROFIT, abs=0.025)
    screen = figures.screen("mairie")
    assert screen.weather == line
    text, cls = pages._weather(screen, "fr") or ("", "")
    assert text.startswith("À météo égale : −1") and cls == "good"
    assert text.endswith("par rapport à l'année avant la campagne")


def test_a_building_without_a_year_of_history_says_so(service: Service) -> None:
    line = Figures(service).weather("ecole", NOW)
    assert line.change is None and line.refused == "coverage"

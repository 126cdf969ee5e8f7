"""``GET /api/buildings/{id}/savings``: a known retrofit measured through the API, and each
refusal a 422 whose ``type`` is a stable key.

Two simulated winters go through SQLite: the town hall with its heat pump replaced in the
summer of 2025 (15 % less), the workshops with hours made erratic so that no model meets
ASHRAE Guideline 14.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from lorawatch.app.service import Service
from lorawatch.core import catalogue
from lorawatch.core.readings import OUTDOOR
from lorawatch.gateway_bridge.source import NullSource
from lorawatch.pipeline.records import Batch, Consumption, StoredReading
from lorawatch.simulators.scenario import builtin, load
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import EUI, PARIS, place
from tests.language_support import leaked
from tests.test_savings import RETROFIT, series
from tests.web_support import VIEWER_TOKEN, principals, serve, settings

SCENE = load(builtin("saint-sulpice"))
URL = "/api/buildings/{}/savings"
PERIODS = {"baseline": "2024-11-04..2025-03-02", "reporting": "2025-11-03..2026-03-01"}
VIEWER = {"Authorization": f"Bearer {VIEWER_TOKEN}"}


def write_winters(db: Path) -> None:
    store = SqliteStore(db)
    batch = Batch()
    energy, temps = series("mairie", datetime(2025, 8, 1, tzinfo=PARIS), 1 - RETROFIT)
    erratic = {h: v * (3.0 if (h // 3600) % 7 == 0 else 0.2) for h, v in energy.items()}
    for meter, values in (("mairie-elec", energy), ("ateliers-elec", erratic)):
        for h, kwh in values.items():
            start = datetime.fromtimestamp(h, UTC)
            batch.consumption.append(
                Consumption(
                    EUI[meter],
                    "energy_delta_kwh",
                    "",
                    start,
                    start + timedelta(hours=1),
                    kwh,
                    False,
                    place(meter),
                )
            )
    for h, t in temps.items():
        at = datetime.fromtimestamp(h, UTC) + timedelta(minutes=30)
        batch.readings.append(
            StoredReading(EUI["meteo-ateliers"], OUTDOOR, "1", at, t, place("meteo-ateliers"))
        )
    store.write(batch)
    store.close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    db = tmp_path_factory.mktemp("savings-api") / "lw.sqlite"
    write_winters(db)
    service = Service(settings(db, **principals()), inventory=SCENE.inventory, source=NullSource())
    service.clock = lambda: datetime(2026, 3, 10, 12, tzinfo=UTC)
    try:
        with serve(service) as c:
            yield c
    finally:
        service.stop()


def refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert isinstance(error["msg"], str) and error["msg"]
    return dict(error)


def test_a_retrofit_is_measured_through_the_api(client: httpx.Client) -> None:
    response = client.get(URL.format("mairie"), params=PERIODS, headers=VIEWER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["avoided_pct"] == pytest.approx(100 * RETROFIT, abs=2.0)
    assert body["avoided_kwh_90_low"] < body["avoided_kwh"] < body["avoided_kwh_90_high"]
    assert body["cv_rmse_pct"] <= 30 and abs(body["nmbe_pct"]) <= 10
    assert 0 < body["fsu_90_pct"] < 50 and body["significant"] is True
    assert body["avoided_kwh"] == pytest.approx(
        body["adjusted_baseline_kwh"] - body["measured_kwh"], abs=0.01
    )
    assert body["baseline_start"].startswith("2024-11-04T00:00:00")
    assert body["reporting_end"].startswith("2026-03-02T00:00:00")


def test_a_model_failing_guideline_14_is_a_422_with_its_figures(client: httpx.Client) -> None:
    error = refusal(client.get(URL.format("ateliers"), params=PERIODS, headers=VIEWER))
    assert error["type"] == "savings.guideline_14"
    assert error["loc"] == ["query", "baseline"]
    assert error["ctx"]["cv_rmse_pct"] > 30 and error["ctx"]["cv_rmse_max_pct"] == 30


def test_a_period_without_data_is_a_422_that_counts_the_hours(client: httpx.Client) -> None:
    params = PERIODS | {"reporting": "2027-01-04..2027-02-28"}
    error = refusal(client.get(URL.format("mairie"), params=params, headers=VIEWER))
    assert error["type"] == "savings.coverage" and error["loc"] == ["query", "reporting"]
    assert error["ctx"]["hours"] == 0 and error["ctx"]["hours_in_period"] == 56 * 24


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"baseline": "last winter"}, "baseline"),
        ({"reporting": "2025-01-01..2025-02-01"}, "reporting"),
        ({"reporting": "2025-11-03..2028-03-01"}, "reporting"),
        ({"baseline": "1990-01-01..1990-03-01"}, "baseline"),
    ],
)
def test_bad_periods_are_a_422_naming_the_field(
    client: httpx.Client, params: dict[str, str], field: str
) -> None:
    error = refusal(client.get(URL.format("mairie"), params=PERIODS | params, headers=VIEWER))
    assert error["type"] == "savings.period" and error["loc"] == ["query", field]


def test_savings_need_a_viewer_and_a_known_building(client: httpx.Client) -> None:
    assert client.get(URL.format("mairie"), params=PERIODS).status_code == 401
    assert client.get(URL.format("nowhere"), params=PERIODS, headers=VIEWER).status_code == 404
    missing = client.get(URL.format("mairie"), params={"baseline": "x"}, headers=VIEWER)
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "reporting"]


def test_the_schema_documents_the_route_and_its_error_keys(client: httpx.Client) -> None:
    schema = client.get("/api/openapi.json").json()
    operation = schema["paths"]["/api/buildings/{building}/savings"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"building", "baseline", "reporting"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SavingsOut"
    }
    described = operation["responses"]["422"]["description"]
    for key in ("savings.period", "savings.coverage", "savings.too_short", "savings.guideline_14"):
        assert key in described


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_refusal_says_why_in_the_requests_language(client: httpx.Client, lang: str) -> None:
    reporting = catalogue.text(lang, "invalid.savings_period_reporting")
    cases = [
        ("ateliers", PERIODS, "ASHRAE Guideline 14"),
        ("mairie", PERIODS | {"reporting": "2027-01-04..2027-02-28"}, reporting),
    ]
    for building, params, part in cases:
        response = client.get(URL.format(building), params=params | {"lang": lang}, headers=VIEWER)
        msg = refusal(response)["msg"]
        assert part in msg, (lang, msg)
        assert leaked([msg], lang) == [], (lang, msg)
    bad = client.get(
        URL.format("mairie"), params=PERIODS | {"baseline": "nope", "lang": lang}, headers=VIEWER
    )
    assert leaked([refusal(bad)["msg"]], lang) == []

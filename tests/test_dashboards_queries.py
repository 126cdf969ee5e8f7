"""Every panel's query, as Grafana would send it, runs on a real InfluxDB filled by the simulator.

The Saint-Sulpice scenario is backfilled through the real pipeline (``Service`` with the
InfluxDB output) for the week before a fixed "now" (Saturday 16 May 2026, 10:00 in Paris: a
glass bin is full since Friday evening, a bin sensor's battery died the week before) and for
the same days a year earlier (the "last year" and "since the campaign" panels). Each window
has its own pipeline state, so no delta spans the year between them.

The alert rules run on every stored batch of the week, as in the service, with a daily energy
budget of 10 kWh per building that every building passes on most days, so each building has
alerts, opened and resolved by the data (the year-old window runs without alerts: it only
feeds the comparisons). The built-in InfluxDB notifier's outbox is then drained by running
its worker in the test's thread, as its thread would.

Each query of each panel is then interpolated like Grafana does (``tests/grafana.py``): panel
time overrides and shifts, interval, ``$building`` (every option), ``$timeFilter``... and sent
to InfluxDB. An InfluxQL error fails the test, and so does an empty answer: with a week of
data every panel must show something.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from lorawatch.alerts.config import AlertsConfig
from lorawatch.app import config
from lorawatch.app.service import Service
from lorawatch.dashboards import provisioning
from lorawatch.gateway_bridge.source import NullSource
from lorawatch.simulators.run import backfill
from lorawatch.simulators.scenario import builtin, load
from lorawatch.simulators.simulation import Simulation
from tests import grafana
from tests.servers import InfluxDB

pytestmark = pytest.mark.servers

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 5, 16, 10, 0, tzinfo=PARIS)
WINDOWS = (
    (datetime(2025, 5, 15, tzinfo=PARIS), datetime(2025, 5, 17, 12, tzinfo=PARIS)),
    (datetime(2026, 5, 8, 12, tzinfo=PARIS), NOW),
)
SCENARIO = load(builtin("saint-sulpice"))
TREE = provisioning.tree(SCENARIO.inventory)
DASHBOARDS = {
    rel.stem if "screens" not in rel.parts else f"screen-{rel.stem}": json.loads(text)
    for rel, text in TREE.items()
    if rel.suffix == ".json"
}
QUERIES = [q for d in DASHBOARDS.values() for q in grafana.queries(d, NOW)]
BUDGET = {"daily_budget_kwh": 10.0}


@pytest.fixture(scope="module")
def filled(influxdb: InfluxDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The database, with the scenario's windows written through the real pipeline."""
    db = "dashboards"
    influxdb.create_database(db)
    sim = Simulation(SCENARIO, seed=0)
    for i, (start, end) in enumerate(WINDOWS):
        work = tmp_path_factory.mktemp(f"window{i}")
        settings = config.load(
            None,
            {
                "inventory": {"path": str(SCENARIO.path)},
                "store": {
                    "outputs": ["influxdb"],
                    "batch_size": 5000,
                    "sqlite": {"path": str(work / "lorawatch.sqlite")},
                    "influxdb": {"url": influxdb.url, "database": db, "spool_dir": str(work)},
                },
                "http": {"listen": "127.0.0.1:0"},
            },
        )
        last = i == len(WINDOWS) - 1
        alerts = AlertsConfig.model_validate(
            {"enabled": last, "overrides": [{"kind": "electricity", "energy": BUDGET}]}
        )
        service = Service(
            settings, inventory=SCENARIO.inventory, source=NullSource(), alerts=alerts
        )
        try:
            backfill(
                sim,
                start.astimezone(UTC),
                end.astimezone(UTC),
                service.bridge.process,
                batch=5000,
                progress=False,
            )
            if service.alerts is not None:
                (writer,) = [
                    w for w in service.alerts.outbox.workers if w.config.name == "influxdb"
                ]
                while writer.run_once() == 0.0:  # 0.0: it delivered some, maybe not all
                    pass
                assert not writer.due(writer.clock()), "every alert event is in InfluxDB"
            if last:
                # What the service's job writes every ten minutes, once at the fixed "now".
                assert service.derived is not None
                assert service.derived.run_once(NOW.astimezone(UTC)) > 0
        finally:
            for store in service.stores:
                store.close()
    yield db


def run(influxdb: InfluxDB, db: str, influxql: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{influxdb.url}/query", params={"db": db, "q": influxql, "epoch": "ms"}, timeout=30
    )
    body = response.json()
    assert response.status_code == 200 and "error" not in body, f"{body}\n{influxql}"
    (result,) = body["results"]
    assert "error" not in result, f"{result['error']}\n{influxql}"
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def values(series: list[dict[str, Any]]) -> list[Any]:
    return [v for s in series for row in s["values"] for v in row[1:] if v is not None]


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_panel_query_runs_and_returns_data(
    query: grafana.Query, influxdb: InfluxDB, filled: str
) -> None:
    series = run(influxdb, filled, query.influxql)
    assert values(series), f"no data for {query.name}:\n{query.influxql}"


def test_every_dashboard_and_panel_kind_is_covered() -> None:
    assert set(DASHBOARDS) >= {"overview", "building", "water", "waste", "lighting", "fleet"}
    assert sum(1 for k in DASHBOARDS if k.startswith("screen-")) == 7
    kinds = {p["type"] for d in DASHBOARDS.values() for p in grafana.panels(d)}
    assert kinds >= {"stat", "timeseries", "bargauge", "table", "state-timeline", "text"}


def panel(dashboard: str, title_start: str) -> tuple[dict[str, Any], dict[str, Any]]:
    board = DASHBOARDS[dashboard]
    found = next(p for p in grafana.panels(board) if p["title"].startswith(title_start))
    return board, found


def run_panel(
    influxdb: InfluxDB, db: str, dashboard: str, title_start: str, **variables: str
) -> dict[str, list[dict[str, Any]]]:
    board, found = panel(dashboard, title_start)
    start, end = grafana.panel_range(board, found, NOW)
    step = grafana.interval_ms(start, end, found["maxDataPoints"], found["interval"])
    return {
        t["refId"]: run(influxdb, db, grafana.interpolate(t["query"], start, end, step, variables))
        for t in found["targets"]
        if grafana.is_influxql(t)
    }


def test_figures_are_what_the_scenario_shows(influxdb: InfluxDB, filled: str) -> None:
    """A few panels checked for meaning, not only for running."""
    # Every building has a figure today, and a typical day.
    for title in ("Aujourd'hui", "Jour type"):
        (today,) = run_panel(influxdb, filled, "overview", title).values()
        assert {s["tags"]["building"] for s in today} == {
            b.id for b in SCENARIO.inventory.buildings.values()
        }
    # The load curve is a plausible power, with no invented zero where data is missing.
    (curve,) = run_panel(
        influxdb, filled, "building", "Courbe de charge", building="ecole"
    ).values()
    watts = values(curve)
    assert min(watts) > 0 and max(watts) < 200_000
    # The town hall uses energy both while open and while closed, every day of the week.
    split = run_panel(influxdb, filled, "building", "Pendant et hors occupation", building="mairie")
    assert min(values(split["B"])) > 0 and max(values(split["A"])) > 0
    # The glass bin of the salle car park is full (anomaly "verre-plein-vendredi").
    (overflow,) = run_panel(influxdb, filled, "waste", "Débordements").values()
    assert "pav-salle-glass" in {s["tags"]["device"] for s in overflow}
    # The paper bin whose battery died a week ago is heard no more: the fleet's count says one
    # sensor is missing against the inventory, and the last-heard table has it no more.
    expected = len(SCENARIO.inventory.devices)
    (heard,) = run_panel(influxdb, filled, "fleet", "Capteurs entendus").values()
    assert values(heard) == [expected - 1]
    assert panel("fleet", "Capteurs entendus")[1]["title"] == f"Capteurs entendus (sur {expected})"
    (last_seen,) = run_panel(influxdb, filled, "fleet", "Derniers signes").values()
    assert "pav-foret-paper" not in {s["tags"]["device"] for s in last_seen}
    assert len(last_seen) == expected - 1


def test_campaign_progress_expression_gives_a_percentage(influxdb: InfluxDB, filled: str) -> None:
    """The occupant screen's server-side expressions over the two mean days give a finite %."""
    board, found = panel("screen-ecole", "Depuis le début de la campagne")
    results = run_panel(influxdb, filled, "screen-ecole", "Depuis le début de la campagne")
    reduced: dict[str, float] = {}
    for target in found["targets"]:
        if target.get("type") == "reduce":
            reduced[target["refId"]] = values(results[target["expression"]])[-1]
    math_target = next(t for t in found["targets"] if t.get("type") == "math")
    percent = grafana.math(math_target["expression"], reduced)
    assert math.isfinite(percent) and -90 < percent < 200
    assert board["uid"] == "lw-screen-ecole"


def row(series: dict[str, Any]) -> dict[str, Any]:
    """The one row of a series grouped by alert, as column -> value."""
    (only,) = series["values"]
    return dict(zip(series["columns"], only, strict=True))


def by_time(series: list[dict[str, Any]]) -> dict[int, float]:
    (only,) = series
    return {t: v for t, v in only["values"] if v is not None}


def test_consumption_outside_occupancy_follows_the_schools_schedule(
    influxdb: InfluxDB, filled: str
) -> None:
    """The part of each delta outside occupancy, stored by the pipeline, splits the school's
    energy as its opening hours and calendars say: all of a Sunday is unoccupied, a school
    day is both, and the overview's share is the same split over the week."""
    (share,) = run_panel(influxdb, filled, "overview", "Consommation hors occupation").values()
    percent = {s["tags"]["building"]: v for s in share for v in values([s])}
    assert set(percent) == {b.id for b in SCENARIO.inventory.buildings.values()}
    assert 0 < percent["ecole"] < 100
    split = run_panel(influxdb, filled, "building", "Pendant et hors occupation", building="ecole")
    occupied, unoccupied = by_time(split["A"]), by_time(split["B"])
    daily = run_panel(influxdb, filled, "building", "Consommation par jour", building="ecole")
    total = by_time(daily["A"])
    sunday = int(datetime(2026, 5, 10, tzinfo=PARIS).timestamp() * 1000)
    monday = int(datetime(2026, 5, 11, tzinfo=PARIS).timestamp() * 1000)
    assert total[sunday] > 0
    assert unoccupied[sunday] == pytest.approx(total[sunday], rel=1e-9)
    assert occupied[sunday] == pytest.approx(0, abs=1e-9)
    assert occupied[monday] > unoccupied[monday] > 0
    assert occupied[monday] + unoccupied[monday] == pytest.approx(total[monday], rel=1e-9)
    week = 100 * sum(unoccupied.values()) / (sum(unoccupied.values()) + sum(occupied.values()))
    assert percent["ecole"] == pytest.approx(week, rel=1e-6)


def test_alert_panels_show_the_alerts_of_the_backfill(influxdb: InfluxDB, filled: str) -> None:
    """The glass bin full since Friday is an open alert; alerts resolved by the data are not;
    a building's table lists its own alerts, open and resolved, each stamped at data time."""
    (listed,) = run_panel(influxdb, filled, "overview", "Alertes ouvertes").values()
    rows = {s["tags"]["alert_id"]: row(s) | s["tags"] for s in listed}
    (glass,) = [r for r in rows.values() if r["device"] == "pav-salle-glass"]
    assert glass["rule"] == "waste.fill" and glass["severity"] == "critical"
    assert "Parking de la salle polyvalente" in glass["title"]
    opened = datetime.fromtimestamp(glass["opened"] / 1000, PARIS)
    assert datetime(2026, 5, 15, 17, 30, tzinfo=PARIS) <= opened < NOW
    last = run(influxdb, filled, 'SELECT last("state") AS "state" FROM "alert" GROUP BY "alert_id"')
    state = {s["tags"]["alert_id"]: row(s)["state"] for s in last}
    assert set(rows) == {a for a, st in state.items() if st != "resolved"}
    assert "resolved" in state.values()
    assert max(s["values"][0][0] for s in last) <= NOW.timestamp() * 1000, "at data time"

    (ecole,) = run_panel(
        influxdb, filled, "building", "Alertes du bâtiment", building="ecole"
    ).values()
    assert {s["tags"]["building"] for s in ecole} == {"ecole"}
    assert {s["tags"]["rule"] for s in ecole} == {"energy.daily_budget"}
    states = [row(s)["state"] for s in ecole]
    assert "resolved" in states and set(states) <= {"open", "acknowledged", "resolved"}


def test_the_typical_day_compares_like_with_like(influxdb: InfluxDB, filled: str) -> None:
    """Saturday 16 May: the school is closed, so its typical day is a closed day's (the
    weekend before), far below its school days; the overview shows what the web computes."""
    (typical,) = run_panel(influxdb, filled, "overview", "Jour type").values()
    shown = {s["tags"]["building"]: values([s])[-1] for s in typical}
    daily = run_panel(influxdb, filled, "building", "Consommation par jour", building="ecole")
    days = {
        datetime.fromtimestamp(t / 1000, PARIS).date(): v for t, v in by_time(daily["A"]).items()
    }
    school_days = [v for d, v in days.items() if d.weekday() < 5 and d.day not in (8, 14, 15)]
    weekend = [v for d, v in days.items() if d.weekday() >= 5 and d.day < 16]
    print("ecole typical", shown["ecole"], "school days", school_days, "weekend", weekend)
    assert school_days and weekend
    assert shown["ecole"] < 0.8 * min(school_days)
    assert min(weekend) * 0.8 <= shown["ecole"] <= max(weekend) * 1.2


def test_the_weather_adjusted_panel_expects_about_what_was_used(
    influxdb: InfluxDB, filled: str
) -> None:
    """Each building's expected hours of today, from a model of the week before, come within
    a third of what it used (the simulator's buildings behave as usual that morning)."""
    for building in ("mairie", "ecole", "mediatheque"):
        result = run_panel(influxdb, filled, "building", "À météo égale", building=building)
        used, expected = by_time(result["A"]), by_time(result["B"])
        today = [t for t in expected if t >= NOW.replace(hour=0).timestamp() * 1000]
        assert len(today) == 10, (building, len(today))  # 00:00 to 09:00, whole hours before now
        got = sum(used[t] for t in today if t in used)
        wanted = sum(expected[t] for t in today)
        print(building, "used", round(got, 1), "expected", round(wanted, 1))
        assert wanted > 0 and abs(got / wanted - 1) < 0.33, (building, got, wanted)

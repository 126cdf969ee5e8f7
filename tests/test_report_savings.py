"""The monthly report's weather-adjusted line: the town hall's retrofit measured on one month
of the second winter, the workshops' erratic hours refused with their fit statistics, and a
default baseline without enough history said so, in French and in English."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorawatch.analytics import report_savings, reports
from lorawatch.app.cli.main import app
from lorawatch.simulators.scenario import builtin, load
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import local
from tests.test_savings import RETROFIT
from tests.test_savings_api import write_winters

SCENE = load(builtin("saint-sulpice"))
BASELINE = (local(2024, 11, 4), local(2025, 3, 3))
FEBRUARY = date(2026, 2, 1)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    db = tmp_path_factory.mktemp("report-savings") / "lw.sqlite"
    write_winters(db)
    return SqliteStore(db)


def buildings(store: SqliteStore, **kwargs: object) -> dict[str, reports.BuildingReport]:
    (commune,) = reports.build(
        store,
        SCENE.inventory,
        FEBRUARY,
        tz="Europe/Paris",
        **kwargs,  # type: ignore[arg-type]
    )
    return {b.id: b for b in commune.buildings}


def test_the_retrofit_is_measured_on_one_month(store: SqliteStore) -> None:
    built = buildings(store, savings_baseline=BASELINE)
    weather = built["mairie"].weather
    assert weather is not None and weather.source == "given" and weather.result is not None
    assert weather.result.avoided_pct == pytest.approx(100 * RETROFIT, abs=2.5)
    assert weather.result.reporting_hours == 28 * 24
    assert built["ecole"].weather is None, "no energy in the month: no line"
    (commune,) = reports.build(
        store, SCENE.inventory, FEBRUARY, tz="Europe/Paris", savings_baseline=BASELINE
    )
    fr = reports.render_markdown(commune, "fr")
    assert "À météo égale : −1" in fr and "du 4 novembre 2024 au 2 mars 2025" in fr
    assert "intervalle à 90 %" in fr and "CV(RMSE)" in fr
    en = reports.render_html(commune, "en")
    assert "Weather-adjusted: −1" in en and "4 November 2024 to 2 March 2025" in en
    assert "ASHRAE Guideline 14 method" in en


def test_a_model_failing_guideline_14_gives_its_figures(store: SqliteStore) -> None:
    weather = buildings(store, savings_baseline=BASELINE)["ateliers"].weather
    assert weather is not None and weather.result is None
    assert weather.refused == "guideline_14"
    text = report_savings.line(weather, "fr")
    assert text.startswith("À météo égale : non calculé") and "CV(RMSE)" in text
    assert f"{weather.figures['cv_rmse_pct']:.1f}".replace(".", ",") in text


def test_without_enough_history_the_line_says_so(store: SqliteStore) -> None:
    # Default baseline: the year before the campaign (6 January 2025), mostly without data.
    weather = buildings(store)["mairie"].weather
    assert weather is not None and weather.source == "campaign"
    assert weather.baseline == (local(2024, 1, 6), local(2025, 1, 6))
    assert weather.refused == "coverage"
    fr = report_savings.line(weather, "fr")
    assert fr.startswith("À météo égale : pas encore assez d'historique")
    assert "l'année avant la campagne (du 6 janvier 2024 au 5 janvier 2025)" in fr
    en = report_savings.line(weather, "en")
    assert en.startswith("Weather-adjusted: not enough history yet")


def test_the_report_command_takes_a_baseline(tmp_path: Path, store: SqliteStore) -> None:
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{builtin("saint-sulpice")}"\n[store.sqlite]\npath = "{store.path}"\n'
    )
    base = ["report", "-c", str(cfg), "--month", "2026-02", "--out", str(tmp_path / "r")]
    done = CliRunner().invoke(app, [*base, "--savings-baseline", "2024-11-04..2025-03-02"])
    assert done.exit_code == 0, done.output
    md = next((tmp_path / "r").glob("*-fr.md")).read_text(encoding="utf-8")
    assert "À météo égale : −1" in md
    bad = CliRunner().invoke(app, [*base, "--savings-baseline", "winter"])
    assert bad.exit_code == 2 and "--savings-baseline" in bad.output

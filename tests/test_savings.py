"""Savings verification on simulated winters: a known retrofit is measured, weather aside."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorawatch.analytics import savings
from lorawatch.app.cli.main import app
from lorawatch.core.readings import OUTDOOR
from lorawatch.inventory.occupancy import Schedule
from lorawatch.pipeline.records import Batch, Consumption, StoredReading
from lorawatch.simulators.scenario import builtin, load
from lorawatch.simulators.simulation import Simulation
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import EUI, PARIS, local, place

SCENE = load(builtin("saint-sulpice"))
BASELINE = (local(2024, 11, 4), local(2025, 3, 3))
REPORTING = (local(2025, 11, 3), local(2026, 3, 2))
RETROFIT = 0.15
"""The heat pump replaced in the summer of 2025: 15 % less electricity, whatever the weather."""


def series(
    building: str, factor_from: datetime, factor: float, seed: int = 1
) -> tuple[dict[int, float], dict[int, float]]:
    """Hourly kWh of a simulated building (scaled from ``factor_from``) and outdoor °C."""
    sim = Simulation(SCENE, seed)
    load_ = sim.load(building)
    energy: dict[int, float] = {}
    temps: dict[int, float] = {}
    for a, b in (BASELINE, REPORTING):
        h = int(a.timestamp())
        while h < b.timestamp():
            kwh = load_.energy_kwh(h + 3600) - load_.energy_kwh(h)
            energy[h] = kwh * (factor if h >= factor_from.timestamp() else 1.0)
            temps[h] = sum(sim.ctx.weather.at(h + m * 600 + 300) for m in range(6)) / 6
            h += 3600
    return energy, temps


def schedule(building: str) -> Schedule:
    return Schedule.of(SCENE.inventory.buildings[building], "Europe/Paris")


@pytest.mark.parametrize("building", ["mairie", "ateliers"])
def test_a_retrofit_is_measured_within_two_points(building: str) -> None:
    energy, temps = series(building, local(2025, 8, 1), 1 - RETROFIT)
    result = savings.verify(building, energy, temps, schedule(building), PARIS, BASELINE, REPORTING)
    print(
        f"{building}: {result.avoided_pct:.2f} % avoided, FSU {result.fsu_90_pct:.1f} %, CV(RMSE) {result.cv_rmse_pct:.1f} %"
    )
    assert result.avoided_pct == pytest.approx(100 * RETROFIT, abs=2.0)
    assert result.cv_rmse_pct <= 30 and abs(result.nmbe_pct) <= 10
    assert 0 < result.fsu_90_pct < 50
    low, high = result.avoided_kwh_90
    assert low < result.avoided_kwh < high


def test_no_change_reports_no_savings() -> None:
    energy, temps = series("mairie", local(2030, 1, 1), 1.0)
    result = savings.verify("mairie", energy, temps, schedule("mairie"), PARIS, BASELINE, REPORTING)
    assert abs(result.avoided_pct) < 2.0
    assert result.fsu_90_pct > 20, "savings near zero are within the model's uncertainty"


def test_a_model_failing_guideline_14_is_refused() -> None:
    energy, temps = series("mairie", local(2030, 1, 1), 1.0)
    noisy = {h: v * (3.0 if (h // 3600) % 7 == 0 else 0.2) for h, v in energy.items()}
    with pytest.raises(savings.SavingsRefused, match="Guideline 14"):
        savings.verify("mairie", noisy, temps, schedule("mairie"), PARIS, BASELINE, REPORTING)


def test_missing_weather_is_refused() -> None:
    energy, temps = series("mairie", local(2030, 1, 1), 1.0)
    sparse = {h: t for h, t in temps.items() if (h // 3600) % 3 == 0}
    with pytest.raises(savings.SavingsRefused, match="outdoor temperature"):
        savings.verify("mairie", energy, sparse, schedule("mairie"), PARIS, BASELINE, REPORTING)


def test_the_t_quantile() -> None:
    # Published two-sided 90 % quantiles of Student's t.
    for dof, t in ((5, 2.015), (10, 1.812), (30, 1.697), (1000, 1.646)):
        assert savings.t90(dof) == pytest.approx(t, abs=0.01)


def test_savings_command_reads_the_store(tmp_path: Path) -> None:
    energy, temps = series("mairie", local(2025, 8, 1), 1 - RETROFIT)
    store = SqliteStore(tmp_path / "db.sqlite")
    meter, probe = "mairie-elec", "meteo-ateliers"
    batch = Batch()
    for h, kwh in energy.items():
        start = datetime.fromtimestamp(h, PARIS)
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
        batch.readings.append(
            StoredReading(EUI[probe], OUTDOOR, "1", start, round(temps[h], 1), place(probe))
        )
    store.write(batch)
    store.close()
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{builtin("saint-sulpice")}"\n'
        f'[store.sqlite]\npath = "{tmp_path / "db.sqlite"}"\n'
    )
    args = ["savings", "--building", "mairie", "--baseline", "2024-11-04..2025-03-02"]
    result = CliRunner().invoke(
        app, [*args, "--reporting", "2025-11-03..2026-03-01", "-c", str(cfg)]
    )
    assert result.exit_code == 0, result.output
    assert "kWh avoided" in result.output and "CV(RMSE)" in result.output
    as_json = CliRunner().invoke(
        app, [*args, "--reporting", "2025-11-03..2026-03-01", "-c", str(cfg), "--json"]
    )
    import json

    data = json.loads(as_json.stdout)
    assert data["avoided_pct"] == pytest.approx(100 * RETROFIT, abs=2.0)
    refused = CliRunner().invoke(
        app, [*args, "--reporting", "2027-01-01..2027-02-01", "-c", str(cfg)]
    )
    assert refused.exit_code == 1 and "refused" in refused.output

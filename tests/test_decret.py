"""Décret tertiaire figures: DJU base 18 °C, climate adjustment, the export's fields."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorawatch.analytics import decret
from lorawatch.app.cli.main import app
from lorawatch.core.readings import OUTDOOR
from lorawatch.pipeline.records import Batch, Consumption, StoredReading
from lorawatch.simulators.scenario import builtin
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import EUI, PARIS, place


def climate(year: int, offset: float) -> dict[date, tuple[float, float]]:
    """A seasonal climate; ``offset`` makes a milder or colder year."""
    out = {}
    d = date(year, 1, 1)
    while d.year == year:
        mean = 12 - 7 * math.cos(2 * math.pi * (d.timetuple().tm_yday - 15) / 365) + offset
        out[d] = (mean - 4, mean + 4)
        d += timedelta(days=1)
    return out


def consumption(extremes: dict[date, tuple[float, float]]) -> dict[date, dict[str, float]]:
    """A building with 150 kWh a day of base load and 12 kWh per degree-day of heating."""
    return {d: {"electricity": 150 + 12 * decret.dju(*t)} for d, t in extremes.items()}


def test_dju_base_18() -> None:
    assert decret.dju(2.0, 10.0) == 12.0
    assert decret.dju(15.0, 25.0) == 0.0
    year = decret.year_of({}, {d: (8.0, 8.0) for d in climate(2025, 0)}, 2025)
    assert year.dju == pytest.approx(365 * 10)


def test_a_milder_year_is_adjusted_to_the_reference_climate() -> None:
    cold, mild = climate(2024, -1.5), climate(2025, +1.5)
    ref = decret.year_of(consumption(cold), cold, 2024)
    this = decret.year_of(consumption(mild), mild, 2025)
    assert this.total_kwh < ref.total_kwh, "a milder year uses less"
    assert this.slope_kwh_per_dju == pytest.approx(12, rel=0.01)
    row = decret.declare("mairie", "Mairie", "c", 420.0, this, 2025, ref, 2024)
    # Same building, same behaviour: only the 29th of February of 2024 (one day of base load).
    assert row.change_pct == pytest.approx(-100 * 150 / ref.total_kwh, abs=0.02)
    assert row.intensity_kwh_m2 == pytest.approx(row.adjusted_kwh / 420, rel=1e-3)
    assert row.dju_18 < row.dju_18_reference


def test_missing_days_of_temperature_are_estimated_from_their_month() -> None:
    full = climate(2025, 0)
    partial = {d: t for d, t in full.items() if d.day != 15}
    year = decret.year_of({}, partial, 2025)
    assert year.dju_days_estimated == 12
    assert year.dju == pytest.approx(decret.year_of({}, full, 2025).dju, rel=0.01)


def test_export_csv_and_json(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    batch = Batch()
    meter, probe = "mairie-elec", "meteo-ateliers"
    for year, offset in ((2024, -1.5), (2025, 1.5)):
        weather = climate(year, offset)
        for d, kwh in consumption(weather).items():
            start = datetime(d.year, d.month, d.day, tzinfo=PARIS)
            batch.consumption.append(
                Consumption(
                    EUI[meter],
                    "energy_delta_kwh",
                    "",
                    start,
                    start + timedelta(hours=23),
                    kwh["electricity"],
                    False,
                    place(meter),
                )
            )
            lo, hi = weather[d]
            batch.readings.append(
                StoredReading(
                    EUI[probe], OUTDOOR, "1", start + timedelta(hours=5), lo, place(probe)
                )
            )
            batch.readings.append(
                StoredReading(
                    EUI[probe], OUTDOOR, "1", start + timedelta(hours=15), hi, place(probe)
                )
            )
    store.write(batch)
    store.close()
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{builtin("saint-sulpice")}"\n[store.sqlite]\npath = "{tmp_path / "db.sqlite"}"\n'
    )
    args = ["decret-tertiaire", "--year", "2025", "--reference-year", "2024", "-c", str(cfg)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [row] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(row) == decret.FIELDS
    assert row["building"] == "mairie" and row["surface_m2"] == "420.0"
    assert float(row["gas_kwh"]) == 0 and float(row["electricity_kwh"]) == float(row["total_kwh"])
    assert abs(float(row["change_pct"])) < 0.5
    as_json = CliRunner().invoke(app, [*args, "--format", "json"])
    [data] = json.loads(as_json.stdout)
    assert data["year"] == 2025 and data["reference_year"] == 2024
    assert data["days_with_energy"] == 365 and data["dju_days_estimated"] == 0

"""Savings and the décret tertiaire read through the store protocol: a real SQLite file and
the session's real InfluxDB, fed the same batches, give the same deltas, the same hourly
temperatures, the same savings and the same declaration; the commands work in an
InfluxDB-only deployment (``store.outputs = ["influxdb"]``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorawatch.analytics import decret, report_savings, reports, savings
from lorawatch.app.cli.main import app
from lorawatch.core.readings import OUTDOOR
from lorawatch.pipeline.records import Batch, Consumption, StoredReading
from lorawatch.simulators.scenario import builtin, load
from lorawatch.stores.influx import InfluxStore
from lorawatch.stores.settings import InfluxConfig
from lorawatch.stores.sqlite import SqliteStore
from tests.alert_kit import EUI, PARIS, place
from tests.servers import InfluxDB
from tests.test_savings import BASELINE, REPORTING, RETROFIT, series

pytestmark = pytest.mark.servers

SCENE = load(builtin("saint-sulpice"))
METER, PROBE = "mairie-elec", "meteo-ateliers"


def batch_of(energy: dict[int, float], temps: dict[int, float]) -> Batch:
    """Hourly deltas of the town hall's meter (one in a hundred flagged as a gap), and two
    readings of the outdoor probe per hour, so an hour has a mean, a low and a high."""
    batch = Batch()
    for i, (h, kwh) in enumerate(sorted(energy.items())):
        start = datetime.fromtimestamp(h, UTC)
        batch.consumption.append(
            Consumption(
                EUI[METER],
                "energy_delta_kwh",
                "",
                start,
                start + timedelta(hours=1),
                kwh,
                i % 100 == 7,
                place(METER),
            )
        )
        for minute, shift in ((10, -0.5), (40, 0.5)):
            batch.readings.append(
                StoredReading(
                    EUI[PROBE],
                    OUTDOOR,
                    "1",
                    start + timedelta(minutes=minute),
                    round(temps[h] + shift, 2),
                    place(PROBE),
                )
            )
    return batch


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory, influxdb: InfluxDB
) -> Iterator[tuple[SqliteStore, InfluxStore, Path]]:
    work = tmp_path_factory.mktemp("savings-stores")
    influxdb.create_database("savings_stores")
    sqlite = SqliteStore(work / "lw.sqlite")
    influx = InfluxStore(
        InfluxConfig(url=influxdb.url, database="savings_stores", spool_dir=work / "spool")
    )
    energy, temps = series("mairie", datetime(2025, 8, 1, tzinfo=PARIS), 1 - RETROFIT)
    batch = batch_of(energy, temps)
    for i in range(0, len(batch.consumption), 2000):
        part = Batch(
            consumption=batch.consumption[i : i + 2000],
            readings=batch.readings[2 * i : 2 * i + 4000],
        )
        sqlite.write(part)
        influx.write(part)
    assert not influx.health()["spooled_batches"]
    yield sqlite, influx, work
    influx.close()
    sqlite.close()


def test_both_stores_give_the_same_deltas_and_hours(
    stores: tuple[SqliteStore, InfluxStore, Path],
) -> None:
    sqlite, influx, _ = stores
    start, end = BASELINE[0], BASELINE[0] + timedelta(days=10)
    a = sqlite.deltas("energy_delta_kwh", "mairie", start, end)
    b = influx.deltas("energy_delta_kwh", "mairie", start, end)
    assert len(a) == 239 and a == b  # the first delta ends an hour in
    assert {d.kind for d in a} == {"electricity"} and sum(d.gap for d in a) == 3
    assert all(d.end_s - d.start_s == 3600 for d in a)
    assert influx.deltas("energy_delta_kwh", "ecole", start, end) == []
    ha = sqlite.reading_hours(OUTDOOR, "saint-sulpice-la-foret", start, end)
    hb = influx.reading_hours(OUTDOOR, "saint-sulpice-la-foret", start, end)
    assert len(ha) == 240 and [h.hour_s for h in ha] == [h.hour_s for h in hb]
    for x, y in zip(ha, hb, strict=True):
        assert (x.low, x.high) == (y.low, y.high)
        assert x.mean == pytest.approx(y.mean, abs=1e-9)
        assert x.high - x.low == pytest.approx(1.0, abs=0.02)
    assert influx.reading_hours(OUTDOOR, "o'brien", start, end) == []


def test_savings_are_the_same_on_both_stores(
    stores: tuple[SqliteStore, InfluxStore, Path],
) -> None:
    sqlite, influx, _ = stores
    a = savings.measure(sqlite, SCENE.inventory, "mairie", BASELINE, REPORTING)
    b = savings.measure(influx, SCENE.inventory, "mairie", BASELINE, REPORTING)
    assert a.avoided_pct == pytest.approx(100 * RETROFIT, abs=2.0)
    assert b.avoided_kwh == pytest.approx(a.avoided_kwh, rel=1e-6)
    assert b.cv_rmse_pct == pytest.approx(a.cv_rmse_pct, rel=1e-6)


def influx_only(work: Path, influxdb: InfluxDB) -> Path:
    cfg = work / "influx-only.toml"
    cfg.write_text(
        f'[inventory]\npath = "{builtin("saint-sulpice")}"\n'
        f'[store]\noutputs = ["influxdb"]\n'
        f'[store.sqlite]\npath = "{work / "service.sqlite"}"\n'
        f'[store.influxdb]\nurl = "{influxdb.url}"\ndatabase = "savings_stores"\n'
        f'spool_dir = "{work / "cli-spool"}"\n'
    )
    SqliteStore(work / "service.sqlite", readings=False).close()  # the service's own file
    return cfg


def test_the_commands_work_in_an_influxdb_only_deployment(
    stores: tuple[SqliteStore, InfluxStore, Path], influxdb: InfluxDB
) -> None:
    sqlite, _, work = stores
    cfg = influx_only(work, influxdb)
    result = CliRunner().invoke(
        app,
        [
            "savings",
            "--building",
            "mairie",
            "--baseline",
            "2024-11-04..2025-03-02",
            "--reporting",
            "2025-11-03..2026-03-01",
            "-c",
            str(cfg),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["avoided_pct"] == pytest.approx(100 * RETROFIT, abs=2.0)
    args = ["decret-tertiaire", "--year", "2025", "--reference-year", "2024", "-c", str(cfg)]
    declared = CliRunner().invoke(app, args)
    assert declared.exit_code == 0, declared.output
    [row] = list(csv.DictReader(io.StringIO(declared.stdout)))
    [expected] = decret.declarations(sqlite, SCENE.inventory, 2025, 2024)
    assert row["building"] == "mairie"
    assert float(row["electricity_kwh"]) == expected.electricity_kwh > 0
    assert float(row["dju_18"]) == expected.dju_18 > 0
    assert float(row["adjusted_kwh"]) == pytest.approx(expected.adjusted_kwh, abs=0.11)


def test_the_report_line_is_the_same_from_influxdb(
    stores: tuple[SqliteStore, InfluxStore, Path],
) -> None:
    sqlite, influx, _ = stores
    lines = []
    for store in (sqlite, influx):
        (commune,) = reports.build(
            store, SCENE.inventory, date(2026, 2, 1), tz="Europe/Paris", savings_baseline=BASELINE
        )
        (mairie,) = [b for b in commune.buildings if b.id == "mairie"]
        assert mairie.weather is not None and mairie.weather.result is not None
        lines.append(report_savings.line(mairie.weather, "fr"))
    assert lines[0] == lines[1] and lines[0].startswith("À météo égale : −1")

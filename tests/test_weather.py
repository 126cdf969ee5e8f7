"""Outdoor temperature as data: an outdoor probe's readings, and Météo-France hourly files."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from lorawatch.app.cli.main import app
from lorawatch.core.timeutil import from_us
from lorawatch.pipeline import weather
from lorawatch.simulators.scenario import builtin
from lorawatch.stores.sqlite import SqliteStore

runner = CliRunner()
HEADER = "NUM_POSTE;NOM_USUEL;LAT;LON;ALTI;AAAAMMJJHH;RR1;QRR1;FF;QFF;T;QT;TD;QTD;U;QU\n"


def _row(station: str, name: str, hour: datetime, t: str) -> str:
    return f"{station};{name};48.068833;-1.734000;36;{hour:%Y%m%d%H};0.0;1;3.1;1;{t};1;;;88;1\n"


def _file(tmp_path: Path) -> Path:
    """48 hours of Rennes-Saint-Jacques in January; a 2 h gap and a 6 h gap."""
    start = datetime(2026, 1, 12, 0, tzinfo=UTC)
    lines = [HEADER]
    for k in range(48):
        hour = start + timedelta(hours=k)
        t = "" if k in (5, 6) or 20 <= k < 26 else f"{-2.0 + 0.25 * k:.1f}"
        lines.append(_row(" 35281001", "RENNES-ST JACQUES", hour, t))
    lines.append(_row(" 35281001", "RENNES-ST JACQUES", start + timedelta(hours=47), "abc"))
    path = tmp_path / "H_35_latest-2025-2026.csv.gz"
    path.write_bytes(gzip.compress("".join(lines).encode()))
    return path


def test_short_gaps_are_filled_long_ones_left_empty(tmp_path: Path) -> None:
    [station] = weather.read(_file(tmp_path)).values()
    assert station.number == "35281001" and station.name == "RENNES-ST JACQUES"
    assert station.bad_rows == 1
    imported = weather.fill(station, max_fill_h=3)
    assert imported.filled == 2
    at = datetime(2026, 1, 12, 5, tzinfo=UTC)
    # Linear between 04:00 (-1.0) and 07:00 (-0.2 as the file prints -0.25).
    assert abs(imported.values[at] - (-1.0 + 0.8 / 3)) < 1e-9
    assert imported.gaps == [
        (datetime(2026, 1, 12, 19, tzinfo=UTC), datetime(2026, 1, 13, 2, tzinfo=UTC))
    ]
    assert datetime(2026, 1, 12, 22, tzinfo=UTC) not in imported.values
    assert len(imported.values) == 48 - 6


def test_a_foreign_layout_is_refused_with_the_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("station,date,temp\n1,2026011200,3.0\n")
    try:
        weather.read(path)
    except weather.WeatherFileError as exc:
        assert "NUM_POSTE" in str(exc) and "AAAAMMJJHH" in str(exc)
    else:
        raise AssertionError("a file without the columns was accepted")


def test_weather_import_stores_outdoor_temperature(tmp_path: Path) -> None:
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{builtin("saint-sulpice")}"\n'
        f'[store]\noutputs = ["sqlite"]\n[store.sqlite]\npath = "{tmp_path / "db.sqlite"}"\n'
    )
    result = runner.invoke(
        app,
        [
            "weather",
            "import",
            str(_file(tmp_path)),
            "--commune",
            "saint-sulpice-la-foret",
            "-c",
            str(cfg),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "42 hourly temperatures" in result.output and "1 gap(s)" in result.output
    store = SqliteStore(tmp_path / "db.sqlite")
    rows = store.fetch(
        "SELECT dev_eui, time_us, value, commune FROM readings WHERE name = 'outdoor_temperature_c' "
        "ORDER BY time_us"
    )
    assert len(rows) == 42
    assert rows[0][0] == "meteo-france-35281001" and rows[0][3] == "saint-sulpice-la-foret"
    assert from_us(rows[0][1]) == datetime(2026, 1, 12, tzinfo=UTC) and rows[0][2] == -2.0
    gaps = store.fetch("SELECT code, detail FROM device_events WHERE code = 'weather_gap'")
    assert len(gaps) == 1 and "6 h" in gaps[0][1]
    # Importing again changes nothing (natural keys).
    again = runner.invoke(
        app,
        [
            "weather",
            "import",
            str(_file(tmp_path)),
            "--commune",
            "saint-sulpice-la-foret",
            "-c",
            str(cfg),
        ],
    )
    assert again.exit_code == 0
    assert store.fetch("SELECT count(*) FROM readings")[0][0] == 42


def test_weather_import_refuses_an_unknown_commune(tmp_path: Path) -> None:
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{builtin("saint-sulpice")}"\n'
        f'[store.sqlite]\npath = "{tmp_path / "db.sqlite"}"\n'
    )
    result = runner.invoke(
        app, ["weather", "import", str(_file(tmp_path)), "--commune", "nowhere", "-c", str(cfg)]
    )
    assert result.exit_code == 2
    assert "nowhere" in result.output

"""Open-data exports and monthly reports, on a real SQLite store (and once on the session's
real InfluxDB) fed known batches.

Expected figures are worked out by hand in the comments (deltas are multiples of 1/64, so
every sum is exact), not by the code under test; the report is also checked against the
aggregates it is built on.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from lorawatch import inventory as inventory_mod
from lorawatch.alerts.api import AlertsApi
from lorawatch.analytics import aggregates, exports, reports
from lorawatch.app.cli import reports as report_cli
from lorawatch.core.i18n import NNBSP
from lorawatch.core.timeutil import us
from lorawatch.inventory import Inventory
from lorawatch.pipeline.records import Batch, Consumption, Place
from lorawatch.stores.influx import InfluxStore
from lorawatch.stores.settings import InfluxConfig
from lorawatch.stores.sqlite import SqliteStore
from tests.servers import InfluxDB

PARIS = ZoneInfo("Europe/Paris")
KWH, M3 = "energy_delta_kwh", "volume_delta_m3"
Q, HALF, HOUR = timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1)

ECOLE_NAME = "École Jules-Ferry, *annexe* & <cour>"
INVENTORY = f"""
[[communes]]
id = "ville"
name = "Ville-Test"
latitude = 48.2
longitude = -1.6
population = 4200

[[communes]]
id = "hameau"
name = "Le Hameau"
latitude = 48.3
longitude = -1.5
population = 900

[[buildings]]
id = "mairie"
commune = "ville"
name = "Mairie"
usage = "office"
surface_m2 = 420
opening_hours = {{ mon = ["08:30-12:00", "13:30-17:30"], tue = ["08:30-12:00", "13:30-17:30"], wed = ["08:30-12:00", "13:30-17:30"], thu = ["08:30-12:00", "13:30-17:30"], fri = ["08:30-12:00", "13:30-17:30"] }}

[[buildings]]
id = "ecole"
commune = "ville"
name = "{ECOLE_NAME}"
usage = "school"

[[buildings]]
id = "logement"
commune = "ville"
name = "Logement de l'instituteur"
usage = "Logement de fonction"

[[buildings]]
id = "gymnase"
commune = "hameau"
name = "Gymnase"
usage = "sports"
surface_m2 = 1000
"""

MAIRIE = Place("ville", "mairie", "mairie-elec", "electricity")
MAIRIE_EAU = Place("ville", "mairie", "mairie-eau", "water")
ECOLE = Place("ville", "ecole", "ecole-elec", "electricity")
LOGEMENT = Place("ville", "logement", "logement-elec", "electricity")
LAMP = Place("ville", "", "lamp-1", "electricity")  # a device outside any building
GHOST = Place("ville", "ghost", "ghost-elec", "electricity")  # a building not in the inventory

EUI = {MAIRIE: "01", MAIRIE_EAU: "02", ECOLE: "03", LOGEMENT: "04", LAMP: "05", GHOST: "06"}


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def deltas(
    place: Place,
    first_end: datetime,
    count: int,
    value: float | Callable[[datetime], float],
    step: timedelta = Q,
) -> list[Consumption]:
    """``count`` deltas of one meter every ``step`` (in real time), the first ending at
    ``first_end``; a delta ending at local midnight counts in the day that starts there."""
    name = M3 if place.kind == "water" else KWH
    out = []
    end = first_end.astimezone(UTC)
    for _ in range(count):
        v = value(end) if callable(value) else value
        out.append(
            Consumption(EUI[place].rjust(16, "0"), name, "", end - step, end, v, False, place)
        )
        end += step
    return out


def cli() -> typer.Typer:
    app = typer.Typer()
    report_cli.register(app)
    return app


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli(), list(args))
    return result.exit_code, result.output


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, SqliteStore, Inventory]]:
    """A config file, its SQLite store and its inventory."""
    inventory_file = tmp_path / "inventory.toml"
    inventory_file.write_text(INVENTORY, encoding="utf-8")
    config_file = tmp_path / "lorawatch.toml"
    config_file.write_text(
        f'[inventory]\npath = "inventory.toml"\n\n[store.sqlite]\npath = "{tmp_path / "lw.sqlite"}"\n',
        encoding="utf-8",
    )
    store = SqliteStore(tmp_path / "lw.sqlite")
    yield config_file, store, inventory_mod.load(inventory_file)
    store.close()


# --- exports ---------------------------------------------------------------------------------


def spring_batch() -> Batch:
    """28-30 March 2026; the 29th is the spring DST day (23 hours)."""
    return Batch(
        consumption=[
            # 1 kWh an hour on the three days: 24, 23 and 24 kWh, every hour has data
            *deltas(MAIRIE, local(2026, 3, 28), (24 + 23 + 24) * 4, 0.25),
            # water: one delta on the 28th, 12 hourly ones on the 29th (12/23 of its hours)
            *deltas(MAIRIE_EAU, local(2026, 3, 28, 12), 1, 0.5, HOUR),
            *deltas(MAIRIE_EAU, local(2026, 3, 29, 1), 12, 1 / 64, HOUR),
            # the école only on the 30th: 48 half hours of 0.5 kWh
            *deltas(ECOLE, local(2026, 3, 30), 48, 0.5, HALF),
            # never exported: a dwelling, a device outside a building, an unknown building
            *deltas(LOGEMENT, local(2026, 3, 28, 1), 24, 0.75, HOUR),
            *deltas(LAMP, local(2026, 3, 28, 1), 24, 0.125, HOUR),
            *deltas(GHOST, local(2026, 3, 28, 1), 24, 2.0, HOUR),
        ]
    )


SPRING_CSV = (
    "date,commune_id,commune,building_id,building,usage,surface_m2,energy_kwh,water_m3,"
    "energy_kwh_per_m2,energy_completeness,water_completeness\r\n"
    f'2026-03-28,ville,Ville-Test,ecole,"{ECOLE_NAME}",school,,,,,0,\r\n'
    f'2026-03-29,ville,Ville-Test,ecole,"{ECOLE_NAME}",school,,,,,0,\r\n'
    f'2026-03-30,ville,Ville-Test,ecole,"{ECOLE_NAME}",school,,24,,,1,\r\n'
    # 24/420 = 0.0571428..., 1/24 = 0.041666...
    "2026-03-28,ville,Ville-Test,mairie,Mairie,office,420,24,0.5,0.057143,1,0.0417\r\n"
    # 23 hours; 12 x 1/64 = 0.1875 m³ in 12 of 23 hours = 0.52173...
    "2026-03-29,ville,Ville-Test,mairie,Mairie,office,420,23,0.1875,0.054762,1,0.5217\r\n"
    # no water at all that day: empty, not 0, and a completeness of 0
    "2026-03-30,ville,Ville-Test,mairie,Mairie,office,420,24,,0.057143,1,0\r\n"
)


def test_export_gives_exact_daily_figures_per_building_around_spring_dst(
    site: tuple[Path, SqliteStore, Inventory],
) -> None:
    _, store, inventory = site
    store.write(spring_batch())
    rows, published = exports.daily_rows(
        store, inventory, date(2026, 3, 28), date(2026, 3, 30), tz="Europe/Paris"
    )
    assert exports.to_csv(rows) == SPRING_CSV
    assert set(published.withheld) == {"logement", "ghost", "(no building)"}
    document = json.loads(
        exports.to_json(rows, date(2026, 3, 28), date(2026, 3, 30), "Europe/Paris")
    )
    assert [f["name"] for f in document["schema"]["fields"]] == SPRING_CSV.split("\r\n")[0].split(
        ","
    )
    assert document["period"] == {
        "from": "2026-03-28",
        "to": "2026-03-30",
        "timezone": "Europe/Paris",
    }
    assert document["records"][4] == {
        "date": "2026-03-29",
        "commune_id": "ville",
        "commune": "Ville-Test",
        "building_id": "mairie",
        "building": "Mairie",
        "usage": "office",
        "surface_m2": 420,
        "energy_kwh": 23,
        "water_m3": 0.1875,
        "energy_kwh_per_m2": 0.054762,
        "energy_completeness": 1,
        "water_completeness": 0.5217,
    }
    assert document["records"][0]["energy_kwh"] is None
    assert document["records"][0]["water_completeness"] is None  # the école has no water meter
    text = json.dumps(document)
    assert "logement" not in text.lower() and "ghost" not in text and "lamp" not in text


def test_export_command_writes_both_files_atomically_on_the_autumn_dst_day(
    site: tuple[Path, SqliteStore, Inventory], tmp_path: Path
) -> None:
    config_file, store, _ = site
    store.write(
        Batch(
            consumption=[
                # 25 hours of 1 kWh on 25 October 2026, plus one delta ending at the next
                # local midnight, which belongs to the 26th and is not exported
                *deltas(MAIRIE, local(2026, 10, 25), 25 * 4 + 1, 0.25),
                # 12 hourly deltas: 12 of the day's 25 hours, through both 02:00 hours
                *deltas(ECOLE, local(2026, 10, 25, 1), 12, 1.5, HOUR),
            ]
        )
    )
    out = tmp_path / "open-data"
    code, output = run(
        "export", "--config", str(config_file), "--from", "2026-10-25", "--to", "2026-10-25",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, output
    csv_file = out / "daily-consumption_2026-10-25_2026-10-25.csv"
    json_file = out / "daily-consumption_2026-10-25_2026-10-25.json"
    assert sorted(p.name for p in out.iterdir()) == [csv_file.name, json_file.name]  # no temp
    lines = csv_file.read_bytes().decode("utf-8").split("\r\n")  # RFC 4180: CRLF
    assert lines[1:] == [
        f'2026-10-25,ville,Ville-Test,ecole,"{ECOLE_NAME}",school,,18,,,0.48,',
        # 25/420 = 0.0595238...
        "2026-10-25,ville,Ville-Test,mairie,Mairie,office,420,25,,0.059524,1,",
        "",
    ]
    records = json.loads(json_file.read_text(encoding="utf-8"))["records"]
    assert [(r["building_id"], r["energy_kwh"], r["energy_completeness"]) for r in records] == [
        ("ecole", 18, 0.48),
        ("mairie", 25, 1),
    ]
    assert "withheld: logement: usage" in output  # on stderr for the operator, not in files
    assert str(csv_file) in output.splitlines()
    # --format csv rewrites the CSV alone, the same bytes
    before = csv_file.read_bytes()
    json_file.unlink()
    code, output = run(
        "export", "-c", str(config_file), "--from", "2026-10-25", "--to", "2026-10-25",
        "--out", str(out), "--format", "csv",
    )  # fmt: skip
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == [csv_file.name]
    assert csv_file.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--group-by", "device"], "finer than a building"),
        (["--group-by", "meter"], "finer than a building"),
        (["--group-by", "dwelling"], "finer than a building"),
        (["--group-by", "street"], "per building only"),
        (["--building", "logement"], "marks a dwelling"),
        (["--building", "ghost"], "not in the inventory"),
        (["--building", "mairie", "--building", "logement"], "'logement' is not published"),
    ],
)
def test_an_export_finer_than_a_public_building_is_refused_with_exit_2(
    site: tuple[Path, SqliteStore, Inventory], tmp_path: Path, args: list[str], why: str
) -> None:
    config_file, store, _ = site
    store.write(spring_batch())
    out = tmp_path / "refused"
    code, output = run(
        "export", "-c", str(config_file), "--from", "2026-03-28", "--to", "2026-03-30",
        "--out", str(out), *args,
    )  # fmt: skip
    assert code == 2, output
    assert "export refused" in output and why in output, output
    assert not out.exists(), "nothing is written when the export is refused"


def test_an_export_lists_what_it_withheld_and_a_named_building_alone(
    site: tuple[Path, SqliteStore, Inventory], tmp_path: Path
) -> None:
    config_file, store, _ = site
    store.write(spring_batch())
    code, output = run(
        "export", "-c", str(config_file), "--from", "2026-03-28", "--to", "2026-03-30",
        "--out", str(tmp_path), "--building", "mairie", "--format", "json",
    )  # fmt: skip
    assert code == 0, output
    records = json.loads(
        (tmp_path / "daily-consumption_2026-03-28_2026-03-30.json").read_text(encoding="utf-8")
    )["records"]
    assert [(r["building_id"], r["energy_kwh"]) for r in records] == [
        ("mairie", 24),
        ("mairie", 23),
        ("mairie", 24),
    ]
    code, output = run(
        "export", "-c", str(config_file), "--from", "2026-03-28", "--to", "2026-03-30",
        "--out", str(tmp_path / "all"),
    )  # fmt: skip
    assert code == 0, output
    assert "withheld: logement: usage 'Logement de fonction' marks a dwelling" in output
    assert "withheld: (no building): devices without a building are never exported" in output
    assert "withheld: ghost: not in the inventory" in output
    assert "6 row(s), 2 building(s)" in output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--from", "2026-03-31", "--to", "2026-03-01"], "before the first"),
        (["--from", "31/03/2026", "--to", "2026-04-01"], "not a date"),
        (["--from", "2026-03-01", "--to", "2026-03-02", "--format", "xlsx"], "csv, json, both"),
    ],
)
def test_bad_export_options_exit_2(
    site: tuple[Path, SqliteStore, Inventory], args: list[str], hint: str
) -> None:
    code, output = run("export", "-c", str(site[0]), *args)
    assert code == 2 and hint in output, output


def test_a_missing_store_is_an_error_not_an_empty_export(tmp_path: Path) -> None:
    (tmp_path / "inventory.toml").write_text(INVENTORY, encoding="utf-8")
    config_file = tmp_path / "lorawatch.toml"
    config_file.write_text(
        '[inventory]\npath = "inventory.toml"\n[store.sqlite]\npath = "/nonexistent/lw.sqlite"\n',
        encoding="utf-8",
    )
    code, output = run(
        "export", "-c", str(config_file), "--from", "2026-03-01", "--to", "2026-03-02",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 2 and "no store at" in output, output
    assert not Path("/nonexistent/lw.sqlite").exists()


@pytest.mark.servers
def test_the_export_is_the_same_from_influxdb(
    site: tuple[Path, SqliteStore, Inventory], tmp_path: Path, influxdb: InfluxDB, influx_db: str
) -> None:
    config_file, sqlite, inventory = site
    influx = InfluxStore(
        InfluxConfig(url=influxdb.url, database=influx_db, spool_dir=tmp_path / "spool")
    )
    try:
        for store in (sqlite, influx):
            store.write(spring_batch())
        assert not influx.health().get("spooled_batches")
        on_influx, _ = exports.daily_rows(influx, inventory, date(2026, 3, 28), date(2026, 3, 30))
        assert exports.to_csv(on_influx) == SPRING_CSV
    finally:
        influx.close()
    # the command reads InfluxDB when it is among the outputs, with a spool of its own
    service_spool = tmp_path / "service-spool"
    config_file.write_text(
        config_file.read_text(encoding="utf-8")
        + f'\n[store]\noutputs = ["influxdb"]\n[store.influxdb]\nurl = "{influxdb.url}"\n'
        f'database = "{influx_db}"\nspool_dir = "{service_spool}"\n',
        encoding="utf-8",
    )
    code, output = run(
        "export", "-c", str(config_file), "--from", "2026-03-28", "--to", "2026-03-30",
        "--out", str(tmp_path / "influx-out"), "--format", "csv",
    )  # fmt: skip
    assert code == 0, output
    written = tmp_path / "influx-out" / "daily-consumption_2026-03-28_2026-03-30.csv"
    assert written.read_bytes() == SPRING_CSV.encode("utf-8")
    assert not service_spool.exists(), "the export must not touch the service's spool"


# --- reports ---------------------------------------------------------------------------------


def water_pattern(end: datetime) -> float:
    t = end.astimezone(PARIS)
    return ((t.hour * 3 + t.day) % 7) / 64


def add_alert(
    store: SqliteStore,
    rule: str,
    building: str,
    opened: datetime,
    title: str,
    state: str = "open",
    acked_by: str = "",
) -> None:
    at = us(opened)
    with store.transaction() as db:
        db.execute(
            "INSERT INTO alerts (rule, kind, subject, severity, state, commune, building, device,"
            " title, message, opened_us, created_us, last_seen_us, count, acked_us, acked_by,"
            " evidence, vals) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rule,
                rule.split(".")[0],
                f"{building or 'bin-3'}",
                "warning",
                state,
                "ville",
                building,
                "",
                title,
                f"{title} (message)",
                at,
                at,
                at,
                1,
                at if acked_by else None,
                acked_by,
                "[]",
                "{}",
            ),
        )


@pytest.fixture
def month_site(site: tuple[Path, SqliteStore, Inventory]) -> tuple[Path, SqliteStore, Inventory]:
    """March 2026 (743 hours: the 29th is the DST day) and March 2025 (743 hours too)."""
    config_file, store, inventory = site
    march_quarters = 743 * 4
    store.write(
        Batch(
            consumption=[
                # the mairie: 1 kWh an hour, 743 kWh; 0.5 kWh an hour a year before, 371.5 kWh
                *deltas(MAIRIE, local(2026, 3, 1), march_quarters, 0.25),
                *deltas(MAIRIE, local(2025, 3, 1), march_quarters, 0.125),
                # a delta ending at local midnight on 1 April belongs to April
                *deltas(MAIRIE, local(2026, 4, 1), 1, 100.0),
                *deltas(MAIRIE_EAU, local(2026, 3, 1), 743, water_pattern, HOUR),
                *deltas(ECOLE, local(2026, 3, 1), 743 * 2, 0.25, HALF),
                *deltas(LOGEMENT, local(2026, 3, 1), 743, 0.75, HOUR),
            ]
        )
    )
    AlertsApi(store)  # creates the alert tables
    add_alert(
        store, "water.leak", "mairie", local(2026, 3, 10, 3), "Fuite d'eau à la mairie",
        state="acknowledged", acked_by="Jean Dupont",
    )  # fmt: skip
    add_alert(
        store, "energy.baseline", "mairie", local(2026, 2, 20, 3), "Surconsommation en février"
    )
    add_alert(store, "waste.fill", "", local(2026, 3, 15, 9), "Conteneur verre plein")
    add_alert(store, "water.leak", "logement", local(2026, 3, 12, 2), "Fuite au logement")
    return config_file, store, inventory


def test_the_report_figures_are_the_aggregates(
    month_site: tuple[Path, SqliteStore, Inventory],
) -> None:
    _, store, inventory = month_site
    built = reports.build(store, inventory, date(2026, 3, 1), alerts=AlertsApi(store))
    assert [r.id for r in built] == ["hameau", "ville"]
    ville = built[1]
    assert [b.id for b in ville.buildings] == ["ecole", "mairie"]  # sorted by name
    assert ville.withheld == 1
    ecole, mairie = ville.buildings
    # by hand: 22 weekdays x 7.5 opening hours = 165 kWh inside, 743 - 165 outside
    assert mairie.energy == reports.Figures(
        total=743.0,
        previous=371.5,
        unoccupied=578.0,
        occupied=165.0,
        night_per_hour=1.0,
        nights=31,
        per_m2=743.0 / 420,
    )
    assert mairie.energy.change == 1.0
    assert (ecole.energy.total, ecole.energy.previous, ecole.energy.unoccupied) == (
        371.5,
        None,
        None,
    )
    # and against the aggregates themselves, for the irregular water series
    start, end = local(2026, 3, 1), local(2026, 4, 1)
    [yoy] = [
        y for y in aggregates.vs_last_year(store, M3, start, end, "month") if y.group == "mairie"
    ]
    [split] = [
        s
        for s in aggregates.occupancy_split(
            store, M3, start, end, aggregates.schedules(inventory), interval="month"
        )
        if s.group == "mairie"
    ]
    nights = [
        n.per_hour for n in aggregates.night_baseload(store, M3, start, end) if n.group == "mairie"
    ]
    [total] = [
        b.value for b in aggregates.totals(store, M3, start, end, "month") if b.group == "mairie"
    ]
    water = mairie.water
    assert (water.total, water.previous) == (total, None) == (yoy.value, yoy.previous)
    assert (water.unoccupied, water.occupied) == (split.unoccupied, split.occupied)
    assert water.night_per_hour == statistics.fmean(nights) and water.nights == len(nights) == 31
    assert total == sum(
        water_pattern(c.end)
        for c in deltas(MAIRIE_EAU, local(2026, 3, 1), 743, water_pattern, HOUR)
    )
    # alerts: opened in March, of published buildings or of no building; never February's
    assert ville.alerts is not None
    assert [(a.title, a.building) for a in ville.alerts] == [
        ("Fuite d'eau à la mairie", "mairie"),
        ("Conteneur verre plein", ""),
    ]
    assert [a.title for a in mairie.alerts] == ["Fuite d'eau à la mairie"]
    assert ville.total(KWH) == 743.0 + 371.5
    assert ville.comparable(KWH) == (743.0, 371.5, 1)


def sections(markdown: str) -> dict[str, str]:
    return {s.split("\n", 1)[0]: s for s in markdown.split("\n## ")[1:]}


def test_the_markdown_report_says_it_in_french(
    month_site: tuple[Path, SqliteStore, Inventory], tmp_path: Path
) -> None:
    config_file, _, _ = month_site
    code, output = run(
        "report", "-c", str(config_file), "--month", "2026-03", "--out", str(tmp_path / "r")
    )
    assert code == 0, output
    files = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert files == [
        "report-hameau-2026-03-fr.html",
        "report-hameau-2026-03-fr.md",
        "report-ville-2026-03-fr.html",
        "report-ville-2026-03-fr.md",
    ]
    md = (tmp_path / "r" / "report-ville-2026-03-fr.md").read_text(encoding="utf-8")
    assert md.startswith("# Rapport mensuel des bâtiments publics — Ville-Test — mars 2026\n")
    parts = sections(md)
    summary = parts["Synthèse de la commune"]
    assert f"électricité 1{NNBSP}114{NNBSP}kWh, eau " in summary  # 743 + 371.5, rounded
    assert f"Par rapport à mars 2025 : électricité +100{NNBSP}%, eau pas de données" in summary
    # 578 of the 743 kWh of the mairie, the only building with opening hours
    assert f"hors des horaires d'occupation : 78{NNBSP}% (1 bâtiment(s)" in summary
    assert "Alertes ouvertes dans le mois : 2 (1 déchets, 1 eau)." in summary
    assert (
        f"Commune de 4{NNBSP}200 habitants : la publication de ces données en open data est obligatoire"
        in summary
    )
    assert "1 bâtiment(s) à usage d'habitation non publié(s)" in summary
    mairie = parts["Mairie"]
    assert f"| Consommation du mois | 743{NNBSP}kWh |" in mairie
    assert f"| 372{NNBSP}kWh (+100{NNBSP}%) | pas de données pour mars 2025 |" in mairie
    assert f"| Talon de nuit (01 h – 05 h) | 1,00{NNBSP}kW |" in mairie
    assert f"| Électricité par m² | 1,77{NNBSP}kWh/m² | – |" in mairie
    assert (
        "| 10 mars 2026 à 03 h 00 | eau | avertissement | prise en charge | Fuite d'eau à la mairie |"
        in mairie
    )
    ecole = parts[r"École Jules-Ferry, \*annexe\* & \<cour\>"]
    assert "| Part hors occupation | horaires non renseignés | pas de compteur |" in ecole
    assert "Aucune alerte ce mois-ci." in ecole
    private_or_february = ("Jean Dupont", "Logement de l'instituteur", "Fuite au logement")
    for private in (*private_or_february, "Surconsommation en février"):
        assert private not in md, private
    hameau = (tmp_path / "r" / "report-hameau-2026-03-fr.md").read_text(encoding="utf-8")
    assert "Aucune mesure pour ce bâtiment" in hameau
    assert (
        "la publication en open data n'est pas obligatoire (seuil : 3\u202f500 habitants)" in hameau
    )


def test_the_html_report_is_self_contained_and_escaped(
    month_site: tuple[Path, SqliteStore, Inventory], tmp_path: Path
) -> None:
    config_file, _, _ = month_site
    code, output = run(
        "report", "-c", str(config_file), "--month", "2026-03", "--out", str(tmp_path),
        "--lang", "en", "--commune", "ville",
    )  # fmt: skip
    assert code == 0, output
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("report-")) == [
        "report-ville-2026-03-en.html",
        "report-ville-2026-03-en.md",
    ]
    html = (tmp_path / "report-ville-2026-03-en.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<html lang="en">' in html
    assert "Monthly report of the public buildings — Ville-Test — March 2026" in html
    for external in ("://", "src=", "href=", "url(", "@import", "<script", "<link"):
        assert external not in html, external
    assert "default-src 'none'" in html
    assert "École Jules-Ferry, *annexe* &amp; &lt;cour&gt;" in html and "<cour>" not in html
    assert '<td class="num">743 kWh</td>' in html
    assert "372 kWh (+100%)" in html and "no data for March 2025" in html
    assert "Fuite d&#39;eau à la mairie" in html and "Jean Dupont" not in html


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--month", "2026-13"], "not a month"),
        (["--month", "March"], "not a month"),
        (["--month", "2026-03", "--lang", "de"], "fr, en"),
        (["--month", "2026-03", "--commune", "atlantis"], "not in the inventory"),
    ],
)
def test_bad_report_options_exit_2(
    site: tuple[Path, SqliteStore, Inventory], tmp_path: Path, args: list[str], hint: str
) -> None:
    code, output = run("report", "-c", str(site[0]), "--out", str(tmp_path / "r"), *args)
    assert code == 2 and hint in output, output
    assert not (tmp_path / "r").exists()

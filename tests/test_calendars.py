"""Calendars: the Ministry's school calendar imported per zone or académie, the commune's
school calendar chosen in the inventory, coverage that ends loudly, never silently."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorawatch import inventory as inventory_mod
from lorawatch.app.cli.main import app
from lorawatch.inventory.calendar_import import read_records, school_calendar
from lorawatch.inventory.occupancy import Schedule, calendar, calendar_warnings, load_calendar_file

SAMPLE = Path(__file__).parent / "data" / "fr-en-calendrier-scolaire-sample.csv"
SCHOOL_HOURS = {d: ["08:30-16:30"] for d in ("mon", "tue", "thu", "fri")}
runner = CliRunner()


def test_zone_b_from_the_ministry_export() -> None:
    records = read_records(SAMPLE)
    assert len(records) == 27 and records[0]["location"] == "Rennes"
    cal = school_calendar(records, "fr-school-zone-b", zone="B")
    assert cal.projection == "Zone B" and [str(n) for n in cal.notes] == [
        "the holiday starting 2027-07-03 has no end yet: coverage stops on 2027-07-02"
    ]
    assert cal.covers == (date(2025, 10, 18), date(2027, 7, 2))
    days = {name: (a, b) for name, a, b in cal.closed}
    # Start: the first day without class; end_date is the morning classes resume.
    assert days["Vacances de la Toussaint 2026-2027"] == (date(2026, 10, 17), date(2026, 11, 1))
    assert days["Pont de l'Ascension 2026-2027"] == (date(2027, 5, 7), date(2027, 5, 7))
    # The pupils' summer, not the teachers' (who are back a day earlier).
    assert days["Vacances d'Été 2025-2026"] == (date(2026, 7, 4), date(2026, 8, 31))
    assert len(cal.closed) == 11
    zone_c = school_calendar(records, "c", zone="Zone C")
    assert {n for n, _, _ in zone_c.closed} == {
        "Vacances de la Toussaint 2026-2027",
        "Vacances d'Hiver 2026-2027",
    }


def test_the_same_data_as_json_and_with_technical_headers(tmp_path: Path) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    technical = "description;population;start_date;end_date;location;zones;annee_scolaire"
    path = tmp_path / "plain.csv"
    path.write_text("\n".join([technical, *lines[1:]]), encoding="utf-8")
    json_path = tmp_path / "export.json"
    import json

    json_path.write_text(json.dumps(read_records(SAMPLE)), encoding="utf-8")
    expected = school_calendar(read_records(SAMPLE), "x", zone="B").closed
    assert school_calendar(read_records(path), "x", zone="B").closed == expected
    assert school_calendar(read_records(json_path), "x", zone="B").closed == expected


def test_bad_files_and_choices_are_named() -> None:
    records = read_records(SAMPLE)
    with pytest.raises(ValueError, match="Zone B, Zone C"):
        school_calendar(records, "x", zone="A")
    with pytest.raises(ValueError, match="académie"):
        school_calendar(records, "x")
    with pytest.raises(ValueError, match="missing column"):
        read_records(Path(__file__).parent / "data" / "inventory.toml")


def test_an_academie_that_differs_is_reported_not_merged() -> None:
    records = read_records(SAMPLE)
    odd = dict(records[0], location="Caen", end_date="2025-11-03T23:00:00+00:00")
    cal = school_calendar([*records, odd], "x", zone="B")
    toussaint = next(c for c in cal.closed if c[0] == "Vacances de la Toussaint 2025-2026")
    assert toussaint[1:] == (date(2025, 10, 18), date(2025, 11, 2)), "the common dates win"
    assert any("Caen" in str(note) and "--academy" in str(note) for note in cal.notes)
    french = [note.text("fr") for note in cal.notes]
    assert any("Caen" in note and "--academy" in note and "importez" in note for note in french)
    caen = school_calendar([*records, odd], "x", academy="caen")
    assert caen.closed == [
        ("Vacances de la Toussaint 2025-2026", date(2025, 10, 18), date(2025, 11, 3))
    ]


def write_site(tmp_path: Path, commune_extra: str) -> Path:
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(
        'calendar_files = ["calendars.toml"]\n'
        "[[communes]]\n"
        'id = "bourg"\nname = "Bourg"\nlatitude = 48.2\nlongitude = -1.6\n'
        f"{commune_extra}\n"
        "[[buildings]]\n"
        'id = "ecole"\ncommune = "bourg"\nname = "École"\n'
        'calendars = ["fr-school", "fr-public-holidays"]\n'
        'opening_hours = { mon = ["08:30-16:30"], tue = ["08:30-16:30"] }\n',
        encoding="utf-8",
    )
    (tmp_path / "calendars.toml").write_text("", encoding="utf-8")
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(f'[inventory]\npath = "{inventory}"\n', encoding="utf-8")
    return cfg


def test_import_writes_the_calendar_the_commune_uses(tmp_path: Path) -> None:
    cfg = write_site(tmp_path, 'school_zone = "B"\nacademy = "Rennes"')
    result = runner.invoke(
        app, ["calendars", "import", str(SAMPLE), "--config", str(cfg), "--commune", "bourg"]
    )
    assert result.exit_code == 0, result.output
    assert "fr-school-rennes: 11 holiday(s), covers 2025-10-18..2027-07-02" in result.stdout
    inv = inventory_mod.load(tmp_path / "inventory.toml")
    assert inv.calendar_names(inv.buildings["ecole"]) == ["fr-school-rennes", "fr-public-holidays"]
    school = Schedule.of(inv.buildings["ecole"], "Europe/Paris", inv)
    assert not school.is_open_day(date(2026, 10, 19))  # Toussaint, a Monday
    assert school.is_open_day(date(2026, 11, 2))  # classes resume
    assert not school.is_open_day(date(2026, 11, 11))  # Armistice, the holidays library
    # The zone's own import replaces the built-in zone B calendar, and a second one is kept.
    again = runner.invoke(
        app, ["calendars", "import", str(SAMPLE), "--zone", "B", "--config", str(cfg)]
    )
    assert again.exit_code == 0, again.output
    written = load_calendar_file(tmp_path / "calendars.toml")
    assert set(written) == {"fr-school-rennes", "fr-school-zone-b"}
    inv = inventory_mod.load(tmp_path / "inventory.toml")
    # The import updates the built-in zone B (2024-07-06..2027-08-31): its data within its
    # coverage, the built-in data before it (the 2024-25 school year stays known).
    merged = inv.calendars["fr-school-zone-b"]
    assert merged.covers == (date(2024, 7, 6), date(2027, 8, 31))
    assert merged.is_closed(date(2025, 2, 10)) and not merged.is_closed(date(2025, 3, 10))
    assert merged.is_closed(date(2026, 5, 15)) and not merged.is_closed(date(2026, 5, 14))
    assert calendar("fr-school-zone-b").is_closed(date(2026, 5, 14)), "built-in: Thu..Sun"


def test_a_school_calendar_needs_the_communes_zone(tmp_path: Path) -> None:
    write_site(tmp_path, "")
    with pytest.raises(Exception, match="school_zone"):
        inventory_mod.load(tmp_path / "inventory.toml")


def test_past_its_coverage_a_calendar_is_projected_and_flagged() -> None:
    school = Schedule(SCHOOL_HOURS, ["fr-school-zone-b"])
    end = calendar("fr-school-zone-b").covers
    assert end is not None and end[1] == date(2027, 8, 31)
    toussaint_2027 = date(2027, 10, 25)  # a Monday of the 2027 autumn holidays, zone B
    assert not school.is_open_day(toussaint_2027), "not silently open during the holidays"
    assert school.uncovered(toussaint_2027) == ["fr-school-zone-b"]
    assert school.is_open_day(date(2027, 10, 18)) and school.uncovered(date(2027, 3, 1)) == []


def test_warnings_from_60_days_before_the_end(tmp_path: Path) -> None:
    cfg = write_site(tmp_path, 'school_zone = "B"')
    inv = inventory_mod.load(tmp_path / "inventory.toml")
    end = date(2027, 8, 31)  # the built-in zone B calendar
    assert calendar_warnings(inv, end - timedelta(days=61)) == []
    [soon] = calendar_warnings(inv, end - timedelta(days=60))
    assert soon["key"] == "calendar_ends_soon" and soon["days_left"] == 60
    assert soon["calendar"] == "fr-school-zone-b" and soon["buildings"] == ["ecole"]
    assert "projected" in soon["message"] and "lorawatch calendars import" in soon["message"]
    [ended] = calendar_warnings(inv, end + timedelta(days=1))
    assert ended["key"] == "calendar_ended" and ended["days_left"] == -1
    # config check prints it, from the real date: a calendar file ending in 10 days.
    cfg = write_site(tmp_path, 'school_zone = "Corse"')
    last = date.today() + timedelta(days=10)
    (tmp_path / "calendars.toml").write_text(
        f'["fr-school-zone-corse"]\ncovers = "2025-09-01..{last}"\nclosed = []\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["config", "check", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "[calendar_ends_soon]" in result.output and "fr-school-zone-corse" in result.output


def test_healthz_says_which_calendar_ends_without_degrading(tmp_path: Path) -> None:
    from lorawatch.app.service import Service
    from lorawatch.gateway_bridge.source import NullSource
    from tests.web_support import NOW, VIEWER_TOKEN, principals, serve, settings

    write_site(tmp_path, 'school_zone = "Corse"')
    last = NOW.date() + timedelta(days=20)
    (tmp_path / "calendars.toml").write_text(
        f'["fr-school-zone-corse"]\ncovers = "2025-09-01..{last}"\nclosed = []\n',
        encoding="utf-8",
    )
    inv = inventory_mod.load(tmp_path / "inventory.toml")
    cfg = settings(tmp_path / "lw.sqlite", **principals())
    service = Service(cfg, inventory=inv, source=NullSource())
    service.clock = lambda: NOW
    try:
        service.source.start()
        with serve(service) as client:
            health = client.get("/healthz", headers={"Authorization": f"Bearer {VIEWER_TOKEN}"})
    finally:
        service.stop()
    body = health.json()  # the details are for a viewer: the public part has no messages
    assert health.status_code == 200 and body["status"] == "ok", "a warning, not degraded"
    [warning] = body["warnings"]
    assert warning["key"] == "calendar_ends_soon" and warning["calendar"] == "fr-school-zone-corse"
    assert warning["days_left"] == 20 and warning["buildings"] == ["ecole"]
    assert "projection" not in warning["message"] and "count as open" in warning["message"]


def test_list_shows_coverage_and_users(tmp_path: Path) -> None:
    cfg = write_site(tmp_path, 'school_zone = "B"')
    result = runner.invoke(app, ["calendars", "list", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("fr-school-zone-b: 2024-07-06..2027-08-31 (")
        and "then Zone B projected by rule; ecole" in line
        for line in lines
    ), lines
    assert "fr-public-holidays: computed, every year; ecole" in lines

"""``lorawatch decret-tertiaire``: a year's figures per building for the OPERAT declaration."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from lorawatch import inventory as inventory_mod
from lorawatch.analytics import decret
from lorawatch.app import config
from lorawatch.core.errors import LorawatchError
from lorawatch.core.readings import OUTDOOR
from lorawatch.core.timeutil import us
from lorawatch.stores.sqlite import SqliteStore

err = Console(stderr=True, soft_wrap=True)


def register(root: typer.Typer) -> None:
    root.command("decret-tertiaire")(decret_tertiaire)


def _local_day(t_us: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(t_us / 1e6, UTC).astimezone(zone).date()


def decret_tertiaire(
    year: Annotated[int, typer.Option("--year", help="The year to declare.")],
    reference_year: Annotated[
        int, typer.Option("--reference-year", help="The reference year (2010 or later).")
    ],
    config_file: Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")],
    building: Annotated[str, typer.Option("--building", help="One building (default: all).")] = "",
    fmt: Annotated[Literal["csv", "json"], typer.Option("--format", help="csv or json.")] = "csv",
) -> None:
    """Final energy by type, DJU (base 18 °C), climate-adjusted consumption, intensity and
    change against the reference year, per building (docs/decret-tertiaire.md)."""
    try:
        settings = config.load(config_file)
        inv = inventory_mod.load(settings.inventory.path)
    except LorawatchError as exc:
        err.print(f"error: {exc}", highlight=False)
        raise typer.Exit(2) from None
    if building and building not in inv.buildings:
        raise typer.BadParameter(f"{building!r} is not in the inventory", param_hint="--building")
    if "sqlite" not in settings.store.outputs:
        err.print("error: the declaration reads the SQLite store: add 'sqlite' to store.outputs")
        raise typer.Exit(2)
    store = SqliteStore(settings.store.sqlite.path)
    rows: list[decret.Declaration] = []
    try:
        for b in inv.buildings.values():
            if building and b.id != building:
                continue
            commune = inv.communes[b.commune]
            zone = ZoneInfo(commune.timezone)
            first = min(year, reference_year)
            start = datetime(first, 1, 1, tzinfo=zone)
            end = datetime(max(year, reference_year) + 1, 1, 1, tzinfo=zone)
            daily: dict[date, dict[str, float]] = {}
            for end_us, kind, value in store.fetch(
                "SELECT end_us, kind, value FROM consumption WHERE name = 'energy_delta_kwh' "
                "AND building = ? AND end_us > ? AND end_us <= ?",
                (b.id, us(start), us(end)),
            ):
                day = daily.setdefault(_local_day(end_us, zone), {})
                day[kind] = day.get(kind, 0.0) + value
            extremes: dict[date, tuple[float, float]] = {}
            for t_us, value in store.fetch(
                "SELECT time_us, value FROM readings WHERE name = ? AND commune = ? "
                "AND time_us >= ? AND time_us < ?",
                (OUTDOOR, b.commune, us(start), us(end)),
            ):
                d = _local_day(t_us, zone)
                lo, hi = extremes.get(d, (value, value))
                extremes[d] = (min(lo, value), max(hi, value))
            this = decret.year_of(daily, extremes, year)
            ref = decret.year_of(daily, extremes, reference_year)
            if not this.days_with_energy:
                continue
            rows.append(
                decret.declare(
                    b.id, b.name, b.commune, b.surface_m2, this, year, ref, reference_year
                )
            )
    finally:
        store.close()
    if fmt == "json":
        sys.stdout.write(json.dumps([r.to_json() for r in rows], ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=decret.FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r.to_json())

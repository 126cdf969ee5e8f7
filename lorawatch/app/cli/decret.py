"""``lorawatch decret-tertiaire``: a year's figures per building for the OPERAT declaration."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from lorawatch import inventory as inventory_mod
from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.app.cli.reports import reading_store
from lorawatch.core.errors import LorawatchError

err = Console(stderr=True, soft_wrap=True)


def register(root: typer.Typer) -> None:
    root.command("decret-tertiaire")(decret_tertiaire)


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
    # lazy: the analytics (numpy) load only for this command, not for `lorawatch run`
    from lorawatch.analytics import decret

    try:
        settings = config.load(config_file)
        say.deployment(settings)
        inv = inventory_mod.load(settings.inventory.path)
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(2) from None
    if building and building not in inv.buildings:
        say.error(err, "unknown_building", building=building)
        raise typer.Exit(2)
    try:
        with reading_store(settings) as store:
            rows = decret.declarations(store, inv, year, reference_year, building)
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(1) from None
    if fmt == "json":
        sys.stdout.write(json.dumps([r.to_json() for r in rows], ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=decret.FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r.to_json())

"""``lorawatch calendars``: import the Ministry's school calendar, list what the buildings use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape

from lorawatch import inventory as inventory_mod
from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.core.errors import ConfigError, InventoryError, LorawatchError
from lorawatch.inventory import calendar_import, occupancy
from lorawatch.inventory.model import school_calendar_name

calendars_app = typer.Typer(help="Closure calendars: school holidays.", no_args_is_help=True)
out = Console()
err = Console(stderr=True, soft_wrap=True)
EXIT_CONFIG = 2


def fail(exc: LorawatchError) -> typer.Exit:
    say.print_failure(err, exc)
    return typer.Exit(EXIT_CONFIG if isinstance(exc, ConfigError | InventoryError) else 1)


def register(root: typer.Typer) -> None:
    root.add_typer(calendars_app, name="calendars")


@calendars_app.command("import")
def calendars_import(
    file: Annotated[
        Path, typer.Argument(help="Export (CSV or JSON) of the data set fr-en-calendrier-scolaire.")
    ],
    zone: Annotated[str, typer.Option(help="School zone: A, B, C (or 'Corse'...).")] = "",
    academy: Annotated[str, typer.Option(help="Académie (Rennes, Lyon...).")] = "",
    commune: Annotated[
        str, typer.Option(help="Take zone and académie from this inventory commune.")
    ] = "",
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Write into the first calendar file of this config's inventory."
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option("--out", help="Calendar file to write.")] = None,
    name: Annotated[str, typer.Option(help="Calendar name (default fr-school-...).")] = "",
    timezone: Annotated[str, typer.Option(help="Time zone of the dates.")] = "Europe/Paris",
) -> None:
    """Import school holidays for one zone or académie into a calendar file the service reads
    (the inventory's calendar_files); replaces that calendar's table, keeps the others."""
    inv = None
    if config_file is not None:
        try:
            settings = config.load(config_file)
            say.deployment(settings)
            inv_path = settings.inventory.path
            inv = inventory_mod.load(inv_path)
        except LorawatchError as exc:
            raise fail(exc) from None
        if output is None:
            if not inv.doc.calendar_files:
                say.error(err, "calendars.no_file", inventory=inv_path)
                raise typer.Exit(EXIT_CONFIG)
            first = Path(inv.doc.calendar_files[0])
            output = first if first.is_absolute() else inv_path.parent / first
    if commune:
        found = inv.communes.get(commune) if inv else None
        if found is None:
            say.error(err, "calendars.no_commune", commune=commune)
            raise typer.Exit(EXIT_CONFIG)
        academy, zone = academy or found.academy, zone or found.school_zone
        if academy and zone:
            zone = ""  # the académie's own dates first
    if output is None:
        say.error(err, "calendars.no_output")
        raise typer.Exit(EXIT_CONFIG)
    try:
        records = calendar_import.read_records(file)
        imported = calendar_import.school_calendar(
            records,
            name or school_calendar_name(zone=zone, academy=academy),
            zone=zone,
            academy=academy,
            timezone=timezone,
            origin=file.name,
        )
        calendar_import.write_calendar(output, imported)
        occupancy.load_calendar_file(output)
    except ValueError as exc:
        say.error(err, "calendars.cannot_import", file=file, why=say.reason(exc))
        raise typer.Exit(1) from None
    for note in imported.notes:
        said = note.text(say.language())
        err.print(f"[yellow]{say.t('note')}:[/yellow] {escape(said)}", highlight=False)
    first_day, last_day = imported.covers
    out.print(
        say.t(
            "calendars.imported",
            name=imported.name,
            n=len(imported.closed),
            first=first_day,
            last=last_day,
            output=output,
        ),
        highlight=False,
        markup=False,
    )


@calendars_app.command("list")
def calendars_list(
    config_file: Annotated[Path, typer.Option("--config", help="Configuration file.")],
) -> None:
    """Each calendar the buildings use: what it covers, what happens past it, who uses it."""
    try:
        settings = config.load(config_file)
        say.deployment(settings)
        inv = inventory_mod.load(settings.inventory.path)
    except LorawatchError as exc:
        raise fail(exc) from None
    users: dict[str, list[str]] = {}
    for b in inv.buildings.values():
        for name in inv.calendar_names(b):
            users.setdefault(name, []).append(b.id)
    today = datetime.now(ZoneInfo(settings.site.timezone)).date()
    for name, buildings in sorted(users.items()):
        cal = inv.calendars[name]
        if cal.covers is None:
            span = say.t("calendars.computed")
        else:
            left = (cal.covers[1] - today).days
            past = (
                say.t("calendars.projected", projection=cal.projection)
                if cal.projection
                else say.t("calendars.unknown_after")
            )
            span = say.t(
                "calendars.span", first=cal.covers[0], last=cal.covers[1], left=left, past=past
            )
        out.print(
            f"{name}: {span}; {', '.join(sorted(buildings))}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )

"""``lorawatch weather import``: a Météo-France hourly file as a commune's outdoor temperature."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorawatch import inventory as inventory_mod
from lorawatch.app import config
from lorawatch.core.errors import LorawatchError
from lorawatch.pipeline import weather
from lorawatch.stores.influx import InfluxStore
from lorawatch.stores.sqlite import SqliteStore

weather_app = typer.Typer(help="Outdoor temperature of the communes.", no_args_is_help=True)
out = Console()
err = Console(stderr=True, soft_wrap=True)


def register(root: typer.Typer) -> None:
    root.add_typer(weather_app, name="weather")


@weather_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="Météo-France hourly file (.csv or .csv.gz).")],
    commune: Annotated[str, typer.Option("--commune", help="Commune id of the inventory.")],
    config_file: Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")],
    station: Annotated[
        str, typer.Option("--station", help="NUM_POSTE to take (needed if the file has several).")
    ] = "",
    max_fill_h: Annotated[
        int, typer.Option("--max-fill-h", min=0, help="Longest gap filled by interpolation (h).")
    ] = 3,
) -> None:
    """Store a station's hourly temperatures as the commune's ``outdoor_temperature_c``."""
    try:
        settings = config.load(config_file)
        inv = inventory_mod.load(settings.inventory.path)
        if commune not in inv.communes:
            known = ", ".join(sorted(inv.communes)) or "none"
            raise typer.BadParameter(
                f"{commune!r} is not in the inventory ({known})", param_hint="--commune"
            )
        stations = weather.read(file)
    except LorawatchError as exc:
        err.print(f"error: {exc}", highlight=False)
        raise typer.Exit(2) from None
    if station:
        chosen = stations.get(station) or stations.get(station.zfill(8))
        if chosen is None:
            err.print(f"error: station {station} not in {file} ({', '.join(sorted(stations))})")
            raise typer.Exit(2)
    elif len(stations) == 1:
        chosen = next(iter(stations.values()))
    else:
        listed = ", ".join(f"{s.number} {s.name}" for s in stations.values()) or "none"
        err.print(
            f"error: {file} has {len(stations)} stations; choose one with --station: {listed}"
        )
        raise typer.Exit(2)
    imported = weather.fill(chosen, max_fill_h)
    batch = weather.to_batch(imported, commune)
    outputs = settings.store.outputs
    sqlite = SqliteStore(settings.store.sqlite.path, readings="sqlite" in outputs)
    influx = InfluxStore(settings.store.influxdb) if "influxdb" in outputs else None
    try:
        sqlite.write(batch)
        if influx is not None:
            influx.write(batch)
    except LorawatchError as exc:
        err.print(f"error: not stored: {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        sqlite.close()
        if influx is not None:
            influx.close()
    out.print(
        f"{commune}: {len(batch.readings)} hourly temperatures from station {chosen.number} "
        f"{chosen.name} ({imported.filled} filled, {len(imported.gaps)} gap(s) longer than "
        f"{max_fill_h} h left empty, {chosen.bad_rows} unreadable row(s))",
        highlight=False,
    )
    for a, b in imported.gaps:
        out.print(f"  gap: {a.isoformat()} .. {b.isoformat()}", highlight=False)

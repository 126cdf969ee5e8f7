"""``lorawatch weather import``: a Météo-France hourly file as a commune's outdoor temperature."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorawatch import inventory as inventory_mod
from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.core.errors import LorawatchError
from lorawatch.pipeline import weather
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
    # lazy: httpx loads only for this command, not for `lorawatch run`
    from lorawatch.stores.influx import InfluxStore

    try:
        settings = config.load(config_file)
        say.deployment(settings)
        inv = inventory_mod.load(settings.inventory.path)
        if commune not in inv.communes:
            known = ", ".join(sorted(inv.communes)) or say.t("none")
            say.error(err, "weather.unknown_commune", commune=commune, known=known)
            raise typer.Exit(2)
        stations = weather.read(file)
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(2) from None
    if station:
        chosen = stations.get(station) or stations.get(station.zfill(8))
        if chosen is None:
            known = ", ".join(sorted(stations))
            say.error(err, "weather.unknown_station", station=station, file=file, known=known)
            raise typer.Exit(2)
    elif len(stations) == 1:
        chosen = next(iter(stations.values()))
    else:
        listed = ", ".join(f"{s.number} {s.name}" for s in stations.values()) or say.t("none")
        say.error(err, "weather.which_station", file=file, n=len(stations), listed=listed)
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
        say.error(err, "weather.not_stored", why=exc)
        raise typer.Exit(1) from None
    finally:
        sqlite.close()
        if influx is not None:
            influx.close()
    out.print(
        say.t(
            "weather.imported",
            commune=commune,
            n=len(batch.readings),
            number=chosen.number,
            name=chosen.name,
            filled=imported.filled,
            gaps=len(imported.gaps),
            max_fill_h=max_fill_h,
            bad=chosen.bad_rows,
        ),
        highlight=False,
        markup=False,
    )
    for a, b in imported.gaps:
        out.print(say.t("weather.gap", start=a.isoformat(), end=b.isoformat()), highlight=False)

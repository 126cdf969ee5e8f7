"""``lorawatch meters``: record a meter replacement or recalibration."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lorawatch.app import config
from lorawatch.core.errors import LorawatchError
from lorawatch.core.readings import DELTA_OF
from lorawatch.core.timeutil import from_us
from lorawatch.pipeline import commands
from lorawatch.pipeline.meters import MeterKey
from lorawatch.stores.sqlite import SqliteStore

meters_app = typer.Typer(help="Record meter replacements and recalibrations.", no_args_is_help=True)
out = Console()
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")]
DevEui = Annotated[str, typer.Argument(help="The device's dev_eui (16 hex digits).")]
At = Annotated[
    str, typer.Option("--at", help="When it happened, ISO 8601 with a zone (default: now).")
]
Name = Annotated[str, typer.Option("--name", help=f"The index: {', '.join(DELTA_OF)}.")]
Channel = Annotated[str, typer.Option("--channel", help="Channel of a multi-input device.")]
Note = Annotated[str, typer.Option("--note", help="Why (kept with the command).")]


def register(root: typer.Typer) -> None:
    root.add_typer(meters_app, name="meters")


def _store(config_file: Path) -> SqliteStore:
    try:
        settings = config.load(config_file)
    except LorawatchError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    return SqliteStore(settings.store.sqlite.path, readings=False)


def _key(dev_eui: str, name: str, channel: str) -> MeterKey:
    dev_eui = dev_eui.lower()
    if len(dev_eui) != 16 or any(c not in "0123456789abcdef" for c in dev_eui):
        raise typer.BadParameter(f"{dev_eui!r} is not 16 hex digits", param_hint="DEV_EUI")
    if name not in DELTA_OF:
        raise typer.BadParameter(
            f"{name!r}: expected one of {', '.join(DELTA_OF)}", param_hint="--name"
        )
    return MeterKey(dev_eui, name, channel)


def _at(text: str) -> datetime:
    if not text:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint="--at") from None
    if at.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no zone: add Z or +01:00", param_hint="--at")
    return at


@meters_app.command("reset")
def reset(
    config_file: ConfigOption,
    dev_eui: DevEui,
    start_index: Annotated[
        float, typer.Option("--start-index", help="The new meter's index.")
    ] = 0.0,
    at: At = "",
    name: Name = "energy_kwh",
    channel: Channel = "",
    note: Note = "",
) -> None:
    """The meter was replaced (or its counter cleared): the next reading counts from --start-index."""
    key = _key(dev_eui, name, channel)
    when = _at(at)
    command_id = commands.record(_store(config_file), key, "replace", when, start_index, note)
    out.print(
        f"meter command {command_id}: {key.dev_eui} {name} replaced at {when.isoformat()}, "
        f"new index {start_index:g}; the service applies it within seconds"
    )


@meters_app.command("calibrate")
def calibrate(
    config_file: ConfigOption,
    dev_eui: DevEui,
    offset: Annotated[
        float, typer.Option("--offset", help="Correction added to the index from --at on.")
    ],
    at: At = "",
    name: Name = "energy_kwh",
    channel: Channel = "",
    note: Note = "",
) -> None:
    """The index was corrected by --offset: the step is not consumption."""
    key = _key(dev_eui, name, channel)
    when = _at(at)
    command_id = commands.record(_store(config_file), key, "calibrate", when, offset, note)
    out.print(
        f"meter command {command_id}: {key.dev_eui} {name} calibrated by {offset:+g} at {when.isoformat()}"
    )


@meters_app.command("list")
def list_commands(config_file: ConfigOption) -> None:
    """Every meter command, and whether the service has applied it."""
    store = _store(config_file)
    commands.ensure_schema(store)
    table = Table("id", "dev_eui", "index", "kind", "at", "amount", "applied", "note")
    for row in store.fetch(
        "SELECT id, dev_eui, name, channel, kind, at_us, amount, applied_us, note FROM meter_commands ORDER BY id"
    ):
        id_, eui, name, channel, kind, at_us, amount, applied, note = row
        table.add_row(
            str(id_),
            eui,
            name + (f"/{channel}" if channel else ""),
            kind,
            from_us(at_us).isoformat(),
            f"{amount:g}",
            "yes" if applied else "pending",
            note,
        )
    out.print(table)

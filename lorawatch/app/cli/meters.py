"""``lorawatch meters``: record a meter replacement or recalibration."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lorawatch import inventory
from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.core.errors import LorawatchError
from lorawatch.core.readings import DELTA_OF
from lorawatch.core.timeutil import from_us
from lorawatch.inventory import ResolvedDevice
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
Name = Annotated[
    str,
    typer.Option(
        "--name", help=f"The index: {', '.join(DELTA_OF)} (default: the one the device counts)."
    ),
]
Channel = Annotated[str, typer.Option("--channel", help="Channel of a multi-input device.")]
Note = Annotated[str, typer.Option("--note", help="Why (kept with the command).")]


def register(root: typer.Typer) -> None:
    root.add_typer(meters_app, name="meters")


def _settings(config_file: Path) -> config.Settings:
    try:
        settings = config.load(config_file)
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(2) from None
    say.deployment(settings)
    return settings


def _refuse(option: str, key: str, **values: object) -> typer.Exit:
    """A value the inventory or the clock contradicts: ``error: OPTION: why``, exit 2."""
    err.print(
        f"[red]{say.t('error')}:[/red] {escape(option)}: {escape(say.t(key, **values))}",
        highlight=False,
    )
    return typer.Exit(2)


def _store(config_file: Path) -> SqliteStore:
    settings = _settings(config_file)
    return SqliteStore(settings.store.sqlite.path, readings=False)


def _record(
    config_file: Path,
    path: Path,
    key: MeterKey,
    kind: commands.Kind,
    at: datetime,
    amount: float,
    note: str,
) -> int:
    """Record the command where the service reads them: the SQLite store, or the shared
    PostgreSQL state (the worker owning the meter's partition applies it)."""
    state = _settings(config_file).state
    if state.backend != "postgresql":
        return commands.record(SqliteStore(path, readings=False), key, kind, at, amount, note)
    # lazy: psycopg loads only for the PostgreSQL state
    from lorawatch.stores.postgres import PostgresStore

    try:
        store = PostgresStore(state)
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(1) from None
    try:
        return store.record_command(key, kind, at, amount, note)
    finally:
        store.close()


INDEX_OF_KIND = {
    "electricity": "energy_kwh",
    "heat": "energy_kwh",
    "water": "volume_m3",
    "gas": "volume_m3",
}
"""The meter index a device of each inventory kind counts."""


def _indexes(device: ResolvedDevice) -> list[str]:
    """The meter indexes this device can report: from its kind, else from its decoder."""
    if device.kind in INDEX_OF_KIND:
        return [INDEX_OF_KIND[device.kind]]
    produced = set(device.decoder.readings) if device.decoder else set()
    produced |= {m.reading for m in device.mapping.values()}
    return [name for name in DELTA_OF if name in produced]


def _key(config_file: Path, dev_eui: str, name: str, channel: str) -> tuple[MeterKey, Path]:
    """The meter to command, checked against the inventory: a known device, and an index
    that device counts (a water meter's volume, never a default energy index)."""
    dev_eui = dev_eui.lower()
    if len(dev_eui) != 16 or any(c not in "0123456789abcdef" for c in dev_eui):
        raise _refuse("DEV_EUI", "meters.not_hex", dev_eui=dev_eui)
    settings = _settings(config_file)
    try:
        inv = inventory.load(settings.inventory.path)
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(2) from None
    device = inv.devices.get(dev_eui)
    if device is not None:
        label, kind, indexes = device.name, device.kind, _indexes(device)
    else:
        # A device matched by its ChirpStack device profile is in no [[devices]] entry:
        # what the store heard from it says which indexes it counts.
        label, kind = dev_eui, "profile-matched"
        indexes = _stored_indexes(settings.store.sqlite.path, dev_eui)
        if not indexes:
            raise _refuse(
                "DEV_EUI", "meters.unknown", dev_eui=dev_eui, inventory=settings.inventory.path
            )
    if not indexes:
        raise _refuse("DEV_EUI", "meters.no_index", label=label, kind=kind)
    if not name:
        if len(indexes) > 1:
            raise _refuse("--name", "meters.which", label=label, indexes=", ".join(indexes))
        name = indexes[0]
    elif name not in indexes:
        raise _refuse(
            "--name",
            "meters.wrong_index",
            name=name,
            label=label,
            kind=kind,
            indexes=", ".join(indexes),
        )
    return MeterKey(dev_eui, name, channel), settings.store.sqlite.path


def _stored_indexes(path: Path, dev_eui: str) -> list[str]:
    if not path.exists():
        return []
    store = SqliteStore(path, readings=False)
    try:
        rows = store.fetch(
            f"SELECT DISTINCT name FROM readings WHERE dev_eui = ? AND name IN "
            f"({','.join('?' * len(DELTA_OF))})",
            (dev_eui, *DELTA_OF),
        )
    except sqlite3.OperationalError:  # no readings table: the store holds none
        return []
    finally:
        store.close()
    return sorted(str(name) for (name,) in rows)


FUTURE_SLACK = timedelta(minutes=5)
"""How far ahead of this machine's clock --at may be (clocks of two machines differ)."""


def _at(text: str) -> datetime:
    if not text:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _refuse("--at", "meters.not_iso", text=text) from None
    if at.tzinfo is None:
        raise _refuse("--at", "meters.no_zone", text=text)
    if at > datetime.now(UTC) + FUTURE_SLACK:
        raise _refuse("--at", "meters.future", text=text)
    return at


@meters_app.command("reset")
def reset(
    config_file: ConfigOption,
    dev_eui: DevEui,
    start_index: Annotated[
        float, typer.Option("--start-index", min=0, help="The new meter's index.")
    ] = 0.0,
    at: At = "",
    name: Name = "",
    channel: Channel = "",
    note: Note = "",
) -> None:
    """The meter was replaced (or its counter cleared): the next reading counts from --start-index."""
    when = _at(at)
    key, path = _key(config_file, dev_eui, name, channel)
    command_id = _record(config_file, path, key, "replace", when, start_index, note)
    out.print(
        say.t(
            "meters.replaced",
            id=command_id,
            dev_eui=key.dev_eui,
            name=key.name,
            at=when.isoformat(),
            index=f"{start_index:g}",
        ),
        highlight=False,
        markup=False,
    )


@meters_app.command("calibrate")
def calibrate(
    config_file: ConfigOption,
    dev_eui: DevEui,
    offset: Annotated[
        float, typer.Option("--offset", help="Correction added to the index from --at on.")
    ],
    at: At = "",
    name: Name = "",
    channel: Channel = "",
    note: Note = "",
) -> None:
    """The index was corrected by --offset: the step is not consumption."""
    when = _at(at)
    key, path = _key(config_file, dev_eui, name, channel)
    if offset == 0:
        raise _refuse("--offset", "meters.zero_offset")
    command_id = _record(config_file, path, key, "calibrate", when, offset, note)
    out.print(
        say.t(
            "meters.calibrated",
            id=command_id,
            dev_eui=key.dev_eui,
            name=key.name,
            offset=f"{offset:+g}",
            at=when.isoformat(),
        ),
        highlight=False,
        markup=False,
    )


@meters_app.command("list")
def list_commands(config_file: ConfigOption) -> None:
    """Every meter command, and whether the service has applied it."""
    store = _store(config_file)
    commands.ensure_schema(store)
    # dev_eui and times whole at 80 columns: the note folds instead.
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False)
    table.add_column(say.t("col.id"), no_wrap=True)
    table.add_column("dev_eui", no_wrap=True)
    table.add_column(say.t("col.index"), no_wrap=True)
    table.add_column(say.t("col.kind"), no_wrap=True)
    table.add_column(say.t("col.at_utc"), no_wrap=True)
    table.add_column(say.t("col.amount"), no_wrap=True, justify="right")
    table.add_column(say.t("col.applied"), no_wrap=True)
    table.add_column(say.t("col.note"), overflow="fold")
    for row in store.fetch(
        "SELECT id, dev_eui, name, channel, kind, at_us, amount, applied_us, note FROM meter_commands ORDER BY id"
    ):
        id_, eui, name, channel, kind, at_us, amount, applied, note = row
        table.add_row(
            str(id_),
            eui,
            name + (f"/{channel}" if channel else ""),
            kind,
            f"{from_us(at_us):%Y-%m-%d %H:%M}",
            f"{amount:g}",
            say.t("yes") if applied else say.t("meters.pending"),
            escape(note),
        )
    out.print(table)

"""The ``lorawatch`` command line. Each stage of the data flow brings its own sub-commands."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape

from lorawatch import __version__
from lorawatch.app import config
from lorawatch.core import logs
from lorawatch.core.errors import ConfigError, InventoryError, LorawatchError

app = typer.Typer(
    name="lorawatch",
    help="LoRaWAN building-energy monitoring for communes: ChirpStack uplinks to consumption, "
    "alerts and dashboards.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Write and check configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")

out = Console()
err = Console(stderr=True, soft_wrap=True)

EXIT_CONFIG = 2


def _version(value: bool) -> None:
    if value:
        out.print(f"lorawatch {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level", help="debug, info, warning or error.", envvar="LORAWATCH__LOG__LEVEL"
        ),
    ] = "info",
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format", help="auto (console on a terminal, else JSON), json or console."
        ),
    ] = "auto",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    fmt = log_format if log_format in ("auto", "json", "console") else "auto"
    logs.setup(log_level, fmt)  # type: ignore[arg-type]


def fail(exc: LorawatchError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
    return typer.Exit(EXIT_CONFIG if isinstance(exc, ConfigError | InventoryError) else 1)


@config_app.command("init")
def config_init() -> None:
    """Print a fully commented configuration template with every option and its default."""
    sys.stdout.write(config.template())


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="Configuration file to check.")],
    inventory: Annotated[bool, typer.Option(help="Also check the inventory file it names.")] = True,
) -> None:
    """Validate a configuration file; print every error at once (exit code 2 on error)."""
    try:
        settings = config.load(file)
    except ConfigError as exc:
        err.print(f"[red]{len(exc.problems)} error(s)[/red] in {file}:", highlight=False)
        for key, message in exc.problems:
            err.print(f"  [bold]{key}[/bold]: {message}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    if inventory:
        # lazy: decoders load only when an inventory is checked
        from lorawatch import inventory as inventory_mod

        path = settings.inventory.path
        if not path.exists():
            err.print(
                f"[yellow]warning:[/yellow] inventory.path: {path} does not exist yet",
                highlight=False,
            )
        else:
            try:
                inv = inventory_mod.load(path)
            except InventoryError as exc:
                raise fail(exc) from None
            out.print(
                f"inventory {path}: {len(inv.devices)} device(s), {len(inv.buildings)} building(s)"
            )
            from lorawatch.inventory.occupancy import calendar_warnings

            today = datetime.now(ZoneInfo(settings.site.timezone)).date()
            for warning in calendar_warnings(inv, today):
                text = f"[{warning['key']}]: {warning['message']} (buildings: "
                text += f"{', '.join(warning['buildings'])})"
                err.print(f"[yellow]warning[/yellow] {escape(text)}", highlight=False)
    out.print(f"[green]ok[/green]: {file}", highlight=False)


calendars_app = typer.Typer(help="Closure calendars: school holidays.", no_args_is_help=True)
app.add_typer(calendars_app, name="calendars")


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
    from lorawatch.inventory import calendar_import, occupancy
    from lorawatch import inventory as inventory_mod

    inv = None
    if config_file is not None:
        try:
            inv_path = config.load(config_file).inventory.path
            inv = inventory_mod.load(inv_path)
        except LorawatchError as exc:
            raise fail(exc) from None
        if output is None:
            if not inv.doc.calendar_files:
                err.print(
                    f"[red]error:[/red] {inv_path} names no calendar file: add "
                    'calendar_files = ["calendars.toml"] at its top, or give --out',
                    highlight=False,
                )
                raise typer.Exit(EXIT_CONFIG)
            first = Path(inv.doc.calendar_files[0])
            output = first if first.is_absolute() else inv_path.parent / first
    if commune:
        found = inv.communes.get(commune) if inv else None
        if found is None:
            err.print(f"[red]error:[/red] --commune {commune!r}: not in the inventory of --config")
            raise typer.Exit(EXIT_CONFIG)
        academy, zone = academy or found.academy, zone or found.school_zone
        if academy and zone:
            zone = ""  # the académie's own dates first
    if output is None:
        err.print("[red]error:[/red] give --out FILE or --config lorawatch.toml")
        raise typer.Exit(EXIT_CONFIG)
    try:
        records = calendar_import.read_records(file)
        imported = calendar_import.school_calendar(
            records,
            name or inventory_mod.school_calendar_name(zone=zone, academy=academy),
            zone=zone,
            academy=academy,
            timezone=timezone,
            origin=file.name,
        )
        calendar_import.write_calendar(output, imported)
        occupancy.load_calendar_file(output)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    for note in imported.notes:
        err.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    first_day, last_day = imported.covers
    out.print(
        f"{imported.name}: {len(imported.closed)} holiday(s), covers {first_day}..{last_day}"
        f" -> {output}",
        highlight=False,
    )


@calendars_app.command("list")
def calendars_list(
    config_file: Annotated[Path, typer.Option("--config", help="Configuration file.")],
) -> None:
    """Each calendar the buildings use: what it covers, what happens past it, who uses it."""
    from lorawatch import inventory as inventory_mod

    try:
        settings = config.load(config_file)
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
            span = "computed, every year"
        else:
            left = (cal.covers[1] - today).days
            past = f"then {cal.projection} projected by rule" if cal.projection else "then unknown"
            span = f"{cal.covers[0]}..{cal.covers[1]} ({left} day(s) left), {past}"
        out.print(
            f"{name}: {span}; {', '.join(sorted(buildings))}", highlight=False, soft_wrap=True
        )


@app.command()
def run(
    config_file: Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")],
) -> None:
    """Run the service: MQTT bridge, pipeline, stores, /metrics and /healthz."""
    # lazy: the service's stack loads only for `run`
    from lorawatch.app.runner import run_until_signal

    try:
        settings = config.load(config_file)
        logs.setup(settings.log.level, settings.log.format)
        run_until_signal(settings)
    except LorawatchError as exc:
        raise fail(exc) from None


@app.command()
def demo(
    seconds: Annotated[
        float, typer.Option(help="Stop after this many seconds (0: run until Ctrl-C).")
    ] = 0,
    workdir: Annotated[Path, typer.Option(help="Where the demo keeps its SQLite store.")] = Path(
        "var/demo"
    ),
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 600,
    port: Annotated[int, typer.Option(help="HTTP port (0: any free port).")] = 8080,
) -> None:
    """Run the whole chain on embedded parts: in-process broker, simulator, SQLite store."""
    # lazy: the demo's stack loads only for `demo`
    from lorawatch.app.runner import run_demo

    try:
        run_demo(workdir, seconds=seconds, speed=speed, http_port=port, console=out)
    except LorawatchError as exc:
        raise fail(exc) from None


def _mount() -> None:
    """Sub-commands of the stages (decoders, pipeline, simulators...) register themselves."""
    # lazy: used once, at mount time
    import importlib

    for module in (
        "lorawatch.app.cli.decoders",
        "lorawatch.app.cli.deadletters",
        "lorawatch.app.cli.meters",
        "lorawatch.app.cli.reports",
        "lorawatch.app.cli.simulate",
        "lorawatch.app.cli.alerts",
        "lorawatch.app.cli.dashboards",
        "lorawatch.app.cli.web",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(app)


_mount()


def main() -> None:
    app()

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
            # lazy: with the inventory, only when one is checked
            from lorawatch.inventory.occupancy import calendar_warnings

            today = datetime.now(ZoneInfo(settings.site.timezone)).date()
            for warning in calendar_warnings(inv, today):
                text = f"[{warning['key']}]: {warning['message']} (buildings: "
                text += f"{', '.join(warning['buildings'])})"
                err.print(f"[yellow]warning[/yellow] {escape(text)}", highlight=False)
    # lazy: decoders (and their plugins) load only when a check needs them
    from lorawatch.decoders import registry

    for problem in registry.problems():  # a plugin left out (name clash, import error)
        err.print(f"[yellow]warning:[/yellow] {escape(problem)}", highlight=False)
    out.print(f"[green]ok[/green]: {file}", highlight=False)


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
        "lorawatch.app.cli.amqp",
        "lorawatch.app.cli.meters",
        "lorawatch.app.cli.calendars",
        "lorawatch.app.cli.reports",
        "lorawatch.app.cli.weather",
        "lorawatch.app.cli.savings",
        "lorawatch.app.cli.decret",
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

"""The ``lorawatch`` command line. Each stage of the data flow brings its own sub-commands.

Its messages for an operator come from the catalogue in one language (:mod:`.say`).
"""

from __future__ import annotations

import errno
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape

from lorawatch import __version__
from lorawatch import inventory as inventory_pkg
from lorawatch.app import config
from lorawatch.app.cli import say, usage
from lorawatch.core import logs
from lorawatch.core.errors import BusyError, ConfigError, InventoryError, LorawatchError
from lorawatch.core.formats import LANGS
from lorawatch.core.settings import LogConfig

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

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

# The exit codes, documented in docs/cli.md.
EXIT_FAILURE = 1
"""A runtime failure: a store or broker refused, a verification failed."""
EXIT_CONFIG = 2
"""A usage error: bad flag or value, bad or missing file, path not writable. Fix and rerun."""
EXIT_BUSY = 3
"""Another process holds what the command needs (HTTP port, demo directory); nothing changed."""


def _version(value: bool) -> None:
    if value:
        out.print(f"lorawatch {__version__}")
        raise typer.Exit()


_explicit_log: dict[str, str] = {}
"""--log-level / --log-format given on the command line: they win over the config file."""


@app.callback()
def main_options(
    ctx: typer.Context,
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
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            envvar=say.ENV_LANG,
            help="Language of the messages: fr or en (default: the configuration's "
            "site.language, else LC_ALL/LC_MESSAGES/LANG, else fr).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    say.choose(lang)
    if lang is not None and lang not in LANGS:
        say.error(err, "bad_choice", option="--lang", value=lang, choices="fr, en")
        raise typer.Exit(EXIT_CONFIG)
    if log_level not in ("debug", "info", "warning", "error"):
        say.error(
            err,
            "bad_choice",
            option="--log-level",
            value=log_level,
            choices="debug, info, warning, error",
        )
        raise typer.Exit(EXIT_CONFIG)
    if log_format not in ("auto", "json", "console"):
        say.error(
            err,
            "bad_choice",
            option="--log-format",
            value=log_format,
            choices="auto, json, console",
        )
        raise typer.Exit(EXIT_CONFIG)
    _explicit_log.clear()
    for name, value in (("level", log_level), ("format", log_format)):
        source = ctx.get_parameter_source(f"log_{name}")
        if getattr(source, "name", "") == "COMMANDLINE":  # typer's click, not click's
            _explicit_log[name] = value
    logs.setup(log_level, log_format)  # type: ignore[arg-type]


def _log_choice(settings: config.Settings) -> tuple[Any, Any]:
    """The log level and format for a long-running command: the flags, else ``[log]``."""
    return (
        _explicit_log.get("level", settings.log.level),
        _explicit_log.get("format", settings.log.format),
    )


def exit_code(exc: BaseException) -> int:
    """The documented exit code of an error a user can meet (see docs/cli.md)."""
    if isinstance(exc, BusyError):
        return EXIT_BUSY
    if isinstance(exc, ConfigError | InventoryError):
        return EXIT_CONFIG
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return EXIT_BUSY
    if isinstance(
        exc, PermissionError | FileNotFoundError | IsADirectoryError | NotADirectoryError
    ):
        return EXIT_CONFIG
    return EXIT_FAILURE


def fail(exc: LorawatchError) -> typer.Exit:
    say.print_failure(err, exc)
    return typer.Exit(exit_code(exc))


@config_app.command("init")
def config_init() -> None:
    """Print a fully commented configuration template with every option and its default."""
    sys.stdout.write(config.template())


INVENTORY_TEMPLATE = Path(inventory_pkg.__file__).with_name("template.toml")


@app.command("init")
def init(
    directory: Annotated[
        Path, typer.Argument(help="Where to write lorawatch.toml and inventory.toml.")
    ] = Path(),
    force: Annotated[bool, typer.Option(help="Overwrite files that already exist.")] = False,
) -> None:
    """Write a runnable configuration and an inventory template, both commented.

    A file that exists is kept (``--force`` overwrites): after ``config init > lorawatch.toml``
    it writes the missing inventory only."""
    files = {
        directory / "lorawatch.toml": config.template(),
        directory / "inventory.toml": INVENTORY_TEMPLATE.read_text(encoding="utf-8"),
    }
    existing = [p for p in files if p.exists()]
    if len(existing) == len(files) and not force:
        say.error(err, "init.both_exist", files=say.t("and").join(map(str, existing)))
        raise typer.Exit(EXIT_CONFIG)
    if not force:
        for path in existing:
            out.print(say.t("init.kept", path=path), highlight=False, markup=False)
            del files[path]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        say.error(err, "init.cannot_write", directory=directory, why=exc.strerror or exc)
        raise typer.Exit(EXIT_CONFIG) from None
    names = say.t("and").join(str(p) for p in files)
    out.print(
        say.t("init.wrote", files=names, config=directory / "lorawatch.toml"),
        highlight=False,
        markup=False,
    )


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="Configuration file to check.")],
    inventory: Annotated[bool, typer.Option(help="Also check the inventory file it names.")] = True,
) -> None:
    """Validate a configuration file; print every error at once (exit code 2 on error)."""
    try:
        settings = config.load(file)
    except ConfigError as exc:
        _problems(file, exc.said(say.language()))
        raise typer.Exit(EXIT_CONFIG) from None
    say.deployment(settings)
    problems = config.runtime_problems(settings)
    if problems:
        _problems(file, problems)
        raise typer.Exit(EXIT_CONFIG)
    if inventory:
        # lazy: decoders load only when an inventory is checked
        from lorawatch import inventory as inventory_mod

        path = settings.inventory.path
        try:
            inv = inventory_mod.load(path)
        except InventoryError as exc:
            raise fail(exc) from None
        out.print(
            say.t(
                "check.inventory", path=path, devices=len(inv.devices), buildings=len(inv.buildings)
            ),
            highlight=False,
            markup=False,
        )
        # lazy: with the inventory, only when one is checked
        from lorawatch.inventory.occupancy import calendar_warnings

        today = datetime.now(ZoneInfo(settings.site.timezone)).date()
        for warning in calendar_warnings(inv, today):
            buildings = ", ".join(warning["buildings"])
            say.warning(
                err,
                f"[{warning['key']}]: {warning['message']} "
                + say.t("check.buildings", buildings=buildings),
            )
    # lazy: decoders (and their plugins) load only when a check needs them
    from lorawatch.decoders import registry

    for problem in registry.problems():  # a plugin left out (name clash, import error)
        say.warning(err, problem)
    out.print(f"[green]{say.t('ok')}[/green]: {escape(str(file))}", highlight=False)


def _problems(file: Path, problems: list[tuple[str, str]]) -> None:
    """Every problem of a configuration file, each with its key, under one header."""
    header = say.t(
        "problems.configuration_error", n=len(problems), where=f" {say.t('in_source', source=file)}"
    )
    err.print(f"[red]{escape(header)}[/red]", highlight=False)
    for key, message in problems:
        err.print(f"  [bold]{escape(key)}[/bold]: {escape(message)}", highlight=False)


@app.command()
def run(
    config_file: Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")],
) -> None:
    """Run the service: MQTT bridge, pipeline, stores, /metrics and /healthz."""
    # lazy: the service's stack loads only for `run`
    from lorawatch.app.runner import run_until_signal

    try:
        settings = config.load(config_file)
        say.deployment(settings)
        problems = config.runtime_problems(settings)
        if problems:
            raise ConfigError(problems, str(config_file))
        level, fmt = _log_choice(settings)
        logs.setup(level, fmt)
        run_until_signal(settings.model_copy(update={"log": LogConfig(level=level, format=fmt)}))
    except LorawatchError as exc:
        raise fail(exc) from None


@app.command()
def demo(
    seconds: Annotated[
        float, typer.Option(min=0, help="Stop after this many seconds (0: run until Ctrl-C).")
    ] = 0,
    workdir: Annotated[Path, typer.Option(help="Where the demo keeps its SQLite store.")] = Path(
        "var/demo"
    ),
    speed: Annotated[float, typer.Option(min=1, help="Simulated seconds per real second.")] = 600,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="HTTP port (0: any free port).")
    ] = 8080,
    history_days: Annotated[
        float,
        typer.Option(
            min=0,
            max=365,
            help="Days of the buildings' history loaded first (four weeks: every comparison "
            "has its reference).",
        ),
    ] = 28,
) -> None:
    """Run the whole chain on embedded parts: in-process broker, simulator, SQLite store."""
    # lazy: the demo's stack loads only for `demo`
    from lorawatch.app.runner import run_demo

    try:
        run_demo(
            workdir,
            seconds=seconds,
            speed=speed,
            http_port=port,
            console=out,
            history_days=history_days,
            log=dict(_explicit_log),
        )
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
        "lorawatch.app.cli.state",
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
    """Run the command line; errors a user can meet end in one line and a documented code.

    Each command reports its own errors with the key or option to fix; this is the net for
    what gets past them (a file that cannot be written, a port taken), never a traceback.
    """
    try:
        code = usage.run(app, err, sys.argv[1:])
    except LorawatchError as exc:
        say.print_failure(err, exc)
        sys.exit(exit_code(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        say.error(err, "os_error", where=where, why=exc.strerror or exc)
        sys.exit(exit_code(exc))
    sys.exit(code)

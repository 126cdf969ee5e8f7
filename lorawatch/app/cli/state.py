"""``lorawatch state``: the shared state of several workers in PostgreSQL (docs/scaling.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorawatch.app import config
from lorawatch.core.errors import ConfigError, LorawatchError

state_app = typer.Typer(
    help="The PostgreSQL state several workers share (docs/scaling.md).", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")]


def register(root: typer.Typer) -> None:
    root.add_typer(state_app, name="state")


def _fail(exc: LorawatchError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(2 if isinstance(exc, ConfigError) else 1)


@state_app.command("migrate")
def migrate(config_file: ConfigOption) -> None:
    """Bring the database's schema to this release's version (workers also do it at start).
    Safe to run again, and while workers run: migrations wait for each other."""
    # lazy: psycopg loads only for the PostgreSQL state
    from lorawatch.stores.postgres import PostgresStore, migrations

    try:
        settings = config.load(config_file)
        if settings.state.backend != "postgresql":
            raise ConfigError(
                [("state.backend", 'is "sqlite": set it to "postgresql" and state.dsn first')],
                str(config_file),
            )
        store = PostgresStore(settings.state, migrate=False)
        try:
            done = store.migrate()
        finally:
            store.close()
    except LorawatchError as exc:
        raise _fail(exc) from None
    version = migrations.available()[-1].version
    what = f"applied {', '.join(f'{v:04d}' for v in done)}" if done else "already up to date"
    out.print(
        f"[green]ok[/green]: {store.target} at schema {version:04d} ({what})", highlight=False
    )

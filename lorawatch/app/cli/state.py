"""``lorawatch state``: the shared state of several workers in PostgreSQL (docs/scaling.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.core import catalogue
from lorawatch.core.errors import ConfigError, LorawatchError

state_app = typer.Typer(
    help="The PostgreSQL state several workers share (docs/scaling.md).", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")]


def register(root: typer.Typer) -> None:
    root.add_typer(state_app, name="state")
    root.command("status")(status)


def _fail(exc: LorawatchError) -> typer.Exit:
    say.print_failure(err, exc)
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


def status(
    config_file: ConfigOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    lang: Annotated[
        Literal["fr", "en"] | None,
        typer.Option(help="Language of the tables (default: http.screens.language)."),
    ] = None,
) -> None:
    """The workers sharing the PostgreSQL state (alive or not, by their heartbeats), the
    partitions each owns, and the messages waiting in each partition queue."""
    # lazy: psycopg and pika load only for this command
    from lorawatch.gateway_bridge import amqp
    from lorawatch.stores.postgres import PostgresStore

    try:
        settings = config.load(config_file)
        if settings.state.backend != "postgresql":
            raise ConfigError(
                [("state.backend", 'is "sqlite": one process, no workers to show')],
                str(config_file),
            )
        store = PostgresStore(settings.state, migrate=False, worker="-")
        try:
            report: dict[str, Any] = store.status()
        finally:
            store.close()
    except LorawatchError as exc:
        raise _fail(exc) from None
    report["queues"], report["queues_error"] = [], ""
    if settings.bridge.source == "amqp":
        try:
            report["queues"] = amqp.depths(settings.amqp)
        except LorawatchError as exc:
            report["queues_error"] = str(exc)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _tables(report, lang or settings.http.screens.language or settings.site.language)


def _tables(report: dict[str, Any], lang: Literal["fr", "en"]) -> None:
    def t(key: str, **values: object) -> str:
        return catalogue.text(lang, f"status.{key}", **values)

    def ago(seconds: float | None) -> str:
        return "-" if seconds is None else t("ago", seconds=f"{seconds:g}")

    workers = Table(title=t("workers"))
    for column in ("worker", "host", "state", "heartbeat", "batches", "partitions"):
        workers.add_column(t(f"col.{column}"), justify="right" if column == "batches" else "left")
    colour = {"alive": "green", "stopped": "dim", "silent": "red"}
    for w in report["workers"]:
        workers.add_row(
            w["worker"],
            f"{w['host']} ({w['pid']})",
            f"[{colour[w['state']]}]{t('state.' + w['state'])}[/]",
            ago(w["heartbeat_s"]),
            str(w["batches"]),
            ", ".join(p.rsplit(".", 1)[-1] for p in w["partitions"]) or "-",
        )
    out.print(workers)
    parts = Table(title=t("partitions"))
    for column in ("partition", "owner", "epoch", "last_batch", "batches", "messages", "consumers"):
        parts.add_column(
            t(f"col.{column}"),
            justify="left" if column in ("partition", "owner") else "right",
            no_wrap=column == "partition",
        )
    queues = {q["queue"]: q for q in report["queues"]}
    names = sorted({p["partition"] for p in report["partitions"]} | set(queues))
    owned = {p["partition"]: p for p in report["partitions"]}
    for name in names:
        p, q = owned.get(name, {}), queues.get(name, {})
        parts.add_row(
            name,
            p.get("owner", "-"),
            str(p.get("epoch", "-")),
            ago(p.get("last_batch_s")),
            str(p.get("batches", "-")),
            "-" if q.get("messages") is None else str(q["messages"]),
            "-" if q.get("consumers") is None else str(q["consumers"]),
        )
    out.print(parts)
    if report["queues_error"]:
        err.print(t("queues_unavailable", error=report["queues_error"]), highlight=False)

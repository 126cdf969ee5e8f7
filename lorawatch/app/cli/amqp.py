"""``lorawatch amqp``: declare the RabbitMQ topology the AMQP source consumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.core.errors import ConfigError, LorawatchError

amqp_app = typer.Typer(
    help="RabbitMQ partition queues for several workers (docs/scaling.md).", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")]


def register(root: typer.Typer) -> None:
    root.add_typer(amqp_app, name="amqp")


@amqp_app.command("setup")
def setup(config_file: ConfigOption) -> None:
    """Declare the consistent-hash exchange, its binding from ChirpStack's exchange and the
    partition queues (quorum, single active consumer). Safe to run again."""
    # lazy: pika loads only for the AMQP commands
    from lorawatch.gateway_bridge import amqp

    try:
        settings = config.load(config_file)
        say.deployment(settings)
        cfg = settings.amqp
        queues = amqp.setup(cfg)
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from None
    text = say.t(
        "amqp.ready",
        exchange=cfg.exchange,
        binding=cfg.binding_key,
        hash_exchange=cfg.hash_exchange,
        n=len(queues),
        first=queues[0],
        last=queues[-1],
    )
    out.print(f"[green]{say.t('ok')}[/green]: {escape(text)}", highlight=False)


@amqp_app.command("definitions")
def definitions(
    config_file: ConfigOption,
    vhost: Annotated[str, typer.Option(help="The virtual host ChirpStack publishes to.")] = "/",
) -> None:
    """Print the same topology as RabbitMQ definitions (JSON), for `rabbitmqctl
    import_definitions` or the broker's load_definitions."""
    # lazy: pika loads only for the AMQP commands
    from lorawatch.gateway_bridge import amqp

    try:
        cfg = config.load(config_file).amqp
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(amqp.definitions(cfg, vhost), indent=2))

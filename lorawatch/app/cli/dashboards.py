"""``lorawatch dashboards build``: the Grafana provisioning tree, generated from the inventory.

The dashboards speak one language, the deployment's: ``--lang``, else ``site.language`` of
``--config``, else French. Not the shell's locale: rebuilding gives the same files anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorawatch import inventory as inventory_mod
from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.core.errors import LorawatchError
from lorawatch.dashboards import DEFAULT_DASHBOARDS_PATH
from lorawatch.dashboards.i18n import LANGS, Lang

app = typer.Typer(help="Generate the Grafana dashboards and provisioning.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dashboards")


@app.command("build")
def build(
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write the provisioning tree to.")
    ],
    inventory: Annotated[
        Path | None,
        typer.Option(
            "--inventory",
            "-i",
            help="Inventory or scenario file (TOML) to derive them from (default: the one of "
            "--config).",
        ),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Configuration: its inventory and its site.language."),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang", help="Labels: fr or en (default: site.language of --config, else fr)."
        ),
    ] = None,
    influx_auth: Annotated[
        str,
        typer.Option(
            "--influx-auth",
            help="password: InfluxDB 1.x user/password; token: 2.x/3.x token header.",
        ),
    ] = "password",
    dashboards_path: Annotated[
        str,
        typer.Option(help="Where the Grafana container sees the dashboards/ folder."),
    ] = DEFAULT_DASHBOARDS_PATH,
) -> None:
    """Write datasource and provider YAML and every dashboard's JSON, folder per commune.

    Regenerating gives identical files; dashboards that no longer exist are removed.
    """
    if lang is not None and lang not in LANGS:
        say.error(err, "bad_choice", option="--lang", value=lang, choices=", ".join(LANGS))
        raise typer.Exit(2)
    if influx_auth not in ("password", "token"):
        say.error(
            err, "bad_choice", option="--influx-auth", value=influx_auth, choices="password, token"
        )
        raise typer.Exit(2)
    language: Lang = "en" if lang == "en" else "fr"
    try:
        if config_file is not None:
            settings = config.load(config_file)
            say.deployment(settings)
            inventory = inventory or settings.inventory.path
            if lang is None:
                language = settings.site.language
        if inventory is None:
            say.error(err, "dashboards.no_inventory")
            raise typer.Exit(2)
        inv = inventory_mod.load(inventory)
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(2) from None
    # lazy: grafanalib is loaded only when a tree is built
    from lorawatch.dashboards import provisioning

    auth: provisioning.Auth = "password" if influx_auth == "password" else "token"
    try:
        written = provisioning.write(inv, out_dir, language, auth, dashboards_path)
    except OSError as exc:
        where = exc.filename or out_dir
        say.error(err, "dashboards.cannot_write", where=where, why=exc.strerror or exc)
        raise typer.Exit(2) from None
    dashboards = [p for p in written if p.suffix == ".json"]
    out.print(
        say.t(
            "dashboards.wrote",
            n=len(dashboards),
            communes=len(inv.communes),
            out=out_dir,
            lang=language,
        ),
        highlight=False,
        markup=False,
    )

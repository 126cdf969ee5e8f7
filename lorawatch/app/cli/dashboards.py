"""``lorawatch dashboards build``: the Grafana provisioning tree, generated from the inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorawatch import inventory as inventory_mod
from lorawatch.core.errors import InventoryError
from lorawatch.dashboards import DEFAULT_DASHBOARDS_PATH
from lorawatch.dashboards.i18n import LANGS, Lang

app = typer.Typer(help="Generate the Grafana dashboards and provisioning.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dashboards")


@app.command("build")
def build(
    inventory: Annotated[
        Path,
        typer.Option(
            "--inventory", "-i", help="Inventory or scenario file (TOML) to derive them from."
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write the provisioning tree to.")
    ],
    lang: Annotated[str, typer.Option("--lang", help="Labels: fr (default) or en.")] = "fr",
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
    if lang not in LANGS:
        raise typer.BadParameter(f"{lang!r}: choose one of {', '.join(LANGS)}", param_hint="--lang")
    if influx_auth not in ("password", "token"):
        raise typer.BadParameter(f"{influx_auth!r}: password or token", param_hint="--influx-auth")
    # lazy: grafanalib is loaded only when a tree is built
    from lorawatch.dashboards import provisioning

    try:
        inv = inventory_mod.load(inventory)
    except InventoryError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    language: Lang = "fr" if lang == "fr" else "en"
    auth: provisioning.Auth = "password" if influx_auth == "password" else "token"
    try:
        written = provisioning.write(inv, out_dir, language, auth, dashboards_path)
    except OSError as exc:
        err.print(
            f"[red]error:[/red] --out: cannot write {exc.filename or out_dir}: "
            f"{exc.strerror or exc}; choose another folder",
            highlight=False,
        )
        raise typer.Exit(2) from None
    dashboards = [p for p in written if p.suffix == ".json"]
    out.print(
        f"wrote {len(dashboards)} dashboard(s) for {len(inv.communes)} commune(s) "
        f"and the provisioning files to {out_dir}",
        highlight=False,
    )

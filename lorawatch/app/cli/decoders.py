"""``lorawatch decoders``: list, try and verify decoders, for integrators."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lorawatch.core.errors import InventoryError
from lorawatch.decoders import registry, vectors
from lorawatch.decoders.base import Uplink, readings_of

app = typer.Typer(help="List, try and verify payload decoders.", no_args_is_help=True)
out = Console()
err = Console(stderr=True, soft_wrap=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="decoders")


@app.command("list")
def list_decoders() -> None:
    """Table of every registered decoder: name, vendor, device, family, readings."""
    table = Table("name", "vendor", "device", "family", "readings")
    table.columns[0].no_wrap = True
    for cls in registry.classes():
        table.add_row(cls.name, cls.vendor, cls.device, cls.family, ", ".join(cls.readings))
    out.print(table)


def _params(values: list[str]) -> dict[str, str]:
    params = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--param")
        params[key.strip()] = value.strip()
    return params


@app.command("test")
def test_frame(
    name: Annotated[str, typer.Argument(help="Decoder name (see `lorawatch decoders list`).")],
    payload_hex: Annotated[str, typer.Argument(metavar="HEX", help="Frame bytes in hex.")],
    fport: Annotated[int, typer.Option("--fport", help="LoRaWAN fPort.")] = 85,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Device parameter KEY=VALUE (repeatable)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: data, warnings, errors, readings.")
    ] = False,
) -> None:
    """Decode one frame and print its vendor data and canonical readings."""
    try:
        decoder = registry.get(name)
    except InventoryError as exc:
        err.print(f"error: {exc.problems[0][1]}")
        raise typer.Exit(2) from None
    try:
        payload = bytes.fromhex(payload_hex.replace(" ", ""))
    except ValueError:
        err.print(f"error: HEX: {payload_hex!r} is not hexadecimal")
        raise typer.Exit(2) from None
    params, problems = decoder.resolve_params(_params(param or []))
    if problems:
        for p in problems:
            err.print(f"error: --param: {p}")
        raise typer.Exit(2)
    now = datetime.now(UTC).replace(microsecond=0)
    result = decoder.decode_uplink(Uplink(payload, fport, now))
    readings = readings_of(decoder, result, params, now)
    doc: dict[str, Any] = {
        "data": result.data,
        "warnings": result.warnings,
        "errors": result.errors,
        "readings": [
            {
                "name": r.name,
                "value": r.value,
                "unit": r.unit,
                "time": r.time.isoformat().replace("+00:00", "Z"),
                **({"channel": r.channel} if r.channel else {}),
            }
            for r in readings
        ],
    }
    if as_json:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    else:
        out.print_json(data=doc)
    if result.errors:
        raise typer.Exit(1)


@app.command("verify")
def verify(
    path: Annotated[
        Path, typer.Argument(help="A vectors YAML file, or a folder of them.", exists=True)
    ],
) -> None:
    """Run example vectors against their decoders (exit 1 when any fails)."""
    try:
        outcomes = vectors.verify(path)
    except InventoryError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        err.print(f"[red]FAIL[/red] {o.example.id}", highlight=False)
        for p in o.problems:
            err.print(f"    {p}", highlight=False)
    out.print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    if failed or not outcomes:
        raise typer.Exit(1)

"""``lorawatch savings``: avoided energy of a building, weather-normalised (ASHRAE Guideline 14)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from lorawatch import inventory as inventory_mod
from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.app.cli.reports import reading_store
from lorawatch.core.errors import LorawatchError

out = Console()
err = Console(stderr=True, soft_wrap=True)


def register(root: typer.Typer) -> None:
    root.command("savings")(savings)


def savings(
    building: Annotated[str, typer.Option("--building", help="Building id of the inventory.")],
    baseline: Annotated[
        str, typer.Option("--baseline", help="Baseline period FROM..TO (local dates, TO included).")
    ],
    reporting: Annotated[
        str, typer.Option("--reporting", help="Reporting period FROM..TO (after the change).")
    ],
    config_file: Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Energy avoided in the reporting period against a weather-aware model of the baseline
    period, with CV(RMSE), NMBE and the 90 % fractional savings uncertainty (ASHRAE G14);
    refused when the model does not meet Guideline 14."""
    # lazy: the analytics (numpy) load only for this command, not for `lorawatch run`
    from lorawatch.analytics import savings as savings_mod

    try:
        settings = config.load(config_file)
        say.deployment(settings)
        inv = inventory_mod.load(settings.inventory.path)
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(2) from None
    found = inv.buildings.get(building)
    if found is None:
        say.error(err, "unknown_building", building=building)
        raise typer.Exit(2)
    commune = inv.communes[found.commune]
    zone = ZoneInfo(commune.timezone)
    try:
        base, rep = savings_mod.parse_periods(baseline, reporting, zone)
    except ValueError as exc:
        say.error(err, "savings.bad_period", why=say.reason(exc))
        raise typer.Exit(2) from None
    try:
        with reading_store(settings) as store:
            result = savings_mod.measure(store, inv, building, base, rep)
    except savings_mod.SavingsRefused as exc:
        if as_json:
            sys.stdout.write(
                json.dumps({"building": building, "refused": str(exc), "reason": exc.reason}) + "\n"
            )
        else:
            why = exc.said(say.language())
            err.print(say.t("savings.refused", why=why), highlight=False, markup=False)
        raise typer.Exit(1) from None
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_json()) + "\n")
        return
    low, high = result.avoided_kwh_90
    out.print(
        say.t(
            "savings.result",
            name=found.name,
            avoided=f"{result.avoided_kwh:.0f}",
            pct=f"{result.avoided_pct:+.1f}",
            expected=f"{result.adjusted_baseline_kwh:.0f}",
            measured=f"{result.measured_kwh:.0f}",
            low=f"{low:.0f}",
            high=f"{high:.0f}",
            fsu=f"{result.fsu_90_pct:.0f}",
            r2=f"{result.r2:.2f}",
            cv=f"{result.cv_rmse_pct:.1f}",
            nmbe=f"{result.nmbe_pct:+.2f}",
            hours=result.baseline_hours,
        ),
        highlight=False,
        markup=False,
    )

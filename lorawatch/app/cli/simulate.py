"""``lorawatch simulate``: run a scenario live onto a broker, or backfill it into the stores."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, cast

import typer
from rich.console import Console
from rich.markup import escape

from lorawatch.app.cli import say
from lorawatch.core.errors import ConfigError, InventoryError, LorawatchError

err = Console(stderr=True)
out = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        scenario: Annotated[
            str,
            typer.Argument(
                help="Scenario file, or a built-in name: saint-sulpice, rennes-metropole."
            ),
        ],
        speed: Annotated[
            float, typer.Option(help="Live mode: simulated seconds per real second.")
        ] = 60.0,
        backfill: Annotated[
            str | None,
            typer.Option(
                help="Instead of live: push this much history (365d, 12h, 2w) through the pipeline."
            ),
        ] = None,
        broker: Annotated[
            str, typer.Option(help="Live mode: MQTT broker URL.")
        ] = "mqtt://127.0.0.1:1883",
        fmt: Annotated[
            str, typer.Option("--format", help="Event encoding: v4-json, v4-protobuf or v3.")
        ] = "v4-json",
        seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 0,
        config: Annotated[
            Path | None,
            typer.Option("--config", "-c", help="Service configuration (needed by --backfill)."),
        ] = None,
        start: Annotated[
            str | None,
            typer.Option(help="Simulated start (ISO 8601); backfill: its end. Default: now."),
        ] = None,
    ) -> None:
        """Simulate a scenario's devices: ChirpStack events live on MQTT, or a backfill."""
        # lazy: the simulator's models load only for `simulate`
        from lorawatch.simulators import run
        from lorawatch.simulators import scenario as scenarios
        from lorawatch.simulators.simulation import Simulation

        if fmt not in ("v4-json", "v4-protobuf", "v3"):
            choices = "v4-json, v4-protobuf, v3"
            say.error(err, "bad_choice", option="--format", value=fmt, choices=choices)
            raise typer.Exit(2)
        try:
            when = _instant(start) if start else datetime.now(UTC).replace(second=0, microsecond=0)
            scene = scenarios.load(scenarios.find(scenario))
            sim = Simulation(
                scene, seed=seed, fmt=cast(Literal["v4-json", "v4-protobuf", "v3"], fmt)
            )
            if backfill is not None:
                span = run.parse_duration(backfill)
                if config is None:
                    raise ConfigError([("--config", say.t("simulate.needs_config"))])
                _backfill(sim, scene.inventory, config, when - span, when)
                return
            stop = threading.Event()
            # SIGTERM (systemd, docker stop) stops as cleanly as Ctrl-C: the uplink being
            # published is finished and the MQTT session closed.
            previous = {
                s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)
            }
            out.print(
                say.t(
                    "simulate.live",
                    name=scene.name,
                    n=len(sim.devices),
                    speed=f"{speed:g}",
                    broker=broker,
                    fmt=fmt,
                ),
                highlight=False,
                markup=False,
            )
            try:
                published = run.live(sim, broker, speed, stop, start=when)
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)
            out.print(say.t("simulate.stopped", n=published), highlight=False)
        except (ValueError, LorawatchError) as exc:
            text = say.failure(exc) if isinstance(exc, LorawatchError) else str(exc)
            err.print(f"[red]{say.t('error')}:[/red] {escape(text)}", highlight=False)
            code = 2 if isinstance(exc, ConfigError | InventoryError | ValueError) else 1
            raise typer.Exit(code) from None


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _backfill(
    sim: object, inventory: object, config_file: Path, begin: datetime, end: datetime
) -> None:
    # lazy: a backfill alone needs the service's stack
    from lorawatch.app import config as config_mod
    from lorawatch.app.service import Service
    from lorawatch.inventory import Inventory
    from lorawatch.simulators import run
    from lorawatch.simulators.simulation import Simulation

    assert isinstance(sim, Simulation) and isinstance(inventory, Inventory)
    settings = config_mod.load(config_file)
    say.deployment(settings)
    service = Service(settings, inventory=inventory)
    try:
        count = run.backfill(
            sim,
            begin,
            end,
            service.bridge.process,
            batch=max(settings.store.batch_size, run.BACKFILL_BATCH),
        )
        saved = 0
        if service.alerts is not None:
            # The rules' state (each device's last uplink, usual interval, baselines) was
            # stored with each batch, so `lorawatch run` continues from the end of the
            # backfill (not from days earlier in simulated time: a silence storm).
            service.alerts.flush_state()
            saved = service.sqlite.fetch("SELECT COUNT(*) FROM alert_state")[0][0]
    finally:
        for store in service.stores:
            store.close()
    out.print(
        say.t(
            "simulate.backfilled",
            n=count,
            start=f"{begin.astimezone(UTC):%Y-%m-%d %H:%M}",
            end=f"{end.astimezone(UTC):%Y-%m-%d %H:%M}",
            saved=saved,
        ),
        highlight=False,
        markup=False,
    )

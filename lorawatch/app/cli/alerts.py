"""``lorawatch alerts``: see what is wrong, say who is on it, close what was fixed.

It opens the service's SQLite file directly, so it works beside a running service; the
service notifies acknowledgements and resolutions made here within seconds.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from lorawatch.alerts import influx
from lorawatch.alerts.api import AlertError, AlertsApi, StateFilter
from lorawatch.alerts.config import RULE_IDS, AlertsConfig, Severity
from lorawatch.app import config
from lorawatch.core.errors import LorawatchError
from lorawatch.stores.sqlite import SqliteStore

app = typer.Typer(help="List, show, acknowledge and resolve alerts.", no_args_is_help=True)
out = Console()
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")]
IdArgument = Annotated[int, typer.Argument(help="Alert id (see `lorawatch alerts list`).")]
ByOption = Annotated[str, typer.Option("--by", help="Who (default: the user running this).")]
NoteOption = Annotated[str, typer.Option("--note", help="What was done, for the record.")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="alerts")


def alerts_config(settings: config.Settings) -> AlertsConfig:
    """The ``[alerts]`` section, or the defaults while Settings does not carry one."""
    section = getattr(settings, "alerts", None)
    return section if isinstance(section, AlertsConfig) else AlertsConfig.model_validate({})


def _api(config_file: Path) -> tuple[AlertsApi, SqliteStore]:
    try:
        settings = config.load(config_file)
    except LorawatchError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    store = SqliteStore(settings.store.sqlite.path, readings="sqlite" in settings.store.outputs)
    builtin = influx.builtin(settings.store.outputs)
    return AlertsApi(store, alerts_config(settings), builtin=builtin), store


def _who(by: str) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@app.command("list")
def list_alerts(
    config_file: ConfigOption,
    state: Annotated[
        str, typer.Option(help="unresolved, open, acknowledged, resolved or all.")
    ] = "unresolved",
    kind: Annotated[str, typer.Option(help="Domain (water, energy...) or rule id.")] = "",
    building: Annotated[str, typer.Option(help="Only this building id.")] = "",
    severity: Annotated[
        str, typer.Option(help="Lowest severity: info, warning, critical.")
    ] = "info",
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Alerts, newest first: id, state, severity, rule, where and why."""
    if state not in ("unresolved", "open", "acknowledged", "resolved", "all"):
        err.print(f"error: --state {state!r}: unresolved, open, acknowledged, resolved or all")
        raise typer.Exit(2)
    try:
        min_severity = Severity(severity)
    except ValueError:
        err.print(f"error: --severity {severity!r}: info, warning or critical")
        raise typer.Exit(2) from None
    api, store = _api(config_file)
    domains = tuple(dict.fromkeys(rule.split(".")[0] for rule in RULE_IDS))
    if kind and kind not in domains and kind not in RULE_IDS:
        stored = {r for row in store.fetch("SELECT DISTINCT kind, rule FROM alerts") for r in row}
        if kind not in stored:
            store.close()
            err.print(
                f"error: --kind {kind!r}: a domain ({', '.join(domains)}) or a rule id "
                f"({', '.join(RULE_IDS)})",
                highlight=False,
            )
            raise typer.Exit(2)
    try:
        state_filter: StateFilter = state  # type: ignore[assignment]
        alerts = api.list(
            state_filter, kind=kind, building=building, min_severity=min_severity, limit=limit
        )
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps([a.to_json() for a in alerts]))
        return
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("state", overflow="fold")
    table.add_column("severity", overflow="fold")
    table.add_column("rule", overflow="fold")
    table.add_column("since (UTC)", no_wrap=True)
    table.add_column("title", overflow="fold", ratio=1)
    for a in alerts:
        table.add_row(
            str(a.id),
            str(a.state),
            str(a.severity),
            a.rule,
            f"{a.opened_at.astimezone(UTC):%Y-%m-%d %H:%M}",
            a.title,
        )
    out.print(table)
    out.print(f"{len(alerts)} alert(s)")


@app.command("show")
def show(config_file: ConfigOption, alert_id: IdArgument, as_json: JsonOption = False) -> None:
    """One alert: why it fired, its evidence, its lifecycle and its notifications."""
    api, store = _api(config_file)
    try:
        detail = api.show(alert_id)
    except AlertError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(detail.to_json()))
        return
    a = detail.alert
    out.print(f"[bold]#{a.id} {a.title}[/bold]", highlight=False)
    out.print(
        f"{a.state}, {a.severity}, rule {a.rule}, subject {a.subject}, since "
        f"{a.opened_at.isoformat(timespec='minutes')}, seen {a.count} time(s)",
        highlight=False,
    )
    out.print(a.message, highlight=False)
    if a.resolution:
        out.print(f"resolution: {a.resolution}", highlight=False)
    evidence = Table("time", "reading", "value", "unit", "device", "note", title="evidence")
    for e in a.evidence:
        evidence.add_row(
            str(e.get("time", "")),
            str(e.get("name", "")),
            str(e.get("value", "")),
            str(e.get("unit", "")),
            str(e.get("device", "")),
            str(e.get("note", "")),
        )
    out.print(evidence)
    events = Table("time", "event", "by", "detail", title="lifecycle")
    for ev in detail.events:
        events.add_row(ev["time"], ev["event"], ev["actor"], ev["detail"][:100])
    out.print(events)
    if detail.notifications:
        sent = Table(
            "event", "notifier", "state", "attempts", "held", "last error", title="notifications"
        )
        for n in detail.notifications:
            sent.add_row(
                str(n["event_id"]),
                n["notifier"],
                n["state"],
                str(n["attempts"]),
                n["held"],
                n["last_error"][:80],
            )
        out.print(sent)


@app.command("ack")
def ack(
    config_file: ConfigOption, alert_id: IdArgument, by: ByOption = "", note: NoteOption = ""
) -> None:
    """Acknowledge an alert: someone is on it (it stays until its condition clears)."""
    api, store = _api(config_file)
    try:
        alert = api.ack(alert_id, _who(by), note)
    except AlertError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    finally:
        store.close()
    out.print(f"#{alert.id} acknowledged by {alert.acked_by}", highlight=False)


@app.command("resolve")
def resolve(
    config_file: ConfigOption, alert_id: IdArgument, by: ByOption = "", note: NoteOption = ""
) -> None:
    """Resolve an alert by hand (the cause was fixed); it is not reopened until its
    condition has cleared once."""
    api, store = _api(config_file)
    try:
        alert = api.resolve(alert_id, _who(by), note)
    except AlertError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    finally:
        store.close()
    out.print(f"#{alert.id} resolved by {alert.resolved_by}", highlight=False)

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
from rich.markup import escape
from rich.table import Table

from lorawatch.alerts import influx
from lorawatch.alerts import texts as alert_texts
from lorawatch.alerts.api import AlertError, AlertsApi, StateFilter
from lorawatch.alerts.config import RULE_IDS, AlertsConfig, Severity
from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.core import catalogue
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
        say.print_failure(err, exc)
        raise typer.Exit(2) from None
    say.deployment(settings)
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
        choices = "unresolved, open, acknowledged, resolved, all"
        say.error(err, "bad_choice", option="--state", value=state, choices=choices)
        raise typer.Exit(2)
    try:
        min_severity = Severity(severity)
    except ValueError:
        choices = "info, warning, critical"
        say.error(err, "bad_choice", option="--severity", value=severity, choices=choices)
        raise typer.Exit(2) from None
    api, store = _api(config_file)
    domains = tuple(dict.fromkeys(rule.split(".")[0] for rule in RULE_IDS))
    if kind and kind not in domains and kind not in RULE_IDS:
        stored = {r for row in store.fetch("SELECT DISTINCT kind, rule FROM alerts") for r in row}
        if kind not in stored:
            store.close()
            say.error(
                err,
                "alerts.bad_kind",
                kind=kind,
                domains=", ".join(domains),
                rules=", ".join(RULE_IDS),
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
    lang = say.language()
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False)
    table.add_column(say.t("col.id"), no_wrap=True)
    table.add_column(say.t("col.state"), overflow="fold")
    table.add_column(say.t("col.severity"), overflow="fold")
    table.add_column(say.t("col.rule"), overflow="fold")
    table.add_column(say.t("col.since_utc"), no_wrap=True)
    table.add_column(say.t("col.title"), overflow="fold", ratio=1)
    for a in alerts:
        title, _ = alert_texts.again(a.title, a.message, a.values, lang)
        table.add_row(
            str(a.id),
            say.t(f"alert_state.{a.state}"),
            catalogue.text(lang, f"severity.{a.severity}"),
            a.rule,
            f"{a.opened_at.astimezone(UTC):%Y-%m-%d %H:%M}",
            escape(title),
        )
    out.print(table)
    out.print(say.t("alerts.count", n=len(alerts)), highlight=False)


@app.command("show")
def show(config_file: ConfigOption, alert_id: IdArgument, as_json: JsonOption = False) -> None:
    """One alert: why it fired, its evidence, its lifecycle and its notifications."""
    api, store = _api(config_file)
    try:
        detail = api.show(alert_id)
    except AlertError as exc:
        say.error(err, f"alerts.{exc.code}", id=exc.alert_id)
        raise typer.Exit(1) from None
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(detail.to_json()))
        return
    a = detail.alert
    lang = say.language()
    title, message = alert_texts.again(a.title, a.message, a.values, lang)
    out.print(f"[bold]#{a.id} {escape(title)}[/bold]", highlight=False)
    out.print(
        say.t(
            "alerts.summary",
            state=say.t(f"alert_state.{a.state}"),
            severity=catalogue.text(lang, f"severity.{a.severity}"),
            rule=a.rule,
            subject=a.subject,
            since=a.opened_at.isoformat(timespec="minutes"),
            n=a.count,
        ),
        highlight=False,
        markup=False,
    )
    out.print(message, highlight=False, markup=False)
    if a.resolution:
        out.print(say.t("alerts.resolution", text=a.resolution), highlight=False, markup=False)
    evidence = Table(
        *(say.t(f"col.{c}") for c in ("time", "reading", "value", "unit", "device", "note")),
        title=say.t("alerts.evidence"),
    )
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
    events = Table(
        *(say.t(f"col.{c}") for c in ("time", "event", "by", "detail")),
        title=say.t("alerts.lifecycle"),
    )
    for ev in detail.events:
        events.add_row(ev["time"], ev["event"], ev["actor"], ev["detail"][:100])
    out.print(events)
    if detail.notifications:
        columns = ("event", "notifier", "state", "attempts", "held", "last_error")
        sent = Table(*(say.t(f"col.{c}") for c in columns), title=say.t("alerts.notifications"))
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
        say.error(err, f"alerts.{exc.code}", id=exc.alert_id)
        raise typer.Exit(1) from None
    finally:
        store.close()
    out.print(say.t("alerts.acked", id=alert.id, by=alert.acked_by), highlight=False, markup=False)


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
        say.error(err, f"alerts.{exc.code}", id=exc.alert_id)
        raise typer.Exit(1) from None
    finally:
        store.close()
    out.print(
        say.t("alerts.resolved", id=alert.id, by=alert.resolved_by), highlight=False, markup=False
    )

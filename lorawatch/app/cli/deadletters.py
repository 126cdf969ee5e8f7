"""``lorawatch deadletters``: look at what could not be ingested, and re-run it once fixed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.core.errors import LorawatchError
from lorawatch.core.timeutil import from_us, us
from lorawatch.gateway_bridge.source import Message, NullSource

app = typer.Typer(
    help="List and replay dead letters (messages that could not be ingested).", no_args_is_help=True
)
out = Console()
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="deadletters")


def _service(config_file: Path):  # type: ignore[no-untyped-def]
    # lazy: the service's stack loads only for the command that needs it
    from lorawatch.app.service import Service

    try:
        settings = config.load(config_file)
        say.deployment(settings)
        return Service(settings, source=NullSource())
    except LorawatchError as exc:
        say.print_failure(err, exc)
        raise typer.Exit(2) from None


@app.command("list")
def list_letters(
    config_file: ConfigOption,
    reason: Annotated[str, typer.Option(help="Only this reason (e.g. decode_error).")] = "",
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Include the ones already replayed.")] = False,
) -> None:
    """Dead letters with their reason: id, time, device, reason, detail."""
    service = _service(config_file)
    query = "SELECT id, received_us, dev_eui, reason, detail, topic, replayed_us FROM dead_letters WHERE 1=1"
    args: list[object] = []
    if not all_:
        query += " AND replayed_us IS NULL"
    if reason:
        query += " AND reason = ?"
        args.append(reason)
    query += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    counting = "SELECT reason, COUNT(*) FROM dead_letters WHERE replayed_us IS NULL GROUP BY reason"
    if service.state is not None:  # the workers' shared dead letters (PostgreSQL)
        query = query.replace("?", "%s")
        rows, counts = service.state.fetch(query, args), service.state.fetch(counting)
    else:
        with service.sqlite.transaction() as db:
            rows = db.execute(query, args).fetchall()
            counts = db.execute(counting).fetchall()
    # dev_eui and times whole at 80 columns: the free text folds instead.
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False)
    table.add_column(say.t("col.id"), no_wrap=True)
    table.add_column(say.t("col.received_utc"), no_wrap=True)
    table.add_column("dev_eui", no_wrap=True)
    table.add_column(say.t("col.reason"), overflow="fold")
    table.add_column(say.t("col.detail"), overflow="fold", ratio=1)
    table.add_column(say.t("col.replayed"), overflow="fold")
    for id_, received, dev_eui, why, detail, topic, replayed in rows:
        table.add_row(
            str(id_),
            f"{from_us(received):%Y-%m-%d %H:%M:%S}",
            dev_eui or topic[:40],
            why,
            escape(detail[:120]),
            say.t("yes") if replayed else "",
        )
    out.print(table)
    by_reason = ", ".join(f"{r}={n}" for r, n in counts) or say.t("none")
    out.print(say.t("deadletters.open", counts=by_reason), highlight=False, markup=False)
    service.sqlite.close()
    if service.state is not None:
        service.state.close()


@app.command("replay")
def replay(
    config_file: ConfigOption,
    reason: Annotated[str, typer.Option(help="Only this reason.")] = "",
    ids: Annotated[
        list[int] | None, typer.Option("--id", help="Only these ids (repeatable).")
    ] = None,
) -> None:
    """Re-run open dead letters through the pipeline (after fixing the inventory or a decoder).

    A letter that now goes through is stored and marked replayed; one that still fails stays
    open, and its current reason is printed.
    """
    service = _service(config_file)
    if service.state is not None:
        service.state.close()
        err.print(
            'error: state.backend is "postgresql": a replay from the command line would take '
            "partitions from the running workers. Fix the cause, then publish the letters' "
            "payloads again to the broker (their topic, dots for slashes, is the routing key); "
            "`lorawatch deadletters list` shows them",
            highlight=False,
        )
        raise typer.Exit(2)
    query = "SELECT id, received_us, topic, payload FROM dead_letters WHERE replayed_us IS NULL"
    args: list[object] = []
    if reason:
        query += " AND reason = ?"
        args.append(reason)
    if ids:
        query += f" AND id IN ({','.join('?' * len(ids))})"
        args.extend(ids)
    with service.sqlite.transaction() as db:
        rows = db.execute(query + " ORDER BY id", args).fetchall()
    fixed = still = 0
    for id_, received, topic, payload in rows:
        batch = service.bridge.records(Message(topic, payload, from_us(received)))
        if batch.dead_letters:
            still += 1
            letter = batch.dead_letters[0]
            text = say.t("deadletters.still", id=id_, reason=letter.reason, detail=letter.detail)
            err.print(text, highlight=False, markup=False)
            continue
        for store in service.stores:
            if store is not service.sqlite:
                store.write(batch)
        with service.sqlite.transaction() as db:
            service.sqlite.write_in(db, batch)
            db.execute(
                "UPDATE dead_letters SET replayed_us = ? WHERE id = ?", (us(datetime.now(UTC)), id_)
            )
        fixed += 1
    out.print(say.t("deadletters.replayed", fixed=fixed, still=still), highlight=False)
    service.stop()


@app.command("influx-requeue")
def influx_requeue(
    config_file: ConfigOption,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for them to be sent.")] = 30,
) -> None:
    """Send again the batches InfluxDB refused (a 400, a 413), once the cause is fixed.

    They wait in ``<spool_dir>/rejected/`` next to InfluxDB's answer; this puts them back in
    the spool, in order, and waits until InfluxDB took them. A batch refused again is set
    aside again.
    """
    service = _service(config_file)
    if service.influx is None:
        say.error(err, "deadletters.no_influx")
        service.stop()
        raise typer.Exit(2)
    moved = service.influx.requeue_rejected()
    sent = service.influx.wait_drained(wait)
    left = service.influx.health()["rejected_batches"]
    service.stop()
    done = say.t("deadletters.all_sent" if sent else "deadletters.not_all_sent")
    out.print(say.t("deadletters.requeued", moved=moved, done=done, left=left), highlight=False)

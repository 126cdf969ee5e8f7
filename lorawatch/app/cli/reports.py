"""``lorawatch export`` and ``lorawatch report``: open data and monthly reports from the store.

Both only read. They open the stores directly rather than a whole
:class:`~lorawatch.app.service.Service` (no bridge, no alert engine whose stop would save rule
state), read consumption from InfluxDB when it is among ``store.outputs`` and from SQLite
otherwise (the same choice as the service), and the alerts from the SQLite file. An
InfluxDB store is given a private, temporary spool, so that running an export beside the
service never starts a second drainer on the service's spool.

Exit codes: 0 done; 2 refused (a grouping finer than a building, a withheld or unknown
building), a bad option, or an invalid configuration or inventory; 1 a store failure.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lorawatch import inventory as inventory_mod
from lorawatch.alerts.api import AlertsApi
from lorawatch.app import config
from lorawatch.app.cli import say
from lorawatch.app.config import Settings
from lorawatch.core import timeutil
from lorawatch.core.errors import ConfigError, InventoryError, LorawatchError
from lorawatch.core.i18n import LANGS, Lang
from lorawatch.inventory import Inventory
from lorawatch.pipeline.store import Store
from lorawatch.stores.sqlite import SqliteStore

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

EXIT_REFUSED = 2

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Configuration file (TOML).")]
OutOption = Annotated[
    Path, typer.Option("--out", "-o", help="Directory to write into (created if needed).")
]


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
    app.command("report")(report_command)


def _fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    err.print(f"[red]{say.t('error')}:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _refuse(key: str, code: int = EXIT_REFUSED, **values: object) -> typer.Exit:
    return _fail(say.t(key, **values), code)


def _load(config_file: Path) -> tuple[Settings, Inventory]:
    try:
        settings = config.load(config_file)
        say.deployment(settings)
        return settings, inventory_mod.load(settings.inventory.path)
    except (ConfigError, InventoryError) as exc:
        raise _fail(say.failure(exc)) from None


@contextmanager
def _consumption_store(settings: Settings, sqlite: SqliteStore) -> Iterator[Store]:
    """The store holding the consumption deltas: InfluxDB when configured, else ``sqlite``."""
    if "influxdb" in settings.store.outputs:
        # lazy: httpx loads only to read an InfluxDB store (not for `lorawatch run`)
        from lorawatch.stores.influx import InfluxStore

        with tempfile.TemporaryDirectory(prefix="lorawatch-read-") as spool:
            cfg = settings.store.influxdb.model_copy(update={"spool_dir": Path(spool)})
            influx = InfluxStore(cfg, readings=False)
            try:
                yield influx
            finally:
                influx.close()
        return
    yield sqlite


@contextmanager
def _sqlite(settings: Settings) -> Iterator[SqliteStore]:
    """The service's SQLite file (alerts, and consumption unless InfluxDB holds it)."""
    path = settings.store.sqlite.path
    if not path.exists():
        # Opening would create an empty store, and the export would publish nothing.
        raise _refuse("reports.no_store", path=path)
    store = SqliteStore(path)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def reading_store(settings: Settings) -> Iterator[Store]:
    """The store the readings and deltas are read from (savings, the décret tertiaire): the
    same choice as the export and the report, so an InfluxDB-only deployment answers too."""
    with _sqlite(settings) as sqlite, _consumption_store(settings, sqlite) as store:
        yield store


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _refuse("reports.not_a_date", option=option, text=text) from None


def export_command(
    config_file: ConfigOption,
    from_: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (local).")],
    to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD, included.")],
    out_dir: OutOption = Path(),
    fmt: Annotated[str, typer.Option("--format", help="csv, json or both.")] = "both",
    group_by: Annotated[
        str,
        typer.Option(
            "--group-by", help="building (the only one: finer groupings are refused, GDPR)."
        ),
    ] = "building",
    buildings: Annotated[
        list[str] | None,
        typer.Option("--building", help="Only this building (repeatable); default: all."),
    ] = None,
) -> None:
    """Daily consumption per public building, as open-data CSV and JSON.

    One row per building and local day (site time zone): kWh, m³, kWh/m² and the share of
    hours with data. Building aggregates only: a grouping finer than a building, or a
    residential building, is refused (exit 2); devices without a building are never exported.
    """
    # lazy: the analytics load only for this command (`lorawatch run` never needs them)
    from lorawatch.analytics import exports

    first, last = _day(from_, "--from"), _day(to, "--to")
    if last < first:
        raise _refuse("reports.backwards")
    if fmt not in exports.FORMATS:
        raise _refuse("bad_choice", option="--format", value=fmt, choices="csv, json, both")
    try:
        exports.check_grouping(group_by)  # before opening anything: a refusal costs nothing
    except exports.ExportRefused as exc:
        raise _refuse("reports.refused", reason=exc.reason) from None
    settings, inventory = _load(config_file)
    try:
        with _sqlite(settings) as sqlite, _consumption_store(settings, sqlite) as store:
            result = exports.export(
                store,
                inventory,
                first,
                last,
                out_dir,
                fmt=fmt,  # type: ignore[arg-type]
                tz=settings.site.timezone,
                group_by=group_by,
                only=buildings or (),
            )
    except exports.ExportRefused as exc:
        raise _refuse("reports.refused", reason=exc.reason) from None
    except LorawatchError as exc:
        raise _fail(say.failure(exc), 1) from None
    for building, reason in sorted(result.withheld.items()):
        text = say.t("reports.withheld", building=building, reason=reason)
        err.print(text, highlight=False, markup=False)
    published = {r.building_id for r in result.rows}
    for path in result.paths:
        out.print(str(path), highlight=False)
    out.print(
        say.t(
            "reports.exported",
            rows=len(result.rows),
            buildings=len(published),
            first=first.isoformat(),
            last=last.isoformat(),
            tz=settings.site.timezone,
        ),
        highlight=False,
        markup=False,
    )


def report_command(
    config_file: ConfigOption,
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM.")],
    out_dir: OutOption = Path(),
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="fr or en (default: the configuration's site.language)."),
    ] = None,
    communes: Annotated[
        list[str] | None,
        typer.Option("--commune", help="Only this commune (repeatable); default: all."),
    ] = None,
    savings_baseline: Annotated[
        str,
        typer.Option(
            "--savings-baseline",
            help="Baseline period FROM..TO (local dates, TO included) of the weather-adjusted "
            "line; default: the year before each building's campaign_start, else before the "
            "month.",
        ),
    ] = "",
) -> None:
    """The monthly report of each commune, Markdown and self-contained HTML.

    A commune summary, then per public building: kWh and m³, the same month last year,
    the share outside occupancy, the night baseload, kWh/m², the month's energy against a
    weather-aware baseline model (weather-adjusted), and the month's alerts.
    """
    # lazy: the analytics (numpy, jinja2) load only for this command, not for `lorawatch run`
    from lorawatch.analytics import reports, savings

    try:
        first = reports.parse_month(month)
    except ValueError as exc:
        raise _refuse("reports.bad_month", why=say.reason(exc)) from None
    if lang is not None and lang not in LANGS:
        raise _refuse("bad_choice", option="--lang", value=lang, choices=", ".join(LANGS))
    settings, inventory = _load(config_file)
    baseline = None
    if savings_baseline:
        try:
            baseline = savings.parse_period(savings_baseline, timeutil.zone(settings.site.timezone))
        except (ValueError, OverflowError) as exc:
            raise _refuse("reports.bad_baseline", why=say.reason(exc)) from None
    language: Lang = settings.site.language if lang is None else "en" if lang == "en" else "fr"
    unknown = sorted(set(communes or ()) - set(inventory.communes))
    if unknown:
        raise _refuse("reports.unknown_communes", communes=", ".join(unknown))
    written: list[Path] = []
    try:
        with _sqlite(settings) as sqlite, _consumption_store(settings, sqlite) as store:
            built = reports.build(
                store,
                inventory,
                first,
                alerts=AlertsApi(sqlite),
                tz=settings.site.timezone,
                communes=communes or (),
                savings_baseline=baseline,
            )
            for report in built:
                written += reports.write(report, out_dir, language)
    except LorawatchError as exc:
        raise _fail(say.failure(exc), 1) from None
    for path in written:
        out.print(str(path), highlight=False)

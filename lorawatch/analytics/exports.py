"""Open-data exports: daily consumption per public building, as CSV and JSON.

Communes over 3,500 inhabitants must publish their public data, and building energy data may
be published only aggregated so that no household or person is exposed (product brief). So
an export is a table of **building** aggregates and nothing finer, and this module decides
what may leave the commune, not the caller:

- Grouping: per building only. A per-device, per-meter or per-dwelling export is refused
  (:class:`ExportRefused`): a meter can be a single flat, and its load curve tells when
  someone is home.
- Buildings: only those of the inventory that are not residential. A building whose
  ``usage`` names a dwelling (``housing``, ``residential``, ``logement``, ``habitation``,
  ``private``... see :data:`PRIVATE_USAGES`; a *logement de fonction* is one household) is
  withheld; asking for it by name is refused. Deltas of devices without a building, or
  tagged with a building the inventory does not know, are never exported: nothing says that
  they belong to a public building.
- The inventory has no ``publish`` flag nor an occupant count (``Building`` forbids extra
  keys), so "single occupant" can only be declared today through ``usage``.

Rows: one per building and **local** day (in the site's time zone; a DST day has 23 or 25
hours) from the first to the last day asked, both included, for every published building
that has a meter of at least one kind (a declared device of that kind, or data in the span).
A day without data has an empty value and a completeness of 0, never a 0 consumption:
"no data" is not "nothing used". The columns are :data:`FIELDS`, written into the JSON file
as a Table Schema so that the file documents itself on an open-data portal.

Files are written atomically (temporary file in the same directory, fsync, rename): a
publication job that copies the directory never picks up half a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, get_args

from lorawatch.analytics import aggregates
from lorawatch.core import timeutil
from lorawatch.core.errors import LorawatchError
from lorawatch.inventory import Building, Inventory
from lorawatch.pipeline.store import Store

Format = Literal["csv", "json", "both"]
FORMATS: Final[tuple[str, ...]] = get_args(Format)

GROUPINGS: Final = ("building",)
"""The only grouping an export offers."""

FINER_THAN_BUILDING: Final = frozenset(
    {
        "device",
        "devices",
        "dev_eui",
        "deveui",
        "meter",
        "meters",
        "channel",
        "sensor",
        "dwelling",
        "dwellings",
        "household",
        "households",
        "flat",
        "apartment",
        "logement",
        "occupant",
        "person",
        "site",
    }
)
"""Groupings refused because they can single out a household or a person."""

PRIVATE_USAGES: Final = frozenset(
    {
        "residential",
        "residence",
        "housing",
        "dwelling",
        "home",
        "household",
        "private",
        "apartment",
        "flat",
        "logement",
        "logements",
        "habitation",
        "residentiel",
        "residentielle",
        "prive",
        "privee",
        "appartement",
    }
)
"""Words of ``Building.usage`` (accents and case ignored) that withhold a building."""

QUANTITY_OF_KIND: Final[Mapping[str, aggregates.Quantity]] = {
    "electricity": "energy_delta_kwh",
    "water": "volume_delta_m3",
}

VALUE_DIGITS: Final = 6
"""kWh and m³ are rounded to 1 mWh and 1 mL: below any meter's resolution, and enough to
drop float noise (0.30000000000000004) from the published files."""
SHARE_DIGITS: Final = 4


class ExportRefused(LorawatchError):
    """An export that would expose less than a public building; ``reason`` says which rule."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Field:
    """One documented column: the CSV header, the JSON key and its Table Schema entry."""

    name: str
    type: Literal["date", "string", "number"]
    unit: str
    description: str

    def schema(self) -> dict[str, str]:
        out = {"name": self.name, "type": self.type, "description": self.description}
        if self.unit:
            out["unit"] = self.unit
        return out


FIELDS: Final[tuple[Field, ...]] = (
    Field("date", "date", "", "Local day (site time zone), ISO 8601."),
    Field("commune_id", "string", "", "Commune identifier in the inventory."),
    Field("commune", "string", "", "Commune name."),
    Field("building_id", "string", "", "Building identifier in the inventory."),
    Field("building", "string", "", "Building name."),
    Field("usage", "string", "", "Use of the building (office, school, library...)."),
    Field("surface_m2", "number", "m2", "Floor area; empty when unknown."),
    Field(
        "energy_kwh",
        "number",
        "kWh",
        "Electricity used in the day, all meters of the building; empty without data.",
    ),
    Field(
        "water_m3",
        "number",
        "m3",
        "Water used in the day, all meters of the building; empty without data.",
    ),
    Field(
        "energy_kwh_per_m2",
        "number",
        "kWh/m2",
        "energy_kwh / surface_m2; empty when either is unknown.",
    ),
    Field(
        "energy_completeness",
        "number",
        "0-1",
        "Share of the day's hours in which electricity data arrived (a DST day has 23 or "
        "25 hours); empty when the building has no electricity meter.",
    ),
    Field(
        "water_completeness",
        "number",
        "0-1",
        "Share of the day's hours in which water data arrived; empty when the building has "
        "no water meter.",
    ),
)


@dataclass(frozen=True, slots=True)
class DailyRow:
    """One building on one local day: the published record."""

    day: date
    commune_id: str
    commune: str
    building_id: str
    building: str
    usage: str
    surface_m2: float | None
    energy_kwh: float | None
    water_m3: float | None
    energy_completeness: float | None
    water_completeness: float | None

    @property
    def energy_kwh_per_m2(self) -> float | None:
        if self.energy_kwh is None or not self.surface_m2:
            return None
        return self.energy_kwh / self.surface_m2

    def record(self) -> dict[str, str | float | None]:
        """The row as published, keyed by :data:`FIELDS` names, numbers rounded."""
        return {
            "date": self.day.isoformat(),
            "commune_id": self.commune_id,
            "commune": self.commune,
            "building_id": self.building_id,
            "building": self.building,
            "usage": self.usage,
            "surface_m2": self.surface_m2,
            "energy_kwh": _round(self.energy_kwh, VALUE_DIGITS),
            "water_m3": _round(self.water_m3, VALUE_DIGITS),
            "energy_kwh_per_m2": _round(self.energy_kwh_per_m2, VALUE_DIGITS),
            "energy_completeness": _round(self.energy_completeness, SHARE_DIGITS),
            "water_completeness": _round(self.water_completeness, SHARE_DIGITS),
        }


@dataclass(slots=True)
class Publication:
    """Which buildings may be published, and why the others may not (for the operator only:
    the reasons name buildings, so they go to the terminal, never into the files)."""

    buildings: dict[str, Building]
    withheld: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExportResult:
    rows: list[DailyRow]
    paths: list[Path]
    withheld: dict[str, str]


# --- the rules -------------------------------------------------------------------------------


def check_grouping(group_by: str) -> None:
    """Refuse any grouping but per building, saying why."""
    key = group_by.strip().lower()
    if key in GROUPINGS:
        return
    if key in FINER_THAN_BUILDING:
        raise ExportRefused(
            f"grouping by {group_by!r} is finer than a building: open-data exports are "
            "building aggregates only, so that no household or person can be singled out "
            "(GDPR)"
        )
    raise ExportRefused(f"unknown grouping {group_by!r}: exports are per building only")


def private_reason(building: Building) -> str | None:
    """Why a building must not be published, or None when it may be."""
    if PRIVATE_USAGES.intersection(_words(building.usage)):
        return (
            f"usage {building.usage!r} marks a dwelling or a private building: its "
            "consumption would describe a household"
        )
    return None


def publication(inventory: Inventory, only: Collection[str] = ()) -> Publication:
    """The buildings an export or a report may show.

    ``only`` restricts to the named buildings; naming one that is unknown or withheld is
    refused outright (the caller asked for exactly that data), whereas in a whole-commune
    export a residential building is left out and the rest goes ahead.
    """
    out = Publication({})
    for b in inventory.buildings.values():
        reason = private_reason(b)
        if reason is None:
            out.buildings[b.id] = b
        else:
            out.withheld[b.id] = reason
    if only:
        for wanted in only:
            if wanted in out.withheld:
                raise ExportRefused(f"building {wanted!r} is not published: {out.withheld[wanted]}")
            if wanted not in out.buildings:
                raise ExportRefused(
                    f"building {wanted!r} is not in the inventory: only buildings of the "
                    "inventory are exported"
                )
        out.buildings = {k: v for k, v in out.buildings.items() if k in only}
    return out


# --- the figures -----------------------------------------------------------------------------


def day_bounds(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """[local midnight of ``first``, local midnight after ``last``): both days included."""
    if last < first:
        raise ValueError(f"the last day ({last}) is before the first ({first})")
    zone = timeutil.zone(tz)
    end = last + timedelta(days=1)
    return (
        datetime(first.year, first.month, first.day, tzinfo=zone),
        datetime(end.year, end.month, end.day, tzinfo=zone),
    )


def daily_rows(
    store: Store,
    inventory: Inventory,
    first: date,
    last: date,
    *,
    tz: str = aggregates.DEFAULT_TZ,
    only: Collection[str] = (),
) -> tuple[list[DailyRow], Publication]:
    """Every published building's daily consumption from ``first`` to ``last`` (included).

    Two questions per quantity go to the store, daily sums and hourly sums (for the
    completeness), both through :mod:`~lorawatch.analytics.aggregates`, so the published
    figures are the dashboards' and the reports' figures, on SQLite as on InfluxDB.
    """
    published = publication(inventory, only)
    start, end = day_bounds(first, last, tz)
    days = [p.date() for p in timeutil.periods(start, end, "day", tz)]
    day_hours: dict[date, int] = defaultdict(int)
    for hour in timeutil.periods(start, end, "hour", tz):
        day_hours[hour.date()] += 1

    daily: dict[str, dict[tuple[str, date], float]] = {}
    hours_with_data: dict[str, dict[tuple[str, date], int]] = {}
    metered: dict[str, set[str]] = {q: set() for q in aggregates.QUANTITIES}
    for device in inventory.devices.values():
        declared = QUANTITY_OF_KIND.get(device.kind)
        if declared and device.building:
            metered[declared].add(device.building)
    for quantity in aggregates.QUANTITIES:
        q: aggregates.Quantity = quantity  # type: ignore[assignment]
        daily[q] = {
            (day.group, day.start.date()): day.value
            for day in aggregates.totals(store, q, start, end, "day", tz=tz)
        }
        counts: dict[tuple[str, date], int] = defaultdict(int)
        for bucket in aggregates.totals(store, q, start, end, "hour", tz=tz):
            counts[(bucket.group, bucket.start.date())] += 1
            metered[q].add(bucket.group)
        hours_with_data[q] = counts

    for group in metered["energy_delta_kwh"] | metered["volume_delta_m3"]:
        if group not in inventory.buildings:
            published.withheld[group or "(no building)"] = (
                "devices without a building are never exported"
                if not group
                else "not in the inventory: nothing says it is a public building"
            )

    def figures(q: aggregates.Quantity, building: str, day: date) -> tuple[float | None, ...]:
        if building not in metered[q]:
            return None, None
        return (
            daily[q].get((building, day)),
            hours_with_data[q].get((building, day), 0) / day_hours[day],
        )

    rows = []
    for b in sorted(published.buildings.values(), key=lambda b: (b.commune, b.id)):
        if not any(b.id in metered[q] for q in metered):
            continue
        commune = inventory.communes[b.commune]
        for day in days:
            kwh, kwh_share = figures("energy_delta_kwh", b.id, day)
            m3, m3_share = figures("volume_delta_m3", b.id, day)
            rows.append(
                DailyRow(
                    day,
                    commune.id,
                    commune.name,
                    b.id,
                    b.name,
                    b.usage,
                    b.surface_m2,
                    kwh,
                    m3,
                    kwh_share,
                    m3_share,
                )
            )
    return rows, published


# --- the files -------------------------------------------------------------------------------


def to_csv(rows: Iterable[DailyRow]) -> str:
    """RFC 4180 CSV (comma, CRLF, UTF-8), decimal point, empty cell for "unknown"."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([f.name for f in FIELDS])
    for row in rows:
        record = row.record()
        writer.writerow([_cell(record[f.name]) for f in FIELDS])
    return buffer.getvalue()


def to_json(rows: Iterable[DailyRow], first: date, last: date, tz: str) -> str:
    """The records with their Table Schema and the rule they obey, so the file stands alone.

    No generation time inside: the same data gives the same bytes, so a republication
    that changes nothing shows no difference on the portal.
    """
    document: dict[str, Any] = {
        "title": "Daily consumption of public buildings",
        "period": {"from": first.isoformat(), "to": last.isoformat(), "timezone": tz},
        "aggregation": (
            "per building and local day; no device, meter or dwelling; residential "
            "buildings and devices outside a public building are withheld"
        ),
        "schema": {"fields": [f.schema() for f in FIELDS], "missingValues": [""]},
        "records": [row.record() for row in rows],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def export(
    store: Store,
    inventory: Inventory,
    first: date,
    last: date,
    out_dir: Path,
    *,
    fmt: Format = "both",
    tz: str = aggregates.DEFAULT_TZ,
    group_by: str = "building",
    only: Collection[str] = (),
) -> ExportResult:
    """Check the request, compute the rows and write the files; nothing is written when the
    request is refused."""
    check_grouping(group_by)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    rows, published = daily_rows(store, inventory, first, last, tz=tz, only=only)
    stem = f"daily-consumption_{first.isoformat()}_{last.isoformat()}"
    paths = []
    if fmt in ("csv", "both"):
        paths.append(out_dir / f"{stem}.csv")
        write_atomic(paths[-1], to_csv(rows))
    if fmt in ("json", "both"):
        paths.append(out_dir / f"{stem}.json")
        write_atomic(paths[-1], to_json(rows, first, last, tz))
    return ExportResult(rows, paths, published.withheld)


# --- helpers ---------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """Lower-case words without accents: "Logement de fonction" -> logement, de, fonction."""
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c)
    )
    return "".join(c if c.isalnum() else " " for c in plain).split()


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits) + 0.0  # no "-0.0"


def _cell(value: str | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.{VALUE_DIGITS}f}".rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text
    return value


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

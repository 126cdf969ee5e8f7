"""School holidays from the Ministry of Education's open data, as a lorawatch calendar.

The data set ``fr-en-calendrier-scolaire`` (data.education.gouv.fr, also behind the
"API calendrier scolaire") has one row per holiday, académie and population: ``description``
("Vacances de la Toussaint"), ``population`` ("-", "Élèves", "Enseignants"), ``start_date``
and ``end_date`` (instants, the local midnights in UTC: "2026-10-16T22:00:00+00:00"),
``location`` (the académie), ``zones`` ("Zone B", "Corse"...) and ``annee_scolaire``. Its
CSV export uses ``;`` and, with labels, the headers "Description", "Population",
"Date de début", "Date de fin", "Académies", "Zones"; its JSON export is a list of records.
Both are read.

Pupils leave after class on the day before ``start_date`` and come back on the morning of
``end_date``: the closed days are ``start_date`` up to the day before ``end_date``. A row
whose end is its start (the Friday after Ascension) closes that one day. A row "Début des
Vacances d'Été" alone gives a start without an end: the calendar's coverage stops the day
before, since its end is not known yet. Rows for teachers only are left out: a school
building is occupied by its pupils.
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_core import PydanticCustomError

from lorawatch.core.reasons import Items, Reason, Several

HEADERS = {
    "description": "description",
    "population": "population",
    "date de debut": "start_date",
    "start_date": "start_date",
    "date de fin": "end_date",
    "end_date": "end_date",
    "academies": "location",
    "academie": "location",
    "location": "location",
    "zones": "zones",
    "zone": "zones",
    "annee scolaire": "annee_scolaire",
    "annee_scolaire": "annee_scolaire",
}
"""Column label or technical name (accents and case dropped) -> technical name."""
NEEDED = ("description", "start_date", "end_date", "location", "zones")
COLUMNS = "Description;Population;Date de début;Date de fin;Académies;Zones;annee_scolaire"
"""The columns of the data set's export, as the Ministry names them."""
PROJECTABLE = ("Zone A", "Zone B", "Zone C")


def fold(text: str) -> str:
    """Lower case without accents, for comparing names typed by hand with the data's."""
    decomposed = unicodedata.normalize("NFKD", text.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def read_records(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV or JSON export, keyed by technical names; ValueError if neither."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PydanticCustomError(
            "unreadable_file",
            "{path}: cannot read it ({why})",
            {"path": str(path), "why": exc.strerror or exc},
        ) from None
    except UnicodeDecodeError:
        raise PydanticCustomError(
            "not_utf8",
            "{path}: not UTF-8 text; export the data set as CSV or JSON",
            {"path": str(path)},
        ) from None
    stripped = text.lstrip()
    rows: Iterable[Mapping[str, Any]]
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise PydanticCustomError(
                "not_json", "{path}: not valid JSON ({why})", {"path": str(path), "why": str(exc)}
            ) from None
        rows = data.get("results", []) if isinstance(data, dict) else data
    else:
        first = stripped.splitlines()[0] if stripped else ""
        delimiter = ";" if first.count(";") >= first.count(",") else ","
        rows = csv.DictReader(io.StringIO(stripped), delimiter=delimiter)
    out = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise PydanticCustomError(
                "record_type", "{path}: a record is not an object", {"path": str(path)}
            )
        out.append(
            {
                HEADERS[fold(str(k))]: "" if v is None else str(v).strip()
                for k, v in row.items()
                if k is not None and fold(str(k)) in HEADERS
            }
        )
    if not out:
        raise PydanticCustomError("no_rows", "{path}: no rows", {"path": str(path)})
    missing = [name for name in NEEDED if name not in out[0]]
    if missing:
        raise PydanticCustomError(
            "columns",
            "{path}: missing column(s) {names}: expected the export of the data set "
            "fr-en-calendrier-scolaire ({columns})",
            {"path": str(path), "names": Items(missing), "columns": COLUMNS},
        )
    return out


def local_date(text: str, zone: ZoneInfo) -> date:
    """The local date of an instant of the data set, or of a plain date."""
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PydanticCustomError(
            "not_a_date", "{text} is not a date", {"text": repr(text)}
        ) from None
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(zone).date()


@dataclass(slots=True)
class Imported:
    """A school calendar read from the data set, ready to be written as a calendar table."""

    name: str
    description: str
    source: str
    covers: tuple[date, date]
    projection: str
    closed: list[tuple[str, date, date]]
    notes: list[Reason] = field(default_factory=list)
    """What the operator should know of the import (said in any language; ``str``: English)."""

    def table(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "description": self.description,
            "source": self.source,
            "covers": f"{self.covers[0]}..{self.covers[1]}",
        }
        if self.projection:
            out["projection"] = self.projection
        out["closed"] = [
            {"name": name, "days": f"{a}..{b}" if a != b else str(a)} for name, a, b in self.closed
        ]
        return out


def school_calendar(
    records: list[dict[str, str]],
    name: str,
    zone: str = "",
    academy: str = "",
    timezone: str = "Europe/Paris",
    origin: str = "",
) -> Imported:
    """The closures of one zone (rows of every académie of it, which agree but for rare
    local exceptions: the most common dates win, and a note says which académies differ) or
    of one académie; ValueError when no row matches, naming those that exist."""
    if bool(zone) == bool(academy):
        raise PydanticCustomError(
            "zone_or_academy", "choose a zone (--zone B) or an académie (--academy Rennes)"
        )
    tz = ZoneInfo(timezone)
    wanted_zone = fold(zone if fold(zone).startswith("zone") or len(zone) > 1 else f"zone {zone}")
    pupils = [r for r in records if fold(r.get("population", "")) != "enseignants"]
    if zone:
        chosen = [r for r in pupils if fold(r.get("zones", "")) == wanted_zone]
    else:
        chosen = [r for r in pupils if fold(r.get("location", "")) == fold(academy)]
    if not chosen:
        known = sorted({r.get("zones" if zone else "location", "") for r in pupils} - {""})
        if zone:
            raise PydanticCustomError(
                "no_row_zone",
                "no row for zone {zone}; the file has: {known}",
                {"zone": zone, "known": Items(known)},
            )
        raise PydanticCustomError(
            "no_row_academy",
            "no row for académie {academy}; the file has: {known}",
            {"academy": academy, "known": Items(known)},
        )
    ranges: dict[tuple[str, str], Counter[tuple[date, date]]] = defaultdict(Counter)
    places: dict[tuple[str, str, date, date], set[str]] = defaultdict(set)
    starts_only: list[date] = []
    problems: list[PydanticCustomError] = []
    for r in chosen:
        try:
            a, b = local_date(r["start_date"], tz), local_date(r["end_date"], tz)
        except PydanticCustomError as exc:
            where = f"{r.get('description', '?')} ({r.get('location', '?')})"
            problems.append(
                PydanticCustomError("row", "{row}: {reason}", {"row": where, "reason": exc})
            )
            continue
        description = r.get("description", "").strip() or "Vacances"
        if fold(description).startswith("debut") and b <= a:
            starts_only.append(a)
            continue
        last = a if b <= a else b - timedelta(days=1)
        key = (r.get("annee_scolaire", ""), description)
        ranges[key][(a, last)] += 1
        places[(*key, a, last)].add(r.get("location", ""))
    if problems:
        raise PydanticCustomError("several", "{problems}", {"problems": Several(problems)})
    closed: list[tuple[str, date, date]] = []
    notes: list[Reason] = []
    for (year, description), counts in ranges.items():
        (a, last), _ = counts.most_common(1)[0]
        label = f"{description} {year}".strip()
        closed.append((label, a, last))
        for (x, y), _ in counts.items():
            if (x, y) != (a, last):
                where = ", ".join(sorted(places[(year, description, x, y)]))
                notes.append(
                    Reason(
                        "calendar_differs",
                        {"label": label, "where": where, "x": x, "y": y, "a": a, "last": last},
                    )
                )
    if not closed:
        raise PydanticCustomError(
            "no_holiday", "the matching rows give no holiday with an end date"
        )
    closed.sort(key=lambda c: c[1])
    first = closed[0][1]
    end = max(c[2] for c in closed)
    open_ended = [s for s in starts_only if s > end]
    if open_ended:
        end = min(open_ended) - timedelta(days=1)
        notes.append(Reason("calendar_open_ended", {"start": min(open_ended), "end": end}))
    zones = Counter(r.get("zones", "") for r in chosen)
    main_zone = zones.most_common(1)[0][0]
    projection = next((z for z in PROJECTABLE if fold(z) == fold(main_zone)), "")
    who = (f"zone {zone.upper()}" if len(zone) == 1 else zone) if zone else f"académie {academy}"
    return Imported(
        name,
        f"French school holidays, {who} (pupils), imported from the Ministry's open data",
        "Ministère de l'Éducation nationale, data set fr-en-calendrier-scolaire "
        f"(data.education.gouv.fr){', file ' + origin if origin else ''}: rows of {who}, "
        "teachers-only rows left out; imported by `lorawatch calendars import`.",
        (first, end),
        projection,
        [c for c in closed if c[1] <= end],
        notes,
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + "".join(f"    {_toml_value(v)},\n" for v in value) + "]"
    raise TypeError(f"no TOML for {type(value).__name__}")


def write_calendar(path: Path, imported: Imported) -> None:
    """Write (or replace) the calendar's table in the TOML file ``path``, keeping the others;
    through a temporary file and a rename, so the service never reads half a file."""
    tables: dict[str, Any] = {}
    if path.exists():
        try:
            tables = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise PydanticCustomError(
                "not_toml_fix",
                "{path}: not valid TOML ({why}); fix or remove it",
                {"path": str(path), "why": str(exc)},
            ) from None
    tables[imported.name] = imported.table()
    lines = [
        "# Closure calendars for lorawatch (see docs/calendars.md): written by",
        "# `lorawatch calendars import`; each table replaces the built-in calendar of that name.",
        "",
    ]
    for name, table in tables.items():
        lines.append(f"[{json.dumps(name)}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        lines.append("")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(path)

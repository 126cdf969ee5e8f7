"""Monthly reports for elected officials and the public: one per commune, Markdown and HTML.

Each report opens with a short commune summary (totals, the same month last year, the share
used outside opening hours, the alerts, whether the commune must publish its data) and gives
one section per public building: kWh and m³, the same month a year before (or a plain "no
data"), the share outside occupancy, the night baseload, kWh per m², and the month's alerts.

Every figure comes from :mod:`~lorawatch.analytics.aggregates`, so a report says what the
dashboards and the open-data export say. The same rule as the export applies
(:func:`lorawatch.analytics.exports.publication`): buildings only, residential buildings are
withheld and only counted, and alerts show what happened (date, kind, severity, state,
title), never who acknowledged or resolved them, since those are names of people.

Rendering goes through a view of ready-made strings (:func:`view`), so the Markdown and the
HTML cannot disagree; the HTML is self-contained (inline style, no external URL, and a
Content-Security-Policy that forbids loading anything) so it can be mailed or archived.
French by default, English on request.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic_core import PydanticCustomError

from lorawatch.analytics import aggregates, exports, report_savings
from lorawatch.core import catalogue, formats, timeutil
from lorawatch.core.formats import MONTHS, Lang
from lorawatch.core.i18n import long_date
from lorawatch.inventory import Inventory
from lorawatch.pipeline.store import Store

if TYPE_CHECKING:
    from lorawatch.alerts.api import AlertsApi

TEMPLATES: Final = Path(__file__).with_name("templates")
PUBLICATION_THRESHOLD: Final = 3500
"""Inhabitants above which a commune must publish its public data (loi pour une République
numérique, 2016)."""
NIGHT: Final = (1, 5)
"""The night window of the baseload, local hours [1, 5): the aggregates' default."""
ALERT_LIMIT: Final = 100_000
"""Alerts read per commune; a commune that reaches it is told its list may be cut."""

ENERGY: Final[aggregates.Quantity] = "energy_delta_kwh"
WATER: Final[aggregates.Quantity] = "volume_delta_m3"


@dataclass(frozen=True, slots=True)
class Figures:
    """One quantity of one building (or of a commune) over the month."""

    total: float | None
    """Consumption in the month; None when no data."""
    previous: float | None
    """The same calendar month a year before; None when no data."""
    unoccupied: float | None
    """Consumption outside the declared opening hours; None without a schedule or data."""
    occupied: float | None
    night_per_hour: float | None
    """Mean of the nights' baseloads (mean hourly use, 01:00-05:00 local), per hour."""
    nights: int
    """Nights with data in the window."""
    per_m2: float | None

    @property
    def metered(self) -> bool:
        """Whether there is anything to say (data this month or the same month last year)."""
        return self.total is not None or self.previous is not None

    @property
    def change(self) -> float | None:
        if self.total is None or not self.previous:
            return None
        return (self.total - self.previous) / self.previous

    @property
    def unoccupied_share(self) -> float | None:
        if self.unoccupied is None or self.occupied is None:
            return None
        whole = self.unoccupied + self.occupied
        return self.unoccupied / whole if whole > 0 else None


@dataclass(frozen=True, slots=True)
class AlertLine:
    """An alert as a public report may show it."""

    id: int
    opened_at: datetime
    """Local time."""
    kind: str
    severity: str
    state: str
    title: str
    building: str


@dataclass(frozen=True, slots=True)
class BuildingReport:
    id: str
    name: str
    usage: str
    surface_m2: float | None
    has_schedule: bool
    energy: Figures
    water: Figures
    alerts: list[AlertLine]
    weather: report_savings.WeatherAdjusted | None = None
    """The month's energy against the baseline model (None: no energy this month)."""


@dataclass(frozen=True, slots=True)
class CommuneReport:
    id: str
    name: str
    population: int | None
    month: date
    """First day of the month."""
    tz: str
    buildings: list[BuildingReport]
    withheld: int
    """Buildings of the commune left out (residential): counted, never named."""
    alerts: list[AlertLine] | None
    """Every alert of the commune opened in the month (buildings, bins, lamps); None when
    the alerts could not be read."""
    alerts_cut: bool = False

    def total(self, quantity: aggregates.Quantity) -> float | None:
        values = [f.total for f in self._figures(quantity) if f.total is not None]
        return sum(values) if values else None

    def comparable(self, quantity: aggregates.Quantity) -> tuple[float, float, int] | None:
        """(this month, last year, buildings) over the buildings measured both years."""
        pairs = [
            (f.total, f.previous)
            for f in self._figures(quantity)
            if f.total is not None and f.previous
        ]
        if not pairs:
            return None
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs), len(pairs)

    def unoccupied_share(self, quantity: aggregates.Quantity) -> tuple[float, int] | None:
        """Share outside occupancy over the buildings with a schedule and data."""
        splits = [
            (f.unoccupied, f.occupied)
            for f in self._figures(quantity)
            if f.unoccupied is not None and f.occupied is not None
        ]
        whole = sum(u + o for u, o in splits)
        if whole <= 0:
            return None
        return sum(u for u, _ in splits) / whole, len(splits)

    def _figures(self, quantity: aggregates.Quantity) -> list[Figures]:
        return [b.energy if quantity == ENERGY else b.water for b in self.buildings]


def month_bounds(month: date, tz: str) -> tuple[datetime, datetime]:
    """[local midnight on the 1st, local midnight on the 1st of the next month)."""
    start = datetime(month.year, month.month, 1, tzinfo=timeutil.zone(tz))
    return start, timeutil.next_period(start, "month", tz)


def parse_month(text: str) -> date:
    """``2026-03`` -> 2026-03-01; ValueError otherwise."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if not match or not 1 <= int(match[2]) <= 12:
        raise PydanticCustomError("month", "{text} is not a month (YYYY-MM)", {"text": repr(text)})
    return date(int(match[1]), int(match[2]), 1)


def build(
    store: Store,
    inventory: Inventory,
    month: date,
    *,
    alerts: AlertsApi | None = None,
    tz: str = aggregates.DEFAULT_TZ,
    communes: Collection[str] = (),
    savings_baseline: tuple[datetime, datetime] | None = None,
) -> list[CommuneReport]:
    """The reports of ``month`` for the given communes (all by default), from the store.

    Five questions per quantity cover every building at once (a metropolis has thousands),
    then the answers are sorted by building. Each building with energy in the month also
    gets its weather-adjusted line (:mod:`~lorawatch.analytics.report_savings`), against
    ``savings_baseline`` when given: one model fit per building.
    """
    wanted = set(communes) or set(inventory.communes)
    unknown = wanted - set(inventory.communes)
    if unknown:
        raise ValueError(f"unknown commune(s): {', '.join(sorted(unknown))}")
    published = exports.publication(inventory)
    start, end = month_bounds(month, tz)
    schedules = aggregates.schedules(inventory)
    figures = {q: _figures(store, inventory, q, start, end, schedules, tz) for q in (ENERGY, WATER)}
    empty = Figures(None, None, None, None, None, 0, None)

    out = []
    for commune_id in sorted(wanted):
        commune = inventory.communes[commune_id]
        lines, cut = _alerts(alerts, commune_id, start, end, tz)
        if lines is not None:
            # A withheld building's alerts would tell about a household: street alerts
            # (bins, lamps: no building) and public buildings' only.
            lines = [a for a in lines if not a.building or a.building in published.buildings]
        by_building: dict[str, list[AlertLine]] = defaultdict(list)
        for line in lines or ():
            by_building[line.building].append(line)
        buildings = [
            BuildingReport(
                b.id,
                b.name,
                b.usage,
                b.surface_m2,
                b.id in schedules,
                figures[ENERGY].get(b.id, empty),
                figures[WATER].get(b.id, empty),
                by_building.get(b.id, []),
                report_savings.weather_adjusted(
                    store, inventory, b.id, (start, end), savings_baseline
                )
                if figures[ENERGY].get(b.id, empty).total is not None
                else None,
            )
            for b in sorted(published.buildings.values(), key=lambda b: _alphabetical(b.name))
            if b.commune == commune_id
        ]
        withheld = sum(
            1
            for b in inventory.buildings.values()
            if b.commune == commune_id and b.id in published.withheld
        )
        out.append(
            CommuneReport(
                commune.id,
                commune.name,
                commune.population,
                month,
                tz,
                buildings,
                withheld,
                lines,
                cut,
            )
        )
    return out


def _figures(
    store: Store,
    inventory: Inventory,
    quantity: aggregates.Quantity,
    start: datetime,
    end: datetime,
    schedules: dict[str, aggregates.Occupied],
    tz: str,
) -> dict[str, Figures]:
    yoy = {y.group: y for y in aggregates.vs_last_year(store, quantity, start, end, "month", tz=tz)}
    split = {
        s.group: s
        for s in aggregates.occupancy_split(
            store, quantity, start, end, schedules, interval="month", tz=tz
        )
    }
    nights: dict[str, list[float]] = defaultdict(list)
    for n in aggregates.night_baseload(store, quantity, start, end, night=NIGHT, tz=tz):
        nights[n.group].append(n.per_hour)
    per_m2 = {
        i.group: i.per_m2
        for i in aggregates.intensity(
            store, quantity, start, end, aggregates.surfaces(inventory), tz=tz
        )
    }
    out = {}
    for group in set(yoy) | set(split) | set(nights):
        y, s = yoy.get(group), split.get(group)
        out[group] = Figures(
            total=y.value if y else None,
            previous=y.previous if y else None,
            unoccupied=s.unoccupied if s else None,
            occupied=s.occupied if s else None,
            night_per_hour=statistics.fmean(nights[group]) if nights.get(group) else None,
            nights=len(nights.get(group, ())),
            per_m2=per_m2.get(group),
        )
    return out


def _alphabetical(name: str) -> str:
    """Sort key that puts "École" among the E, as a reader expects, not after "Z"."""
    plain = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in plain if not unicodedata.combining(c))


def _alerts(
    api: AlertsApi | None, commune: str, start: datetime, end: datetime, tz: str
) -> tuple[list[AlertLine] | None, bool]:
    """Alerts of the commune opened in [start, end), oldest first; (None, False) without API."""
    if api is None:
        return None, False
    listed = api.list("all", commune=commune, limit=ALERT_LIMIT)
    zone = timeutil.zone(tz)
    lines = [
        AlertLine(
            a.id,
            a.opened_at.astimezone(zone),
            a.kind,
            str(a.severity),
            str(a.state),
            a.title or a.rule,
            a.building,
        )
        for a in listed
        if start <= a.opened_at < end
    ]
    lines.sort(key=lambda a: (a.opened_at, a.id))
    return lines, len(listed) >= ALERT_LIMIT


# --- words -----------------------------------------------------------------------------------

TEXT: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "title": "Rapport mensuel des bâtiments publics",
        "summary": "Synthèse de la commune",
        "buildings_line": "{count} bâtiment(s) public(s) suivi(s) : électricité {energy}, eau {water}.",
        "yoy_line": "Par rapport à {month} : électricité {energy}, eau {water} (bâtiments mesurés les deux années).",
        "unoccupied_line": "Part de l'électricité consommée hors des horaires d'occupation : {share} ({count} bâtiment(s) aux horaires connus).",
        "alerts_line": "Alertes ouvertes dans le mois : {count}{detail}.",
        "no_alerts_line": "Aucune alerte ouverte dans le mois.",
        "alerts_unknown": "Alertes : non disponibles.",
        "alerts_cut": "Attention : la liste des alertes a pu être tronquée.",
        "must_publish": "Commune de {population} habitants : la publication de ces données en open data est obligatoire (au-delà de {threshold} habitants).",
        "may_publish": "Commune de {population} habitants : la publication en open data n'est pas obligatoire (seuil : {threshold} habitants), mais reste possible.",
        "withheld_line": "{count} bâtiment(s) à usage d'habitation non publié(s) (protection des données personnelles).",
        "no_comparison": "pas de données",
        "indicator": "Indicateur",
        "electricity": "Électricité",
        "water": "Eau",
        "consumption": "Consommation du mois",
        "same_month": "Même mois, année précédente ({month})",
        "no_data_then": "pas de données pour {month}",
        "no_data_now": "pas de mesure ce mois-ci",
        "unoccupied": "Part hors occupation",
        "no_schedule": "horaires non renseignés",
        "night": "Talon de nuit (01 h – 05 h)",
        "per_m2": "Électricité par m²",
        "no_meter": "pas de compteur",
        "no_data_building": "Aucune mesure pour ce bâtiment ce mois-ci ni le même mois l'an dernier.",
        "surface": "{surface} m²",
        "alerts": "Alertes du mois",
        "no_building_alerts": "Aucune alerte ce mois-ci.",
        "opened": "Ouverte le",
        "kind": "Domaine",
        "severity": "Gravité",
        "state": "État",
        "what": "Objet",
        "method": "Méthode",
        "method_text": "Chiffres agrégés par bâtiment, jamais par logement ni par personne. Mois en heure locale ({tz}). Consommation hors occupation : d'après les horaires d'ouverture déclarés dans l'inventaire. Talon de nuit : consommation horaire moyenne entre 01 h et 05 h, moyenne des nuits du mois. Comparaison avec le même mois calendaire de l'année précédente, quand des mesures existent.",
        "generated": "Produit par lorawatch.",
        "no_buildings": "Aucun bâtiment public dans l'inventaire de cette commune.",
        "vs": "{change} par rapport à {month}",
    },
    "en": {
        "title": "Monthly report of the public buildings",
        "summary": "Commune summary",
        "buildings_line": "{count} public building(s) monitored: electricity {energy}, water {water}.",
        "yoy_line": "Compared with {month}: electricity {energy}, water {water} (buildings measured both years).",
        "unoccupied_line": "Share of electricity used outside occupancy hours: {share} ({count} building(s) with known hours).",
        "alerts_line": "Alerts opened in the month: {count}{detail}.",
        "no_alerts_line": "No alert opened in the month.",
        "alerts_unknown": "Alerts: not available.",
        "alerts_cut": "Warning: the list of alerts may be cut short.",
        "must_publish": "Commune of {population} inhabitants: publishing these data as open data is mandatory (above {threshold} inhabitants).",
        "may_publish": "Commune of {population} inhabitants: publishing as open data is not mandatory (threshold: {threshold} inhabitants), but remains possible.",
        "withheld_line": "{count} residential building(s) not published (personal data protection).",
        "no_comparison": "no data",
        "indicator": "Indicator",
        "electricity": "Electricity",
        "water": "Water",
        "consumption": "Consumption of the month",
        "same_month": "Same month, previous year ({month})",
        "no_data_then": "no data for {month}",
        "no_data_now": "no data this month",
        "unoccupied": "Share outside occupancy",
        "no_schedule": "opening hours unknown",
        "night": "Night baseload (01:00 – 05:00)",
        "per_m2": "Electricity per m²",
        "no_meter": "no meter",
        "no_data_building": "No data for this building this month nor the same month last year.",
        "surface": "{surface} m²",
        "alerts": "Alerts of the month",
        "no_building_alerts": "No alert this month.",
        "opened": "Opened on",
        "kind": "Domain",
        "severity": "Severity",
        "state": "State",
        "what": "Subject",
        "method": "Method",
        "method_text": "Figures are aggregated per building, never per dwelling or person. Months in local time ({tz}). Consumption outside occupancy: from the opening hours declared in the inventory. Night baseload: mean hourly consumption between 01:00 and 05:00, averaged over the nights of the month. Comparison with the same calendar month of the previous year, when data exist.",
        "generated": "Produced by lorawatch.",
        "no_buildings": "No public building in this commune's inventory.",
        "vs": "{change} compared with {month}",
    },
}

_KINDS: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "water": "eau",
        "energy": "énergie",
        "waste": "déchets",
        "lighting": "éclairage",
        "fleet": "capteurs",
    },
    "en": {
        "water": "water",
        "energy": "energy",
        "waste": "waste",
        "lighting": "lighting",
        "fleet": "sensors",
    },
}
_WORDS: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "info": "info",
        "warning": "avertissement",
        "critical": "critique",
        "open": "ouverte",
        "acknowledged": "prise en charge",
        "resolved": "résolue",
        "office": "bureaux",
        "school": "école",
        "canteen": "restauration",
        "hall": "salle",
        "library": "bibliothèque",
        "sports": "sport",
        "workshop": "ateliers",
    },
    "en": {},
}


def _t(lang: Lang, key: str, **values: object) -> str:
    template = TEXT[lang][key]
    return template.format(**values) if values else template


def _word(lang: Lang, word: str) -> str:
    return _WORDS[lang].get(word, word)


def month_name(month: date, lang: Lang) -> str:
    return f"{MONTHS[lang][month.month - 1]} {month.year}"


def _amount(value: float | None, unit: str, lang: Lang) -> str:
    return formats.amount(value, unit, lang)


def _total(value: float | None, unit: str, lang: Lang) -> str:
    return _t(lang, "no_data_now") if value is None else _amount(value, unit, lang)


def _litres(m3: float | None) -> float | None:
    return None if m3 is None else m3 * 1000


# --- the view --------------------------------------------------------------------------------


def view(report: CommuneReport, lang: Lang = "fr") -> dict[str, Any]:
    """Everything the templates print, as strings in ``lang``: both formats say the same."""
    before = report.month.replace(year=report.month.year - 1)
    last_year = month_name(before, lang)
    return {
        "lang": lang,
        "title": f"{_t(lang, 'title')} — {report.name} — {month_name(report.month, lang)}",
        "commune": report.name,
        "month": month_name(report.month, lang),
        "summary_title": _t(lang, "summary"),
        "summary": _summary(report, lang, last_year),
        "buildings": [_building(b, lang, last_year) for b in report.buildings],
        "no_buildings": _t(lang, "no_buildings") if not report.buildings else "",
        "heads": {
            k: _t(lang, k)
            for k in (
                "indicator",
                "electricity",
                "water",
                "alerts",
                "opened",
                "kind",
                "severity",
                "state",
                "what",
                "method",
            )
        },
        "method": _t(lang, "method_text", tz=report.tz),
        "method_weather": catalogue.text(lang, "report.savings.method"),
        "generated": _t(lang, "generated"),
    }


def _summary(report: CommuneReport, lang: Lang, last_year: str) -> list[str]:
    lines = [
        _t(
            lang,
            "buildings_line",
            count=len(report.buildings),
            energy=_total(report.total(ENERGY), "kWh", lang),
            water=_total(report.total(WATER), "m³", lang),
        )
    ]

    def change(quantity: aggregates.Quantity) -> str:
        pair = report.comparable(quantity)
        if pair is None:
            return _t(lang, "no_comparison")
        return formats.percent((pair[0] - pair[1]) / pair[1], lang)

    lines.append(_t(lang, "yoy_line", month=last_year, energy=change(ENERGY), water=change(WATER)))
    share = report.unoccupied_share(ENERGY)
    if share is not None:
        lines.append(
            _t(
                lang,
                "unoccupied_line",
                share=formats.percent(share[0], lang, signed=False),
                count=share[1],
            )
        )
    if report.alerts is None:
        lines.append(_t(lang, "alerts_unknown"))
    elif not report.alerts:
        lines.append(_t(lang, "no_alerts_line"))
    else:
        kinds = Counter(a.kind for a in report.alerts)
        detail = ", ".join(f"{n} {_KINDS[lang].get(k, k)}" for k, n in sorted(kinds.items()))
        lines.append(_t(lang, "alerts_line", count=len(report.alerts), detail=f" ({detail})"))
    if report.alerts_cut:
        lines.append(_t(lang, "alerts_cut"))
    if report.population is not None:
        key = "must_publish" if report.population > PUBLICATION_THRESHOLD else "may_publish"
        lines.append(
            _t(
                lang,
                key,
                population=formats.number(report.population, lang, 0),
                threshold=formats.number(PUBLICATION_THRESHOLD, lang, 0),
            )
        )
    if report.withheld:
        lines.append(_t(lang, "withheld_line", count=report.withheld))
    return lines


def _building(b: BuildingReport, lang: Lang, last_year: str) -> dict[str, Any]:
    subtitle = [_word(lang, b.usage)] if b.usage else []
    if b.surface_m2:
        subtitle.append(_t(lang, "surface", surface=formats.number(b.surface_m2, lang, 0)))
    metered = b.energy.metered or b.water.metered
    rows: list[tuple[str, str, str]] = []
    if metered:
        rows = [
            (
                _t(lang, "consumption"),
                _cell(b.energy, lang, lambda f: _amount(f.total, "kWh", lang)),
                _cell(b.water, lang, lambda f: _amount(f.total, "m³", lang)),
            ),
            (
                _t(lang, "same_month", month=last_year),
                _cell(b.energy, lang, lambda f: _previous(f, "kWh", lang, last_year)),
                _cell(b.water, lang, lambda f: _previous(f, "m³", lang, last_year)),
            ),
            (
                _t(lang, "unoccupied"),
                _cell(b.energy, lang, lambda f: _outside(f, b.has_schedule, lang)),
                _cell(b.water, lang, lambda f: _outside(f, b.has_schedule, lang)),
            ),
            (
                _t(lang, "night"),
                _cell(b.energy, lang, lambda f: _amount(f.night_per_hour, "kW", lang)),
                _cell(b.water, lang, lambda f: _amount(_litres(f.night_per_hour), "L/h", lang)),
            ),
            (
                _t(lang, "per_m2"),
                _cell(b.energy, lang, lambda f: _amount(f.per_m2, "kWh/m²", lang)),
                "–",
            ),
        ]
    return {
        "id": b.id,
        "name": b.name,
        "subtitle": ", ".join(subtitle),
        "rows": rows,
        "no_data": "" if metered else _t(lang, "no_data_building"),
        "weather": report_savings.line(b.weather, lang) if b.weather is not None else "",
        "alerts": [
            {
                "opened": long_date(a.opened_at.date(), lang)
                + (
                    f" {a.opened_at:%H:%M}"
                    if lang == "en"
                    else f" à {a.opened_at:%H} h {a.opened_at:%M}"
                ),
                "kind": _KINDS[lang].get(a.kind, a.kind),
                "severity": _word(lang, a.severity),
                "state": _word(lang, a.state),
                "title": a.title,
            }
            for a in b.alerts
        ],
        "no_alerts": _t(lang, "no_building_alerts"),
    }


def _cell(f: Figures, lang: Lang, show: Callable[[Figures], str]) -> str:
    """A quantity's cell: its figure, or why there is none."""
    if not f.metered:
        return _t(lang, "no_meter")
    if f.total is None:
        return _t(lang, "no_data_now")
    return show(f)


def _previous(f: Figures, unit: str, lang: Lang, last_year: str) -> str:
    if f.previous is None:
        return _t(lang, "no_data_then", month=last_year)
    change = f.change
    shown = _amount(f.previous, unit, lang)
    return f"{shown} ({formats.percent(change, lang)})" if change is not None else shown


def _outside(f: Figures, has_schedule: bool, lang: Lang) -> str:
    if not has_schedule:
        return _t(lang, "no_schedule")
    return formats.percent(f.unoccupied_share, lang, signed=False)


# --- rendering -------------------------------------------------------------------------------


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def _md(text: object) -> str:
    """Escape what Markdown would read as markup (a building named "Salle *A* | B")."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


@cache
def _environment() -> Environment:
    """HTML templates are escaped (a building name is data, not markup); Markdown ones go
    through the ``md`` filter instead, which escapes for Markdown."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = _md
    return env


def render_markdown(report: CommuneReport, lang: Lang = "fr") -> str:
    return _environment().get_template("report.md.j2").render(**view(report, lang))


def render_html(report: CommuneReport, lang: Lang = "fr") -> str:
    return _environment().get_template("report.html.j2").render(**view(report, lang))


def file_stem(report: CommuneReport, lang: Lang) -> str:
    """``report-<commune>-<YYYY-MM>-<lang>``, with anything odd in the id replaced."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", report.id).lstrip(".") or "commune"
    return f"report-{safe}-{report.month:%Y-%m}-{lang}"


def write(report: CommuneReport, out_dir: Path, lang: Lang = "fr") -> list[Path]:
    """Write the Markdown and HTML reports (atomically); return their paths."""
    stem = file_stem(report, lang)
    paths = [out_dir / f"{stem}.md", out_dir / f"{stem}.html"]
    exports.write_atomic(paths[0], render_markdown(report, lang))
    exports.write_atomic(paths[1], render_html(report, lang))
    return paths

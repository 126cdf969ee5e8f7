"""The dashboards, derived from one commune's part of the inventory.

Technical services get a commune overview, a building detail (``$building``), water and leaks,
waste bins, street lighting and fleet health; each building also gets an occupant screen for
its hall (kiosk: read-only, no controls, building totals only). A dashboard is only made when
the commune has devices it would show, so a commune with bins only gets no energy dashboard.

Periods are Grafana panel overrides on top of the panel's query, never ``now()`` in InfluxQL:
``now/d`` today so far, ``now/w`` this week so far (weeks start on Monday), ``now/M`` this
month so far; a time shift of ``1w`` is "the same moment last week" and ``52w`` "the same
period last year" (52 weeks, so weekdays line up: a school's Monday compares with a Monday).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Final
from zoneinfo import ZoneInfo

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.i18n import Lang, Translator, tips
from lorawatch.dashboards.influxql import ENERGY, VOLUME, Scope
from lorawatch.inventory import Building, Commune, Inventory

SCHEMA_VERSION: Final = 39
"""Grafana 10.4/11 dashboard schema: Grafana runs no migration over what we generate."""

UID_MAX: Final = 40
TAG: Final = "lorawatch"
SCREEN_TAG: Final = "lorawatch-screen"

# How long a line may bridge missing data before it breaks: about two reporting intervals.
SPAN_METER_MS: Final = 2 * p.HOUR_MS
SPAN_DAILY_MS: Final = 36 * p.HOUR_MS
SPAN_HOURLY_DEVICE_MS: Final = 3 * p.HOUR_MS
SPAN_SLOW_DEVICE_MS: Final = 13 * p.HOUR_MS

PER_PANEL_LIMIT: Final = 60
"""Above this many devices a per-device panel (state timeline, one gauge per bin) would be
unreadable; large communes get the tables and aggregates only."""
PER_SITE_GAUGES_LIMIT: Final = 24
NAMED_DEVICES_LIMIT: Final = 200
"""Above this many devices, device names are shown as stored rather than mapped to "site ·
name": thousands of mappings would make the dashboard heavy for little gain."""

LEAK_FLOW_STEPS: Final = ((None, "green"), (5.0, "orange"), (20.0, "red"))
FILL_STEPS: Final = ((None, "green"), (70.0, "orange"), (90.0, "red"))
BATTERY_STEPS: Final = ((None, "red"), (15.0, "orange"), (30.0, "green"))
SAVING_STEPS: Final = ((None, "green"), (0.5, "orange"), (5.0, "red"))


def uid(*parts: str) -> str:
    """A Grafana uid derived from inventory ids only, so links and bookmarks survive any
    regeneration (and a change of language); ids too long for Grafana's 40 characters keep a
    readable prefix and a hash of the whole."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(["lw", *parts])).strip("-")
    if len(slug) <= UID_MAX:
        return slug
    digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
    return slug[: UID_MAX - 9].rstrip("-") + "-" + digest


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device as the dashboards see it: its tag values in InfluxDB, and where it is."""

    name: str
    kind: str
    building: str
    site: str


@dataclass(frozen=True)
class CommuneView:
    """One commune's slice of the inventory."""

    commune: Commune
    buildings: tuple[Building, ...]
    devices: tuple[DeviceView, ...]
    t: Translator = field(default_factory=Translator)

    @property
    def id(self) -> str:
        return self.commune.id

    @property
    def zone(self) -> str:
        return self.commune.timezone

    def kinds(self) -> set[str]:
        return {d.kind for d in self.devices}

    def of_kind(self, *kinds: str) -> list[DeviceView]:
        return [d for d in self.devices if d.kind in kinds]

    def metered_buildings(self, kind: str) -> list[Building]:
        ids = {d.building for d in self.devices if d.kind == kind and d.building}
        return [b for b in self.buildings if b.id in ids]

    def building_names(self) -> p.Names:
        return p.Names({b.id: b.name for b in self.buildings})

    def device_names(self, devices: Sequence[DeviceView]) -> p.Names:
        """Device tag -> "site · device", so a bin or a detector is found on the ground."""
        if len(devices) > NAMED_DEVICES_LIMIT:
            return p.Names()
        return p.Names({d.name: f"{d.site} · {d.name}" if d.site else d.name for d in devices})


def communes(inventory: Inventory, lang: Lang = "fr") -> list[CommuneView]:
    """Every commune of the inventory with its buildings and devices, in inventory order."""
    by_eui = {d.dev_eui: d for d in inventory.doc.devices}
    views = []
    for commune in inventory.doc.communes:
        devices = tuple(
            DeviceView(
                r.name, r.kind, r.building, by_eui[r.dev_eui].site if r.dev_eui in by_eui else ""
            )
            for r in inventory.devices.values()
            if r.commune == commune.id
        )
        buildings = tuple(b for b in inventory.doc.buildings if b.commune == commune.id)
        views.append(CommuneView(commune, buildings, devices, Translator(lang)))
    return views


# --- shared pieces ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Meter:
    """What a meter kind is read as: the delta field, its unit, its names."""

    kind: str
    field: str
    unit: str
    decimals: int


ELECTRICITY: Final = Meter("electricity", ENERGY, p.KWH, 1)
WATER: Final = Meter("water", VOLUME, p.M3, 2)


def _dashboard(
    view: CommuneView,
    key: tuple[str, ...],
    title: str,
    description: str,
    panels: list[Any],
    time_from: str = "now-7d",
    templating: Sequence[g.Template] = (),
    kiosk: bool = False,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The dashboard as plain JSON data, in the commune's time zone, weeks from Monday.

    ``key`` makes the uid: (commune, dashboard) for the technical ones, ("screen", building)
    for an occupant screen (building ids are unique across the inventory)."""
    links = (
        []
        if kiosk
        else [
            g.DashboardLink(
                title=view.t("Tableaux de bord", "Dashboards"),
                tags=[f"{TAG}-{view.id}"],
                asDropdown=True,
                includeVars=False,
                keepTime=True,
                type="dashboards",
            )
        ]
    )
    dashboard = g.Dashboard(
        title=title,
        uid=uid(*key),
        description=description,
        tags=[TAG, *tags] if kiosk else [TAG, f"{TAG}-{view.id}", *tags],
        timezone=view.zone,
        time=g.Time(time_from, "now"),
        refresh="5m",
        editable=not kiosk,
        hideControls=kiosk,
        graphTooltip=0 if kiosk else 1,
        schemaVersion=SCHEMA_VERSION,
        panels=panels,
        links=links,
        templating=g.Templating(list=list(templating)),
        timePicker=g.TimePicker(
            refreshIntervals=["1m", "5m", "15m", "1h"],
            timeOptions=["24h", "7d", "30d", "90d", "1y"],
            hidden=kiosk,
        ),
    ).auto_panel_ids()
    data: dict[str, Any] = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    data["weekStart"] = "monday"
    data["fiscalYearStartMonth"] = 0
    data["liveNow"] = False
    data["panels"] = [p.modernise(panel) for panel in data["panels"]]
    if kiosk:
        data["links"] = []
    return data


def _period_panels(
    view: CommuneView,
    meter: Meter,
    scope: Scope,
    grid: p.Grid,
    by: Sequence[str],
    names: p.Names,
    widths: Sequence[int],
    height: int,
) -> list[Any]:
    """Today, this week, this month, the same month 52 weeks ago, and a typical day."""
    t = view.t
    alias = "$tag_building" if by else ""
    overrides = names.overrides() if by else []
    unit_name = "kWh" if meter.unit == p.KWH else "m³"
    periods = [
        (t("Aujourd'hui", "Today"), "now/d", None, t("Depuis minuit.", "Since midnight.")),
        (
            t("Cette semaine", "This week"),
            "now/w",
            None,
            t("Depuis lundi 0 h.", "Since Monday 00:00."),
        ),
        (
            t("Ce mois-ci", "This month"),
            "now/M",
            None,
            t("Depuis le 1er du mois.", "Since the 1st of the month."),
        ),
        (
            t("Ce mois-ci, l'an dernier", "This month, last year"),
            "now/M",
            "52w",
            t(
                "La même période 52 semaines plus tôt (les jours de la semaine coïncident).",
                "The same period 52 weeks earlier (weekdays line up).",
            ),
        ),
    ]
    out: list[Any] = []
    for (title, time_from, shift, desc), w in zip(periods, widths, strict=False):
        query = q.total(meter.field, scope, by)
        targets = [p.target(query, "A", alias)]
        full = f"{title} ({unit_name})"
        pos = grid.place(w, height)
        if by:
            out.append(
                p.bargauge(
                    full,
                    desc,
                    targets,
                    meter.unit,
                    pos,
                    time_from,
                    shift,
                    overrides,
                    meter.decimals,
                )
            )
        else:
            out.append(
                p.stat(full, desc, targets, meter.unit, pos, time_from, shift, meter.decimals)
            )
    typical_desc = t(
        "Médiane des totaux journaliers des 28 derniers jours : une journée exceptionnelle ou "
        "un jour sans données ne la déplace pas.",
        "Median of the daily totals of the last 28 days: one odd day, or a day without data, "
        "does not move it.",
    )
    typical = [p.target(q.typical_day(meter.field, scope, view.zone, by), "A", alias)]
    title = f"{t('Jour type', 'Typical day')} ({unit_name})"
    pos = grid.place(widths[len(periods)], height)
    if by:
        out.append(
            p.bargauge(
                title,
                typical_desc,
                typical,
                meter.unit,
                pos,
                "28d",
                None,
                overrides,
                meter.decimals,
            )
        )
    else:
        out.append(
            p.stat(title, typical_desc, typical, meter.unit, pos, "28d", None, meter.decimals)
        )
    return out


# --- commune overview ------------------------------------------------------------------------


def overview(view: CommuneView) -> dict[str, Any] | None:
    """Technical services' first page: every building's kWh and m3 per period, rankings."""
    t = view.t
    meters = [m for m in (ELECTRICITY, WATER) if view.metered_buildings(m.kind)]
    if not meters:
        return None
    names = view.building_names()
    grid = p.Grid()
    panels: list[Any] = []
    for meter in meters:
        label = t("Électricité", "Electricity") if meter is ELECTRICITY else t("Eau", "Water")
        panels.append(grid.row(f"{label} {t('par bâtiment', 'per building')}"))
        scope = Scope(commune=view.id, kinds=(meter.kind,))
        panels += _period_panels(view, meter, scope, grid, ("building",), names, (5, 5, 5, 5, 4), 9)

    panels.append(grid.row(t("Classements", "Rankings")))
    scope = Scope(commune=view.id, kinds=("electricity",))
    if ELECTRICITY in meters:
        building_col = t("Bâtiment", "Building")
        panels.append(
            p.table(
                t("Plus gros consommateurs (kWh)", "Top consumers (kWh)"),
                t(
                    "Électricité sur la période choisie, du plus gros au plus petit.",
                    "Electricity over the chosen period, largest first.",
                ),
                [p.target(q.total(ENERGY, scope, ("building",)), "A", table=True)],
                p.KWH,
                grid.place(8, 9),
                sort_by="kWh",
                overrides=names.cell_override(building_col),
                transformations=p.organize({"building": building_col, "total": "kWh"}),
                decimals=1,
            )
        )
        surfaced = [b for b in view.metered_buildings("electricity") if b.surface_m2]
        if surfaced:
            refs = _refs()
            panels.append(
                p.table(
                    t("kWh par m² (classement)", "kWh per m² (ranking)"),
                    t(
                        "Électricité de la période divisée par la surface déclarée dans "
                        "l'inventaire. Les bâtiments sans surface n'y figurent pas.",
                        "Electricity over the period divided by the surface given in the "
                        "inventory. Buildings without a surface are left out.",
                    ),
                    [
                        p.target(
                            q.per_area(
                                ENERGY,
                                Scope(building=b.id, kinds=("electricity",)),
                                b.surface_m2 or 1,
                            ),
                            next(refs),
                            b.name,
                        )
                        for b in surfaced
                    ],
                    p.KWH_PER_M2,
                    grid.place(8, 9),
                    sort_by="kWh/m²",
                    transformations=[
                        {
                            "id": "reduce",
                            "options": {"reducers": ["lastNotNull"], "mode": "seriesToRows"},
                        },
                        *p.organize(
                            {"Field": t("Bâtiment", "Building"), "Last *": "kWh/m²"},
                            hide_time=False,
                        ),
                    ],
                    decimals=2,
                )
            )
        panels.append(
            p.bargauge(
                t(
                    "Consommation hors occupation (% de l'électricité)",
                    "Consumption outside occupancy (% of electricity)",
                ),
                t(
                    "Part de l'électricité de la période consommée en dehors des horaires "
                    "d'ouverture de chaque bâtiment (horaires, vacances et fermetures de "
                    "l'inventaire) : chauffage, éclairage ou appareils restés allumés bâtiment "
                    "fermé. Chaque relevé est réparti au prorata de son temps hors occupation. "
                    "Les bâtiments sans horaires d'ouverture n'y figurent pas.",
                    "Share of the period's electricity used outside each building's opening "
                    "hours (hours, holidays and closures from the inventory): heating, lights "
                    "or appliances left on in a closed building. Each reading is split in "
                    "proportion to its time outside occupancy. Buildings without opening hours "
                    "are left out.",
                ),
                [p.target(q.unoccupied_share(ENERGY, scope, ("building",)), "A", "$tag_building")],
                p.PERCENT,
                grid.place(8, 9),
                overrides=names.overrides(),
                decimals=0,
                steps=((None, "green"), (50.0, "orange"), (75.0, "red")),
                maximum=100,
            )
        )

    panels.append(grid.row(t("Alertes et défauts", "Alerts and faults")))
    panels.append(_open_alerts_table(view, grid.place(24, 8)))
    faults = view.of_kind("leak", "streetlight")
    if faults:
        panels.append(
            p.table(
                t("Défauts signalés par les capteurs", "Faults reported by sensors"),
                t(
                    "Dernier état connu des détecteurs de fuite et des lampes sur la période.",
                    "Last known state of leak detectors and lamps over the period.",
                ),
                [
                    p.target(
                        q.latest(
                            ["leak", "lamp_failure"],
                            Scope(commune=view.id, kinds=("leak", "streetlight")),
                            ("device",),
                        ),
                        "A",
                        table=True,
                    )
                ],
                p.BOOL,
                grid.place(12, 8),
                sort_by=t("Fuite", "Leak"),
                transformations=p.organize(
                    {
                        "device": t("Capteur", "Sensor"),
                        "leak": t("Fuite", "Leak"),
                        "lamp_failure": t("Lampe HS", "Lamp failure"),
                    }
                ),
            )
        )
    panels.append(_last_seen_table(view, grid.place(12, 8)))
    return _dashboard(
        view,
        (view.id, "overview"),
        f"{view.commune.name} · {t('Vue d’ensemble', 'Overview')}",
        t(
            "Consommations par bâtiment, comparaisons, alertes et défauts, pour les services "
            "techniques.",
            "Consumption per building, comparisons, alerts and faults, for the technical services.",
        ),
        panels,
    )


def _refs() -> Iterator[str]:
    """Query refIds A..Z, AA..ZZ: a panel may carry one query per building."""
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    yield from letters
    for a in letters:
        for b in letters:
            yield a + b


def _last_seen_table(view: CommuneView, pos: g.GridPos) -> g.Table:
    t = view.t
    return p.table(
        t("Derniers signes de vie (les plus anciens d'abord)", "Last heard (oldest first)"),
        t(
            "Dernière trame reçue de chaque capteur sur les 30 derniers jours : un capteur "
            "silencieux (pile vide, arraché, hors couverture) remonte en tête. Un capteur muet "
            "depuis plus de 30 jours n'y figure plus : voir « Capteurs entendus ».",
            "Last frame received from each sensor over the last 30 days: a silent sensor "
            "(flat battery, torn off, out of coverage) comes first. A sensor silent for more "
            'than 30 days is no longer listed: see "Sensors heard".',
        ),
        [p.target(q.last_seen(Scope(commune=view.id), ("device", "kind")), "A", table=True)],
        p.COUNT,
        pos,
        time_from="30d",
        sort_by=t("Dernière trame", "Last frame"),
        descending=False,
        overrides=[p.unit_override(t("Dernière trame", "Last frame"), p.FROM_NOW)],
        transformations=p.organize(
            {
                "Time": t("Dernière trame", "Last frame"),
                "device": t("Capteur", "Sensor"),
                "kind": t("Type", "Kind"),
                "f_cnt": "fCnt",
            },
            hide_time=False,
        ),
    )


def _severities(t: Translator) -> list[tuple[str, str, str]]:
    return [
        ("critical", t("Critique", "Critical"), "red"),
        ("warning", t("Avertissement", "Warning"), "orange"),
        ("info", t("Information", "Info"), "blue"),
    ]


def _states(t: Translator) -> list[tuple[str, str, str]]:
    return [
        ("open", t("Ouverte", "Open"), "red"),
        ("acknowledged", t("Prise en charge", "Acknowledged"), "orange"),
        ("resolved", t("Résolue", "Resolved"), "green"),
    ]


_ALERTS_HOW = (
    "Écrites dans InfluxDB par le service à chaque événement (ouverture, aggravation, prise en "
    "charge, résolution). Détail, preuves et prise en charge : `lorawatch alerts show`, ou la "
    "page *Alertes* de l'interface web.",
    "Written to InfluxDB by the service at each event (opened, escalated, acknowledged, "
    "resolved). Details, evidence and acknowledgement: `lorawatch alerts show`, or the web "
    "UI's *Alerts* page.",
)


def _open_alerts_table(view: CommuneView, pos: g.GridPos) -> g.Table:
    """The commune's unresolved alerts, newest first; a bin or a lamp has a sensor, no
    building, so both columns are shown."""
    t = view.t
    building, device = t("Bâtiment", "Building"), t("Capteur", "Sensor")
    severity, since = t("Gravité", "Severity"), t("Depuis", "Since")
    return p.table(
        t("Alertes ouvertes", "Open alerts"),
        t(
            "Alertes non résolues (ouvertes ou prises en charge) ayant un événement dans les "
            "12 derniers mois, les plus récentes d'abord. " + _ALERTS_HOW[0],
            "Unresolved alerts (open or acknowledged) with an event in the last 12 months, "
            "newest first. " + _ALERTS_HOW[1],
        ),
        [p.target(q.open_alerts(Scope(commune=view.id)), "A", table=True)],
        p.COUNT,
        pos,
        sort_by=since,
        overrides=[
            *view.building_names().cell_override(building),
            *view.device_names(view.devices).cell_override(device),
            p.by_name(severity, *p.value_texts(_severities(t))),
            p.unit_override(since, p.FROM_NOW),
        ],
        transformations=p.organize(
            {
                "building": building,
                "device": device,
                "title": t("Alerte", "Alert"),
                "severity": severity,
                "opened": since,
            },
            hide=("alert_id", "rule"),
        ),
        time_from="1y",
    )


def _building_alerts_table(view: CommuneView, pos: g.GridPos) -> g.Table:
    t = view.t
    device, severity = t("Capteur", "Sensor"), t("Gravité", "Severity")
    state, opened = t("État", "State"), t("Ouverte le", "Opened")
    return p.table(
        t("Alertes du bâtiment", "The building's alerts"),
        t(
            "Alertes du bâtiment ayant un événement sur la période choisie, ouvertes ou "
            "résolues, dans leur dernier état, les plus récentes d'abord. " + _ALERTS_HOW[0],
            "The building's alerts with an event in the chosen period, open or resolved, in "
            "their last state, newest first. " + _ALERTS_HOW[1],
        ),
        [p.target(q.alert_history(Scope(building="$building")), "A", table=True)],
        p.COUNT,
        pos,
        sort_by=opened,
        overrides=[
            *view.device_names([d for d in view.devices if d.building]).cell_override(device),
            p.by_name(severity, *p.value_texts(_severities(t))),
            p.by_name(state, *p.value_texts(_states(t))),
            p.unit_override(opened, p.DATE_TIME),
        ],
        transformations=p.organize(
            {
                "device": device,
                "title": t("Alerte", "Alert"),
                "severity": severity,
                "state": state,
                "opened": opened,
            },
            hide=("alert_id", "building", "rule"),
        ),
    )


# --- building detail -------------------------------------------------------------------------


def building_detail(view: CommuneView) -> dict[str, Any] | None:
    """One building at a time (``$building``): load curve, daily bars, occupied/unoccupied,
    baseload, water flow and the night flow that reveals a leak, and its alerts."""
    t = view.t
    buildings = [
        b
        for b in view.buildings
        if b in view.metered_buildings("electricity") or b in view.metered_buildings("water")
    ]
    if not buildings:
        return None
    variable = g.Template(
        name="building",
        label=t("Bâtiment", "Building"),
        type="custom",
        query=",".join(f"{_custom_escape(b.name)} : {b.id}" for b in buildings),
        options=[
            {"selected": i == 0, "text": b.name, "value": b.id} for i, b in enumerate(buildings)
        ],
        default=buildings[0].id,
    )
    variable_json = variable.to_json_data()
    variable_json["current"] = {
        "selected": True,
        "text": buildings[0].name,
        "value": buildings[0].id,
    }
    elec = Scope(building="$building", kinds=("electricity",))
    water = Scope(building="$building", kinds=("water",))
    grid = p.Grid()
    panels: list[Any] = []
    periods = [
        (t("Aujourd'hui (kWh)", "Today (kWh)"), elec, ELECTRICITY, "now/d", None),
        (t("Cette semaine (kWh)", "This week (kWh)"), elec, ELECTRICITY, "now/w", None),
        (
            t("Semaine dernière, même moment (kWh)", "Last week, same moment (kWh)"),
            elec,
            ELECTRICITY,
            "now/w",
            "1w",
        ),
        (t("Ce mois-ci (kWh)", "This month (kWh)"), elec, ELECTRICITY, "now/M", None),
        (
            t("Ce mois-ci, l'an dernier (kWh)", "This month, last year (kWh)"),
            elec,
            ELECTRICITY,
            "now/M",
            "52w",
        ),
        (t("Eau aujourd'hui (m³)", "Water today (m³)"), water, WATER, "now/d", None),
    ]
    for title, scope, meter, time_from, shift in periods:
        panels.append(
            p.stat(
                title,
                t(
                    "Somme des consommations du bâtiment sur la période indiquée.",
                    "The building's consumption over the period shown.",
                ),
                [p.target(q.total(meter.field, scope), "A")],
                meter.unit,
                grid.place(4, 5),
                time_from,
                shift,
                meter.decimals,
            )
        )

    panels.append(grid.row(t("Électricité", "Electricity")))
    panels.append(
        p.timeseries(
            t("Courbe de charge (W)", "Load curve (W)"),
            t(
                "Puissance moyenne par intervalle, tirée des consommations relevées. La courbe "
                "s'interrompt quand le compteur s'est tu : un trou n'est pas une consommation "
                "nulle.",
                "Average power per interval, from the metered consumption. The line breaks when "
                "the meter fell silent: a gap is not zero consumption.",
            ),
            [p.target(q.rate_curve(ENERGY, elec, view.zone), "A", t("Puissance", "Power"))],
            p.WATT,
            grid.place(24, 9),
            SPAN_METER_MS,
            interval="1h",
        )
    )
    panels.append(
        _daily_energy(
            view, t("Consommation par jour (kWh)", "Consumption per day (kWh)"), elec, grid
        )
    )
    panels.append(
        p.timeseries(
            t("Pendant et hors occupation (kWh)", "Occupied and unoccupied (kWh)"),
            t(
                "Consommation de chaque jour pendant les horaires d'ouverture du bâtiment et en "
                "dehors (nuits, week-ends, vacances et fermetures de l'inventaire). Chaque "
                "relevé est réparti au prorata de son temps hors occupation. Un bâtiment sans "
                "horaires d'ouverture n'a pas de barres ; un jour sans données non plus.",
                "Each day's consumption during the building's opening hours and outside them "
                "(nights, weekends, holidays and closures from the inventory). Each reading is "
                "split in proportion to its time outside occupancy. A building without opening "
                "hours has no bars; nor has a day without data.",
            ),
            [
                p.target(
                    q.occupancy_daily(ENERGY, elec, view.zone, "occupied"),
                    "A",
                    t("Pendant l'occupation", "Occupied"),
                ),
                p.target(
                    q.occupancy_daily(ENERGY, elec, view.zone, "unoccupied"),
                    "B",
                    t("Hors occupation", "Unoccupied"),
                ),
            ],
            p.KWH,
            grid.place(12, 8),
            SPAN_DAILY_MS,
            bars=True,
            stacked=True,
            interval="1d",
            decimals=1,
        )
    )
    panels.append(
        p.timeseries(
            t("Talon de nuit (W)", "Night baseload (W)"),
            t(
                "Puissance la plus basse de chaque jour, atteinte la nuit bâtiment fermé : ce "
                "qui reste allumé en permanence (veilles, ventilation, chauffage oublié).",
                "Lowest power of each day, reached at night with the building closed: what "
                "stays on all the time (standby, ventilation, forgotten heating).",
            ),
            [p.target(q.daily_min_rate(ENERGY, elec, view.zone), "A", t("Talon", "Baseload"))],
            p.WATT,
            grid.place(12, 8),
            SPAN_DAILY_MS,
            interval="1d",
        )
    )
    panels.append(grid.row(t("Eau", "Water")))
    panels += _water_panels(view, water, grid, by=())
    panels.append(grid.row(t("Alertes", "Alerts")))
    panels.append(_building_alerts_table(view, grid.place(24, 8)))
    return _dashboard(
        view,
        (view.id, "building"),
        f"{view.commune.name} · {t('Bâtiment', 'Building')}",
        t(
            "Un bâtiment en détail : courbe de charge, jours, occupation, talon, eau, alertes.",
            "One building in detail: load curve, days, occupancy, baseload, water, alerts.",
        ),
        panels,
        templating=[_Raw(variable_json)],
    )


def _daily_energy(view: CommuneView, title: str, scope: Scope, grid: p.Grid) -> g.TimeSeries:
    """kWh per local day, as bars: building detail and street lighting show it alike."""
    t = view.t
    return p.timeseries(
        title,
        t(
            "Jours locaux ; un jour sans données n'a pas de barre.",
            "Local days; a day without data has no bar.",
        ),
        [p.target(q.daily(ENERGY, scope, view.zone), "A", "kWh")],
        p.KWH,
        grid.place(12, 8),
        SPAN_DAILY_MS,
        bars=True,
        interval="1d",
        decimals=1,
    )


class _Raw:
    """A template variable already in JSON form (grafanalib's custom variable lacks text:value
    pairs, which show building names while queries use ids)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_json_data(self) -> dict[str, Any]:
        return self.data


def _custom_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" : ", " \\: ")


def _water_panels(view: CommuneView, scope: Scope, grid: p.Grid, by: Sequence[str]) -> list[Any]:
    t = view.t
    alias = "$tag_building" if by else ""
    overrides = view.building_names().overrides() if by else []
    return [
        p.timeseries(
            t("Débit d'eau (L/h)", "Water flow (L/h)"),
            t(
                "Débit moyen par intervalle ; la courbe s'interrompt quand le compteur s'est tu.",
                "Average flow per interval; the line breaks when the meter fell silent.",
            ),
            [
                p.target(
                    q.rate_curve(VOLUME, scope, view.zone, by), "A", alias or t("Débit", "Flow")
                )
            ],
            p.LITRE_PER_HOUR,
            grid.place(24 if by else 12, 8),
            SPAN_METER_MS,
            interval="1h",
            overrides=overrides,
        ),
        p.timeseries(
            t("Eau par jour (m³)", "Water per day (m³)"),
            t(
                "Jours locaux ; un jour sans données n'a pas de barre.",
                "Local days; a day without data has no bar.",
            ),
            [p.target(q.daily(VOLUME, scope, view.zone, by), "A", alias or "m³")],
            p.M3,
            grid.place(12 if by else 6, 8),
            SPAN_DAILY_MS,
            bars=True,
            interval="1d",
            overrides=overrides,
            decimals=2,
        ),
        p.timeseries(
            t("Débit de nuit : minimum du jour (L/h)", "Night flow: lowest of the day (L/h)"),
            t(
                "Le débit le plus bas de chaque jour. Sans fuite il tombe à 0 la nuit ; s'il "
                "reste au-dessus, l'eau a coulé sans arrêt (chasse bloquée, fuite).",
                "The lowest flow of each day. Without a leak it drops to 0 at night; if it "
                "stays above, water ran non-stop (stuck flush, leak).",
            ),
            [
                p.target(
                    q.daily_min_rate(VOLUME, scope, view.zone, by),
                    "A",
                    alias or t("Minimum", "Minimum"),
                )
            ],
            p.LITRE_PER_HOUR,
            grid.place(12 if by else 6, 8),
            SPAN_DAILY_MS,
            interval="1d",
            overrides=overrides,
            steps=LEAK_FLOW_STEPS,
            threshold_line=True,
        ),
    ]


# --- occupant screen -------------------------------------------------------------------------


def occupant_screen(view: CommuneView, building: Building) -> dict[str, Any] | None:
    """The hall screen of one building: big figures, today vs a typical day, this week vs last
    week, progress since the campaign started, a good habit. Building totals only: no device,
    no room, nothing that could point at a person (GDPR); read-only kiosk, no controls."""
    t = view.t
    metered = {d.kind for d in view.devices if d.building == building.id}
    if "electricity" not in metered:
        return None
    scope = Scope(building=building.id, kinds=("electricity",))
    grid = p.Grid()
    panels: list[Any] = []

    def big(title: str, desc: str, query: str, time_from: str, shift: str | None = None) -> g.Stat:
        return p.stat(
            title,
            desc,
            [p.target(query, "A")],
            p.KWH,
            grid.place(8, 7),
            time_from,
            shift,
            0,
            big=True,
        )

    panels.append(
        big(
            t("Aujourd'hui, jusqu'à maintenant", "Today, so far"),
            t("Électricité consommée depuis minuit.", "Electricity used since midnight."),
            q.total(ENERGY, scope),
            "now/d",
        )
    )
    panels.append(
        big(
            t("Le même jour la semaine dernière, à la même heure", "Same day last week, same time"),
            t("Pour comparer à jour égal.", "To compare like with like."),
            q.total(ENERGY, scope),
            "now/d",
            "1w",
        )
    )
    panels.append(
        big(
            t("Un jour type (journée entière)", "A typical day (whole day)"),
            t("Médiane des journées des 4 dernières semaines.", "Median day of the last 4 weeks."),
            q.typical_day(ENERGY, scope, view.zone),
            "28d",
        )
    )
    panels.append(
        big(
            t("Cette semaine", "This week"),
            t("Depuis lundi.", "Since Monday."),
            q.total(ENERGY, scope),
            "now/w",
        )
    )
    panels.append(
        big(
            t("La semaine dernière, au même moment", "Last week, at the same point"),
            t("De lundi au même jour et à la même heure.", "From Monday to the same day and time."),
            q.total(ENERGY, scope),
            "now/w",
            "1w",
        )
    )
    campaign = _campaign_start(building, view.zone)
    if campaign is not None:
        since = q.at(campaign)
        a = q.mean_day_between(ENERGY, scope, view.zone, since, "${__to}ms")
        b = q.mean_day_between(ENERGY, scope, view.zone, f"{since} - 52w", "${__to}ms - 52w")
        panels.append(
            p.stat(
                t(
                    f"Depuis le début de la campagne ({campaign:%d/%m/%Y})",
                    f"Since the campaign started ({campaign:%Y-%m-%d})",
                ),
                t(
                    "Consommation moyenne par jour depuis le début de la campagne, comparée aux "
                    "mêmes jours 52 semaines plus tôt. En dessous de 0 %, le bâtiment consomme "
                    "moins.",
                    "Mean daily consumption since the campaign started, compared with the same "
                    "days 52 weeks earlier. Below 0 %, the building uses less.",
                ),
                [
                    p.target(a, "A", hide=True),
                    p.target(b, "B", hide=True),
                    p.reduce_expression("C", "A"),
                    p.reduce_expression("D", "B"),
                    p.math_expression("E", "($C / $D - 1) * 100"),
                ],
                p.PERCENT,
                grid.place(8, 7),
                decimals=0,
                steps=SAVING_STEPS,
                big=True,
            )
        )
    panels.append(
        p.timeseries(
            t("Aujourd'hui, heure par heure (kWh)", "Today, hour by hour (kWh)"),
            t("Une heure sans données n'a pas de barre.", "An hour without data has no bar."),
            [p.target(q.hourly(ENERGY, scope, view.zone), "A", "kWh")],
            p.KWH,
            grid.place(12, 9),
            SPAN_METER_MS,
            bars=True,
            interval="1h",
            time_from="now/d",
            decimals=1,
        )
    )
    if "water" in metered:
        panels.append(
            p.stat(
                t("Eau aujourd'hui", "Water today"),
                t("Litres depuis minuit.", "Litres since midnight."),
                [
                    p.target(
                        q.total(VOLUME, Scope(building=building.id, kinds=("water",)), scale=1000),
                        "A",
                    )
                ],
                p.LITRE,
                grid.place(4, 9),
                "now/d",
                decimals=0,
                big=True,
            )
        )
    tip_lines = "\n".join(f"- {tip}" for tip in tips(building.usage, t))
    panels.append(
        p.text(
            t("Le bon geste", "Good habit"),
            f"### {t('Le bon geste', 'Good habit')}\n\n{tip_lines}\n",
            grid.place(8 if "water" in metered else 12, 9),
        )
    )
    return _dashboard(
        view,
        ("screen", building.id),
        f"{building.name} · {t('écran d’accueil', 'hall screen')}",
        t(
            "Écran d'accueil du bâtiment : totaux du bâtiment uniquement, en lecture seule.",
            "The building's hall screen: building totals only, read-only.",
        ),
        panels,
        time_from="now/d",
        kiosk=True,
        tags=[SCREEN_TAG],
    )


def _campaign_start(building: Building, zone: str) -> datetime | None:
    """Local midnight of the building's ``campaign_start``, or None when it has none."""
    if not building.campaign_start:
        return None
    day = datetime.fromisoformat(building.campaign_start).date()
    return datetime.combine(day, time(0), ZoneInfo(zone))


# --- water and leaks -------------------------------------------------------------------------


def water(view: CommuneView) -> dict[str, Any] | None:
    t = view.t
    leaks = view.of_kind("leak")
    if not view.metered_buildings("water") and not leaks:
        return None
    grid = p.Grid()
    panels: list[Any] = []
    if view.metered_buildings("water"):
        panels += _water_panels(view, Scope(commune=view.id, kinds=("water",)), grid, ("building",))
    if leaks:
        names = view.device_names(leaks)
        panels.append(grid.row(t("Détecteurs de fuite", "Leak detectors")))
        leak_scope = Scope(commune=view.id, kinds=("leak",))
        if len(leaks) <= PER_PANEL_LIMIT:
            panels.append(
                p.state_timeline(
                    t("Fuite détectée", "Leak detected"),
                    t(
                        "État de chaque détecteur ; un trou signifie que le détecteur n'a rien "
                        "envoyé.",
                        "State of each detector; a hole means the detector sent nothing.",
                    ),
                    [
                        p.target(
                            q.reading_series("last", "leak", leak_scope, view.zone, ("device",)),
                            "A",
                            "$tag_device",
                        )
                    ],
                    p.BOOL,
                    grid.place(16, 8),
                    p.bool_mappings(t("Fuite", "Leak"), t("Sec", "Dry"), "red"),
                    SPAN_HOURLY_DEVICE_MS,
                    interval="1h",
                )
            )
        panels.append(
            p.table(
                t("Dernier état des détecteurs", "Detectors' last state"),
                t("Dernière valeur reçue sur la période.", "Last value received over the period."),
                [
                    p.target(
                        q.latest(["leak", "battery_pct"], leak_scope, ("device",)), "A", table=True
                    )
                ],
                p.PERCENT,
                grid.place(8, 8),
                sort_by=t("Fuite", "Leak"),
                overrides=[
                    *names.cell_override(t("Détecteur", "Detector")),
                    p.by_name(
                        t("Fuite", "Leak"),
                        {"id": "unit", "value": p.BOOL},
                        p.bool_property(t("Fuite", "Leak"), t("Sec", "Dry"), "red"),
                    ),
                ],
                transformations=p.organize(
                    {
                        "device": t("Détecteur", "Detector"),
                        "leak": t("Fuite", "Leak"),
                        "battery_pct": t("Pile (%)", "Battery (%)"),
                    }
                ),
            )
        )
    return _dashboard(
        view,
        (view.id, "water"),
        f"{view.commune.name} · {t('Eau et fuites', 'Water and leaks')}",
        t(
            "Eau par bâtiment, débit de nuit (fuites), détecteurs de fuite.",
            "Water per building, night flow (leaks), leak detectors.",
        ),
        panels,
    )


# --- waste bins ------------------------------------------------------------------------------


def waste(view: CommuneView) -> dict[str, Any] | None:
    t = view.t
    bins = view.of_kind("bin")
    if not bins:
        return None
    scope = Scope(commune=view.id, kinds=("bin",))
    names = view.device_names(bins)
    grid = p.Grid()
    device_col = t("Conteneur", "Container")
    panels: list[Any] = [
        p.table(
            t("Remplissage actuel (%)", "Current fill (%)"),
            t(
                "Dernière mesure de chaque conteneur, les plus pleins d'abord.",
                "Last measurement of each container, fullest first.",
            ),
            [p.target(q.latest(["fill_pct"], scope, ("device",)), "A", table=True)],
            p.PERCENT,
            grid.place(12, 10),
            sort_by=t("Remplissage", "Fill"),
            overrides=[
                *names.cell_override(device_col),
                p.unit_override(t("Mesuré", "Measured"), p.FROM_NOW),
                p.by_name(
                    t("Remplissage", "Fill"),
                    {
                        "id": "custom.cellOptions",
                        "value": {"type": "gauge", "mode": "gradient"},
                    },
                    {"id": "max", "value": 100},
                    p.thresholds_property(FILL_STEPS),
                ),
            ],
            transformations=p.organize(
                {
                    "Time": t("Mesuré", "Measured"),
                    "device": device_col,
                    "fill_pct": t("Remplissage", "Fill"),
                },
                hide_time=False,
            ),
            decimals=0,
        ),
        p.table(
            t("Plein dans… (jours)", "Full in… (days)"),
            t(
                "Prévision : (100 % − remplissage actuel) ÷ vitesse moyenne de remplissage sur "
                "la période (les vidages exclus). Pas de prévision pour un conteneur qui ne se "
                "remplit pas.",
                "Forecast: (100 % − current fill) ÷ mean filling speed over the period "
                "(collections left out). No forecast for a container that is not filling.",
            ),
            [p.target(q.days_to_full(scope), "A", table=True)],
            p.DAYS,
            grid.place(12, 10),
            sort_by=t("Plein dans (j)", "Full in (d)"),
            descending=False,
            overrides=names.cell_override(device_col),
            transformations=p.organize(
                {
                    "device": device_col,
                    "days_to_full": t("Plein dans (j)", "Full in (d)"),
                }
            ),
            decimals=1,
        ),
    ]
    sites: dict[str, list[str]] = {}
    for d in bins:
        sites.setdefault(d.site or d.name, []).append(d.name)
    if len(sites) <= PER_SITE_GAUGES_LIMIT:
        panels.append(grid.row(t("Par point d'apport", "Per drop-off point")))
        for site, devices in sites.items():
            site_scope = Scope(commune=view.id, kinds=("bin",), devices=tuple(devices))
            panels.append(
                p.bargauge(
                    site,
                    t(
                        "Dernier remplissage de chaque conteneur du site.",
                        "Last fill of each container at the site.",
                    ),
                    [p.target(q.latest(["fill_pct"], site_scope, ("device",)), "A", "$tag_device")],
                    p.PERCENT,
                    grid.place(6, 6),
                    decimals=0,
                    steps=FILL_STEPS,
                    maximum=100,
                )
            )
    panels.append(grid.row(t("Historique", "History")))
    if len(bins) <= PER_PANEL_LIMIT:
        panels.append(
            p.timeseries(
                t("Remplissage (%)", "Fill (%)"),
                t(
                    "Chaque chute correspond à un vidage ; la courbe s'interrompt quand le "
                    "capteur s'est tu.",
                    "Each drop is a collection; the line breaks when the sensor fell silent.",
                ),
                [
                    p.target(
                        q.reading_series("max", "fill_pct", scope, view.zone, ("device",)),
                        "A",
                        "$tag_device",
                    )
                ],
                p.PERCENT,
                grid.place(24, 9),
                SPAN_SLOW_DEVICE_MS,
                interval="1h",
                overrides=names.overrides(),
                steps=FILL_STEPS,
                threshold_line=True,
            )
        )
    panels.append(
        p.timeseries(
            t(
                "Débordements : relevés à 95 % ou plus, par jour",
                "Overflows: readings at 95 % or more, per day",
            ),
            t(
                "Nombre de mesures d'un conteneur plein ou presque, par jour local.",
                "Number of measurements of a full or nearly full container, per local day.",
            ),
            [
                p.target(
                    q.count_where(
                        "fill_pct", f"{q.ident('fill_pct')} >= 95", scope, view.zone, ("device",)
                    ),
                    "A",
                    "$tag_device",
                )
            ],
            p.count_unit(t("relevés", "readings")),
            grid.place(24, 8),
            SPAN_DAILY_MS,
            bars=True,
            stacked=True,
            interval="1d",
            overrides=names.overrides(),
            decimals=0,
        )
    )
    return _dashboard(
        view,
        (view.id, "waste"),
        f"{view.commune.name} · {t('Points d’apport', 'Waste bins')}",
        t(
            "Remplissage des conteneurs par point d'apport, prévision, débordements.",
            "Container fill per drop-off point, forecast, overflows.",
        ),
        panels,
    )


# --- street lighting -------------------------------------------------------------------------


def lighting(view: CommuneView) -> dict[str, Any] | None:
    t = view.t
    lamps = view.of_kind("streetlight")
    if not lamps:
        return None
    scope = Scope(commune=view.id, kinds=("streetlight",))
    names = view.device_names(lamps)
    grid = p.Grid()
    panels: list[Any] = []
    if len(lamps) <= PER_PANEL_LIMIT:
        panels.append(
            p.state_timeline(
                t("Allumé / éteint", "On / off"),
                t(
                    "État de chaque point lumineux ; un trou signifie que le contrôleur n'a "
                    "rien envoyé.",
                    "State of each lamp; a hole means its controller sent nothing.",
                ),
                [
                    p.target(
                        q.reading_series("last", "lamp_on", scope, view.zone, ("device",)),
                        "A",
                        "$tag_device",
                    )
                ],
                p.BOOL_ON_OFF,
                grid.place(24, 14),
                p.bool_mappings(t("Allumé", "On"), t("Éteint", "Off"), "yellow"),
                SPAN_HOURLY_DEVICE_MS,
                interval="1h",
            )
        )
    panels.append(
        p.timeseries(
            t("Gradation moyenne des lampes allumées (%)", "Mean dimming of lit lamps (%)"),
            t(
                "100 % : pleine puissance ; la baisse au milieu de la nuit est l'abaissement "
                "programmé.",
                "100 %: full power; the drop in the middle of the night is the programmed dimming.",
            ),
            [
                p.target(
                    q.reading_series(
                        "mean", "dim_pct", scope, view.zone, (), (f"{q.ident('lamp_on')} = true",)
                    ),
                    "A",
                    t("Gradation", "Dimming"),
                )
            ],
            p.PERCENT,
            grid.place(12, 8),
            SPAN_HOURLY_DEVICE_MS,
            interval="1h",
        )
    )
    panels.append(
        _daily_energy(
            view,
            t("Énergie de l'éclairage par jour (kWh)", "Lighting energy per day (kWh)"),
            scope,
            grid,
        )
    )
    panels.append(
        p.table(
            t("Pannes signalées", "Reported failures"),
            t(
                "Dernier état de panne de chaque contrôleur (lampe ou driver HS), les pannes "
                "d'abord.",
                "Last failure state of each controller (lamp or driver failure), failures first.",
            ),
            [
                p.target(
                    q.latest(["lamp_failure", "lamp_hours"], scope, ("device",)), "A", table=True
                )
            ],
            p.BOOL,
            grid.place(24, 9),
            sort_by=t("Panne", "Failure"),
            overrides=[
                *names.cell_override(t("Point lumineux", "Lamp")),
                p.by_name(
                    t("Panne", "Failure"),
                    p.bool_property(t("HS", "Failed"), t("OK", "OK"), "red"),
                ),
                p.unit_override(t("Heures d'allumage", "Hours lit"), "h"),
            ],
            transformations=p.organize(
                {
                    "device": t("Point lumineux", "Lamp"),
                    "lamp_failure": t("Panne", "Failure"),
                    "lamp_hours": t("Heures d'allumage", "Hours lit"),
                }
            ),
        )
    )
    return _dashboard(
        view,
        (view.id, "lighting"),
        f"{view.commune.name} · {t('Éclairage public', 'Street lighting')}",
        t(
            "Allumage, gradation, énergie et pannes de l'éclairage public.",
            "Street lighting on/off, dimming, energy and failures.",
        ),
        panels,
    )


# --- fleet health ----------------------------------------------------------------------------


def fleet(view: CommuneView) -> dict[str, Any] | None:
    t = view.t
    if not view.devices:
        return None
    scope = Scope(commune=view.id)
    grid = p.Grid()
    device_col = t("Capteur", "Sensor")
    expected = len(view.devices)
    panels: list[Any] = [
        p.stat(
            t(f"Capteurs entendus (sur {expected})", f"Sensors heard (of {expected})"),
            t(
                f"Capteurs dont au moins une trame est arrivée dans les dernières 24 h ; "
                f"l'inventaire en compte {expected}. En rouge, il en manque.",
                f"Sensors with at least one frame in the last 24 hours; the inventory "
                f"lists {expected}. Red: some are missing.",
            ),
            [p.target(q.devices_heard(scope), "A")],
            p.count_unit(t("capteurs", "sensors")),
            grid.place(4, 10),
            time_from="24h",
            decimals=0,
            steps=((None, "red"), (float(expected), "green")),
            big=True,
        ),
        _last_seen_table(view, grid.place(10, 10)),
        p.table(
            t("Piles (%)", "Batteries (%)"),
            t(
                "Dernier niveau de pile connu, les plus faibles d'abord.",
                "Last known battery level, weakest first.",
            ),
            [p.target(q.latest(["battery_pct"], scope, ("device",)), "A", table=True)],
            p.PERCENT,
            grid.place(10, 10),
            sort_by=t("Pile", "Battery"),
            descending=False,
            overrides=[
                p.by_name(
                    t("Pile", "Battery"),
                    {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    p.thresholds_property(BATTERY_STEPS),
                )
            ],
            transformations=p.organize({"device": device_col, "battery_pct": t("Pile", "Battery")}),
            decimals=0,
        ),
        p.table(
            t("Radio : dernier RSSI et SNR", "Radio: last RSSI and SNR"),
            t(
                "Le plus faible d'abord : un capteur mal placé ou masqué perd des trames.",
                "Weakest first: a badly placed or shadowed sensor loses frames.",
            ),
            [p.target(q.latest(["rssi", "snr"], scope, ("device",), "uplink"), "A", table=True)],
            p.DBM,
            grid.place(12, 10),
            sort_by="RSSI",
            descending=False,
            overrides=[p.unit_override("SNR", p.DB)],
            transformations=p.organize({"device": device_col, "rssi": "RSSI", "snr": "SNR"}),
            decimals=1,
        ),
        p.table(
            t("Trames manquantes (fCnt)", "Missing frames (fCnt)"),
            t(
                "Trames envoyées par le capteur mais jamais enregistrées sur la période : "
                "perdues en radio, ou rejetées au décodage (voir les lettres mortes).",
                "Frames the sensor sent that were never stored over the period: lost on air, "
                "or rejected by the decoder (see the dead letters).",
            ),
            [p.target(q.frames_missing(scope, ("device",)), "A", table=True)],
            p.count_unit(t("trames", "frames")),
            grid.place(12, 10),
            sort_by=t("Manquantes", "Missing"),
            transformations=p.organize(
                {
                    "device": device_col,
                    "missing": t("Manquantes", "Missing"),
                }
            ),
            decimals=0,
        ),
        p.timeseries(
            t("Trames reçues par heure", "Frames received per hour"),
            t(
                "Par type de capteur. Ici une heure sans trame vaut vraiment 0.",
                "Per sensor kind. Here an hour without frames truly is 0.",
            ),
            [p.target(q.frames_per_hour(scope, view.zone, ("kind",)), "A", "$tag_kind")],
            p.count_unit(t("trames", "frames")),
            grid.place(12, 8),
            SPAN_METER_MS,
            bars=True,
            stacked=True,
            interval="1h",
            decimals=0,
        ),
        p.timeseries(
            t("RSSI moyen par type de capteur (dBm)", "Mean RSSI per sensor kind (dBm)"),
            t("Signal reçu par la meilleure passerelle.", "Signal at the best gateway."),
            [p.target(q.radio_series("rssi", scope, view.zone, ("kind",)), "A", "$tag_kind")],
            p.DBM,
            grid.place(12, 8),
            SPAN_SLOW_DEVICE_MS,
            interval="1h",
        ),
        p.timeseries(
            t("Piles dans le temps (%)", "Batteries over time (%)"),
            t(
                "Une pile qui chute annonce un capteur qui va se taire.",
                "A falling battery announces a sensor about to fall silent.",
            ),
            [
                p.target(
                    q.reading_series("min", "battery_pct", scope, view.zone, ("device",)),
                    "A",
                    "$tag_device",
                )
            ],
            p.PERCENT,
            grid.place(12, 8),
            2 * SPAN_SLOW_DEVICE_MS,
            interval="6h",
            steps=BATTERY_STEPS,
        ),
        p.text(
            t("Erreurs de décodage", "Decoder errors"),
            t(
                "Les trames que les décodeurs refusent ne vont pas dans InfluxDB : elles sont "
                "gardées intactes dans la base SQLite (*lettres mortes*). Pour les voir : "
                "`lorawatch deadletters list` ; leur nombre par raison est exporté sur "
                '`/metrics` (`lorawatch_dead_letters_total{reason="decode_error"}`). Le '
                "tableau *Trames manquantes* les compte avec les pertes radio.",
                "Frames the decoders refuse do not go to InfluxDB: they are kept unaltered in "
                "the SQLite store (*dead letters*). To see them: `lorawatch deadletters list`; "
                "their count per reason is exported on `/metrics` "
                '(`lorawatch_dead_letters_total{reason="decode_error"}`). The *Missing frames* '
                "table counts them together with radio losses.",
            ),
            grid.place(12, 8),
            description=t(
                "TODO : un panneau Prometheus quand une source Prometheus sera provisionnée.",
                "TODO: a Prometheus panel once a Prometheus data source is provisioned.",
            ),
        ),
    ]
    return _dashboard(
        view,
        (view.id, "fleet"),
        f"{view.commune.name} · {t('Santé du parc', 'Fleet health')}",
        t(
            "Derniers signes de vie, piles, radio, trames perdues, pour les exploitants.",
            "Last heard, batteries, radio, lost frames, for the operators.",
        ),
        panels,
    )


# --- all of them -----------------------------------------------------------------------------

TECHNICAL: Final = (
    ("overview", overview),
    ("building", building_detail),
    ("water", water),
    ("waste", waste),
    ("lighting", lighting),
    ("fleet", fleet),
)


def technical(view: CommuneView) -> dict[str, dict[str, Any]]:
    """The technical services' dashboards of a commune, by file stem."""
    out: dict[str, dict[str, Any]] = {}
    for key, make in TECHNICAL:
        made = make(view)
        if made is not None:
            out[key] = made
    return out


def screens(view: CommuneView) -> dict[str, dict[str, Any]]:
    """The occupant screens of a commune, by building id."""
    out: dict[str, dict[str, Any]] = {}
    for building in view.buildings:
        made = occupant_screen(view, building)
        if made is not None:
            out[building.id] = made
    return out

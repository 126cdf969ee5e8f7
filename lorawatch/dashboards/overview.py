"""The commune overview: today, this week and this month against their references, open alerts
and the devices that went quiet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.alert_tables import open_alerts_table
from lorawatch.dashboards.base import (
    ELECTRICITY,
    WATER,
    CommuneView,
    Meter,
    dashboard,
    last_seen_table,
    refs,
)
from lorawatch.dashboards.influxql import ENERGY, Scope


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
        "Un jour de même nature qu'aujourd'hui, journée entière : un jour d'ouverture est "
        "comparé aux mêmes jours des 4 dernières semaines ouvertes, un jour fermé (week-end, "
        "vacances, fermeture) aux jours fermés ; médiane heure par heure. Calculé par "
        "lorawatch, comme l'écran d'accueil.",
        "A day of the same kind as today, whole day: an open day is compared with the same "
        "weekday of the last 4 open weeks, a closed day (weekend, holiday, closure) with "
        "closed days; median hour by hour. Computed by lorawatch, as the hall screen.",
    )
    typical = [p.target(q.typical_day(meter.field, scope, by), "A", alias)]
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
                "now/d",
                None,
                overrides,
                meter.decimals,
            )
        )
    else:
        out.append(
            p.stat(title, typical_desc, typical, meter.unit, pos, "now/d", None, meter.decimals)
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
            letters = refs()
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
                            next(letters),
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
    panels.append(open_alerts_table(view, grid.place(24, 8)))
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
    panels.append(last_seen_table(view, grid.place(12, 8)))
    return dashboard(
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

"""The building detail (``$building``): energy and water per day and hour, occupied and
unoccupied use, the building's alerts."""

from __future__ import annotations

from typing import Any

from grafanalib import core as g

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.alert_tables import building_alerts_table
from lorawatch.dashboards.base import (
    ELECTRICITY,
    SPAN_DAILY_MS,
    SPAN_METER_MS,
    WATER,
    CommuneView,
    Raw,
    custom_escape,
    daily_energy,
    dashboard,
)
from lorawatch.dashboards.influxql import ENERGY, Scope
from lorawatch.dashboards.water import water_panels

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
        query=",".join(f"{custom_escape(b.name)} : {b.id}" for b in buildings),
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
        p.timeseries(
            t(
                "À météo égale : consommé et attendu (kWh/h)",
                "Weather-adjusted: used and expected (kWh/h)",
            ),
            t(
                "Consommation de chaque heure, et ce qu'attendait pour la météo réelle de cette "
                "heure (température extérieure) et le calendrier du bâtiment le modèle ajusté "
                "sur les 8 semaines précédant ce jour-là. Au-dessus de l'attendu par temps "
                "froid : le froid n'explique pas tout. Calculé par lorawatch pour les 8 derniers "
                "jours, à condition d'une semaine d'historique avec la température extérieure.",
                "Each hour's consumption, and what the model fitted on the 8 weeks before that "
                "day expected for the hour's actual weather (outdoor temperature) and the "
                "building's calendar. Above the expected in cold weather: the cold does not "
                "explain it all. Computed by lorawatch for the last 8 days, given a week of "
                "history with the outdoor temperature.",
            ),
            [
                p.target(q.hourly(ENERGY, elec, view.zone), "A", t("Consommé", "Used")),
                p.target(q.expected_hourly(elec, view.zone), "B", t("Attendu", "Expected")),
            ],
            p.KWH,
            grid.place(24, 8),
            SPAN_METER_MS,
            interval="1h",
            decimals=2,
        )
    )
    panels.append(
        daily_energy(
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
    panels += water_panels(view, water, grid, by=())
    panels.append(grid.row(t("Alertes", "Alerts")))
    panels.append(building_alerts_table(view, grid.place(24, 8)))
    return dashboard(
        view,
        (view.id, "building"),
        f"{view.commune.name} · {t('Bâtiment', 'Building')}",
        t(
            "Un bâtiment en détail : courbe de charge, jours, occupation, talon, eau, alertes.",
            "One building in detail: load curve, days, occupancy, baseload, water, alerts.",
        ),
        panels,
        templating=[Raw(variable_json)],
    )

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
        label=t("dash.building"),
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
        (t("dash.today_kwh"), elec, ELECTRICITY, "now/d", None),
        (t("dash.this_week_kwh"), elec, ELECTRICITY, "now/w", None),
        (
            t("dash.last_week_same_moment_kwh"),
            elec,
            ELECTRICITY,
            "now/w",
            "1w",
        ),
        (t("dash.this_month_kwh"), elec, ELECTRICITY, "now/M", None),
        (
            t("dash.this_month_last_year_kwh"),
            elec,
            ELECTRICITY,
            "now/M",
            "52w",
        ),
        (t("dash.water_today_m3"), water, WATER, "now/d", None),
    ]
    for title, scope, meter, time_from, shift in periods:
        panels.append(
            p.stat(
                title,
                t(
                    "dash.the_building_s_consumption_over_the",
                ),
                [p.target(q.total(meter.field, scope), "A")],
                meter.unit,
                grid.place(4, 5),
                time_from,
                shift,
                meter.decimals,
            )
        )

    panels.append(grid.row(t("dash.electricity")))
    panels.append(
        p.timeseries(
            t("dash.load_curve_w"),
            t(
                "dash.average_power_per_interval_from_the",
            ),
            [p.target(q.rate_curve(ENERGY, elec, view.zone), "A", t("dash.power"))],
            p.WATT,
            grid.place(24, 9),
            SPAN_METER_MS,
            interval="1h",
        )
    )
    panels.append(
        p.timeseries(
            t(
                "dash.weather_adjusted_used_and_expected_kwh",
            ),
            t(
                "dash.each_hour_s_consumption_and_what",
            ),
            [
                p.target(q.hourly(ENERGY, elec, view.zone), "A", t("dash.used")),
                p.target(q.expected_hourly(elec, view.zone), "B", t("dash.expected")),
            ],
            p.KWH,
            grid.place(24, 8),
            SPAN_METER_MS,
            interval="1h",
            decimals=2,
        )
    )
    panels.append(daily_energy(view, t("dash.consumption_per_day_kwh"), elec, grid))
    panels.append(
        p.timeseries(
            t("dash.occupied_and_unoccupied_kwh"),
            t(
                "dash.each_day_s_consumption_during_the",
            ),
            [
                p.target(
                    q.occupancy_daily(ENERGY, elec, view.zone, "occupied"),
                    "A",
                    t("dash.occupied"),
                ),
                p.target(
                    q.occupancy_daily(ENERGY, elec, view.zone, "unoccupied"),
                    "B",
                    t("dash.unoccupied"),
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
            t("dash.night_baseload_w"),
            t(
                "dash.lowest_power_of_each_day_reached",
            ),
            [p.target(q.daily_min_rate(ENERGY, elec, view.zone), "A", t("dash.baseload"))],
            p.WATT,
            grid.place(12, 8),
            SPAN_DAILY_MS,
            interval="1d",
        )
    )
    panels.append(grid.row(t("dash.water")))
    panels += water_panels(view, water, grid, by=())
    panels.append(grid.row(t("dash.alerts")))
    panels.append(building_alerts_table(view, grid.place(24, 8)))
    return dashboard(
        view,
        (view.id, "building"),
        f"{view.commune.name} · {t('dash.building')}",
        t(
            "dash.one_building_in_detail_load_curve",
        ),
        panels,
        templating=[Raw(variable_json)],
    )

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
        (t("dash.today"), "now/d", None, t("dash.since_midnight")),
        (
            t("dash.this_week"),
            "now/w",
            None,
            t("dash.since_monday_00_00"),
        ),
        (
            t("dash.this_month"),
            "now/M",
            None,
            t("dash.since_the_1st_of_the_month"),
        ),
        (
            t("dash.this_month_last_year"),
            "now/M",
            "52w",
            t(
                "dash.the_same_period_52_weeks_earlier",
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
        "dash.a_day_of_the_same_kind",
    )
    typical = [p.target(q.typical_day(meter.field, scope, by), "A", alias)]
    title = f"{t('dash.typical_day')} ({unit_name})"
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
        label = t("dash.electricity") if meter is ELECTRICITY else t("dash.water")
        panels.append(grid.row(f"{label} {t('dash.per_building')}"))
        scope = Scope(commune=view.id, kinds=(meter.kind,))
        panels += _period_panels(view, meter, scope, grid, ("building",), names, (5, 5, 5, 5, 4), 9)

    panels.append(grid.row(t("dash.rankings")))
    scope = Scope(commune=view.id, kinds=("electricity",))
    if ELECTRICITY in meters:
        building_col = t("dash.building")
        panels.append(
            p.table(
                t("dash.top_consumers_kwh"),
                t(
                    "dash.electricity_over_the_chosen_period_largest",
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
                    t("dash.kwh_per_m2_ranking"),
                    t(
                        "dash.electricity_over_the_period_divided_by",
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
                            {"Field": t("dash.building"), "Last *": "kWh/m²"},
                            hide_time=False,
                        ),
                    ],
                    decimals=2,
                )
            )
        panels.append(
            p.bargauge(
                t(
                    "dash.consumption_outside_occupancy_of_electricity",
                ),
                t(
                    "dash.share_of_the_period_s_electricity",
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

    panels.append(grid.row(t("dash.alerts_and_faults")))
    panels.append(open_alerts_table(view, grid.place(24, 8)))
    faults = view.of_kind("leak", "streetlight")
    if faults:
        panels.append(
            p.table(
                t("dash.faults_reported_by_sensors"),
                t(
                    "dash.last_known_state_of_leak_detectors",
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
                sort_by=t("dash.leak"),
                transformations=p.organize(
                    {
                        "device": t("dash.sensor"),
                        "leak": t("dash.leak"),
                        "lamp_failure": t("dash.lamp_failure"),
                    }
                ),
            )
        )
    panels.append(last_seen_table(view, grid.place(12, 8)))
    return dashboard(
        view,
        (view.id, "overview"),
        f"{view.commune.name} · {t('dash.overview')}",
        t(
            "dash.consumption_per_building_comparisons_alerts_and",
        ),
        panels,
    )

"""Water and leaks: flows, night minimum flows and leak sensors of every site."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lorawatch.dashboards import influxql as q
from lorawatch.dashboards import panels as p
from lorawatch.dashboards.base import (
    LEAK_FLOW_STEPS,
    PER_PANEL_LIMIT,
    SPAN_DAILY_MS,
    SPAN_HOURLY_DEVICE_MS,
    SPAN_METER_MS,
    CommuneView,
    dashboard,
)
from lorawatch.dashboards.influxql import VOLUME, Scope


def water_panels(view: CommuneView, scope: Scope, grid: p.Grid, by: Sequence[str]) -> list[Any]:
    t = view.t
    alias = "$tag_building" if by else ""
    overrides = view.building_names().overrides() if by else []
    return [
        p.timeseries(
            t("dash.water_flow_l_h"),
            t(
                "dash.average_flow_per_interval_the_line",
            ),
            [p.target(q.rate_curve(VOLUME, scope, view.zone, by), "A", alias or t("dash.flow"))],
            p.LITRE_PER_HOUR,
            grid.place(24 if by else 12, 8),
            SPAN_METER_MS,
            interval="1h",
            overrides=overrides,
        ),
        p.timeseries(
            t("dash.water_per_day_m3"),
            t(
                "dash.local_days_a_day_without_data",
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
            t("dash.night_flow_lowest_of_the_day"),
            t(
                "dash.the_lowest_flow_of_each_day",
            ),
            [
                p.target(
                    q.daily_min_rate(VOLUME, scope, view.zone, by),
                    "A",
                    alias or t("dash.minimum"),
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


# --- water and leaks -------------------------------------------------------------------------


def water(view: CommuneView) -> dict[str, Any] | None:
    t = view.t
    leaks = view.of_kind("leak")
    if not view.metered_buildings("water") and not leaks:
        return None
    grid = p.Grid()
    panels: list[Any] = []
    if view.metered_buildings("water"):
        panels += water_panels(view, Scope(commune=view.id, kinds=("water",)), grid, ("building",))
    if leaks:
        names = view.device_names(leaks)
        panels.append(grid.row(t("dash.leak_detectors")))
        leak_scope = Scope(commune=view.id, kinds=("leak",))
        if len(leaks) <= PER_PANEL_LIMIT:
            panels.append(
                p.state_timeline(
                    t("dash.leak_detected"),
                    t(
                        "dash.state_of_each_detector_a_hole",
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
                    p.bool_mappings(t("dash.leak"), t("dash.dry"), "red"),
                    SPAN_HOURLY_DEVICE_MS,
                    interval="1h",
                )
            )
        panels.append(
            p.table(
                t("dash.detectors_last_state"),
                t("dash.last_value_received_over_the_period"),
                [
                    p.target(
                        q.latest(["leak", "battery_pct"], leak_scope, ("device",)), "A", table=True
                    )
                ],
                p.PERCENT,
                grid.place(8, 8),
                sort_by=t("dash.leak"),
                overrides=[
                    *names.cell_override(t("dash.detector")),
                    p.by_name(
                        t("dash.leak"),
                        {"id": "unit", "value": p.BOOL},
                        p.bool_property(t("dash.leak"), t("dash.dry"), "red"),
                    ),
                ],
                transformations=p.organize(
                    {
                        "device": t("dash.detector"),
                        "leak": t("dash.leak"),
                        "battery_pct": t("dash.battery_2"),
                    }
                ),
            )
        )
    return dashboard(
        view,
        (view.id, "water"),
        f"{view.commune.name} · {t('dash.water_and_leaks')}",
        t(
            "dash.water_per_building_night_flow_leaks",
        ),
        panels,
    )
